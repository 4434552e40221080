"""The broadcast worker with a real store and a scripted Teams: what each answer leads to.

Over HTTP the same paths are covered by tests/test_incidents_e2e.py; here the
answers Teams may give are scripted one by one (Sent, Gone, Retry with and
without a 429, Refused) and the clock is the test's.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from msrest.exceptions import HttpOperationError

from bot.backoff import Backoff
from bot.broadcast import BroadcastWorker, Gone, Refused, Retry, SendResult, Sent
from bot.pacing import Pacer
from bot.store.broadcasts import (
    ANNOUNCEMENT,
    FOLLOW_UP,
    LOG_EMAIL,
    RECONCILIATION,
    BroadcastQueue,
    ClaimedDelivery,
)
from bot.store.conversations import ConversationRecord, Conversations
from bot.store.db import Database
from bot.store.incidents import Draft, Incidents
from bot.store.tables import as_utc
from bot.teams.broadcast import classify
from bot.turns import Reply
from tests.support.clock import Clock

NOW = datetime(2026, 12, 1, 8, 12, tzinfo=UTC)


class Teams:
    """Answers each send from a script per conversation (default: accepted)."""

    def __init__(self, script: dict[str, list[SendResult]] | None = None) -> None:
        self.script = script or {}
        self.sent: list[str] = []

    async def __call__(self, reference: Mapping[str, Any], reply: Reply) -> SendResult:
        conversation = reference["conversation"]["id"]
        answers = self.script.get(conversation) or []
        answer = answers.pop(0) if answers else Sent(f"activity-{len(self.sent)}")
        if isinstance(answer, Sent):
            self.sent.append(conversation)
        return answer


async def compose(row: ClaimedDelivery) -> Reply:
    return Reply(text=f"{row.topic} {row.subject}")


async def setup(db: Database, users: int) -> tuple[Conversations, BroadcastQueue]:
    conversations = Conversations(db)
    for n in range(users):
        reference = {"conversation": {"id": f"a:{n}"}}
        await conversations.record(
            ConversationRecord(f"a:{n}", "personal", "t", f"29:{n}", reference)
        )
    await Incidents(db).announce(
        Draft("a" * 32, "declare", "down", "aad", "Jo", NOW, frozenset({"t"}))
    )
    return conversations, BroadcastQueue(db)


def worker(
    db_parts: tuple[Conversations, BroadcastQueue], teams: Teams, clock: Clock, **kw: Any
) -> BroadcastWorker:
    conversations, queue = db_parts
    values: dict[str, Any] = {
        "per_second": 50,
        "backoff": Backoff(base=2, cap=60, max_attempts=3, rng=random.Random(1)),
        "tenant_allowed": lambda tenant: tenant == "t",
        "clock": clock,
        "sleep": clock.sleep,
    }
    values.update(kw)
    return BroadcastWorker(queue, conversations, compose, teams, **values)


async def statuses(queue: BroadcastQueue) -> dict[str, str]:
    return {row.conversation_key: row.status for row in await queue.rows()}


async def test_each_conversation_gets_it_once_and_the_activity_id_is_kept(db: Database) -> None:
    parts = await setup(db, 3)
    clock, teams = Clock(NOW), Teams()
    assert await worker(parts, teams, clock).run_once() == 3
    assert await worker(parts, teams, clock).run_once() == 0
    assert sorted(teams.sent) == ["a:0", "a:1", "a:2"]
    assert all(r.activity_id for r in await parts[1].rows())


async def test_gone_removes_the_conversation_and_drops_the_delivery(db: Database) -> None:
    parts = await setup(db, 2)
    teams = Teams({"a:1": [Gone(403)]})
    await worker(parts, teams, Clock(NOW)).run_once()
    assert await statuses(parts[1]) == {"a:0": "sent", "a:1": "dropped"}
    assert await parts[0].get("a:1") is None


async def test_a_429_waits_its_retry_after_and_pauses_the_worker(db: Database) -> None:
    parts = await setup(db, 2)
    clock = Clock(NOW)
    teams = Teams({"a:0": [Retry("HTTP 429", retry_after=30, throttled=True)]})
    sender = worker(parts, teams, clock)
    await sender.run_once()
    assert await statuses(parts[1]) == {"a:0": "queued", "a:1": "queued"}, "a:1 waits too"
    assert teams.sent == []
    handled = await sender.run_once()  # waits out the pause, then sends both
    assert handled == 2 and sum(clock.sleeps) >= 30
    assert await statuses(parts[1]) == {"a:0": "sent", "a:1": "sent"}


async def test_a_5xx_backs_off_that_delivery_only_and_gives_up_at_the_limit(
    db: Database,
) -> None:
    parts = await setup(db, 2)
    clock = Clock(NOW)
    teams = Teams({"a:0": [Retry("HTTP 503")] * 5})
    sender = worker(parts, teams, clock)
    await sender.run_once()
    assert await statuses(parts[1]) == {"a:0": "queued", "a:1": "sent"}
    for _ in range(3):
        clock.now += timedelta(minutes=5)
        await sender.run_once()
    rows = {r.conversation_key: r for r in await parts[1].rows()}
    assert rows["a:0"].status == "failed" and rows["a:0"].attempts == 3
    assert "gave up" in (rows["a:0"].last_error or "")


async def test_refused_fails_at_once(db: Database) -> None:
    parts = await setup(db, 1)
    await worker(parts, Teams({"a:0": [Refused("HTTP 400")]}), Clock(NOW)).run_once()
    assert await statuses(parts[1]) == {"a:0": "failed"}


async def test_a_tenant_no_longer_allowed_is_not_told(db: Database) -> None:
    parts = await setup(db, 1)
    teams = Teams()
    await worker(parts, teams, Clock(NOW), tenant_allowed=lambda _tenant: False).run_once()
    assert teams.sent == [] and await statuses(parts[1]) == {"a:0": "dropped"}


async def test_the_pace_holds_sends_to_the_rate(db: Database) -> None:
    parts = await setup(db, 6)
    clock, teams = Clock(NOW), Teams()
    sender = worker(parts, teams, clock, per_second=2)
    while await sender.run_once():
        pass
    assert len(teams.sent) == 6
    assert clock.now - NOW >= timedelta(seconds=2), "6 sends at 2 a second take at least 2 s"


def test_pacer_at_a_rate_below_one_a_second() -> None:
    clock = Clock(NOW)
    pacer = Pacer.at_rate(0.5, clock, clock.sleep)
    pacer.record()
    assert pacer.delay() == pytest.approx(2.0)


# --- what Teams' answers mean -------------------------------------------------------------


class _Response:
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.headers = headers or {}


def http_error(status: int, headers: dict[str, str] | None = None) -> HttpOperationError:
    error = HttpOperationError.__new__(HttpOperationError)
    error.response = _Response(status, headers)
    return error


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (http_error(403), Gone(403)),
        (http_error(404), Gone(404)),
        (http_error(429, {"Retry-After": "7"}), Retry("HTTP 429", 7.0, throttled=True)),
        (http_error(503), Retry("HTTP 503", None)),
        (http_error(412), Retry("HTTP 412", None)),
        (http_error(401), Retry("HTTP 401", None)),
        (http_error(400), Refused("HTTP 400")),
        (aiohttp.ClientConnectionError(), Retry("unreachable: ClientConnectionError")),
        (TimeoutError(), Retry("unreachable: TimeoutError")),
        (RuntimeError("no token"), Retry("error: RuntimeError")),
    ],
)
def test_teams_answers_sort_into_outcomes(error: BaseException, expected: SendResult) -> None:
    assert classify(error) == expected


# --- the queue's own rules (bot/store/broadcasts.py) ---------------------------------------


async def chats(db: Database, *users: str, tenant: str = "t") -> BroadcastQueue:
    conversations = Conversations(db)
    for user in users:
        reference = {"conversation": {"id": f"a:{user}"}}
        await conversations.record(
            ConversationRecord(f"a:{user}", "personal", tenant, user, reference)
        )
    return BroadcastQueue(db)


async def test_a_personal_message_is_queued_once_and_only_to_a_chat_the_bot_has(
    db: Database,
) -> None:
    queue = await chats(db, "29:a")
    await chats(db, "29:x", tenant="elsewhere")
    payload = {"references": ["DT-20261201-0001"]}
    tenants = frozenset({"t"})
    assert await queue.queue_personal(
        "follow_up", "s1", "29:a", NOW, tenants=tenants, payload=payload
    )
    assert not await queue.queue_personal("follow_up", "s1", "29:a", NOW, tenants=tenants)
    assert await queue.queue_personal("follow_up", "s2", "29:a", NOW, tenants=tenants)
    assert not await queue.queue_personal("follow_up", "s1", "29:nochat", NOW, tenants=tenants)
    assert not await queue.queue_personal("follow_up", "s1", "29:x", NOW, tenants=tenants)
    first, second = await queue.rows()
    assert (first.topic, first.subject, first.conversation_key, first.user_id) == (
        "follow_up",
        "s1",
        "a:29:a",
        "29:a",
    )
    assert (first.status, first.attempts, first.payload) == ("queued", 0, payload)
    assert as_utc(first.next_attempt_at) == as_utc(first.created_at) == NOW
    assert second.subject == "s2" and second.payload is None
    (claimed,) = await queue.claim_due("w", NOW, 60, limit=1)
    assert (claimed.subject, claimed.user_id, claimed.payload, claimed.attempts) == (
        "s1",
        "29:a",
        payload,
        1,
    )
    assert (claimed.topic, claimed.conversation_key, claimed.tenant_id) == (
        "follow_up",
        "a:29:a",
        "t",
    )
    assert claimed.reference == {"conversation": {"id": "a:29:a"}}


async def queue_for(db: Database, *users: str) -> BroadcastQueue:
    queue = await chats(db, *users)
    for user in users:
        assert await queue.queue_personal("follow_up", "s", user, NOW, tenants=None)
    return queue


async def test_a_worker_claims_at_most_its_limit_earliest_due_first(db: Database) -> None:
    queue = await queue_for(db, "29:a", "29:b", "29:c")
    a, b, c = (row.id for row in await queue.rows())
    assert [r.id for r in await queue.claim_due("w1", NOW, 60, limit=2)] == [a, b]
    assert [r.id for r in await queue.claim_due("w2", NOW, 60, limit=2)] == [c]
    assert await queue.mark_sent(c, owner="w2", activity_id="1", sent_at=NOW)
    # a is due again after b (retried later), though queued first: due time first, then id.
    for row_id, minutes in ((a, 10), (b, 5)):
        later = NOW + timedelta(minutes=minutes)
        assert await queue.mark_retry(row_id, owner="w1", next_attempt_at=later, error="503")
    assert await queue.claim_due("w3", NOW + timedelta(minutes=4), 60, limit=1) == []
    (first,) = await queue.claim_due("w3", NOW + timedelta(minutes=10), 60, limit=1)
    assert first.id == b


async def test_an_expired_lease_is_claimable_from_its_last_moment(db: Database) -> None:
    queue = await queue_for(db, "29:a")
    await queue.claim_due("dead", NOW, 60, limit=1)
    assert await queue.claim_due("w", NOW + timedelta(seconds=59), 60, limit=1) == []
    (row,) = await queue.claim_due("w", NOW + timedelta(seconds=60), 60, limit=1)
    assert row.attempts == 2


async def test_outcomes_record_what_happened_and_free_the_lease(db: Database) -> None:
    queue = await queue_for(db, "29:a", "29:b", "29:c", "29:d")
    a, b, c, d = (r.id for r in await queue.claim_due("w", NOW, 60, limit=4))
    long_error = "5" * 1000
    later = NOW + timedelta(minutes=5)
    assert await queue.mark_retry(a, owner="w", next_attempt_at=later, error=long_error)
    assert await queue.mark_dropped(b, owner="w", reason="conversation gone")
    assert await queue.mark_failed(c, owner="w", error="HTTP 400")
    assert await queue.mark_sent(d, owner="w", activity_id=None, sent_at=later)
    rows = {r.id: r for r in await queue.rows()}
    assert all((r.lease_owner, r.lease_until) == (None, None) for r in rows.values())
    assert (rows[a].status, rows[a].last_error, as_utc(rows[a].next_attempt_at)) == (
        "queued",
        "5" * 200,
        later,
    )
    assert (rows[b].status, rows[b].last_error) == ("dropped", "conversation gone")
    assert (rows[c].status, rows[c].last_error) == ("failed", "HTTP 400")
    assert (rows[d].status, rows[d].activity_id, as_utc(rows[d].sent_at)) == ("sent", None, later)
    # Sent after a retry: the old error is cleared, a long activity id is cut to the column.
    (again,) = await queue.claim_due("w", later, 60, limit=1)
    assert await queue.mark_sent(again.id, owner="w", activity_id="1:" + "x" * 300, sent_at=later)
    sent = {r.id: r for r in await queue.rows()}[a]
    assert (sent.status, sent.last_error, sent.activity_id) == (
        "sent",
        None,
        ("1:" + "x" * 300)[:200],
    )


async def test_only_the_lease_holder_releases_and_only_what_it_names(db: Database) -> None:
    queue = await queue_for(db, "29:a", "29:b", "29:c")
    a, b, c = (r.id for r in await queue.claim_due("w", NOW, 60, limit=3))
    later = NOW + timedelta(minutes=1)
    await queue.release([a, c], owner="other", now=later)  # not its claims: nothing happens
    await queue.release([a], owner="w", now=later)
    await queue.release([], owner="w", now=later)
    rows = {r.id: r for r in await queue.rows()}
    assert (rows[a].status, rows[a].lease_owner, rows[a].lease_until) == ("queued", None, None)
    assert as_utc(rows[a].next_attempt_at) == later and rows[a].attempts == 0
    assert [(rows[i].status, rows[i].lease_owner) for i in (b, c)] == [("sending", "w")] * 2


async def test_progress_counts_one_messages_deliveries_by_outcome(db: Database) -> None:
    queue = await queue_for(db, "29:a", "29:b", "29:c", "29:d", "29:e")
    assert await queue.queue_personal("reconciliation", "s", "29:a", NOW, tenants=None)
    assert await queue.queue_personal("follow_up", "other", "29:a", NOW, tenants=None)
    assert await queue.waiting() == 7
    rows = [r for r in await queue.rows() if (r.topic, r.subject) == ("follow_up", "s")]
    claimed = await queue.claim_due("w", NOW, 60, limit=4)
    assert {r.id for r in claimed} == {r.id for r in rows[:4]}
    a, b, c, _sending = (r.id for r in claimed)
    await queue.mark_sent(a, owner="w", activity_id="1", sent_at=NOW)
    await queue.mark_dropped(b, owner="w", reason="gone")
    await queue.mark_failed(c, owner="w", error="400")
    progress = await queue.progress("follow_up", "s")
    assert (progress.queued, progress.sent, progress.dropped, progress.failed) == (2, 1, 1, 1)
    assert progress.total == 5
    assert await queue.waiting() == 4, "queued and sending, every topic"
    nothing = await queue.progress("announcement", "s")
    assert (nothing.queued, nothing.sent, nothing.dropped, nothing.failed, nothing.total) == (
        0,
        0,
        0,
        0,
        0,
    )


async def test_progress_adds_every_outcome_into_the_total(db: Database) -> None:
    queue = await queue_for(db, *(f"29:{n}" for n in range(10)))
    claimed = await queue.claim_due("w", NOW, 60, limit=9)
    for row in claimed[:2]:
        await queue.mark_sent(row.id, owner="w", activity_id="1", sent_at=NOW)
    for row in claimed[2:5]:
        await queue.mark_dropped(row.id, owner="w", reason="gone")
    for row in claimed[5:9]:
        await queue.mark_failed(row.id, owner="w", error="400")
    progress = await queue.progress("follow_up", "s")
    assert (progress.queued, progress.sent, progress.dropped, progress.failed) == (1, 2, 3, 4)
    assert progress.total == 10


async def test_stored_names_stay_as_rows_already_queued_spell_them(db: Database) -> None:
    """A row queued by the version before a deploy is read by the next one: topics and
    statuses are stored words, not just names in code."""
    queue = await queue_for(db, "29:a")
    await queue.claim_due("w", NOW, 60, limit=1)
    (row,) = await queue.rows()
    assert (row.topic, row.status) == ("follow_up", "sending")
    assert (ANNOUNCEMENT, RECONCILIATION, FOLLOW_UP, LOG_EMAIL) == (
        "announcement",
        "reconciliation",
        "follow_up",
        "log_email",
    )
