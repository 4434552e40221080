"""The outbox's rules at their edges: lease ownership, the hourly limit's window, a raced Send.

Everything goes through the outbox's public methods (submit, claim_due, mark_*,
get, count_since), on SQLite and, when TEST_POSTGRES_URL is set, PostgreSQL
(the `db` fixture). The raced Send is reachable only on PostgreSQL, where two
instances really write at once; on SQLite one writer at a time means the race
cannot happen, and that test skips.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import event, text

from bot.store.confirmations import CardLocation, Confirmations
from bot.store.db import Database
from bot.store.outbox import (
    NewRequest,
    NotTheSender,
    Outbox,
    QueueDepth,
    RecentLimit,
    TooManyRequests,
)
from tests.support.clock import START, Clock

LEASE = 60
MAILBOX = "kch-tr.us.reception_dh@nhs.net"
PAYLOAD = {"patient": {"surname": "Testpatient"}}
REQUEST = {
    "practice_ods": "G85001",
    "trust": "kch",
    "department": "ultrasound",
    "priority": "routine",
    "mailbox": MAILBOX,
    "payload": PAYLOAD,
}


async def submit(
    outbox: Outbox,
    form_id: str,
    *,
    user_id: str = "29:user-a",
    created_at: datetime | None = None,
    limit: RecentLimit | None = None,
):
    return await outbox.submit(
        **REQUEST, form_id=form_id, user_id=user_id, created_at=created_at, limit=limit
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


async def test_the_hourly_count_reads_only_the_index_of_the_users_requests_by_time(
    db: Database, outbox: Outbox
) -> None:
    """Send counts the user's last hour in its transaction. Counted from an index on
    (user, time), it reads the window's entries; on an index of the user alone it read
    every request the user ever made (kept after the purge), so each Send got slower
    as a user's history grew: 5.7 ms a count at 3,300 requests on SQLite."""
    for n in range(3):
        await submit(outbox, f"history-{n}", created_at=START - timedelta(days=n + 1))
    executed: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
        if "count(" in statement:
            executed.append((statement, parameters))

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert await outbox.count_since("29:user-a", START - timedelta(hours=1)) == 0
    finally:
        event.remove(engine, "before_cursor_execute", record)
    ((statement, parameters),) = executed
    async with db.engine.connect() as connection:
        if db.is_sqlite:
            explain = "EXPLAIN QUERY PLAN " + statement
            wanted = "USING COVERING INDEX ix_requests_user_created"
        else:
            # Tiny tables make any plan cheap; rule out the others to see the index's fit.
            await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            await connection.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
            explain = "EXPLAIN " + statement
            wanted = "Index Only Scan using ix_requests_user_created"
        plan = " / ".join(
            str(row[-1]) for row in await connection.exec_driver_sql(explain, parameters)
        )
    assert wanted in plan, plan


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


# --- what the outbox hands back ---------------------------------------------------------------


async def test_a_new_request_is_handed_back_as_queued_and_new(outbox: Outbox) -> None:
    queued = await submit(outbox, "form-1")
    assert (queued.status, queued.created_at, queued.sent_at) == ("queued", START, None)
    assert queued.duplicate is False


async def test_a_repeated_send_is_told_the_first_requests_state(
    outbox: Outbox, clock: Clock
) -> None:
    first = await submit(outbox, "form-1")
    await outbox.claim_due("w1", clock(), LEASE)
    clock.advance(5)
    assert await outbox.mark_sent(first.reference, owner="w1", message_id="<m>", sent_at=clock())
    clock.advance(60)
    again = await submit(outbox, "form-1")
    assert again.duplicate is True
    assert (again.reference, again.status, again.mailbox) == (first.reference, "sent", MAILBOX)
    assert (again.created_at, again.sent_at) == (START, START + timedelta(seconds=5))


async def test_a_claim_carries_what_the_worker_needs_to_send(outbox: Outbox, clock: Clock) -> None:
    queued = await submit(outbox, "form-1")
    (claimed,) = await outbox.claim_due("w1", clock(), LEASE)
    assert (claimed.reference, claimed.user_id, claimed.mailbox) == (
        queued.reference,
        "29:user-a",
        MAILBOX,
    )
    assert (claimed.practice_ods, claimed.trust, claimed.department, claimed.priority) == (
        "G85001",
        "kch",
        "ultrasound",
        "routine",
    )
    assert (claimed.attempts, claimed.created_at, claimed.payload) == (1, START, PAYLOAD)


async def test_a_record_holds_the_whole_request(outbox: Outbox, clock: Clock) -> None:
    queued = await submit(outbox, "form-1")
    await outbox.claim_due("w1", clock(), LEASE)
    assert await outbox.mark_sent(queued.reference, owner="w1", message_id="<m>", sent_at=clock())
    record = await outbox.get(queued.reference)
    assert (record.reference, record.form_id, record.user_id) == (
        queued.reference,
        "form-1",
        "29:user-a",
    )
    assert (record.practice_ods, record.trust, record.department, record.priority) == (
        "G85001",
        "kch",
        "ultrasound",
        "routine",
    )
    assert (record.mailbox, record.status, record.message_id) == (MAILBOX, "sent", "<m>")
    assert (record.created_at, record.sent_at, record.failed_at) == (START, START, None)
    assert (record.payload, record.purged_at) == (PAYLOAD, None)


async def test_an_unknown_reference_has_no_record(outbox: Outbox) -> None:
    assert await outbox.get("DT-20261129-9999") is None


async def test_a_request_sent_after_a_retry_carries_no_error(outbox: Outbox, clock: Clock) -> None:
    queued = await submit(outbox, "form-1")
    await outbox.claim_due("w1", clock(), LEASE)
    await outbox.mark_retry(queued.reference, owner="w1", next_attempt_at=clock(), error="451")
    await outbox.claim_due("w1", clock(), LEASE)
    assert await outbox.mark_sent(queued.reference, owner="w1", message_id="<m>", sent_at=clock())
    assert (await outbox.get(queued.reference)).last_error is None


async def test_too_many_requests_says_how_many(outbox: Outbox) -> None:
    await submit(outbox, "form-1")
    with pytest.raises(TooManyRequests, match=r"^at most 1 requests in the window$"):
        await submit(outbox, "form-2", limit=RecentLimit(most=1, since=START))


# --- due order and lease edges -------------------------------------------------------------


async def test_the_request_due_longest_is_claimed_first(outbox: Outbox, clock: Clock) -> None:
    """A request put back for later waits behind one queued after it but due sooner."""
    early = await submit(outbox, "early")
    await outbox.claim_due("w1", clock(), LEASE)
    await outbox.mark_retry(
        early.reference, owner="w1", next_attempt_at=START + timedelta(minutes=10), error="451"
    )
    clock.advance(60)
    later = await submit(outbox, "later")  # due at START + 1 minute
    clock.advance(3600)
    (claimed,) = await outbox.claim_due("w2", clock(), LEASE)
    assert claimed.reference == later.reference


async def test_a_lease_ends_exactly_when_its_time_is_up(outbox: Outbox, clock: Clock) -> None:
    queued = await submit(outbox, "form-1")
    await outbox.claim_due("w1", clock(), LEASE)
    assert await outbox.claim_due("w2", START + timedelta(seconds=LEASE - 1), LEASE) == []
    (again,) = await outbox.claim_due("w2", START + timedelta(seconds=LEASE), LEASE)
    assert again.reference == queued.reference


async def test_times_are_stored_in_utc_whatever_the_servers_zone(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        queued = await submit(outbox, "form-1", created_at=START)
        record = await outbox.get(queued.reference)
        assert record.created_at == START and record.created_at.utcoffset() == timedelta(0)
        assert await outbox.count_since("29:user-a", START) == 1
        assert await outbox.count_since("29:user-a", START + timedelta(microseconds=1)) == 0
    finally:
        monkeypatch.undo()
        time.tzset()


# --- retention edges -----------------------------------------------------------------------------


async def test_patient_data_goes_exactly_at_the_end_of_the_retention_period(
    outbox: Outbox, clock: Clock
) -> None:
    sent = await submit(outbox, "sent")
    failed = await submit(outbox, "failed")
    await outbox.claim_due("w1", clock(), LEASE, limit=2)
    assert await outbox.mark_sent(sent.reference, owner="w1", message_id="<m>", sent_at=clock())
    assert await outbox.mark_failed(failed.reference, owner="w1", error="550", failed_at=clock())
    retention = timedelta(days=14)
    assert await outbox.purge(START + retention - timedelta(microseconds=1), 14) == 0
    assert await outbox.purge(START + retention, 14) == 2
    for reference in (sent.reference, failed.reference):
        record = await outbox.get(reference)
        assert record.payload is None and record.purged_at == START + retention


# --- claiming on PostgreSQL: a row being claimed is skipped, not waited for ---------------


async def test_a_worker_skips_a_request_another_is_claiming(db: Database, clock: Clock) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite claims in one statement; there is no row lock to skip")
    outbox = Outbox(db, clock=clock)
    held = await submit(outbox, "held")
    clock.advance(1)
    free = await submit(outbox, "free")
    async with db.engine.connect() as other_worker:
        transaction = await other_worker.begin()
        await other_worker.execute(
            text("SELECT id FROM requests WHERE reference = :r FOR UPDATE"),
            {"r": held.reference},
        )
        claimed = await asyncio.wait_for(outbox.claim_due("w2", clock(), LEASE, limit=2), 5)
        await transaction.rollback()
    assert [r.reference for r in claimed] == [free.reference]


# --- the queue's health, a form's request, where its card is ------------------------------


async def test_the_queue_depth_counts_what_is_queued_and_sending_and_the_oldest(
    outbox: Outbox, clock: Clock
) -> None:
    assert await outbox.depth() == QueueDepth(queued=0, sending=0, oldest=None)
    assert await outbox.oldest_unsent() is None
    first = await submit(outbox, "first")  # submitted at START
    clock.advance(10)
    await submit(outbox, "second", created_at=clock())
    clock.advance(10)
    await submit(outbox, "third", created_at=clock())
    (claimed,) = await outbox.claim_due("w1", clock(), LEASE)  # the oldest, now sending
    assert claimed.reference == first.reference
    # The oldest is the sending one: both statuses' oldest count.
    assert await outbox.depth() == QueueDepth(queued=2, sending=1, oldest=START)
    assert await outbox.oldest_unsent() == START
    assert await outbox.mark_sent(first.reference, owner="w1", message_id="<m>", sent_at=clock())
    # Sent is no longer waiting; nothing sending counts as none.
    later = START + timedelta(seconds=10)
    assert await outbox.depth() == QueueDepth(queued=2, sending=0, oldest=later)
    assert await outbox.oldest_unsent() == later
    for claimed in await outbox.claim_due("w1", clock(), LEASE, limit=2):
        assert await outbox.mark_failed(claimed.reference, owner="w1", error="550")
    assert await outbox.depth() == QueueDepth(queued=0, sending=0, oldest=None)
    assert await outbox.oldest_unsent() is None


async def test_only_sending_requests_are_counted_as_sending(outbox: Outbox, clock: Clock) -> None:
    await submit(outbox, "only")
    await outbox.claim_due("w1", clock(), LEASE)
    assert await outbox.depth() == QueueDepth(queued=0, sending=1, oldest=START)


async def test_a_forms_request_is_found_for_its_sender_only(outbox: Outbox) -> None:
    assert await outbox.made_by_form("never-sent", "29:user-a") is None
    queued = await submit(outbox, "form-1")
    found = await outbox.made_by_form("form-1", "29:user-a")
    assert found is not None and found.duplicate is True
    assert (found.reference, found.status, found.mailbox) == (queued.reference, "queued", MAILBOX)
    with pytest.raises(NotTheSender):
        await outbox.made_by_form("form-1", "29:user-b")


async def test_the_request_handed_back_is_the_one_stored_new_or_repeated(outbox: Outbox) -> None:
    first = await submit(outbox, "form-1")
    again = await submit(outbox, "form-1")
    for submission in (first, again):
        assert (submission.trust, submission.department, submission.kind) == (
            "kch",
            "ultrasound",
            "form",
        )
        assert submission.payload == PAYLOAD
    assert (first.duplicate, again.duplicate) == (False, True)


async def test_send_records_where_its_card_is_with_the_request(
    db: Database, outbox: Outbox
) -> None:
    card = CardLocation("29:user-a", "activity-1", {"id": "a:personal-chat"})
    request = NewRequest(form_id="form-1", user_id="29:user-a", **REQUEST)
    queued = await outbox.queue_request(request, card)
    stored = await Confirmations(db).get(queued.reference)
    assert stored is not None
    assert (stored.reference, stored.user_id, stored.activity_id, stored.conversation) == (
        queued.reference,
        "29:user-a",
        "activity-1",
        {"id": "a:personal-chat"},
    )
    # A repeated Send from a new card moves the record to it, and queues nothing new.
    moved = CardLocation("29:user-a", "activity-2", {"id": "a:personal-chat"})
    again = await outbox.queue_request(request, moved)
    assert again.reference == queued.reference and again.duplicate is True
    stored = await Confirmations(db).get(queued.reference)
    assert stored is not None and stored.activity_id == "activity-2"


@OUTCOMES
async def test_a_finished_attempt_leaves_no_lease_behind(
    db: Database, outbox: Outbox, clock: Clock, mark: Mark
) -> None:
    queued = await submit(outbox, "form-1")
    await outbox.claim_due("w1", clock(), LEASE)
    assert await mark(outbox, queued.reference, "w1")
    async with db.reading() as session:
        lease = (
            await session.execute(
                text("SELECT lease_owner, lease_until FROM requests WHERE reference = :r"),
                {"r": queued.reference},
            )
        ).one()
    assert tuple(lease) == (None, None)


async def test_purging_again_keeps_when_the_data_first_went(outbox: Outbox, clock: Clock) -> None:
    sent = await submit(outbox, "sent")
    await outbox.claim_due("w1", clock(), LEASE)
    assert await outbox.mark_sent(sent.reference, owner="w1", message_id="<m>", sent_at=clock())
    first_purge = START + timedelta(days=14)
    assert await outbox.purge(first_purge, 14) == 1
    assert await outbox.purge(first_purge + timedelta(days=1), 14) == 0
    record = await outbox.get(sent.reference)
    assert record is not None and record.purged_at == first_purge
