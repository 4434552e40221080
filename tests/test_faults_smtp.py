"""SMTP faults through the running bot: refused, stalled mid-DATA, 4xx, 5xx, bad TLS.

Every request is pressed through HTTP like a Teams user (form, review, send),
delivered by the app's own outbox worker to a real aiosmtpd server on loopback,
and counted at that server. For each fault the same three things hold:

- the right handling: temporary faults are retried, permanent ones reported once;
- nothing lost: the row ends "sent" or "failed" (never stuck queued or sending);
- nothing sent twice: the server accepted each Message-ID at most once.

`ScriptedSmtp` is shared with the crash and store fault tests.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from bot.store.outbox import RequestRecord
from tests.support.cards import card_text
from tests.support.orders import (
    KCH_US,
    expected_message_id,
    failure_messages,
    record,
    reference_of,
    send,
    wait_queued_after,
)
from tests.support.smtp import STALL, ScriptedSmtp, smtp_settings
from tests.support.teams import BotHarness
from tests.support.tls import self_signed_certificate
from tests.support.waiting import settle, until

pytestmark = pytest.mark.faults


def sent_updates(bot: BotHarness, activity_id: str) -> list[Any]:
    return [
        u
        for u in bot.connector.updates
        if u.activity_id == activity_id and u.card and "Sent at" in card_text(u.card)
    ]


def assert_each_once(ids: Iterable[str]) -> None:
    ids = list(ids)
    assert len(ids) == len(set(ids)), f"a Message-ID was accepted twice: {ids}"


async def delivered_once(bot: BotHarness, server: ScriptedSmtp, reference: str) -> RequestRecord:
    """Wait for the one acceptance, give a duplicate time to appear, then check the row."""
    message_id = expected_message_id(reference)
    await until(lambda: message_id in server.accepted_ids(), 15)
    await until(lambda: sent_updates(bot, "card-7"), 5)
    await settle()
    assert server.accepted_ids() == [message_id]
    row = await record(bot, reference)
    assert row.status == "sent" and row.message_id == message_id and row.sent_at is not None
    assert len(sent_updates(bot, "card-7")) == 1
    assert failure_messages(bot) == []
    return row


# --- temporary faults: retried, delivered once ---------------------------------------


async def test_connection_refused_is_retried_and_delivered_once(make_bot, scripted) -> None:
    bot = await make_bot(**smtp_settings(scripted))
    scripted.stop()
    _, turn = await send(bot)
    reference = reference_of(turn.only_card)
    row = await wait_queued_after(bot, reference, 2)
    assert row.status in ("queued", "sending") and "connection failed" in (row.last_error or "")
    scripted.start()
    row = await delivered_once(bot, scripted, reference)
    assert row.attempts >= 3


async def test_server_stalling_mid_data_times_out_and_is_retried_once(make_bot, scripted) -> None:
    bot = await make_bot(**smtp_settings(scripted, smtp_timeout_seconds=0.5))
    scripted.stall_seconds = 2.0
    scripted.script(STALL)  # replies 2 s later: four times the bot's SMTP timeout
    _, turn = await send(bot)
    reference = reference_of(turn.only_card)
    row = await delivered_once(bot, scripted, reference)
    assert row.attempts == 2
    # The stalled attempt reached DATA and was dropped; the retry was the same
    # message, accepted once.
    assert [a.message_id for a in scripted.attempts] == [expected_message_id(reference)] * 2
    assert [a.accepted for a in scripted.attempts] == [False, True]


@pytest.mark.parametrize("code", [421, 451])
async def test_temporary_reply_is_retried_then_delivered_once(make_bot, scripted, code) -> None:
    bot = await make_bot(**smtp_settings(scripted))
    scripted.script(code, code)
    _, turn = await send(bot)
    reference = reference_of(turn.only_card)
    row = await delivered_once(bot, scripted, reference)
    assert row.attempts == 3
    assert [a.reply[:3] for a in scripted.attempts] == [str(code), str(code), "250"]


# --- permanent fault: reported once, never retried -------------------------------------


async def test_permanent_550_fails_tells_the_user_once_and_is_not_retried(
    make_bot, scripted
) -> None:
    bot = await make_bot(**smtp_settings(scripted))
    scripted.script(550)
    _, turn = await send(bot)
    reference = reference_of(turn.only_card)
    await until(lambda: failure_messages(bot), 10)
    await settle(1.0)  # twenty poll intervals: any retry or second notice would show

    assert len(scripted.attempts) == 1 and scripted.accepted == []
    row = await record(bot, reference)
    assert row.status == "failed" and row.attempts == 1 and "550" in (row.last_error or "")
    (message,) = failure_messages(bot)
    assert KCH_US in message and reference in message
    assert "Testpatient" in message and "Ultrasound abdomen" in message  # the text to send
    failed_cards = [u for u in bot.connector.updates if u.activity_id == "card-7"]
    assert len(failed_cards) == 1
    assert "failed" in card_text(failed_cards[0].card).lower()


# --- TLS: an untrusted certificate is temporary and nothing goes in clear ---------------


def certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate (its own CA) for 127.0.0.1."""
    return self_signed_certificate(folder, name)


def server_tls(pair: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*pair)
    return context


async def test_untrusted_tls_certificate_is_temporary_and_nothing_goes_in_clear(
    make_bot, tmp_path, monkeypatch
) -> None:
    trusted = certificate(tmp_path, "trusted")
    untrusted = certificate(tmp_path, "untrusted")
    # The bot's trust store: system CAs plus `trusted` (what a corporate bundle would do).
    monkeypatch.setenv("SSL_CERT_FILE", str(trusted[0]))
    server = ScriptedSmtp(tls_context=server_tls(untrusted)).start()
    try:
        bot = await make_bot(**smtp_settings(server, smtp_starttls=True))
        _, turn = await send(bot)
        reference = reference_of(turn.only_card)
        row = await wait_queued_after(bot, reference, 3)
        assert "TLS" in (row.last_error or "")
        assert server.attempts == []  # no DATA at all: not in clear, not at all

        # The relay's certificate is fixed (same port): delivered once, over TLS.
        server.stop()
        server.tls_context = server_tls(trusted)
        server.start()
        row = await delivered_once(bot, server, reference)
        assert all(a.tls_version in ("TLSv1.2", "TLSv1.3") for a in server.attempts)
        assert len(server.attempts) == 1
    finally:
        server.stop()


async def test_tls_failure_that_never_clears_ends_failed_and_reported(make_bot, tmp_path) -> None:
    untrusted = certificate(tmp_path, "untrusted")
    server = ScriptedSmtp(tls_context=server_tls(untrusted)).start()
    try:
        bot = await make_bot(**smtp_settings(server, smtp_starttls=True, mail_max_attempts=3))
        _, turn = await send(bot)
        reference = reference_of(turn.only_card)
        await until(lambda: failure_messages(bot), 10)
        await settle()
        row = await record(bot, reference)
        assert row.status == "failed" and row.attempts == 3 and "TLS" in (row.last_error or "")
        assert len(failure_messages(bot)) == 1
        assert server.attempts == []
    finally:
        server.stop()


# --- one recipient refused at RCPT: the practice's copy only with radiology's --------------

PRACTICE = "test.practice@nhs.net"


@pytest.mark.parametrize("code", [421, 451])
async def test_hospital_mailbox_refused_for_a_while_copies_the_practice_once(
    make_bot, scripted, code
) -> None:
    """H13 (docs/clinical-safety.md): with radiology's mailbox refused at RCPT and the
    practice's accepted, every attempt used to deliver the practice's copy (7 copies of one
    request), and radiology none."""
    bot = await make_bot(**smtp_settings(scripted))
    scripted.refuse_recipient(KCH_US, code, times=2)
    _, turn = await send(bot)
    reference = reference_of(turn.only_card)
    message_id = expected_message_id(reference)
    await until(lambda: scripted.accepted_by(KCH_US), 15)
    await until(lambda: sent_updates(bot, "card-7"), 5)
    await settle()
    assert scripted.rcpt_refusals == [(KCH_US, code), (KCH_US, code)]
    assert scripted.accepted_by(KCH_US) == [message_id]
    assert scripted.accepted_by(PRACTICE) == [message_id]  # once, with radiology's
    assert [set(a.rcpt_tos) for a in scripted.accepted] == [{KCH_US, PRACTICE}]
    row = await record(bot, reference)
    assert row.status == "sent" and row.attempts == 3


@pytest.mark.parametrize("mail_max_attempts", [1, 3])
async def test_hospital_mailbox_refused_for_good_delivers_to_nobody(
    make_bot, scripted, mail_max_attempts
) -> None:
    """H13 (docs/clinical-safety.md): a 550 for radiology's mailbox used to deliver the
    practice's copy while the user was told the request failed. A request that fails now
    reaches no one."""
    bot = await make_bot(**smtp_settings(scripted, mail_max_attempts=mail_max_attempts))
    code = 550 if mail_max_attempts == 1 else 451
    scripted.refuse_recipient(KCH_US, code)  # every time
    _, turn = await send(bot)
    reference = reference_of(turn.only_card)
    await until(lambda: failure_messages(bot), 10)
    await settle()
    assert scripted.attempts == [], "no DATA at all: nobody received anything"
    assert [address for address, _ in scripted.rcpt_refusals] == [KCH_US] * mail_max_attempts
    row = await record(bot, reference)
    assert row.status == "failed" and str(code) in (row.last_error or "")
    assert len(failure_messages(bot)) == 1


@pytest.mark.parametrize("code", [451, 550])
async def test_practice_mailbox_refused_does_not_hold_radiologys_copy_back(
    make_bot, scripted, logs, code
) -> None:
    """The other way round: radiology's copy goes once; the refused copy is logged, no retry."""
    bot = await make_bot(**smtp_settings(scripted))
    scripted.refuse_recipient(PRACTICE, code)
    _, turn = await send(bot)
    reference = reference_of(turn.only_card)
    row = await delivered_once(bot, scripted, reference)
    assert row.attempts == 1
    assert [a.rcpt_tos for a in scripted.accepted] == [(KCH_US,)]
    assert scripted.rcpt_refusals == [(PRACTICE, code)]
    refused = [r.getMessage() for r in logs.records if "copy refused" in r.getMessage()]
    assert refused == [f"copy refused by the mail server code={code}"]
    assert PRACTICE not in "\n".join(r.getMessage() for r in logs.records if r.name[:4] == "bot.")
