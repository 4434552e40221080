"""A completed trust form attached in Teams, end to end.

The real app over HTTP (CloudAdapter, the connector stub), a loopback file
server playing SharePoint (and a second one on 127.0.0.2 that must never be
asked), the real outbox worker and aiosmtpd receiving the email.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest

from bot.application import RUNTIME, create_app
from bot.store.db import utcnow
from bot.store.files import ABANDONED_AFTER, ReceivedFile
from bot.store.outbox import OutboxRequest
from tests.support.cards import assert_valid_card, card_text
from tests.support.files import (
    DOCM,
    EXE,
    HTML,
    PATIENT_FILE_NAME,
    PATIENT_NAME_PARTS,
    PDF,
    FileServer,
)
from tests.support.forwarding import FORM, GSTT, attach, mail_settings, routed, rows
from tests.support.orders import KCH_US, reference_of
from tests.support.smtp import SmtpTestServer
from tests.support.teams import BotHarness, Turn, find_action
from tests.support.waiting import until


async def send(forwarding_bot: BotHarness, url: str, **choice: Any) -> Turn:
    _, review = await routed(forwarding_bot, url, **choice)
    data = find_action(review.only_card, "forward.send")["data"]
    return await forwarding_bot.execute("forward.send", data, reply_to_id="card-9")


async def test_a_completed_form_reaches_the_mailbox_byte_for_byte(
    forwarding_bot: BotHarness,
    smtp: SmtpTestServer,
    sharepoint: FileServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    first, review = await routed(forwarding_bot, sharepoint.url("form.pdf"))
    text = card_text(first)
    assert PATIENT_FILE_NAME in text  # the user's own personal chat: shown to them
    assert PATIENT_FILE_NAME not in first["fallbackText"]  # never in a notification
    assert first["body"][0]["text"] == "Send your completed form"
    card = review.only_card
    assert_valid_card(card)
    assert KCH_US in card_text(card) and "test.practice@nhs.net" in card_text(card)
    assert "Urgent" in card_text(card) and PATIENT_FILE_NAME in card_text(card)

    data = find_action(card, "forward.send")["data"]
    confirmation = (
        await forwarding_bot.execute("forward.send", data, reply_to_id="card-9")
    ).invoke_card
    assert_valid_card(confirmation)
    assert "Queued" in card_text(confirmation) and "PDF" in card_text(confirmation)
    assert PATIENT_FILE_NAME not in str(confirmation)

    await until(lambda: len(smtp.received) == 1)
    received = smtp.received[0]
    message = received.message
    assert set(received.rcpt_tos) == {KCH_US, "test.practice@nhs.net"}
    assert message["To"] == KCH_US
    assert message["Reply-To"] == "test.practice@nhs.net"
    assert message["Cc"] == "test.practice@nhs.net"
    subject = str(message["Subject"])
    assert "KCH" in subject and "Ultrasound" in subject and "Urgent" in subject and "DT-" in subject
    (attached,) = list(message.iter_attachments())
    assert attached.get_content_type() == "application/pdf"
    assert attached.get_payload(decode=True) == FORM  # byte for byte
    reference = message["X-ICE-Downtime-Reference"]
    assert attached.get_filename() == f"{reference}.pdf"
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert reference in body and "Test Medical Practice (G85001)" in body
    assert "form attached" in body.lower()
    # The user's file name is patient data: nowhere in the email, nowhere in the logs.
    for part in (*PATIENT_NAME_PARTS, PATIENT_FILE_NAME):
        assert part not in received.data.decode("latin-1")
        assert part not in caplog.text
    await until(lambda: forwarding_bot.connector.updates)
    assert "Sent at" in card_text(forwarding_bot.connector.updates[-1].card)


async def test_gstt_needs_no_modality_and_a_kch_modality_without_a_mailbox_is_refused(
    forwarding_bot: BotHarness, smtp: SmtpTestServer, sharepoint: FileServer
) -> None:
    _, review = await routed(forwarding_bot, sharepoint.url("form.pdf"), trust="gstt", modality="")
    assert GSTT in card_text(review.only_card)

    _, ct = await routed(forwarding_bot, sharepoint.url("form.pdf"), trust="kch", modality="ct")
    card = ct.only_card
    assert "no downtime route for CT" in card_text(card)
    assert "@" not in card_text(card).replace("test.practice@nhs.net", "")
    assert find_action(card, "forward.review")  # the routing card again, not a review


async def test_a_host_outside_the_list_is_never_contacted_and_nothing_is_held(
    forwarding_bot: BotHarness, smtp: SmtpTestServer, elsewhere: FileServer
) -> None:
    turn = await attach(forwarding_bot, elsewhere.url("form.pdf"), "kings us")
    assert "couldn't fetch" in " ".join(turn.texts)
    assert elsewhere.requests == []
    assert await rows(forwarding_bot, ReceivedFile)() == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(EXE, "can only send", id="renamed-executable"),
        pytest.param(HTML, "can only send", id="html-page"),
        pytest.param(DOCM, "can only send", id="macro-enabled-docm"),
        pytest.param(PDF + b"\x00" * 9000, "larger than", id="oversized"),
    ],
)
async def test_refused_files_give_a_message_and_no_email(
    make_bot, smtp: SmtpTestServer, sharepoint: FileServer, content: bytes, expected: str
) -> None:
    forwarding_bot = await make_bot(**mail_settings(smtp, file_max_bytes=8192))
    sharepoint.files["form.pdf"] = content
    turn = await attach(forwarding_bot, sharepoint.url("form.pdf"), "kings ultrasound")
    (message,) = turn.texts
    assert expected in message and PATIENT_FILE_NAME not in message
    assert turn.cards == []
    assert await rows(forwarding_bot, ReceivedFile)() == []
    await asyncio.sleep(0.2)
    assert smtp.received == []


@pytest.mark.parametrize("kind", ["channel", "groupChat"])
async def test_a_file_in_a_channel_or_group_is_never_downloaded(
    forwarding_bot: BotHarness, sharepoint: FileServer, kind: str
) -> None:
    turn = await attach(
        forwarding_bot, sharepoint.url("form.pdf"), "kings ultrasound", kind=kind, mention=True
    )
    (message,) = turn.texts
    assert "personal chat" in message and PATIENT_FILE_NAME not in message
    assert sharepoint.requests == []
    assert await rows(forwarding_bot, ReceivedFile)() == []


async def test_the_practice_is_remembered_and_not_asked_again(
    forwarding_bot: BotHarness, smtp: SmtpTestServer, sharepoint: FileServer
) -> None:
    await send(forwarding_bot, sharepoint.url("form.pdf"))
    second = (await attach(forwarding_bot, sharepoint.url("form.pdf"), "guys")).only_card
    ids = {element.get("id") for element in _inputs(second)}
    assert ids == {"trust", "modality"}
    data = {**find_action(second, "forward.review")["data"], "trust": "gstt"}
    review = (await forwarding_bot.execute("forward.review", data)).only_card
    assert "test.practice@nhs.net" in card_text(review) and GSTT in card_text(review)


async def test_send_twice_gives_one_email_and_a_review_after_send_says_so(
    forwarding_bot: BotHarness, smtp: SmtpTestServer, sharepoint: FileServer
) -> None:
    _, review = await routed(forwarding_bot, sharepoint.url("form.pdf"))
    data = find_action(review.only_card, "forward.send")["data"]
    first = await forwarding_bot.execute("forward.send", data, reply_to_id="card-9")
    again = await forwarding_bot.execute("forward.send", data, reply_to_id="card-9")
    reference = reference_of(first.invoke_card)
    assert reference == reference_of(again.invoke_card)
    await until(lambda: len(smtp.received) == 1)
    await asyncio.sleep(0.3)
    assert len(smtp.received) == 1
    later = await forwarding_bot.execute("forward.review", data)
    assert reference in " ".join(later.texts) or reference in str(later.body)


async def test_restart_with_a_forwarded_form_queued_and_smtp_down_delivers_once(
    make_bot, make_settings, aiohttp_client, smtp: SmtpTestServer, sharepoint: FileServer
) -> None:
    smtp.stop()
    forwarding_bot = await make_bot(**mail_settings(smtp))
    turn = await send(forwarding_bot, sharepoint.url("form.pdf"))
    assert "Queued" in card_text(turn.invoke_card)
    await asyncio.sleep(0.2)
    await forwarding_bot.client.close()  # the bot goes away with the request still queued

    smtp.start()
    restarted = await aiohttp_client(create_app(make_settings(**mail_settings(smtp))))
    await until(lambda: len(smtp.received) == 1)
    await asyncio.sleep(0.3)
    assert len(smtp.received) == 1
    (attached,) = list(smtp.received[0].message.iter_attachments())
    assert attached.get_payload(decode=True) == FORM
    await restarted.close()


async def test_retention_purges_the_file_with_the_request(
    forwarding_bot: BotHarness, smtp: SmtpTestServer, sharepoint: FileServer
) -> None:
    await send(forwarding_bot, sharepoint.url("form.pdf"))
    await until(lambda: len(smtp.received) == 1)
    runtime = forwarding_bot.client.app[RUNTIME]
    (held,) = await rows(forwarding_bot, ReceivedFile)()
    assert held.content == FORM and held.name == PATIENT_FILE_NAME

    async def sent() -> bool:
        return all(r.status == "sent" for r in await rows(forwarding_bot, OutboxRequest)())

    async with asyncio.timeout(5):
        while not await sent():  # noqa: ASYNC110 - the worker records "sent" in its own time
            await asyncio.sleep(0.05)
    assert await runtime.services.outbox.purge(utcnow(), 14) == 0  # not yet: kept RETENTION_DAYS
    assert (await rows(forwarding_bot, ReceivedFile)())[0].content == FORM
    assert await runtime.services.outbox.purge(utcnow() + timedelta(days=15), 14) == 1
    (purged,) = await rows(forwarding_bot, ReceivedFile)()
    assert purged.content is None and purged.name is None and purged.purged_at is not None
    assert purged.size == len(FORM) and purged.reference  # kept for reconciliation


async def test_a_form_attached_but_never_sent_is_deleted_after_a_day(
    forwarding_bot: BotHarness, sharepoint: FileServer
) -> None:
    await attach(forwarding_bot, sharepoint.url("form.pdf"), "kings us")
    files = forwarding_bot.client.app[RUNTIME].services.files
    assert await files.forget_abandoned(utcnow()) == 0
    assert await files.forget_abandoned(utcnow() + ABANDONED_AFTER + timedelta(seconds=1)) == 1
    assert await rows(forwarding_bot, ReceivedFile)() == []


def _inputs(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in card["body"] if str(e.get("type", "")).startswith("Input.")]


async def test_help_and_the_steps_card_say_a_completed_form_can_be_attached(
    forwarding_bot: BotHarness,
) -> None:
    help_text = card_text((await forwarding_bot.say("help")).only_card)
    assert "Attach it" in help_text and "personal chat" in help_text
    runtime = forwarding_bot.client.app[RUNTIME]
    steps = runtime.services.cards.render("downtime_steps", directory=runtime.services.directory)
    text = card_text(steps)
    assert "Attach it in your personal chat" in text
    for trust in runtime.services.directory.trusts:  # the BCP's form names and places, in its words
        assert trust.form_text in text
