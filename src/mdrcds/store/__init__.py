"""Stage 5, the store: what was answered and what clinicians did with it.

Takes in invocation records and feedback (`records`, `feedback`: plain data, built from the service's
answers and the EHR's feedback calls); `audit` writes them without blocking the caller, spooling to disk
while the database is away; `database`, `tables` and `migrations` are the only SQLModel, SQLAlchemy and
alembic code (SQLite or PostgreSQL). Hands on the governance figures per rule (`governance`) to the
pages.
"""
