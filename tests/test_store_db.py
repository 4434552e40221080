"""`Database.run_write`: one write transaction as a plain function, on SQLite and PostgreSQL.

Send runs through it, so what it promises is what "queued" rests on: the
function's writes commit together or not at all, and on SQLite no other write
of ours can slip in while the writer thread is inside a transaction, even if
the caller gives up waiting.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot.store.db import Database, StoreUnavailable
from bot.store.outbox import ReferenceCounter


def add_counter(day: str, last: int = 1):
    def work(session: Session) -> str:
        session.connection().execute(insert(ReferenceCounter), {"day": day, "last": last})
        return day

    return work


async def days(db: Database) -> list[str]:
    async with db.sessions() as session:
        return list(await session.scalars(select(ReferenceCounter.day).order_by("day")))


async def test_run_write_commits_and_returns_the_result(db: Database) -> None:
    assert await db.run_write(add_counter("20261129")) == "20261129"
    assert await days(db) == ["20261129"]


async def test_run_write_rolls_back_everything_when_the_function_raises(db: Database) -> None:
    def half_then_fail(session: Session) -> None:
        add_counter("20261129")(session)
        raise ValueError("refused after the first insert")

    with pytest.raises(ValueError, match="refused"):
        await db.run_write(half_then_fail)
    assert await days(db) == []


async def test_run_write_sees_what_async_sessions_committed(db: Database) -> None:
    async with db.transaction() as session:
        session.add(ReferenceCounter(day="20261128", last=7))

    def read(session: Session) -> int:
        return int(session.scalar(select(func.sum(ReferenceCounter.last))) or 0)

    assert await db.run_write(read) == 7


async def test_sqlite_writes_go_through_the_one_writer_thread(tmp_path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/store.db")
    await db.create_schema()
    try:
        names = {await db.run_write(lambda _: threading.current_thread().name) for _ in range(5)}
        assert len(names) == 1
        assert next(iter(names)).startswith("store-writer")
    finally:
        await db.close()


async def test_cancelled_caller_keeps_the_write_lock_until_the_thread_commits(tmp_path) -> None:
    """A turn abandoned mid-Send must not let another write contend with the one in flight.

    The transaction still commits (nothing is lost: a repeated Send finds it),
    and an async write that starts meanwhile waits for it instead of meeting
    SQLite's busy handler.
    """
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/store.db")
    await db.create_schema()
    entered, release = threading.Event(), threading.Event()

    def slow(session: Session) -> None:
        entered.set()
        release.wait(5)
        add_counter("20261129")(session)

    try:
        send = asyncio.create_task(db.run_write(slow))
        await asyncio.to_thread(entered.wait, 5)
        send.cancel()
        await asyncio.sleep(0)

        async def other_write() -> datetime:
            async with db.transaction() as session:
                session.add(ReferenceCounter(day="20261130", last=1))
            return datetime.now(UTC)

        other = asyncio.create_task(other_write())
        await asyncio.sleep(0.2)
        assert not other.done(), "a write got the lock while the writer thread was inside"
        released_at = datetime.now(UTC)
        release.set()
        assert await other >= released_at
        with pytest.raises(asyncio.CancelledError):
            await send
        assert await days(db) == ["20261129", "20261130"]
    finally:
        release.set()
        await db.close()


async def test_reads_in_a_sqlite_write_run_inside_its_transaction(tmp_path) -> None:
    """The Send's checks (already queued? how many this hour?) and its writes are one transaction.

    Python's sqlite3 opens a transaction only at the first INSERT, so the
    checks would run outside it and another writer to the file could slip in
    between. With BEGIN IMMEDIATE the write lock comes first: while another
    connection holds it, not even the checks run.
    """
    path = tmp_path / "store.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.create_schema()
    ran: list[int] = []

    def check_then_write(session: Session) -> None:
        ran.append(int(session.scalar(select(func.count()).select_from(ReferenceCounter)) or 0))
        add_counter("20261129")(session)

    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable, match="OperationalError") as refused:
            await db.run_write(check_then_write)
        assert isinstance(refused.value.__cause__, OperationalError)
        assert "locked" in str(refused.value.__cause__)
        assert ran == []
        other.execute("ROLLBACK")
        await db.run_write(check_then_write)
        assert ran == [0]
        assert await days(db) == ["20261129"]
    finally:
        other.close()
        await db.close()


async def test_every_read_outside_a_write_turns_a_fault_into_store_unavailable(tmp_path) -> None:
    """The workers' idle-poll reads, the queue gauges and `/readyz`'s queue age read outside a
    transaction; a database fault there leaves the store as `StoreUnavailable`, like any other,
    so no caller outside `bot/store/` has to know SQLAlchemy's exceptions."""
    from bot.store.broadcasts import BroadcastQueue
    from bot.store.outbox import Outbox

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await db.create_schema()
    outbox, queue = Outbox(db), BroadcastQueue(db)
    now = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    try:
        assert await outbox.oldest_unsent() is None  # control: it works before the fault
        async with db.engine.begin() as connection:
            await connection.exec_driver_sql("DROP TABLE requests")
            await connection.exec_driver_sql("DROP TABLE broadcast_deliveries")
        reads = {
            "oldest_unsent": outbox.oldest_unsent,
            "depth": outbox.depth,
            "outbox claim": lambda: outbox.claim_due("w", now, 60.0),
            "broadcast claim": lambda: queue.claim_due("w", now, 60.0, 5),
        }
        raised = {}
        for name, read in reads.items():
            try:
                await read()
            except Exception as error:  # noqa: BLE001 - which one is the assertion
                raised[name] = f"{type(error).__name__}: {error}"
        assert raised == dict.fromkeys(reads, "StoreUnavailable: OperationalError")
    finally:
        await db.close()
