"""The downtime log, the reconciliation and the reminder: real app, real SMTP, connector stub.

Requests are sent through the bot's own form to aiosmtpd; `my requests` and
`practice log` list them with the NHS number masked and no patient name; the
log emailed as CSV arrives with the right rows; `/restored` gives each
requester their reconciliation card; the reminder fires at FOLLOW_UP_HOURS on
a clock the test moves.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.application import RUNTIME
from bot.store.db import utcnow
from bot.store.outbox import OutboxRequest
from tests.support.cards import assert_valid_card, card_text
from tests.support.clock import ShiftedClock
from tests.support.incidents import ADMIN, incident_settings
from tests.support.orders import PATIENT, PATIENT_VALUES, open_form
from tests.support.smtp import SmtpTestServer
from tests.support.teams import BotHarness, find_action
from tests.support.waiting import settle, until

PRACTICE = "test.practice@nhs.net"
NAMES = ("Testpatient", "Alexandra")  # the patient's names: never in a list, card or CSV
SAM = "29:user-1"  # Sam Receptionist (the harness's default user)
KIM = "29:user-2"


@pytest.fixture
def shifted_clock() -> ShiftedClock:
    return ShiftedClock()


def mail(smtp: SmtpTestServer, **overrides: Any) -> dict[str, Any]:
    values = incident_settings(
        mail_transport="smtp",
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_starttls=False,
        mail_from="ice-downtime@nhs.net",
        mail_retry_base_seconds=0.05,
        mail_retry_max_seconds=0.2,
        smtp_timeout_seconds=2,
        max_messages_per_minute=500,
        max_requests_per_hour=100,
    )
    values.update(overrides)
    return values


@pytest.fixture
async def log_bot(make_bot, smtp: SmtpTestServer, shifted_clock: ShiftedClock) -> BotHarness:
    return await make_bot(clock=shifted_clock, **mail(smtp))


async def send_as(bot: BotHarness, user_id: str, user_name: str, card_id: str) -> str:
    """One KCH ultrasound request through the bot's form; returns its reference."""
    form = await open_form(bot, user_id=user_id, user_name=user_name)
    data = {**find_action(form, "order.next")["data"], **PATIENT}
    who = {"user_id": user_id, "user_name": user_name}
    review = (await bot.execute("order.review", data, **who)).only_card
    send = find_action(review, "order.send")["data"]
    confirmation = (await bot.execute("order.send", send, reply_to_id=card_id, **who)).invoke_card
    assert confirmation is not None
    return next(w for w in card_text(confirmation).split() if w.startswith("DT-"))


async def declare(bot: BotHarness, command: str) -> None:
    """/outage or /restored and Send; returns once every queued message has gone."""
    card = (await bot.say(command, user_id=ADMIN)).only_card
    await bot.execute(
        "incident.confirm", find_action(card, "incident.confirm")["data"], user_id=ADMIN
    )
    await drained(bot)


async def drained(bot: BotHarness, seconds: float = 15.0) -> None:
    """Wait until the broadcast queue has nothing left to send (sends are in the background)."""
    queue = bot.client.server.app[RUNTIME].broadcasts.queue
    async with asyncio.timeout(seconds):
        while any(r.status in ("queued", "sending") for r in await queue.rows()):  # noqa: ASYNC110 - polls the database
            await asyncio.sleep(0.05)


async def all_sent(bot: BotHarness, count: int, seconds: float = 15.0) -> None:
    """Wait until `count` requests are recorded as sent (the email may land first)."""
    runtime = bot.client.server.app[RUNTIME]
    async with asyncio.timeout(seconds):
        while True:
            async with runtime.db.sessions() as session:
                sent = await session.scalar(
                    select(func.count())
                    .select_from(OutboxRequest)
                    .where(OutboxRequest.status == "sent", OutboxRequest.kind == "form")
                )
            if sent >= count:
                return
            await asyncio.sleep(0.05)


def no_patient_data(text: str) -> None:
    for value in PATIENT_VALUES:
        if value == "999 000 0018":
            continue  # checked as digits below
        assert value not in text, value
    assert "9990000018" not in text.replace(" ", "")


def cards_to(bot: BotHarness, conversation: str, headline: str) -> list[dict[str, Any]]:
    return [
        s.card
        for s in bot.connector.sent
        if s.card and s.conversation_id == conversation and card_text(s.card).startswith(headline)
    ]


# --- my requests and the practice log ------------------------------------------------------


async def test_my_requests_lists_mine_with_a_masked_nhs_number_and_no_names(
    log_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    first = await send_as(log_bot, SAM, "Sam Receptionist", "card-1")
    second = await send_as(log_bot, SAM, "Sam Receptionist", "card-2")
    theirs = await send_as(log_bot, KIM, "Kim Nurse", "card-3")
    await all_sent(log_bot, 3)

    card = (await log_bot.say("my requests")).only_card
    assert_valid_card(card)
    text = card_text(card)
    assert text.index(second) < text.index(first), "newest first"
    assert theirs not in text, "only the user's own"
    assert "*** *** 0018" in text and "KCH Ultrasound" in text and "Sent" in text
    no_patient_data(text)


async def test_my_requests_pages_older_requests(log_bot: BotHarness, smtp: SmtpTestServer) -> None:
    references = [await send_as(log_bot, SAM, "Sam", f"card-{n}") for n in range(11)]
    first_page = (await log_bot.say("my requests")).only_card
    assert references[0] not in card_text(first_page) and references[-1] in card_text(first_page)
    older = find_action(first_page, "myrequests.page")["data"]
    second_page = (await log_bot.execute("myrequests.page", older)).only_card
    assert card_text(second_page).startswith("Your requests, page 2")
    assert references[0] in card_text(second_page)


@pytest.mark.parametrize(
    "page",
    # "²" and "٣" are digits to str.isdigit; 5000 digits are past int()'s limit for text.
    ["²", "٣", "9" * 5000, "-2", "two", ["2"], {"n": 2}, None, -3, 2.5],
    ids=lambda page: repr(page)[:12],
)
async def test_a_page_the_card_did_not_send_gets_the_first_page(
    log_bot: BotHarness, page: Any
) -> None:
    """Card data comes from the client: a tampered page is the first page, never an error."""
    await send_as(log_bot, SAM, "Sam", "card-1")
    turn = await log_bot.execute("myrequests.page", {"page": page})
    assert turn.status == 200, turn
    assert card_text(turn.only_card).startswith("Your requests")
    assert "page 2" not in card_text(turn.only_card)


async def test_asked_in_a_channel_my_requests_go_to_the_personal_chat(
    log_bot: BotHarness,
) -> None:
    turn = await log_bot.say("my requests", kind="channel", mention=True)
    assert all(
        s.conversation_id != "19:channel@thread.tacv2;messageid=1" or not s.card for s in turn.sent
    )
    assert log_bot.connector.created_conversations, "the list opens in the personal chat"


async def test_the_practice_log_shows_the_incidents_requests_and_who_sent_each(
    log_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    before = await send_as(log_bot, SAM, "Sam Receptionist", "card-0")
    await declare(log_bot, "/outage ICE down for all practices")
    mine = await send_as(log_bot, SAM, "Sam Receptionist", "card-1")
    kims = await send_as(log_bot, KIM, "Kim Nurse", "card-2")
    await all_sent(log_bot, 3)

    card = (await log_bot.say("practice log")).only_card
    assert_valid_card(card)
    text = card_text(card)
    assert card_text(card).startswith("Practice log: G85001")
    assert mine in text and kims in text and before not in text, "the incident's requests"
    assert "sent by Sam Receptionist" in text and "sent by Kim Nurse" in text
    assert "2 requests: 2 sent" in text
    no_patient_data(text)


async def test_the_practice_log_emails_as_csv_to_the_practice_with_the_right_rows(
    log_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    await declare(log_bot, "/outage ICE down for all practices")
    references = [
        await send_as(log_bot, SAM, "Sam Receptionist", "card-1"),
        await send_as(log_bot, KIM, "Kim Nurse", "card-2"),
    ]
    await all_sent(log_bot, 2)
    card = (await log_bot.say("practice log")).only_card
    email = find_action(card, "log.email")["data"]
    # The card's mailbox is not what decides: a forged one is ignored.
    pressed = await log_bot.execute("log.email", {**email, "mailbox": "thief@example.com"})
    assert "on its way to test.practice@nhs.net" in str(pressed.body)
    await log_bot.execute("log.email", email)  # pressed twice: one email
    await until(lambda: len(smtp.received) == 3)
    await settle(0.5)
    assert len(smtp.received) == 3

    received = smtp.received[2]
    assert received.rcpt_tos == (PRACTICE,)
    message = received.message
    assert message["Subject"].startswith("ICE downtime practice log | G85001 | LOG-")
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "text/csv"
    body = attachment.get_content()
    table = list(csv.reader(io.StringIO(body if isinstance(body, str) else body.decode())))
    assert table[0] == [
        "reference",
        "sent_by",
        "trust",
        "department",
        "priority",
        "status",
        "created",
        "sent",
        "nhs_number_masked",
    ]
    assert [row[0] for row in table[1:]] == references
    assert {row[1] for row in table[1:]} == {"Sam Receptionist", "Kim Nurse"}
    assert all(row[8] == "*** *** 0018" and row[5] == "sent" for row in table[1:]), table
    whole = message.as_string()
    for name in NAMES:
        assert name not in whole
    assert "9990000018" not in whole.replace(" ", "")
    # The user hears that it went.
    await until(
        lambda: any(
            "was emailed to test.practice@nhs.net" in (s.text or "") for s in log_bot.connector.sent
        )
    )


async def test_after_retention_the_log_keeps_reference_times_department_and_outcome(
    make_bot, smtp: SmtpTestServer, shifted_clock: ShiftedClock
) -> None:
    bot = await make_bot(clock=shifted_clock, **mail(smtp, retention_days=0))
    await declare(bot, "/outage ICE down")
    reference = await send_as(bot, SAM, "Sam Receptionist", "card-1")
    await all_sent(bot, 1)
    await settle(0.3)
    runtime = bot.client.server.app[RUNTIME]
    assert await runtime.services.outbox.purge(utcnow() + timedelta(seconds=1), 0) == 1

    for command in ("practice log", "my requests"):
        text = card_text((await bot.say(command)).only_card)
        assert reference in text and "KCH Ultrasound" in text and "Sent" in text, command
        assert "0018" not in text, command


# --- reconciliation when ICE is back -------------------------------------------------------


async def test_restored_sends_each_requester_their_own_list_once(
    log_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    await declare(log_bot, "/outage ICE down for all practices")
    sams = [await send_as(log_bot, SAM, "Sam", "card-1"), await send_as(log_bot, SAM, "Sam", "c2")]
    await all_sent(log_bot, 2)
    smtp.fail_next(550)  # Kim's request is refused for good: it must be at the top, marked
    kims = await send_as(log_bot, KIM, "Kim", "card-3")
    await until(lambda: any(f"{kims} could NOT" in (s.text or "") for s in log_bot.connector.sent))

    await declare(log_bot, "/restored ICE back since 11:00")
    sam_chat, kim_chat = f"a:personal-conversation-{SAM}", f"a:personal-conversation-{KIM}"
    headline = "ICE is back: your requests during the outage"
    await until(
        lambda: cards_to(log_bot, sam_chat, headline) and cards_to(log_bot, kim_chat, headline)
    )
    await settle(0.6)

    (sam_card,) = cards_to(log_bot, sam_chat, headline)
    (kim_card,) = cards_to(log_bot, kim_chat, headline)
    assert_valid_card(sam_card)
    sam_text, kim_text = card_text(sam_card), card_text(kim_card)
    assert all(r in sam_text for r in sams) and kims not in sam_text
    assert kims in kim_text and not any(r in kim_text for r in sams)
    assert kim_text.index("was NOT sent") < kim_text.index("What the BCP says happens next")
    assert "kch-tr.us.reception_dh@nhs.net" in kim_text
    assert (
        "within 72 hours" in sam_text and "gst-tr.ICEdowntimeradiologyresults@nhs.net" in sam_text
    )
    for text in (sam_text, kim_text):
        no_patient_data(text)
    # Announcements never carry patient data either.
    for sent in log_bot.connector.sent:
        if sent.card and card_text(sent.card).startswith(("ICE outage", "ICE is back")):
            no_patient_data(card_text(sent.card))


# --- the reminder -------------------------------------------------------------------------


async def test_the_reminder_fires_at_the_configured_hour_once(
    log_bot: BotHarness, smtp: SmtpTestServer, shifted_clock: ShiftedClock
) -> None:
    reference = await send_as(log_bot, SAM, "Sam", "card-1")
    await all_sent(log_bot, 1)
    reminders = log_bot.client.server.app[RUNTIME].broadcasts.reminders
    sam_chat = f"a:personal-conversation-{SAM}"

    shifted_clock.offset = timedelta(hours=71, minutes=59)
    assert await reminders.run_once() == 0
    shifted_clock.offset = timedelta(hours=72, minutes=1)
    assert await reminders.run_once() == 1
    await until(lambda: cards_to(log_bot, sam_chat, "Reminder: requests you sent"))
    assert await reminders.run_once() == 0, "each request is reminded about once"
    await settle(0.5)

    (card,) = cards_to(log_bot, sam_chat, "Reminder: requests you sent")
    assert_valid_card(card)
    text = card_text(card)
    assert reference in text and "about 72 hours ago" in text
    assert "A reminder from this bot, not a step of the BCP." in text
    no_patient_data(text)


async def test_follow_up_hours_zero_turns_the_reminder_off(
    make_bot, smtp: SmtpTestServer, shifted_clock: ShiftedClock
) -> None:
    bot = await make_bot(clock=shifted_clock, **mail(smtp, follow_up_hours=0))
    assert bot.client.server.app[RUNTIME].broadcasts.reminders is None


async def test_the_log_email_goes_at_once_not_at_the_next_poll(
    make_bot, smtp: SmtpTestServer, shifted_clock: ShiftedClock
) -> None:
    """Like Send, Email the log wakes the mail worker: it does not wait for the poll."""
    bot = await make_bot(clock=shifted_clock, **mail(smtp))
    await declare(bot, "/outage ICE down")
    await send_as(bot, SAM, "Sam Receptionist", "card-1")
    await all_sent(bot, 1)
    worker = bot.client.server.app[RUNTIME].delivery.worker
    worker._loop._poll_interval = 60.0  # an idle worker sleeps
    await settle(0.2)
    card = (await bot.say("practice log")).only_card
    await bot.execute("log.email", find_action(card, "log.email")["data"])
    await until(lambda: len(smtp.received) == 2, 5)
