"""The database tables (SQLModel), shared by `mdrcds.store.database` and the alembic migrations.

Timestamps are stored in UTC and read back time-zone aware. A new column or table here needs a new
migration in `mdrcds/migrations/versions/`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, TypeDecorator
from sqlmodel import Field, SQLModel


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back time-zone aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be time-zone aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc() -> Any:
    return Column(UtcDateTime(), nullable=False)


class Invocation(SQLModel, table=True):
    """One call of a CDS service."""

    __tablename__ = "invocation"
    id: str = Field(primary_key=True)
    received_at: datetime = Field(sa_column=_utc())
    service: str = Field(index=True)
    hook: str
    hook_instance: str = Field(index=True)
    patient_id: str | None = Field(default=None, index=True)
    status_code: int
    latency_ms: float
    rulebook_version: str
    rule_ids: list[str] = Field(sa_type=JSON)
    card_uuids: list[str] = Field(sa_type=JSON)
    prefetch_used: list[str] = Field(sa_type=JSON)
    prefetch_missing: list[str] = Field(sa_type=JSON)
    prefetch_fetched: list[str] = Field(sa_type=JSON)


class Card(SQLModel, table=True):
    """A card returned to a client."""

    __tablename__ = "card"
    uuid: str = Field(primary_key=True)
    invocation_id: str = Field(index=True)
    rule_id: str = Field(index=True)
    indicator: str
    issued_at: datetime = Field(sa_column=_utc())


class Feedback(SQLModel, table=True):
    """One feedback item; `card_uuid` joins it to `card` and so to the rule."""

    __tablename__ = "feedback"
    key: str = Field(primary_key=True)
    service: str
    card_uuid: str = Field(index=True)
    outcome: str
    outcome_timestamp: datetime = Field(sa_column=_utc())
    accepted_suggestions: list[str] = Field(sa_type=JSON)
    override_reason_system: str | None = None
    override_reason_code: str | None = None
    override_reason_display: str | None = None
    user_comment: str | None = None


class SeenToken(SQLModel, table=True):
    """A JWT `jti` already used, kept until the token expires (replay protection across workers)."""

    __tablename__ = "seen_token"
    key: str = Field(primary_key=True)
    expires_at: datetime = Field(sa_column=_utc())


class SilentFinding(SQLModel, table=True):
    """A silent rule that would have fired in an invocation (never shown; for the governance page)."""

    __tablename__ = "silent_finding"
    invocation_id: str = Field(primary_key=True)
    rule_id: str = Field(primary_key=True, index=True)
    found_at: datetime = Field(sa_column=_utc())


class PageSession(SQLModel, table=True):
    """A signed-in pages session: the SHA-256 of its cookie value, who signed in, and until when."""

    __tablename__ = "page_session"
    key: str = Field(primary_key=True)
    issuer: str
    subject: str
    expires_at: datetime = Field(sa_column=_utc())
