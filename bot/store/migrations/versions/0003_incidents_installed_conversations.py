"""incidents: installed conversations, announcements, broadcast queue, follow-ups

Adds the tables of ICE incidents (docs/architecture.md, "Incidents and the
downtime log"); a practice log emailed as CSV is a request of kind `log`
(`requests.kind`, from 0002). `conversation_refs` (each user's personal chat) is
replaced by `conversations` (every conversation the app is installed in): its
rows are copied there as personal chats before it is dropped. Their tenant is
not known (the stored references never held it), so they carry none; a user's
next message records it (bot/store/conversations.py).

Revision ID: 0003
Revises: 0002
Created: 2026-12-01 16:10:50.944559
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "announcements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("draft_id", sa.String(length=64), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_by_name", sa.String(length=200), nullable=False),
        sa.Column("audience", sa.Integer(), nullable=False),
        sa.Column("reconciliations", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("announcements_pkey")),
        sa.UniqueConstraint("draft_id", name=op.f("announcements_draft_id_key")),
    )
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_announcements_incident_id"), ["incident_id"], unique=False
        )

    op.create_table(
        "broadcast_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("conversation_key", sa.String(length=500), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("activity_id", sa.String(length=200), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payload", sa.JSON(none_as_null=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("broadcast_deliveries_pkey")),
        sa.UniqueConstraint(
            "topic", "subject", "conversation_key", name="broadcast_deliveries_once"
        ),
    )
    with op.batch_alter_table("broadcast_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_broadcast_deliveries_due", ["status", "next_attempt_at"], unique=False
        )

    op.create_table(
        "conversations",
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("tenant_id", sa.String(length=100), nullable=True),
        sa.Column("user_id", sa.String(length=200), nullable=True),
        sa.Column("reference", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("conversations_pkey")),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conversations_user_id"), ["user_id"], unique=False)

    op.create_table(
        "follow_ups",
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("reference", name=op.f("follow_ups_pkey")),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("open_slot", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("declared_by", sa.String(length=100), nullable=False),
        sa.Column("declared_by_name", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_name", sa.String(length=200), nullable=False),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restored_by_name", sa.String(length=200), nullable=True),
        sa.Column("restored_note", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("incidents_pkey")),
        sa.UniqueConstraint("open_slot", name=op.f("incidents_open_slot_key")),
    )
    _personal_chats_to_conversations()
    op.drop_table("conversation_refs")


def downgrade() -> None:
    op.create_table(
        "conversation_refs",
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("reference", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("conversation_refs_pkey")),
    )
    _conversations_to_personal_chats()
    op.drop_table("incidents")
    op.drop_table("follow_ups")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversations_user_id"))

    op.drop_table("conversations")
    with op.batch_alter_table("broadcast_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_broadcast_deliveries_due")

    op.drop_table("broadcast_deliveries")
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_announcements_incident_id"))

    op.drop_table("announcements")


_REFS = sa.table(
    "conversation_refs",
    sa.column("user_id", sa.String),
    sa.column("reference", sa.JSON),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
_CONVERSATIONS = sa.table(
    "conversations",
    sa.column("key", sa.String),
    sa.column("kind", sa.String),
    sa.column("tenant_id", sa.String),
    sa.column("user_id", sa.String),
    sa.column("reference", sa.JSON),
    sa.column("source", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def _personal_chats_to_conversations() -> None:
    """Each user's stored personal chat becomes a row of the registry, keyed by its id."""
    rows = []
    select = sa.select(_REFS.c.user_id, _REFS.c.reference, _REFS.c.updated_at)
    for user_id, reference, updated_at in op.get_bind().execute(select):
        conversation = reference.get("conversation") if isinstance(reference, dict) else None
        key = conversation.get("id") if isinstance(conversation, dict) else None
        if not isinstance(key, str) or not key:
            continue
        rows.append(
            {
                "key": key,
                "kind": "personal",
                "tenant_id": None,
                "user_id": user_id,
                "reference": reference,
                "source": "use",
                "created_at": updated_at,
                "updated_at": updated_at,
            }
        )
    if rows:
        op.bulk_insert(_CONVERSATIONS, rows)


def _conversations_to_personal_chats() -> None:
    """Downgrade: the newest personal chat of each user goes back to conversation_refs."""
    newest: dict[str, dict[str, Any]] = {}
    select = sa.select(
        _CONVERSATIONS.c.user_id, _CONVERSATIONS.c.reference, _CONVERSATIONS.c.updated_at
    ).where(_CONVERSATIONS.c.kind == "personal", _CONVERSATIONS.c.user_id.is_not(None))
    for user_id, reference, updated_at in op.get_bind().execute(select):
        known = newest.get(user_id)
        if known is None or updated_at > known["updated_at"]:
            newest[user_id] = {
                "user_id": user_id,
                "reference": reference,
                "updated_at": updated_at,
            }
    if newest:
        op.bulk_insert(_REFS, list(newest.values()))
