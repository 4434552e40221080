"""requests: one index on (user_id, created_at) in place of the one on user_id

Send counts the user's requests in the last hour (the per-user limit) inside
its transaction. With an index on `user_id` alone the database read every
request the user had ever made to check its time, and request rows are kept
after the purge, so each Send got slower as the user's history grew (measured
on SQLite: 0.1 ms a count at 400 rows, 5.7 ms at 3,300). On (user_id,
created_at) the count reads only the window's entries from the index, and
"my requests" and the reconciliation (a user's requests by time) use it too.
The new index leads with `user_id`, so it serves every look-up the old one did.

Revision ID: 0004
Revises: 0003
Created: 2026-12-01 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_requests_user_created", "requests", ["user_id", "created_at"], unique=False)
    op.drop_index("ix_requests_user_id", table_name="requests")


def downgrade() -> None:
    op.create_index("ix_requests_user_id", "requests", ["user_id"], unique=False)
    op.drop_index("ix_requests_user_created", table_name="requests")
