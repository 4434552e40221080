"""Completed forms users attach (`received_files`), and what each request is (`requests.kind`).

`received_files` holds a completed trust form from the moment it is fetched
until it is sent (or abandoned), then its bytes and name are purged with the
request's payload. `requests.kind` says how the worker composes a request's
email; every request stored before this revision is the bot's own form, which
the server default gives them ("form") without rewriting a row (on SQLite
too: adding a column with a constant default needs no table copy).

Revision ID: 0002
Revises: 0001
Created: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "received_files",
        sa.Column("form_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("extension", sa.String(length=8), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("form_id", name=op.f("received_files_pkey")),
        sa.UniqueConstraint("reference", name=op.f("received_files_reference_key")),
    )
    with op.batch_alter_table("received_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_received_files_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="form", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_column("kind")

    with op.batch_alter_table("received_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_received_files_user_id"))

    op.drop_table("received_files")
