"""A real SQLite fault: another connection holding the database's write lock.

The bot's writes then wait out SQLite's busy timeout and fail with "database
is locked"; reads still work (WAL). `short_busy_timeout` shortens that timeout
for every pooled connection while it is entered (conftest's fixture of the same
name), so a lock held for a second is already "past the busy timeout".
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.pool import Pool

from bot.application import RUNTIME
from tests.support.teams import BotHarness

BUSY_TIMEOUT_MS = 300


@contextlib.contextmanager
def short_busy_timeout() -> Iterator[None]:
    """Every SQLite connection the bot checks out waits at most 0.3 s for a lock."""

    def shorten(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if "sqlite" in type(dbapi_connection).__module__ or "sqlite" in repr(dbapi_connection):
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.close()

    event.listen(Pool, "checkout", shorten)
    try:
        yield
    finally:
        event.remove(Pool, "checkout", shorten)


class WriteLock:
    """Another connection holding the database's write lock until released."""

    def __init__(self, path: Path) -> None:
        # check_same_thread off: taken in a worker thread, released from the test.
        self._connection = sqlite3.connect(
            path, isolation_level=None, timeout=5, check_same_thread=False
        )
        self._connection.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        self._connection.execute("ROLLBACK")
        self._connection.close()


@contextlib.asynccontextmanager
async def write_lock(path: Path) -> AsyncIterator[WriteLock]:
    # Taken off the event loop: the bot's own transactions need the loop to
    # commit, so waiting for the lock on the loop would wait on ourselves.
    lock = await asyncio.to_thread(WriteLock, path)
    try:
        yield lock
    finally:
        lock.release()


def database_path(bot: BotHarness) -> Path:
    url = bot.client.app[RUNTIME].settings.database_url
    return Path(url.removeprefix("sqlite+aiosqlite:///"))


async def count(bot: BotHarness, table: Any) -> int:
    async with bot.client.app[RUNTIME].db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table)))
