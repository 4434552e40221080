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

Two ways to write: `transaction()` hands out an AsyncSession, and `run_write()`
runs a plain function on a sync Session in one go. The second is for the hot
path (Send): on SQLite it is one hop to a writer thread instead of one trip
through the event loop per statement (see `run_write`). Reads go through
`reading()`.

Whatever the database does wrong (locked, unreachable, a failing statement)
leaves the store as `StoreUnavailable`, so no code outside `bot/store/` needs
to know SQLAlchemy's exceptions. An `IntegrityError` is left as it is: a
repository that expects one (two Sends of one form at once) handles it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, event, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import CursorResult, Result, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from bot.store.tables import NAMING_CONVENTION, Base, utcnow

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert

__all__ = [
    "NAMING_CONVENTION",
    "Base",
    "Database",
    "StoreUnavailable",
    "begin_immediate",
    "rowcount",
    "utcnow",
]

T = TypeVar("T")


class StoreUnavailable(Exception):
    """The database could not do this just now; a write that raised it was rolled back.

    Its text is the database error's type only: the error's own text can quote
    SQL parameters, and those can be patient data.
    """


@contextmanager
def _unavailable_on_error() -> Iterator[None]:
    try:
        yield
    except IntegrityError:
        raise
    except SQLAlchemyError as error:
        raise StoreUnavailable(type(error).__name__) from error


def rowcount(result: Result[*tuple[Any, ...]]) -> int:
    """How many rows an INSERT, UPDATE or DELETE changed (the driver's rowcount).

    `AsyncSession.execute` is declared to return a plain `Result`; for these
    statements it is the `CursorResult` that has `rowcount`. Checked, not assumed,
    so a SELECT passed here by mistake fails loudly instead of counting nothing.
    """
    if not isinstance(result, CursorResult):
        raise TypeError(f"not the result of a data-changing statement: {type(result).__name__}")
    return result.rowcount


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for an in-memory SQLite or another database."""
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    return Path(database) if database and database != ":memory:" else None


def _sqlite_pragmas(synchronous: str, dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_writer_engine(url: str, *, synchronous: str) -> Engine:
    """A sync engine on the same SQLite file, with the same pragmas, for `run_write`.

    Its transactions start with BEGIN IMMEDIATE. Python's sqlite3 would
    otherwise open the transaction lazily at the first INSERT, so a Send's
    reads (is this form already queued, how many this hour) would run outside
    it; IMMEDIATE takes SQLite's write lock first, so the reads and the writes
    are one transaction whoever else writes to the file.
    """
    sync_url = make_url(url).set(drivername="sqlite+pysqlite")
    engine = create_sync_engine(sync_url)
    event.listen(engine, "connect", partial(_sqlite_pragmas, synchronous))
    begin_immediate(engine)
    return engine


def begin_immediate(engine: Engine) -> None:
    """Start each of a SQLite engine's transactions with `BEGIN IMMEDIATE`.

    The driver's own transaction handling is turned off, so DDL is inside the
    transaction too and SQLite's write lock is taken before the first read.
    """
    event.listen(engine, "connect", _driver_leaves_transactions_to_us)
    event.listen(engine, "begin", _begin_immediate)


def _driver_leaves_transactions_to_us(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _begin_immediate(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str, *, synchronous: str = "FULL") -> AsyncEngine:
    if url.startswith("sqlite"):
        if (path := _sqlite_file(url)) is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
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
        self._writer: ThreadPoolExecutor | None = None
        #: durable -> the writer thread's engine (SQLite files only; see `run_write`)
        self._writer_engines: dict[bool, Engine] = {}
        if _sqlite_file(url) is not None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
            self._writer_engines = {
                durable: create_writer_engine(url, synchronous="FULL" if durable else "NORMAL")
                for durable in (True, False)
            }
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
    def insert(self) -> Callable[[type[Base]], SqliteInsert | PostgresInsert]:
        """The dialect's INSERT, which has ON CONFLICT (upserts) on both SQLite and PostgreSQL.

        Imported here: the PostgreSQL dialect alone is ~30 ms of a SQLite
        instance's start-up otherwise.
        """
        if self.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert
        from sqlalchemy.dialects.postgresql import insert as postgres_insert

        return postgres_insert

    async def create_schema(self) -> None:
        """Create the tables straight from the models: the store tests' fast path.

        Every table is on `Base.metadata` (bot/store/tables.py). The app never
        does this: its start-up checks or applies the migrations
        (bot/store/migrations), and tests/test_migrations.py proves that both
        build the same tables.
        """
        async with self.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for reads (no transaction kept open past the block)."""
        with _unavailable_on_error():
            async with self.sessions() as session:
                yield session

    @asynccontextmanager
    async def transaction(self, *, durable: bool = True) -> AsyncIterator[AsyncSession]:
        """A write transaction.

        SQLite has one writer at a time; two of our connections contending for
        it would make SQLite's busy handler sleep (up to 100 ms a try), which
        showed as a long latency tail under load. So writes queue on an asyncio
        lock instead and SQLite never sees contention from this process.
        PostgreSQL handles concurrent writers itself.
        """
        with _unavailable_on_error():
            if self._write_lock is None:
                async with self._begin(durable) as session:
                    yield session
                return
            async with self._write_lock, self._begin(durable) as session:
                yield session

    async def run_write(self, work: Callable[[Session], T], *, durable: bool = True) -> T:
        """Run `work(session)` in one write transaction (committed on return) and return its result.

        Over aiosqlite every statement is a trip to its thread and back through
        the event loop, and a Send is eight statements: under load each trip
        waits behind other turns, and the asyncio bridging cost more CPU than
        the SQL itself (measured: 6-7 ms against 3 ms a Send). Here the whole
        transaction runs on a sync Session in the one writer thread, under
        the same write lock as `transaction()`, so it is a single hop.
        On PostgreSQL (or an in-memory SQLite) the same function runs on the
        async session's sync facade (`run_sync`): one code path for both.
        """
        with _unavailable_on_error():
            return await self._run_write(work, durable)

    async def _run_write(self, work: Callable[[Session], T], durable: bool) -> T:
        if self._writer is None:
            async with self._begin(durable) as session:
                return await session.run_sync(work)
        assert self._write_lock is not None
        async with self._write_lock:
            loop = asyncio.get_running_loop()
            done = loop.run_in_executor(self._writer, self._write_now, work, durable)
            try:
                return await asyncio.shield(done)
            finally:
                if not done.done():
                    # Cancelled while the writer thread is still in the transaction:
                    # keep the lock until it lets go, so no other write contends.
                    await asyncio.wait([done])

    def _write_now(self, work: Callable[[Session], T], durable: bool) -> T:
        with (
            Session(self._writer_engines[durable], expire_on_commit=False) as session,
            session.begin(),
        ):
            return work(session)

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
        if self._writer is not None:
            await asyncio.get_running_loop().run_in_executor(self._writer, self._dispose_writers)
            self._writer.shutdown(wait=True)

    def _dispose_writers(self) -> None:
        for engine in self._writer_engines.values():
            engine.dispose()
