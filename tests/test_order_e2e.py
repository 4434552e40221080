"""The downtime request end to end: Teams over HTTP, the real outbox worker, a real SMTP server."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.support.cards import assert_valid_card, card_text
from tests.support.orders import (
    KCH_US,
    PATIENT,
    PATIENT_VALUES,
    open_form,
    outbox_rows,
    review,
    send,
)
from tests.support.smtp import SmtpTestServer
from tests.support.teams import BotHarness, find_action
from tests.support.waiting import until


async def test_kch_ultrasound_request_is_emailed_and_the_card_says_sent(
    mail_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    review_card = (await review(mail_bot)).only_card
    assert_valid_card(review_card)
    assert KCH_US in card_text(review_card)

    send_data = find_action(review_card, "order.send")["data"]
    # The invoke's own answer: the worker's "sent" update may already race it to the stub.
    confirmation = (
        await mail_bot.execute("order.send", send_data, reply_to_id="card-7")
    ).invoke_card
    assert_valid_card(confirmation)
    text = card_text(confirmation)
    assert "DT-" in text and KCH_US in text and "Queued" in text
    assert "0018" in text and "9990000018" not in str(confirmation).replace(" ", "")
    # Nothing on it sends again: the only button explains what happens next.
    verbs = [a.get("verb") for a in confirmation.get("actions", [])]
    assert verbs == ["info.show"]

    await until(lambda: len(smtp.received) == 1)
    received = smtp.received[0]
    message = received.message
    assert set(received.rcpt_tos) == {KCH_US, "test.practice@nhs.net"}
    assert message["Reply-To"] == "test.practice@nhs.net"
    assert message["Cc"] == "test.practice@nhs.net"
    subject = str(message["Subject"])
    assert "KCH" in subject and "Ultrasound" in subject and "Urgent" in subject and "DT-" in subject
    assert not any(value.lower() in subject.lower() for value in PATIENT_VALUES)
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "Testpatient" in body and "999 000 0018" in body

    await until(lambda: mail_bot.connector.updates)
    update = mail_bot.connector.updates[-1]
    assert update.activity_id == "card-7"
    assert "Sent at" in card_text(update.card)


async def test_invalid_request_returns_the_form_with_errors_and_queues_nothing(
    mail_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    form = (await review(mail_bot, nhs_number="943 476 5828", postcode="nowhere")).only_card
    assert_valid_card(form)
    text = card_text(form)
    assert "NHS number" in text and "check digit" in text.lower()
    assert "postcode" in text.lower()
    assert "Alexandra" in str(form)  # what the user typed is kept
    assert await outbox_rows(mail_bot)() == 0
    assert smtp.received == []


async def test_send_pressed_twice_and_replayed_invoke_give_one_email(
    mail_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    send_data, first = await send(mail_bot)
    second = await mail_bot.execute("order.send", send_data, reply_to_id="card-7")
    replay = await mail_bot.execute("order.send", send_data, reply_to_id="card-7")
    references = {
        line
        for t in (first, second, replay)
        for line in card_text(t.only_card).split()
        if line.startswith("DT-")
    }
    assert len(references) == 1
    await until(lambda: len(smtp.received) == 1)
    await asyncio.sleep(0.3)  # give a duplicate every chance to appear
    assert len(smtp.received) == 1
    assert await outbox_rows(mail_bot)() == 1


async def test_smtp_down_at_send_delivered_once_when_it_returns(
    mail_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    smtp.stop()
    _, turn = await send(mail_bot)
    assert "Queued" in card_text(turn.invoke_card)
    await asyncio.sleep(0.3)  # several retries against a closed port
    smtp.start()
    await until(lambda: len(smtp.received) == 1)
    await until(lambda: mail_bot.connector.updates)
    assert "Sent at" in card_text(mail_bot.connector.updates[-1].card)
    await asyncio.sleep(0.3)
    assert len(smtp.received) == 1


async def test_permanent_rejection_tells_the_user_and_is_not_retried(
    mail_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    smtp.fail_next(550)
    await send(mail_bot)
    await until(
        lambda: (
            mail_bot.connector.updates
            and any("could NOT be emailed" in (s.text or "") for s in mail_bot.connector.sent)
        )
    )
    card = mail_bot.connector.updates[-1].card
    assert "failed" in card_text(card).lower() or "not sent" in card_text(card).lower()
    message = next(s.text for s in mail_bot.connector.sent if "could NOT" in (s.text or ""))
    assert KCH_US in message and "Testpatient" in message  # the text to send by hand
    await asyncio.sleep(0.3)
    assert smtp.received == []


async def test_show_request_text_on_the_failed_card_sends_the_by_hand_text_again(
    mail_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    """The failed card is never a dead end: its "Show request text" button, pressed over
    HTTP as Teams does, sends the text to copy again, to the sender only."""
    smtp.fail_next(550)
    await send(mail_bot)
    await until(
        lambda: (
            any("could NOT be emailed" in (s.text or "") for s in mail_bot.connector.sent)
            and mail_bot.connector.updates
            and "not sent" in card_text(mail_bot.connector.updates[-1].card).lower()
        )
    )
    failed_card = mail_bot.connector.updates[-1].card
    data = find_action(failed_card, "order.text")["data"]
    turn = await mail_bot.execute("order.text", data)
    [text] = turn.texts  # a chat message to copy from, not a notice on the card
    assert text.startswith(f"Request {data['reference']} could NOT be emailed to {KCH_US}.")
    assert "Testpatient" in text, "the request's text, to copy into an email"
    intruder = await mail_bot.execute("order.text", data, user_id="29:intruder")
    assert "Only the person who started" in intruder.body["value"]
    assert "Testpatient" not in str(intruder.body) + "".join(intruder.texts)


async def test_someone_else_cannot_send_my_form(mail_bot: BotHarness, smtp: SmtpTestServer) -> None:
    review_card = (await review(mail_bot)).only_card
    send_data = find_action(review_card, "order.send")["data"]
    turn = await mail_bot.execute("order.send", send_data, user_id="29:intruder")
    assert "Only the person who started" in turn.body["value"]
    assert await outbox_rows(mail_bot)() == 0


async def test_order_in_a_channel_moves_to_personal_chat(mail_bot: BotHarness) -> None:
    turn = await mail_bot.say("order", kind="channel", mention=True)
    assert mail_bot.connector.created_conversations, "a personal chat must be opened"
    channel_posts = [s for s in turn.sent if s.conversation_id.startswith("19:channel")]
    assert all(s.card is None for s in channel_posts)
    private = [s for s in turn.sent if s.conversation_id.startswith("personal-")]
    assert private and private[0].card is not None


async def test_form_steps_refused_outside_personal_chat(mail_bot: BotHarness) -> None:
    form = await open_form(mail_bot)
    data = {**find_action(form, "order.next")["data"], **PATIENT}
    turn = await mail_bot.execute("order.review", data, kind="channel")
    assert "personal chat" in turn.body["value"]


async def test_practice_and_referrer_are_prefilled_next_time(
    mail_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    await send(mail_bot)
    card = await open_form(mail_bot)
    patient = {k: v for k, v in PATIENT.items() if not k.startswith(("practice", "referrer"))}
    for _ in ("exam", "patient"):
        data = {**find_action(card, "order.next")["data"], **patient}
        card = (await mail_bot.execute("order.next", data)).only_card
    text = card_text(card)
    assert "Step 3 of 3" in text and "Remembered from your last request" in text
    assert "Test Medical Practice" in text and "1234567" in text and "G85001" in text
    assert "Testpatient" not in card_text(card)


async def test_hourly_limit_per_user(make_bot, smtp: SmtpTestServer) -> None:
    bot = await make_bot(
        mail_transport="smtp",
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_starttls=False,
        max_requests_per_hour=1,
        outbox_poll_seconds=0.05,
    )
    await send(bot)
    _, second = await send(bot)
    assert "last hour" in second.body["value"]
    assert await outbox_rows(bot)() == 1


async def test_no_patient_value_in_any_log_line(
    mail_bot: BotHarness, smtp: SmtpTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    smtp.fail_next(451)
    await send(mail_bot)
    await until(lambda: len(smtp.received) == 1)
    await until(lambda: mail_bot.connector.updates)
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "queued" in logged and "DT-" in logged
    for value in PATIENT_VALUES:
        assert value not in logged, value


async def test_email_composed_in_its_own_process_arrives_complete(
    make_bot, smtp: SmtpTestServer
) -> None:
    """The production default: the email (PDF included) is composed in a child process."""
    bot = await make_bot(
        mail_transport="smtp",
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_starttls=False,
        mail_from="ice-downtime@nhs.net",
        outbox_poll_seconds=0.05,
        mail_compose_process=True,
    )
    await send(bot)
    await until(lambda: len(smtp.received) == 1, seconds=30)
    message = smtp.received[0].message
    assert message["To"] == KCH_US and message["Reply-To"] == "test.practice@nhs.net"
    [pdf] = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert pdf.get_content().startswith(b"%PDF")
    assert "Testpatient" in message.get_body(preferencelist=("plain",)).get_content()
    await until(lambda: bot.connector.updates, seconds=10)
    assert "Sent at" in card_text(bot.connector.updates[-1].card)
