"""The downtime log's reads and its email queue (bot/store/request_log.py), rule by rule.

Real store (SQLite, and PostgreSQL when TEST_POSTGRES_URL is set). What each
list holds: only requests (never a log email), only the asked-for practice,
user or window (both ends included), in the stated order, with the NHS number
masked and nothing else of the patient; a log email queued once per button,
counted against the user's hourly limit.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.store.db import Database
from bot.store.outbox import Outbox, RecentLimit, TooManyRequests
from bot.store.request_log import PAGE, RequestLog, log_reference
from tests.support.requests import queue_request

NOW = datetime(2026, 12, 1, 8, 12, tzinfo=UTC)


async def request(outbox: Outbox, form: str, at: datetime, *, user: str = "29:a", **kw: Any) -> str:
    return await queue_request(outbox, form, user, at, **kw)


async def email(log: RequestLog, key: str, at: datetime, most: int = 10, **extra: Any) -> Any:
    values: dict[str, Any] = {
        "key": key,
        "user_id": "29:a",
        "practice_ods": "G85001",
        "mailbox": "practice@nhs.net",
        "payload": {"kind": "log", "csv": "reference\n"},
        "now": at,
        "limit": RecentLimit(most, at - timedelta(hours=1)),
    }
    values.update(extra)
    return await log.queue_email(**values)


async def test_a_practice_log_covers_its_window_inclusive_oldest_first(db: Database) -> None:
    outbox, log = Outbox(db), RequestLog(db)
    start, end = NOW, NOW + timedelta(hours=2)
    await request(outbox, "before", start - timedelta(seconds=1))
    first = await request(outbox, "start", start, user="29:b")
    last = await request(outbox, "end", end)
    middle = await request(outbox, "middle", start + timedelta(hours=1))
    after = await request(outbox, "after", end + timedelta(seconds=1))
    await request(outbox, "elsewhere", start + timedelta(minutes=1), ods="G85002")
    rows = await log.for_practice(" g85001 ", start, end)
    assert [r.reference for r in rows] == [first, middle, last]
    still_open = await log.for_practice("G85001", start, None)
    assert [r.reference for r in still_open] == [first, middle, last, after]


async def test_a_users_requests_in_a_window_are_their_own_oldest_first(db: Database) -> None:
    outbox, log = Outbox(db), RequestLog(db)
    start, end = NOW, NOW + timedelta(hours=1)
    await request(outbox, "early", start - timedelta(seconds=1))
    later = await request(outbox, "later", end)
    sooner = await request(outbox, "sooner", start)
    await request(outbox, "theirs", start, user="29:b")
    late = await request(outbox, "late", end + timedelta(seconds=1))
    rows = await log.of_user_between("29:a", start, end)
    assert [r.reference for r in rows] == [sooner, later]
    still_open = await log.of_user_between("29:a", start, None)
    assert [r.reference for r in still_open] == [sooner, later, late]


async def test_a_log_email_never_shows_in_a_log(db: Database) -> None:
    outbox, log = Outbox(db), RequestLog(db)
    made = await request(outbox, "f1", NOW)
    queued = await email(log, "k1", NOW)
    assert [r.reference for r in (await log.mine("29:a")).rows] == [made]
    assert [r.reference for r in await log.for_practice("G85001", NOW, None)] == [made]
    assert [r.reference for r in await log.of_user_between("29:a", NOW, None)] == [made]
    assert await log.by_references([made, queued.reference]) == await log.by_references([made])


async def test_requests_by_reference_in_the_order_they_were_sent(db: Database) -> None:
    outbox, log = Outbox(db), RequestLog(db)
    first = await request(outbox, "f1", NOW)
    second = await request(outbox, "f2", NOW)
    await outbox.claim_due("w", NOW, 60, limit=2)
    for reference, minutes in ((second, 1), (first, 2)):  # the later request went first
        sent_at = NOW + timedelta(minutes=minutes)
        assert await outbox.mark_sent(reference, owner="w", message_id="m", sent_at=sent_at)
    rows = await log.by_references([first, second, first])
    assert [r.reference for r in rows] == [second, first]
    assert await log.by_references([]) == []


async def test_a_page_below_the_first_is_the_first(db: Database) -> None:
    outbox, log = Outbox(db), RequestLog(db)
    made = [await request(outbox, f"f{n}", NOW + timedelta(minutes=n)) for n in range(3)]
    page = await log.mine("29:a", -2, 2)
    assert page.page == 0 and page.more
    assert [r.reference for r in page.rows] == made[::-1][:2]
    exact = await log.mine("29:a", 0, 3)
    assert len(exact.rows) == 3 and not exact.more, "exactly a page: no next page"


async def test_my_requests_are_newest_first_by_when_they_were_made(db: Database) -> None:
    """Made order, not numbering order: a request queued later can carry an earlier time
    (the time of the Send); and requests made in the same instant, the later one first."""
    outbox, log = Outbox(db), RequestLog(db)
    late = await request(outbox, "f1", NOW + timedelta(minutes=5))
    early = await request(outbox, "f2", NOW)
    same = [await request(outbox, f"s{n}", NOW + timedelta(minutes=9)) for n in range(3)]
    page = await log.mine("29:a")
    assert [r.reference for r in page.rows] == [*same[::-1], late, early]


async def test_a_card_lists_ten_requests_at_most(db: Database) -> None:
    """A card must stay under Teams' 28 KB: ten rows a page."""
    outbox, log = Outbox(db), RequestLog(db)
    for n in range(11):
        await request(outbox, f"f{n}", NOW + timedelta(minutes=n))
    page = await log.mine("29:a")
    assert len(page.rows) == PAGE == 10 and page.more


async def test_a_row_shows_where_it_stands_and_nothing_of_the_patient(db: Database) -> None:
    outbox, log = Outbox(db), RequestLog(db)
    reference = await request(outbox, "f1", NOW)
    (claimed,) = await outbox.claim_due("w", NOW, 60)
    failed_at = NOW + timedelta(minutes=3)
    await outbox.mark_failed(claimed.reference, owner="w", error="550", failed_at=failed_at)
    (row,) = (await log.mine("29:a")).rows
    assert (row.reference, row.kind, row.user_id, row.practice_ods) == (
        reference,
        "form",
        "29:a",
        "G85001",
    )
    assert (row.trust, row.department, row.priority, row.mailbox) == (
        "kch",
        "ultrasound",
        "urgent",
        "kch-tr.us.reception_dh@nhs.net",
    )
    assert (row.status, row.created_at, row.sent_at, row.failed_at) == (
        "failed",
        NOW,
        None,
        failed_at,
    )
    assert row.masked_nhs_number == "*** *** 0018"


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"patient": "not a mapping"},
        {"patient": {}},
        {"patient": {"nhs_number": 9990000018}},
        {"patient": {"nhs_number": "   "}},
    ],
)
async def test_no_readable_nhs_number_shows_none(db: Database, payload: dict[str, Any]) -> None:
    outbox, log = Outbox(db), RequestLog(db)
    await request(outbox, "f1", NOW, payload=payload)
    (row,) = (await log.mine("29:a")).rows
    assert row.masked_nhs_number is None


async def test_a_log_email_is_queued_once_per_button_for_the_outbox(db: Database) -> None:
    outbox, log = Outbox(db), RequestLog(db)
    first = await email(log, "k1", NOW)
    again = await email(log, "k1", NOW + timedelta(seconds=5))
    assert not first.duplicate and again == type(first)(first.reference, duplicate=True)
    assert re.fullmatch(r"LOG-20261201-[0-9A-F]{6}", first.reference)
    (claimed,) = await outbox.claim_due("w", NOW, 60)
    assert (claimed.reference, claimed.kind, claimed.mailbox) == (
        first.reference,
        "log",
        "practice@nhs.net",
    )
    assert claimed.payload == {"kind": "log", "csv": "reference\n"}
    assert claimed.attempts == 1, "a log email is tried as often as a request"


async def test_log_emails_count_with_requests_against_the_hourly_limit(db: Database) -> None:
    """The user's own requests and log emails of the last hour, its first moment included."""
    outbox, log = Outbox(db), RequestLog(db)
    await request(outbox, "old", NOW - timedelta(hours=1, seconds=1))
    await request(outbox, "edge", NOW - timedelta(hours=1))  # exactly an hour ago: counts
    await request(outbox, "other user", NOW, user="29:b")
    assert not (await email(log, "k1", NOW, most=2)).duplicate  # one in the hour: room
    with pytest.raises(TooManyRequests) as refused:
        await email(log, "k2", NOW, most=2)  # two in the hour: full
    assert refused.value.most == 2, "the user is told the limit"
    assert (await email(log, "k1", NOW, most=1)).duplicate, "a repeat is never refused"


def test_a_log_reference_is_never_a_request_number() -> None:
    references = {log_reference(NOW) for _ in range(20)}
    assert all(re.fullmatch(r"LOG-20261201-[0-9A-F]{6}", r) for r in references)
    assert len(references) > 15
    assert log_reference(datetime(2026, 12, 2, 0, 30, tzinfo=UTC)).startswith("LOG-20261202-")
