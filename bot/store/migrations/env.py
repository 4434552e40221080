"""Alembic's environment: run by `bot.store.migrations` only, on the connection it passes.

That module takes the PostgreSQL advisory lock, opens the one transaction the
whole upgrade runs in and checks a pre-Alembic database before Alembic runs,
so there is no standalone `alembic.ini` and no offline (`--sql`) mode here.
"""

from __future__ import annotations

from alembic import context

from bot.store import tables  # noqa: F401 - registers every table on Base.metadata
from bot.store.db import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations with `make migrate` (python -m bot.store.migrations upgrade), "
        "not the alembic command"
    )
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things; batch operations copy the table instead
    # (and are plain ALTERs on PostgreSQL), so one revision file serves both.
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
