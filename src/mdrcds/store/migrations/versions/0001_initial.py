"""Initial schema: invocation, card, feedback, seen_token.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invocation",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service", sa.String(), nullable=False),
        sa.Column("hook", sa.String(), nullable=False),
        sa.Column("hook_instance", sa.String(), nullable=False),
        sa.Column("patient_id", sa.String(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("rulebook_version", sa.String(), nullable=False),
        sa.Column("rule_ids", sa.JSON(), nullable=False),
        sa.Column("card_uuids", sa.JSON(), nullable=False),
        sa.Column("prefetch_used", sa.JSON(), nullable=False),
        sa.Column("prefetch_missing", sa.JSON(), nullable=False),
        sa.Column("prefetch_fetched", sa.JSON(), nullable=False),
    )
    op.create_index("ix_invocation_service", "invocation", ["service"])
    op.create_index("ix_invocation_hook_instance", "invocation", ["hook_instance"])
    op.create_index("ix_invocation_patient_id", "invocation", ["patient_id"])
    op.create_table(
        "card",
        sa.Column("uuid", sa.String(), primary_key=True),
        sa.Column("invocation_id", sa.String(), nullable=False),
        sa.Column("rule_id", sa.String(), nullable=False),
        sa.Column("indicator", sa.String(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_card_invocation_id", "card", ["invocation_id"])
    op.create_index("ix_card_rule_id", "card", ["rule_id"])
    op.create_table(
        "feedback",
        sa.Column("key", sa.String(), primary_key=True),
        sa.Column("service", sa.String(), nullable=False),
        sa.Column("card_uuid", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("outcome_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON(), nullable=False),
        sa.Column("override_reason_system", sa.String(), nullable=True),
        sa.Column("override_reason_code", sa.String(), nullable=True),
        sa.Column("override_reason_display", sa.String(), nullable=True),
        sa.Column("user_comment", sa.String(), nullable=True),
    )
    op.create_index("ix_feedback_card_uuid", "feedback", ["card_uuid"])
    op.create_table(
        "seen_token",
        sa.Column("key", sa.String(), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("seen_token")
    op.drop_table("feedback")
    op.drop_table("card")
    op.drop_table("invocation")
