"""The user hears each outcome exactly once, even when Teams is down when it happens.

The real app over HTTP, a real SMTP server (`ScriptedSmtp`) and the real
ConnectorStub behind a switchable outage: while it is on, matching calls get
an error before they reach the stub, so `stub.sent` holds only what Teams
accepted, i.e. what the user saw. NOTIFY_RETRY_SECONDS is small here so the
retry task runs many passes within each wait; every wait is bounded and
nothing asserts on timing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.application import RUNTIME
from bot.devchat.connector import Sent
from bot.store.confirmations import Confirmations, Notice, Notices
from bot.store.db import Database
from bot.store.outbox import Outbox
from bot.teams import proactive
from tests.support.cards import card_text
from tests.support.orders import (
    KCH_US,
    expected_message_id,
    failure_messages,
    record,
    reference_of,
    send,
)
from tests.support.smtp import ScriptedSmtp, smtp_settings
from tests.support.teams import BotHarness
from tests.support.waiting import settle, until

pytestmark = pytest.mark.faults

RETRY = 0.1  # NOTIFY_RETRY_SECONDS in these tests


def settings(server: ScriptedSmtp, **overrides: Any) -> dict[str, Any]:
    """Two connector tries per call: an outage still outlasts the client's retry budget."""
    values = {"notify_retry_seconds": RETRY, "connector_retry_attempts": 2, **overrides}
    return smtp_settings(server, **values)


async def queued(bot: BotHarness, server: ScriptedSmtp, card_id: str = "card-7") -> str:
    """One request queued with SMTP stopped, so its outcome waits for the test."""
    server.stop()
    _, turn = await send(bot, reply_to_id=card_id)
    return reference_of(turn.only_card)


def lines(logs: pytest.LogCaptureFixture, reference: str, *words: str) -> list[str]:
    texts = [r.getMessage() for r in logs.records]
    return [t for t in texts if reference in t and all(w in t for w in words)]


def shown(bot: BotHarness, words: str, since: int = 0) -> list[Sent]:
    """Cards containing `words` that reached the user (an update or a new message)."""
    return [s for s in bot.connector.sent[since:] if s.card and words in card_text(s.card)]


async def notice(bot: BotHarness, reference: str) -> Notice:
    found = await Notices(bot.client.app[RUNTIME].db).get(reference)
    assert found is not None
    return found


async def down_through_first_notice_and_a_retry(
    logs: pytest.LogCaptureFixture, reference: str
) -> None:
    """Wait until the worker's notice failed and the retry task failed at least once more."""
    await until(lambda: lines(logs, reference, "notify-failed"), 15)
    await until(lambda: lines(logs, reference, "notice retry notify-failed"), 15)


def updates_of_card(bot: BotHarness, status_words: str) -> list[Sent]:
    return [
        s
        for s in bot.connector.sent
        if s.method == "PUT"
        and s.activity_id == "card-7"
        and s.card
        and status_words in card_text(s.card).lower()
    ]


def new_cards(bot: BotHarness, mark: int) -> list[Sent]:
    return [s for s in bot.connector.sent[mark:] if s.method == "POST" and s.card]


# --- Teams down when the outcome is known, then back: told once -------------------------


async def test_failure_is_told_once_when_teams_comes_back(make_bot, scripted, outage, logs) -> None:
    bot = await make_bot(**settings(scripted))
    reference = await queued(bot, scripted)
    mark = len(bot.connector.sent)
    scripted.script(550)
    outage.down(503)  # each call is retried by the connector client, then given up
    scripted.start()
    await down_through_first_notice_and_a_retry(logs, reference)
    assert failure_messages(bot) == [] and bot.connector.sent[mark:] == []  # not told yet
    assert (await notice(bot, reference)).told_at is None

    outage.up()
    await until(lambda: failure_messages(bot), 10)
    await settle(1.0)  # ten retry passes: a second notice would show

    (message,) = failure_messages(bot)
    assert reference in message and KCH_US in message and "Testpatient" in message
    assert len(updates_of_card(bot, "failed")) == 1  # the card itself, in place, once
    assert new_cards(bot, mark) == []
    assert len(bot.connector.sent[mark:]) == 2
    assert len(lines(logs, reference, "user told")) == 1
    row = await record(bot, reference)
    assert row.status == "failed" and len(scripted.attempts) == 1  # the email was not retried
    told = await notice(bot, reference)
    assert (told.status, told.told_at is not None) == ("failed", True)


async def test_sent_is_told_once_when_teams_comes_back(make_bot, scripted, outage, logs) -> None:
    bot = await make_bot(**settings(scripted))
    reference = await queued(bot, scripted)
    mark = len(bot.connector.sent)
    outage.down(503)
    scripted.start()
    await down_through_first_notice_and_a_retry(logs, reference)
    assert shown(bot, "Sent at", mark) == []

    outage.up()
    await until(lambda: shown(bot, "Sent at", mark), 10)
    await settle(1.0)

    (update,) = bot.connector.sent[mark:]  # the update in place and nothing else
    assert (update.method, update.activity_id) == ("PUT", "card-7")
    assert "Sent at" in card_text(update.card)
    assert failure_messages(bot) == []
    assert scripted.accepted_ids() == [expected_message_id(reference)]
    assert len(lines(logs, reference, "user told")) == 1


async def test_a_restart_while_teams_is_down_still_tells_once(
    make_bot, scripted, outage, logs
) -> None:
    first = await make_bot(**settings(scripted))
    reference = await queued(first, scripted)
    mark = len(first.connector.sent)
    scripted.script(550)
    outage.down(503)
    scripted.start()
    await until(lambda: lines(logs, reference, "notify-failed"), 15)
    await first.client.close()  # the instance stops before Teams is back
    outage.up()
    assert failure_messages(first) == []

    second = await make_bot(**settings(scripted))  # same database file
    await until(lambda: failure_messages(second), 10)
    await settle(0.5)
    await second.client.close()
    third = await make_bot(**settings(scripted))  # and once more: nothing new to tell
    await settle(0.5)

    (message,) = failure_messages(third)
    assert reference in message and "Testpatient" in message
    assert len(updates_of_card(third, "failed")) == 1
    assert len(third.connector.sent[mark:]) == 2
    assert len(scripted.attempts) == 1
    assert (await notice(third, reference)).told_at is not None


async def test_a_notice_that_arrives_first_time_is_not_repeated(
    make_bot, scripted, outage, logs
) -> None:
    bot = await make_bot(**settings(scripted, notify_retry_seconds=0.05))
    reference = await queued(bot, scripted)
    mark = len(bot.connector.sent)
    scripted.start()
    await until(lambda: shown(bot, "Sent at", mark), 10)
    await settle(1.0)  # twenty retry passes

    (update,) = bot.connector.sent[mark:]
    assert (update.method, update.activity_id) == ("PUT", "card-7")
    assert len(lines(logs, reference, "user told")) == 1
    assert lines(logs, reference, "notice retry") == []
    told = await notice(bot, reference)
    assert (told.status, told.attempts, told.told_at is not None) == ("sent", 1, True)


# --- parts, a deleted card, and the bound ---------------------------------------------------


async def test_only_the_part_that_did_not_arrive_is_retried(
    make_bot, scripted, outage, logs
) -> None:
    """The card update got through, the by-hand message did not: only the message is re-sent."""
    bot = await make_bot(**settings(scripted))
    reference = await queued(bot, scripted)
    mark = len(bot.connector.sent)
    scripted.script(550)
    outage.down(503, methods=("POST",))
    scripted.start()
    await down_through_first_notice_and_a_retry(logs, reference)
    assert len(updates_of_card(bot, "failed")) == 1 and failure_messages(bot) == []

    outage.up()
    await until(lambda: failure_messages(bot), 10)
    await settle(1.0)

    assert len(failure_messages(bot)) == 1
    assert len(updates_of_card(bot, "failed")) == 1  # not updated again
    assert len(bot.connector.sent[mark:]) == 2
    assert (await notice(bot, reference)).told_at is not None


async def test_a_deleted_card_gets_a_new_card_and_counts_as_told(
    make_bot, scripted, outage, logs
) -> None:
    bot = await make_bot(**settings(scripted))
    reference = await queued(bot, scripted)
    mark = len(bot.connector.sent)
    scripted.script(550)
    outage.down(404, methods=("PUT",))  # the card is gone for good
    scripted.start()
    await until(lambda: failure_messages(bot), 10)
    await settle(1.0)

    (card,) = new_cards(bot, mark)
    assert reference in card_text(card.card) and "failed" in card_text(card.card).lower()
    assert len(failure_messages(bot)) == 1
    put = [(c.method, c.status) for c in bot.connector.calls if c.method == "PUT"]
    assert put == [("PUT", 404)]  # tried once, not again
    assert len(lines(logs, reference, "user told")) == 1
    assert (await notice(bot, reference)).told_at is not None


async def test_retries_stop_after_the_last_attempt_and_say_so(
    make_bot, scripted, outage, logs, monkeypatch
) -> None:
    monkeypatch.setattr(proactive, "NOTICE_MAX_ATTEMPTS", 3)
    bot = await make_bot(**settings(scripted, notify_retry_seconds=0.05))
    reference = await queued(bot, scripted)
    mark = len(bot.connector.calls)
    scripted.script(550)
    outage.down(403)  # refused, not retried by the connector client: fast attempts
    scripted.start()
    await until(lambda: lines(logs, reference, "notify-given-up"), 15)
    calls = len(bot.connector.calls)
    await settle(1.0)  # twenty retry passes

    assert len(bot.connector.calls) == calls  # nothing more once given up
    assert calls - mark == 3 * 3  # three attempts of update, replacement card, message
    assert len(lines(logs, reference, "notify-given-up")) == 1
    given_up = await notice(bot, reference)
    assert (given_up.attempts, given_up.told_at) == (3, None)
    assert given_up.last_error and "403" not in given_up.last_error  # types only
    assert (await record(bot, reference)).status == "failed"


# --- the claim itself, on SQLite and (with TEST_POSTGRES_URL) PostgreSQL ----------------

LEASE = timedelta(minutes=15)


async def failed_request(db: Database) -> tuple[str, datetime]:
    """A request whose email failed, with its card remembered (so its notice row exists).

    Also "now" for the test: just ahead of the wall clock, which `remember`
    stamps the new notice row with (read here, not at import: the suite is long).
    """
    t0 = datetime.now(UTC) + timedelta(minutes=1)
    outbox = Outbox(db, clock=lambda: t0)
    submission = await outbox.submit(
        form_id="form-1",
        user_id="29:user-1",
        practice_ods="G85001",
        trust="kch",
        department="ultrasound",
        priority="urgent",
        mailbox=KCH_US,
        payload={"x": 1},
    )
    await Confirmations(db).remember(
        submission.reference, user_id="29:user-1", activity_id="card-7", conversation={}
    )
    (claimed,) = await outbox.claim_due("w", t0, 300)
    assert await outbox.mark_failed(claimed.reference, owner="w", error="550")
    return submission.reference, t0


async def test_of_concurrent_claims_exactly_one_wins_and_a_told_outcome_is_never_claimed(
    db: Database,
) -> None:
    notices = Notices(db)
    reference, t0 = await failed_request(db)
    assert await notices.due(t0, max_attempts=10) == [reference]

    claims = await asyncio.gather(
        *(notices.claim(reference, "failed", now=t0, lease_until=t0 + LEASE) for _ in range(8))
    )
    (claim,) = [c for c in claims if c is not None]
    assert (claim.attempts, claim.card_told, claim.message_told) == (1, False, False)
    assert await notices.due(t0 + timedelta(minutes=1), max_attempts=10) == []  # leased

    # The card arrived, the message did not: the next claim knows which part is owed.
    later = t0 + timedelta(minutes=1)
    await notices.record(
        claim,
        now=later,
        card_told=True,
        message_told=False,
        told=False,
        next_attempt_at=later,
        error="message: ErrorResponseException",
    )
    again = await notices.claim(reference, "failed", now=later, lease_until=later + LEASE)
    assert again is not None and (again.attempts, again.card_told, again.message_told) == (
        2,
        True,
        False,
    )
    await notices.record(
        again,
        now=later,
        card_told=True,
        message_told=True,
        told=True,
        next_attempt_at=later,
        error=None,
    )
    much_later = t0 + timedelta(days=1)
    assert (
        await notices.claim(reference, "failed", now=much_later, lease_until=much_later + LEASE)
        is None
    )
    assert await notices.due(much_later, max_attempts=10) == []


async def test_requests_confirmed_before_notices_existed_are_not_announced_again(
    db: Database,
) -> None:
    reference, t0 = await failed_request(db)
    async with db.transaction() as session:  # as if the card predates the notices table
        await session.delete(await session.get(Notice, reference))
    assert await Notices(db).due(t0 + timedelta(days=1), max_attempts=10) == []
