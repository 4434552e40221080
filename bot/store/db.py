"""Engine, sessions and schema creation for the bot's one database.

SQLite (file) is the zero-setup default; PostgreSQL is selected by
`DATABASE_URL`. Two kinds of transaction:

* durable (the default): the outbox and confirmations. A request acknowledged
  as "queued" must survive a power cut, so SQLite commits with
  `synchronous=FULL` (WAL) and PostgreSQL with its normal synchronous commit.
* relaxed: de-duplication keys and profile details. Losing the last second of
  these in a power cut costs a repeated answer or a re-picked borough, so they
  commit without waiting for the disk (`synchronous=NORMAL` in WAL mode, still
  safe against a process crash; `synchronous_commit = off` on PostgreSQL).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base shared by every table module in `bot.store`."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(synchronous: str, dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str, *, synchronous: str = "FULL") -> AsyncEngine:
    if url.startswith("sqlite"):
        _prepare_sqlite_file(url)
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", partial(_sqlite_pragmas, synchronous))
        return engine
    return create_async_engine(url, pool_pre_ping=True)


class Database:
    """Owns the engines and hands out sessions; created once per app."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock: asyncio.Lock | None = None
        if self.engine.dialect.name == "sqlite":
            self._write_lock = asyncio.Lock()
            self._relaxed_engine: AsyncEngine | None = create_engine(url, synchronous="NORMAL")
            self._relaxed_sessions = async_sessionmaker(
                self._relaxed_engine, expire_on_commit=False
            )
        else:
            self._relaxed_engine = None
            self._relaxed_sessions = self.sessions

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def insert(self) -> Callable[..., Any]:
        """The dialect's INSERT, which has ON CONFLICT (upserts) on both SQLite and PostgreSQL."""
        return sqlite.insert if self.is_sqlite else postgresql.insert

    async def create_schema(self) -> None:
        # Import the table modules so their classes are on Base.metadata.
        from bot.store import tables  # noqa: F401

        async with self.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)

    @asynccontextmanager
    async def transaction(self, *, durable: bool = True) -> AsyncIterator[AsyncSession]:
        """A write transaction.

        SQLite has one writer at a time; two of our connections contending for
        it would make SQLite's busy handler sleep (up to 100 ms a try), which
        showed as a long latency tail under load. So writes queue on an asyncio
        lock instead and SQLite never sees contention from this process.
        PostgreSQL handles concurrent writers itself.
        """
        if self._write_lock is None:
            async with self._begin(durable) as session:
                yield session
            return
        async with self._write_lock, self._begin(durable) as session:
            yield session

    @asynccontextmanager
    async def _begin(self, durable: bool) -> AsyncIterator[AsyncSession]:
        maker = self.sessions if durable else self._relaxed_sessions
        async with maker() as session, session.begin():
            if not durable and not self.is_sqlite:
                await session.execute(text("SET LOCAL synchronous_commit = off"))
            yield session

    async def close(self) -> None:
        await self.engine.dispose()
        if self._relaxed_engine is not None:
            await self._relaxed_engine.dispose()
