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
from bot.store.broadcasts import BroadcastQueue, ClaimedDelivery
from bot.store.conversations import ConversationRecord, Conversations
from bot.store.db import Database
from bot.store.incidents import Draft, Incidents
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
