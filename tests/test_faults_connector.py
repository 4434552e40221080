"""Connector (Teams) faults on the proactive "sent"/"failed" update.

The email is the request; the card update only tells the user about it. So
whatever the connector answers (429, 5xx, 401/403/404), the request's state in
the outbox is what the SMTP server said, the message is not sent again, and the
bot does not call the connector without end.

The connector is the real ConnectorStub over HTTP, wrapped in a middleware
that records every call it answered, faults included.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.cards import card_text
from tests.support.connector import Call, RecordingConnector
from tests.support.orders import expected_message_id, failure_messages, record, reference_of, send
from tests.support.smtp import ScriptedSmtp, smtp_settings
from tests.support.teams import BotHarness
from tests.support.waiting import settle, until

pytestmark = pytest.mark.faults


def calls(bot: BotHarness) -> list[Call]:
    assert isinstance(bot.connector, RecordingConnector)
    return list(bot.connector.calls)


def sent_cards(bot: BotHarness) -> list[Any]:
    """Every card showing "Sent at" that reached the user, by update or as a new message."""
    return [s for s in bot.connector.sent if s.card and "Sent at" in card_text(s.card)]


async def queue_while_smtp_down(
    bot: BotHarness, server: ScriptedSmtp, cards: tuple[str, ...]
) -> list[str]:
    """Queue one request per card id with SMTP stopped, so delivery waits for the test."""
    server.stop()
    references = []
    for card_id in cards:
        _, turn = await send(bot, reply_to_id=card_id)
        references.append(reference_of(turn.only_card))
    return references


def notify_outcomes(caplog: pytest.LogCaptureFixture, reference: str) -> list[str]:
    """'told' or 'notify-failed' for each time the worker finished notifying about reference."""
    outcomes = []
    for entry in caplog.records:
        text = entry.getMessage()
        if reference not in text:
            continue
        if text.startswith("user told"):
            outcomes.append("told")
        elif "notify-failed" in text:
            outcomes.append("notify-failed")
    return outcomes


# --- the connector keeps failing: state intact, calls bounded ---------------------------

RETRIED = (429, 502, 503, 504)
#: The connector client's retry policy makes at most this many tries of one call;
#: each notice is at most two calls (the update in place, then a new card).
MAX_TRIES = 4


@pytest.mark.parametrize(("status", "headers"), [(503, {}), (401, {}), (403, {}), (404, {})])
async def test_connector_failing_on_every_call_never_changes_delivery(
    make_bot, scripted, logs, status, headers
) -> None:
    bot = await make_bot(**smtp_settings(scripted))
    # Two requests where a notice fails fast, to show the worker carries on
    # after a failed notice; one where each notice takes the full retry budget.
    cards = ("card-1",) if status in RETRIED else ("card-1", "card-2")
    references = await queue_while_smtp_down(bot, scripted, cards)
    mark = len(calls(bot))
    bot.connector.fail_next(status, times=10_000, headers=headers)
    scripted.start()

    await until(lambda: all(notify_outcomes(logs, r) for r in references), 30)
    made = calls(bot)[mark:]
    await settle(1.0)

    # Each request: delivered once, recorded sent, the user's notice given up on once.
    assert sorted(scripted.accepted_ids()) == sorted(expected_message_id(r) for r in references)
    for reference in references:
        row = await record(bot, reference)
        assert row.status == "sent" and row.message_id == expected_message_id(reference)
        assert notify_outcomes(logs, reference) == ["notify-failed"]
    # Not retried forever: nothing more once the worker gave up, and a bounded
    # number of calls per notice; 401/403/404 are not retried at all.
    assert calls(bot)[mark:] == made
    tries = MAX_TRIES if status in RETRIED else 1
    assert 1 <= len(made) <= 2 * tries * len(references)
    assert all(call.status == status for call in made)
    assert sent_cards(bot) == []


async def test_failed_delivery_is_told_once_when_the_connector_is_back(
    make_bot, scripted, logs
) -> None:
    """Teams refuses the whole first notice; the retry task tells the user later, once."""
    bot = await make_bot(**smtp_settings(scripted, notify_retry_seconds=0.1))
    (reference,) = await queue_while_smtp_down(bot, scripted, ("card-7",))
    scripted.script(550)
    # Exactly the first notice's calls: the update, the replacement card, the message.
    bot.connector.fail_next(403, times=3)
    scripted.start()
    await until(lambda: failure_messages(bot), 30)
    await settle(1.0)  # ten retry passes: a second notice would show
    row = await record(bot, reference)
    assert row.status == "failed" and row.attempts == 1 and "550" in (row.last_error or "")
    assert len(scripted.attempts) == 1 and scripted.accepted == []  # not sent, not retried
    assert bot.connector.pending_faults == 0
    assert notify_outcomes(logs, reference) == ["notify-failed", "told"]
    (message,) = failure_messages(bot)  # told, once: see docs/clinical-safety.md (H10)
    assert reference in message and "Testpatient" in message
    failed_cards = [s for s in bot.connector.sent if s.card and s.activity_id == "card-7"]
    assert len(failed_cards) == 1 and "failed" in card_text(failed_cards[0].card).lower()


async def test_failure_message_reaches_the_user_even_when_the_card_cannot_be_updated(
    make_bot, scripted, logs
) -> None:
    """The card is gone (404) and a new card is refused: the by-hand message must still go."""
    bot = await make_bot(**smtp_settings(scripted))
    (reference,) = await queue_while_smtp_down(bot, scripted, ("card-7",))
    scripted.script(550)
    bot.connector.fail_next(404, times=2)  # the update, then the replacement card
    scripted.start()
    await until(lambda: notify_outcomes(logs, reference), 30)
    await settle()
    (message,) = failure_messages(bot)
    assert reference in message and "kch-tr.us.reception_dh@nhs.net" in message
    assert "Testpatient" in message  # the request text to send by hand
    assert (await record(bot, reference)).status == "failed"
    # The card was not updated, so the worker must not report the user as fully told.
    assert notify_outcomes(logs, reference) == ["notify-failed"]


# --- one transient fault: retried, the card updated in place, once -------------------------


@pytest.mark.parametrize(
    ("status", "headers"), [(429, {"Retry-After": "1"}), (502, {}), (503, {}), (504, {})]
)
async def test_one_transient_fault_is_retried_and_the_card_updated_in_place_once(
    make_bot, scripted, logs, status, headers
) -> None:
    bot = await make_bot(**smtp_settings(scripted))
    (reference,) = await queue_while_smtp_down(bot, scripted, ("card-7",))
    mark, sent_mark = len(calls(bot)), len(bot.connector.sent)
    bot.connector.fail_next(status, times=1, headers=headers)
    scripted.start()
    await until(lambda: notify_outcomes(logs, reference), 30)
    await settle()

    assert notify_outcomes(logs, reference) == ["told"]
    (update,) = bot.connector.sent[sent_mark:]  # the update and nothing else: no second card
    assert (update.method, update.activity_id) == ("PUT", "card-7")
    assert "Sent at" in card_text(update.card)
    made = calls(bot)[mark:]
    assert [(c.method, c.status) for c in made] == [("PUT", status), ("PUT", 200)]
    if "Retry-After" in headers:
        assert made[1].at - made[0].at >= 0.9  # Retry-After: 1 honoured (a lower bound only)
    row = await record(bot, reference)
    assert row.status == "sent" and scripted.accepted_ids() == [expected_message_id(reference)]
