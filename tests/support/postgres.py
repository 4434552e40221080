"""Throwaway PostgreSQL databases next to TEST_POSTGRES_URL's, for tests that own a whole schema.

Migration and readiness tests create `alembic_version` and change revisions;
doing that in the shared test database would disturb the store tests there
(`tests/conftest.py`'s `db` fixture), so each gets a database of its own,
dropped afterwards. The role needs CREATEDB (`.ci/run`'s is a superuser).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine


def postgres_url() -> str:
    """TEST_POSTGRES_URL, or "" when the PostgreSQL variants should skip."""
    return os.environ.get("TEST_POSTGRES_URL", "")


@asynccontextmanager
async def scratch_postgres() -> AsyncIterator[str]:
    """The URL of a new, empty database on TEST_POSTGRES_URL's server; dropped on exit."""
    base = make_url(postgres_url())
    name = f"{base.database}_tmp_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
