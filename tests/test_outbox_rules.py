"""The outbox's rules at their edges: lease ownership, the hourly limit's window, a raced Send.

Everything goes through the outbox's public methods (submit, claim_due, mark_*,
get, count_since), on SQLite and, when TEST_POSTGRES_URL is set, PostgreSQL
(the `db` fixture). The raced Send is reachable only on PostgreSQL, where two
instances really write at once; on SQLite one writer at a time means the race
cannot happen, and that test skips.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from bot.store.db import Database
from bot.store.outbox import NotTheSender, Outbox, RecentLimit, TooManyRequests

START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
LEASE = 60


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(db: Database, clock: Clock) -> Outbox:
    return Outbox(db, clock=clock)


async def submit(
    outbox: Outbox,
    form_id: str,
    *,
    user_id: str = "29:user-a",
    created_at: datetime | None = None,
    limit: RecentLimit | None = None,
):
    return await outbox.submit(
        form_id=form_id,
        user_id=user_id,
        practice_ods="G85001",
        trust="kch",
        department="ultrasound",
        priority="routine",
        mailbox="kch-tr.us.reception_dh@nhs.net",
        payload={"patient": {"surname": "Testpatient"}},
        created_at=created_at,
        limit=limit,
    )


Mark = Callable[[Outbox, str, str], Awaitable[bool]]


def _retry(outbox: Outbox, reference: str, owner: str) -> Awaitable[bool]:
    return outbox.mark_retry(
        reference, owner=owner, next_attempt_at=START + timedelta(hours=1), error="451 later"
    )


def _failed(outbox: Outbox, reference: str, owner: str) -> Awaitable[bool]:
    return outbox.mark_failed(reference, owner=owner, error="550 no such mailbox")


def _sent(outbox: Outbox, reference: str, owner: str) -> Awaitable[bool]:
    return outbox.mark_sent(reference, owner=owner, message_id="<m@bot>", sent_at=START)


OUTCOMES = pytest.mark.parametrize(
    "mark", [_retry, _failed, _sent], ids=["retry", "failed", "sent"]
)


# --- lease ownership ---------------------------------------------------------------------


@OUTCOMES
async def test_a_worker_that_lost_its_lease_cannot_record_an_outcome(
    outbox: Outbox, clock: Clock, mark: Mark
) -> None:
    """w1 stalled past its lease; w2 claimed the request again. w1's late word must not count."""
    queued = await submit(outbox, "form-1")
    await outbox.claim_due("w1", clock(), LEASE)
    clock.advance(LEASE + 1)
    (again,) = await outbox.claim_due("w2", clock(), LEASE)
    assert again.reference == queued.reference

    assert await mark(outbox, queued.reference, "w1") is False
    record = await outbox.get(queued.reference)
    assert record is not None
    assert (record.status, record.attempts, record.last_error) == ("sending", 2, None)
    assert (record.sent_at, record.failed_at, record.message_id) == (None, None, None)

    # w2 still owns it: its outcome is the one recorded.
    assert await outbox.mark_sent(
        queued.reference, owner="w2", message_id="<m@bot>", sent_at=clock()
    )
    assert (await outbox.get(queued.reference)).status == "sent"


@OUTCOMES
async def test_no_outcome_is_recorded_for_a_request_nobody_has_claimed(
    outbox: Outbox, mark: Mark
) -> None:
    queued = await submit(outbox, "form-1")
    assert await mark(outbox, queued.reference, "w1") is False
    assert (await outbox.get(queued.reference)).status == "queued"


@OUTCOMES
async def test_a_sent_request_stays_sent_whatever_comes_later(
    outbox: Outbox, clock: Clock, mark: Mark
) -> None:
    queued = await submit(outbox, "form-1")
    await outbox.claim_due("w1", clock(), LEASE)
    assert await _sent(outbox, queued.reference, "w1")
    assert await mark(outbox, queued.reference, "w1") is False
    record = await outbox.get(queued.reference)
    assert (record.status, record.message_id, record.last_error) == ("sent", "<m@bot>", None)


async def test_the_lease_holder_queues_a_retry_with_its_reason(
    outbox: Outbox, clock: Clock
) -> None:
    queued = await submit(outbox, "form-1")
    await outbox.claim_due("w1", clock(), LEASE)
    later = START + timedelta(minutes=5)
    reason = "451 4.3.0  try\r\n again later " + "x" * 600
    assert await outbox.mark_retry(
        queued.reference, owner="w1", next_attempt_at=later, error=reason
    )
    record = await outbox.get(queued.reference)
    assert (record.status, record.next_attempt_at) == ("queued", later)
    # One line, at most the column's 500 characters (a longer one fails on PostgreSQL).
    assert record.last_error.startswith("451 4.3.0 try again later xxx")
    assert len(record.last_error) == 500
    # Not due before its time; due again (and claimable by anyone) after it.
    assert await outbox.claim_due("w2", later - timedelta(seconds=1), LEASE) == []
    assert [r.reference for r in await outbox.claim_due("w2", later, LEASE)] == [queued.reference]


async def test_the_lease_holder_records_a_failure_when_it_happened(
    outbox: Outbox, clock: Clock
) -> None:
    queued = await submit(outbox, "form-1")
    await outbox.claim_due("w1", clock(), LEASE)
    clock.advance(30)
    assert await outbox.mark_failed(queued.reference, owner="w1", error="550 no such mailbox")
    record = await outbox.get(queued.reference)
    assert (record.status, record.failed_at, record.last_error) == (
        "failed",
        START + timedelta(seconds=30),
        "550 no such mailbox",
    )
    clock.advance(3600)
    assert await outbox.claim_due("w2", clock(), LEASE) == []  # never tried again


# --- the hourly limit's window ----------------------------------------------------------------


async def test_a_request_made_exactly_at_the_window_start_counts(outbox: Outbox) -> None:
    window_start = START - timedelta(hours=1)
    await submit(outbox, "edge", created_at=window_start)
    assert await outbox.count_since("29:user-a", window_start) == 1
    with pytest.raises(TooManyRequests) as refused:
        await submit(outbox, "next", limit=RecentLimit(most=1, since=window_start))
    assert refused.value.most == 1
    assert await outbox.count_since("29:user-a", window_start) == 1  # nothing was queued


async def test_a_request_just_before_the_window_does_not_count(outbox: Outbox) -> None:
    window_start = START - timedelta(hours=1)
    await submit(outbox, "old", created_at=window_start - timedelta(microseconds=1))
    assert await outbox.count_since("29:user-a", window_start) == 0
    fresh = await submit(outbox, "next", limit=RecentLimit(most=1, since=window_start))
    assert not fresh.duplicate and fresh.status == "queued"


async def test_the_limit_counts_only_the_users_own_requests(outbox: Outbox) -> None:
    window_start = START - timedelta(hours=1)
    for n in range(3):
        await submit(outbox, f"other-{n}", user_id="29:user-b")
    queued = await submit(outbox, "mine", limit=RecentLimit(most=1, since=window_start))
    assert not queued.duplicate
    assert await outbox.count_since("29:user-b", window_start) == 3


# --- a Send raced by two instances (PostgreSQL) ------------------------------------------------


async def _wait_for_lock_waiters(db: Database, count: int) -> None:
    """Until `count` sessions are waiting for a row lock (the racing Sends)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    for _ in range(500):
        async with db.engine.connect() as connection:
            if (await connection.execute(query)).scalar_one() >= count:
                return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the racing Sends never both waited (wanted {count})")


@pytest.mark.parametrize("second_user", ["29:user-a", "29:user-b"], ids=["same-user", "other-user"])
async def test_two_instances_sending_one_form_at_once_queue_it_once(
    db: Database, clock: Clock, second_user: str
) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite has one writer at a time: two Sends cannot interleave")
    first = Outbox(db, clock=clock)
    other_db = Database(db.url)  # a second bot instance on the same database
    second = Outbox(other_db, clock=clock)
    try:
        assert (await submit(first, "earlier")).reference == "DT-20261129-0001"
        # Hold today's reference counter so both Sends get past "is this form queued?"
        # and then wait, as two instances racing would.
        async with db.engine.connect() as holder:
            transaction = await holder.begin()
            await holder.execute(text("SELECT last FROM reference_counters FOR UPDATE"))
            racing = [
                asyncio.create_task(submit(first, "raced")),
                asyncio.create_task(submit(second, "raced", user_id=second_user)),
            ]
            await _wait_for_lock_waiters(db, 2)
            await transaction.rollback()
        results = await asyncio.gather(*racing, return_exceptions=True)
    finally:
        await other_db.close()

    winners = [r for r in results if not isinstance(r, BaseException) and not r.duplicate]
    (winner,) = winners
    assert winner.reference == "DT-20261129-0002"
    loser = results[1] if results[0] is winner else results[0]
    if second_user == "29:user-a":
        assert not isinstance(loser, BaseException)
        assert loser.duplicate and loser.reference == winner.reference
    else:
        # Whoever lost, the form is the other user's: they get nothing of it.
        assert isinstance(loser, NotTheSender)
    # One row; the loser's counter step was rolled back with it: no gap in the numbers.
    assert (
        await first.count_since("29:user-a", START - timedelta(days=1))
        + (await first.count_since("29:user-b", START - timedelta(days=1)))
        == 2
    )
    assert (await submit(first, "later")).reference == "DT-20261129-0003"


# --- claiming ---------------------------------------------------------------------------------


async def test_a_worker_claims_one_request_at_a_time_unless_it_asks_for_more(
    outbox: Outbox, clock: Clock
) -> None:
    first = await submit(outbox, "form-1")
    clock.advance(1)
    second = await submit(outbox, "form-2")
    (claimed,) = await outbox.claim_due("w1", clock(), LEASE)
    assert claimed.reference == first.reference  # the oldest due first
    (claimed,) = await outbox.claim_due("w2", clock(), LEASE, limit=5)
    assert claimed.reference == second.reference


async def test_every_time_is_kept_in_utc_whatever_zone_it_came_in(outbox: Outbox) -> None:
    """Times are compared as stored; a zone-shifted time must not reorder or lose a request."""
    london_summer = timezone(timedelta(hours=1))
    made = datetime(2026, 7, 1, 9, 30, tzinfo=london_summer)
    queued = await submit(outbox, "form-1", created_at=made)
    record = await outbox.get(queued.reference)
    assert record.created_at == made and record.created_at.utcoffset() == timedelta(0)
    assert await outbox.count_since("29:user-a", datetime(2026, 7, 1, 8, 30, tzinfo=UTC)) == 1
    assert await outbox.count_since("29:user-a", datetime(2026, 7, 1, 8, 31, tzinfo=UTC)) == 0
