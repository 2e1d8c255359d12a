"""Silent findings (rule lifecycle) and pages sessions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "silent_finding",
        sa.Column("invocation_id", sa.String(), primary_key=True),
        sa.Column("rule_id", sa.String(), primary_key=True),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_silent_finding_rule_id", "silent_finding", ["rule_id"])
    op.create_table(
        "page_session",
        sa.Column("key", sa.String(), primary_key=True),
        sa.Column("issuer", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("page_session")
    op.drop_table("silent_finding")
