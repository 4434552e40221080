"""Store faults: the database is locked while a request is submitted or delivered.

The fault is real: a second SQLite connection (another process would do the
same) holds the database's write lock, so the bot's writes wait out SQLite's
busy timeout and fail with "database is locked". Reads still work (WAL). The
busy timeout is shortened for these tests only, by a pool checkout hook, so a
lock held for a second is already "past the busy timeout".
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

import pytest

from bot.store.outbox import OutboxRequest, ReferenceCounter
from tests.support.cards import card_text
from tests.support.orders import (
    expected_message_id,
    record,
    reference_of,
    review,
    wait_queued_after,
)
from tests.support.smtp import BLOCK, smtp_settings
from tests.support.sqlite_faults import count, database_path, write_lock
from tests.support.teams import BotHarness, find_action
from tests.support.waiting import settle, until

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("short_busy_timeout")]

# --- submission --------------------------------------------------------------------


async def press_send_while_locked(bot: BotHarness) -> tuple[dict[str, Any], Any]:
    review_card = (await review(bot)).only_card
    send_data = find_action(review_card, "order.send")["data"]
    async with write_lock(database_path(bot)):
        turn = await bot.execute("order.send", send_data, reply_to_id="card-7")
    return send_data, turn


async def test_locked_database_at_send_writes_nothing_and_send_again_queues_one(
    make_bot, scripted
) -> None:
    bot = await make_bot(**smtp_settings(scripted))
    send_data, turn = await press_send_while_locked(bot)
    # Whatever the user is shown, it is not a queued request's reference.
    assert "DT-" not in json.dumps(turn.body) + "".join(json.dumps(s.body) for s in turn.sent)

    await settle()
    # Nothing half-written: no request, no reference number used up, no email.
    assert await count(bot, OutboxRequest) == 0
    assert await count(bot, ReferenceCounter) == 0
    assert scripted.attempts == []

    # The user presses Send again once the store is back: exactly one request.
    again = await bot.execute("order.send", send_data, reply_to_id="card-7")
    confirmation = again.only_card
    assert "Queued" in card_text(confirmation)
    reference = reference_of(confirmation)
    assert reference.endswith("-0001")
    await until(lambda: scripted.accepted_ids(), 10)
    await settle()
    assert scripted.accepted_ids() == [expected_message_id(reference)]
    assert await count(bot, OutboxRequest) == 1
    assert (await record(bot, reference)).status == "sent"


async def test_locked_database_at_send_gives_the_form_back_saying_nothing_was_sent(
    make_bot, scripted
) -> None:
    bot = await make_bot(**smtp_settings(scripted))
    _, turn = await press_send_while_locked(bot)
    assert turn.status == 200
    text = card_text(turn.only_card)
    # Nothing the user can fix: the review again, "Nothing was sent" and Send again at the top.
    assert "could not be saved" in text
    assert text.index("Nothing was sent") < text.index("Send again") < text.index("Patient")
    assert "Alexandra" in str(turn.only_card)  # what was typed is all still there
    assert "DT-" not in text


async def test_store_fault_recording_the_card_queues_nothing_and_says_so(
    make_bot, scripted, logs
) -> None:
    """The request, its confirmation card and its notice commit in one transaction.

    The fault is real and in the database: a trigger refuses the insert into
    confirmation_cards, as a full disk or a lost connection would mid-Send.
    Nothing may be left half-written (a queued request whose card could never
    be updated), so the whole Send rolls back and "nothing was sent" is true;
    pressing Send again once the store is back queues exactly one request.
    """
    bot = await make_bot(**smtp_settings(scripted))
    with sqlite3.connect(database_path(bot)) as connection:
        connection.execute(
            "CREATE TRIGGER refuse_card BEFORE INSERT ON confirmation_cards "
            "BEGIN SELECT RAISE(ABORT, 'injected store fault'); END"
        )
    review_card = (await review(bot)).only_card
    send_data = find_action(review_card, "order.send")["data"]
    turn = await bot.execute("order.send", send_data, reply_to_id="card-7")

    text = card_text(turn.only_card)
    assert "could not be saved" in text and "Nothing was sent" in text
    assert "DT-" not in text
    assert await count(bot, OutboxRequest) == 0
    await settle()
    assert scripted.accepted_ids() == []

    with sqlite3.connect(database_path(bot)) as connection:
        connection.execute("DROP TRIGGER refuse_card")
    again = await bot.execute("order.send", send_data, reply_to_id="card-7")
    reference = reference_of(again.only_card)
    await until(lambda: scripted.accepted_ids(), 10)
    await settle()
    assert scripted.accepted_ids() == [expected_message_id(reference)]
    assert await count(bot, OutboxRequest) == 1


# --- delivery ----------------------------------------------------------------------


def worker_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "bot.mail.worker" and r.levelno >= logging.WARNING
    ]


async def test_locked_database_when_claiming_is_retried_and_delivered_once(
    make_bot, scripted, logs
) -> None:
    # A long first backoff: after the first (refused) attempt the next claim is
    # at least 0.5 s away, so the lock is in place before it, never during it.
    bot = await make_bot(**smtp_settings(scripted, mail_retry_base_seconds=1.0))
    scripted.stop()
    review_card = (await review(bot)).only_card
    send_data = find_action(review_card, "order.send")["data"]
    reference = reference_of(
        (await bot.execute("order.send", send_data, reply_to_id="card-7")).only_card
    )
    await wait_queued_after(bot, reference, 1)
    async with write_lock(database_path(bot)):
        scripted.start()
        await until(lambda: any("cycle failed" in m for m in worker_errors(logs)), 10)
        assert scripted.attempts == []
    await until(lambda: scripted.accepted_ids(), 10)
    await settle()
    assert scripted.accepted_ids() == [expected_message_id(reference)]
    row = await record(bot, reference)
    assert row.status == "sent" and row.attempts == 2


async def test_locked_database_when_recording_sent_does_not_send_twice(
    make_bot, scripted, logs
) -> None:
    """The server accepted the message; recording "sent" fails for a while.

    The worker must keep trying to record the outcome it knows, not leave the
    row "sending" for its lease to expire and the message to go again.
    """
    lease = 3.0
    bot = await make_bot(**smtp_settings(scripted, outbox_lease_seconds=lease))
    scripted.script(BLOCK)  # hold the reply so the lock can be taken mid-send
    review_card = (await review(bot)).only_card
    send_data = find_action(review_card, "order.send")["data"]
    reference = reference_of(
        (await bot.execute("order.send", send_data, reply_to_id="card-7")).only_card
    )
    await until(scripted.blocked.is_set, 10)
    async with write_lock(database_path(bot)):
        scripted.release()  # the server accepts; the bot cannot write "sent"
        await until(lambda: worker_errors(logs), 10)
        assert scripted.accepted_ids() == [expected_message_id(reference)]
    # Past the lease: a row left "sending" would have been claimed and sent again by now.
    await settle(lease + 1.0)
    assert scripted.accepted_ids() == [expected_message_id(reference)]
    row = await record(bot, reference)
    assert row.status == "sent" and row.attempts == 1
