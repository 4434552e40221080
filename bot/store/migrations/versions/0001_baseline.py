"""Baseline: the tables as `create_all` made them before the bot had migrations.

A database made that way is recorded as this revision by the first
`make migrate` after its tables are checked (see `bot.store.migrations`).

Revision ID: 0001
Revises:
Created: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "confirmation_cards",
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("activity_id", sa.String(length=200), nullable=True),
        sa.Column("conversation", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("reference", name=op.f("confirmation_cards_pkey")),
    )
    op.create_table(
        "conversation_refs",
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("reference", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("conversation_refs_pkey")),
    )
    op.create_table(
        "notices",
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("card_told_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_told_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("told_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("reference", name=op.f("notices_pkey")),
    )
    op.create_table(
        "processed_activities",
        sa.Column("conversation_id", sa.String(length=500), nullable=False),
        sa.Column("activity_id", sa.String(length=200), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "conversation_id", "activity_id", name=op.f("processed_activities_pkey")
        ),
    )
    op.create_index(
        op.f("ix_processed_activities_seen_at"), "processed_activities", ["seen_at"], unique=False
    )
    op.create_table(
        "reference_counters",
        sa.Column("day", sa.String(length=8), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("reference_counters_pkey")),
    )
    op.create_table(
        "requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("form_id", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("practice_ods", sa.String(length=16), nullable=False),
        sa.Column("trust", sa.String(length=16), nullable=False),
        sa.Column("department", sa.String(length=80), nullable=False),
        sa.Column("priority", sa.String(length=32), nullable=False),
        sa.Column("mailbox", sa.String(length=254), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.String(length=254), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payload", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("requests_pkey")),
        sa.UniqueConstraint("form_id", name=op.f("requests_form_id_key")),
        sa.UniqueConstraint("reference", name=op.f("requests_reference_key")),
    )
    op.create_index("ix_requests_due", "requests", ["status", "next_attempt_at"], unique=False)
    op.create_index(op.f("ix_requests_user_id"), "requests", ["user_id"], unique=False)
    op.create_table(
        "user_profiles",
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("borough", sa.String(length=40), nullable=True),
        sa.Column("practice", sa.JSON(), nullable=False),
        sa.Column("referrer", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("user_profiles_pkey")),
    )


def downgrade() -> None:
    # Back to an empty database: every table (and its indexes) goes.
    op.drop_table("user_profiles")
    op.drop_table("requests")
    op.drop_table("reference_counters")
    op.drop_table("processed_activities")
    op.drop_table("notices")
    op.drop_table("conversation_refs")
    op.drop_table("confirmation_cards")
