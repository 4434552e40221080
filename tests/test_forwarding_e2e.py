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
from sqlalchemy import select

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
    file_attachment,
    serve_files,
)
from tests.support.smtp import ScriptedSmtp, SmtpTestServer, smtp_settings
from tests.support.teams import BotHarness, Turn, activity, find_action
from tests.test_faults_smtp import reference_of

KCH_US = "kch-tr.us.reception_dh@nhs.net"
GSTT = "gst-tr.radiologyreferrals@nhs.net"
PRACTICE = {
    "practice_name": "Test Medical Practice",
    "practice_ods": "G85001",
    "practice_email": "test.practice@nhs.net",
}
#: A form as big as a real scanned one, every byte value in it.
FORM = PDF + bytes(range(256)) * 400


async def until(condition: Any, seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - polls state owned by other tasks and threads
            await asyncio.sleep(0.02)


@pytest.fixture
async def sharepoint(aiohttp_server) -> FileServer:
    return await serve_files(aiohttp_server, {"form.pdf": FORM})


@pytest.fixture
async def elsewhere(aiohttp_server) -> FileServer:
    """A server on another loopback address: not on the list, so never to be asked."""
    return await serve_files(aiohttp_server, {"form.pdf": FORM}, host="127.0.0.2")


def mail_settings(smtp: SmtpTestServer | ScriptedSmtp, **overrides: Any) -> dict[str, Any]:
    """The app mailing `smtp` at test timescales, fetching files from the loopback server."""
    return smtp_settings(smtp, **{"file_download_hosts": ("127.0.0.1",), **overrides})


@pytest.fixture
async def bot(make_bot, smtp: SmtpTestServer) -> BotHarness:
    return await make_bot(**mail_settings(smtp))


async def attach(bot: BotHarness, url: str, text: str | None = None, **kwargs: Any) -> Turn:
    extra = {"attachments": [file_attachment(url)]}
    return await bot.post(activity(bot.service_url, text=text, extra=extra, **kwargs))


async def routed(bot: BotHarness, url: str, text: str = "kings ultrasound urgent", **choice: Any):
    """Attach, then Next with the choices: the review turn and the first card's data."""
    first = (await attach(bot, url, text)).only_card
    assert_valid_card(first)
    data = {**find_action(first, "forward.review")["data"], **PRACTICE, **choice}
    data.setdefault("trust", "kch")
    data.setdefault("modality", "ultrasound")
    return first, await bot.execute("forward.review", data)


async def send(bot: BotHarness, url: str, **choice: Any) -> Turn:
    _, review = await routed(bot, url, **choice)
    data = find_action(review.only_card, "forward.send")["data"]
    return await bot.execute("forward.send", data, reply_to_id="card-9")


def rows(bot: BotHarness, table: Any) -> Any:
    runtime = bot.client.app[RUNTIME]

    async def read() -> list[Any]:
        async with runtime.db.sessions() as session:
            return list(await session.scalars(select(table)))

    return read


async def test_a_completed_form_reaches_the_mailbox_byte_for_byte(
    bot: BotHarness, smtp: SmtpTestServer, sharepoint: FileServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    first, review = await routed(bot, sharepoint.url("form.pdf"))
    text = card_text(first)
    assert PATIENT_FILE_NAME in text  # the user's own personal chat: shown to them
    assert PATIENT_FILE_NAME not in first["fallbackText"]  # never in a notification
    assert first["body"][0]["text"] == "Send your completed form"
    card = review.only_card
    assert_valid_card(card)
    assert KCH_US in card_text(card) and "test.practice@nhs.net" in card_text(card)
    assert "Urgent" in card_text(card) and PATIENT_FILE_NAME in card_text(card)

    data = find_action(card, "forward.send")["data"]
    confirmation = (await bot.execute("forward.send", data, reply_to_id="card-9")).invoke_card
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
    await until(lambda: bot.connector.updates)
    assert "Sent at" in card_text(bot.connector.updates[-1].card)


async def test_gstt_needs_no_modality_and_a_kch_modality_without_a_mailbox_is_refused(
    bot: BotHarness, smtp: SmtpTestServer, sharepoint: FileServer
) -> None:
    _, review = await routed(bot, sharepoint.url("form.pdf"), trust="gstt", modality="")
    assert GSTT in card_text(review.only_card)

    _, ct = await routed(bot, sharepoint.url("form.pdf"), trust="kch", modality="ct")
    card = ct.only_card
    assert "no downtime route for CT" in card_text(card)
    assert "@" not in card_text(card).replace("test.practice@nhs.net", "")
    assert find_action(card, "forward.review")  # the routing card again, not a review


async def test_a_host_outside_the_list_is_never_contacted_and_nothing_is_held(
    bot: BotHarness, smtp: SmtpTestServer, elsewhere: FileServer
) -> None:
    turn = await attach(bot, elsewhere.url("form.pdf"), "kings us")
    assert "couldn't fetch" in " ".join(turn.texts)
    assert elsewhere.requests == []
    assert await rows(bot, ReceivedFile)() == []


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
    bot = await make_bot(**mail_settings(smtp, file_max_bytes=8192))
    sharepoint.files["form.pdf"] = content
    turn = await attach(bot, sharepoint.url("form.pdf"), "kings ultrasound")
    (message,) = turn.texts
    assert expected in message and PATIENT_FILE_NAME not in message
    assert turn.cards == []
    assert await rows(bot, ReceivedFile)() == []
    await asyncio.sleep(0.2)
    assert smtp.received == []


@pytest.mark.parametrize("kind", ["channel", "groupChat"])
async def test_a_file_in_a_channel_or_group_is_never_downloaded(
    bot: BotHarness, sharepoint: FileServer, kind: str
) -> None:
    turn = await attach(
        bot, sharepoint.url("form.pdf"), "kings ultrasound", kind=kind, mention=True
    )
    (message,) = turn.texts
    assert "personal chat" in message and PATIENT_FILE_NAME not in message
    assert sharepoint.requests == []
    assert await rows(bot, ReceivedFile)() == []


async def test_the_practice_is_remembered_and_not_asked_again(
    bot: BotHarness, smtp: SmtpTestServer, sharepoint: FileServer
) -> None:
    await send(bot, sharepoint.url("form.pdf"))
    second = (await attach(bot, sharepoint.url("form.pdf"), "guys")).only_card
    ids = {element.get("id") for element in _inputs(second)}
    assert ids == {"trust", "modality"}
    data = {**find_action(second, "forward.review")["data"], "trust": "gstt"}
    review = (await bot.execute("forward.review", data)).only_card
    assert "test.practice@nhs.net" in card_text(review) and GSTT in card_text(review)


async def test_send_twice_gives_one_email_and_a_review_after_send_says_so(
    bot: BotHarness, smtp: SmtpTestServer, sharepoint: FileServer
) -> None:
    _, review = await routed(bot, sharepoint.url("form.pdf"))
    data = find_action(review.only_card, "forward.send")["data"]
    first = await bot.execute("forward.send", data, reply_to_id="card-9")
    again = await bot.execute("forward.send", data, reply_to_id="card-9")
    reference = reference_of(first.invoke_card)
    assert reference == reference_of(again.invoke_card)
    await until(lambda: len(smtp.received) == 1)
    await asyncio.sleep(0.3)
    assert len(smtp.received) == 1
    later = await bot.execute("forward.review", data)
    assert reference in " ".join(later.texts) or reference in str(later.body)


async def test_restart_with_a_forwarded_form_queued_and_smtp_down_delivers_once(
    make_bot, make_settings, aiohttp_client, smtp: SmtpTestServer, sharepoint: FileServer
) -> None:
    smtp.stop()
    bot = await make_bot(**mail_settings(smtp))
    turn = await send(bot, sharepoint.url("form.pdf"))
    assert "Queued" in card_text(turn.invoke_card)
    await asyncio.sleep(0.2)
    await bot.client.close()  # the bot goes away with the request still queued

    smtp.start()
    restarted = await aiohttp_client(create_app(make_settings(**mail_settings(smtp))))
    await until(lambda: len(smtp.received) == 1)
    await asyncio.sleep(0.3)
    assert len(smtp.received) == 1
    (attached,) = list(smtp.received[0].message.iter_attachments())
    assert attached.get_payload(decode=True) == FORM
    await restarted.close()


async def test_retention_purges_the_file_with_the_request(
    bot: BotHarness, smtp: SmtpTestServer, sharepoint: FileServer
) -> None:
    await send(bot, sharepoint.url("form.pdf"))
    await until(lambda: len(smtp.received) == 1)
    runtime = bot.client.app[RUNTIME]
    (held,) = await rows(bot, ReceivedFile)()
    assert held.content == FORM and held.name == PATIENT_FILE_NAME

    async def sent() -> bool:
        return all(r.status == "sent" for r in await rows(bot, OutboxRequest)())

    async with asyncio.timeout(5):
        while not await sent():  # noqa: ASYNC110 - the worker records "sent" in its own time
            await asyncio.sleep(0.05)
    assert await runtime.services.outbox.purge(utcnow(), 14) == 0  # not yet: kept RETENTION_DAYS
    assert (await rows(bot, ReceivedFile)())[0].content == FORM
    assert await runtime.services.outbox.purge(utcnow() + timedelta(days=15), 14) == 1
    (purged,) = await rows(bot, ReceivedFile)()
    assert purged.content is None and purged.name is None and purged.purged_at is not None
    assert purged.size == len(FORM) and purged.reference  # kept for reconciliation


async def test_a_form_attached_but_never_sent_is_deleted_after_a_day(
    bot: BotHarness, sharepoint: FileServer
) -> None:
    await attach(bot, sharepoint.url("form.pdf"), "kings us")
    files = bot.client.app[RUNTIME].services.files
    assert await files.forget_abandoned(utcnow()) == 0
    assert await files.forget_abandoned(utcnow() + ABANDONED_AFTER + timedelta(seconds=1)) == 1
    assert await rows(bot, ReceivedFile)() == []


def _inputs(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in card["body"] if str(e.get("type", "")).startswith("Input.")]


async def test_help_and_the_steps_card_say_a_completed_form_can_be_attached(
    bot: BotHarness,
) -> None:
    help_text = card_text((await bot.say("help")).only_card)
    assert "Attach it" in help_text and "personal chat" in help_text
    runtime = bot.client.app[RUNTIME]
    steps = runtime.services.cards.render("downtime_steps", directory=runtime.services.directory)
    text = card_text(steps)
    assert "Attach it in your personal chat" in text
    for trust in runtime.services.directory.trusts:  # the BCP's form names and places, in its words
        assert trust.form_text in text
