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

import asyncio
import re
import ssl
import threading
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from bot.application import RUNTIME
from bot.store.outbox import RequestRecord
from tests.support.cards import card_text
from tests.support.smtp import free_port
from tests.support.teams import BotHarness
from tests.support.tls import self_signed_certificate
from tests.test_order_e2e import KCH_US, send, until

pytestmark = pytest.mark.faults

REFERENCE = re.compile(r"DT-\d{8}-\d{4}")
STALL = "stall"  # hold the DATA reply past the client's timeout, then drop the message
BLOCK = "block"  # hold the DATA reply until the test calls release(), then accept


# --- a scripted real SMTP server ------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One DATA the server saw: what it was, whether it came over TLS, what was answered."""

    message_id: str
    tls_version: str | None
    reply: str
    data: bytes

    @property
    def accepted(self) -> bool:
        return self.reply.startswith("250")

    @property
    def message(self) -> Any:
        return message_from_bytes(self.data, policy=default_policy)


class _ScriptedHandler:
    def __init__(self, server: ScriptedSmtp) -> None:
        self._server = server

    async def handle_DATA(self, _smtp: SMTP, session: Session, envelope: Envelope) -> str:
        return await self._server._data(session, envelope)


class ScriptedSmtp:
    """aiosmtpd on loopback whose answers to DATA follow a script, one entry per message.

    An entry is an SMTP code to refuse with (421, 451, 550...), STALL (no reply
    for `stall_seconds`, longer than the bot's SMTP timeout; the message is then
    discarded, as a server that gave up on it would), or BLOCK (no reply until
    `release()`; then the message is accepted, whether or not the client is still
    there to hear it). With the script empty every message is accepted.
    Stop and start keep the port, to play "the relay is down".
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        tls_context: ssl.SSLContext | None = None,
        stall_seconds: float = 3.0,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.tls_context = tls_context
        self.stall_seconds = stall_seconds
        self._lock = threading.Lock()
        self._script: list[int | str] = []
        self._attempts: list[Attempt] = []
        self._controller: Controller | None = None
        self.blocked = threading.Event()
        self._release = threading.Event()

    def start(self) -> ScriptedSmtp:
        if self._controller is None:
            kwargs: dict[str, Any] = {}
            if self.tls_context is not None:
                # STARTTLS offered but NOT required: a client that fell back to
                # clear text would be accepted, so "nothing in clear" is the
                # client's doing, not the server's.
                kwargs = {"tls_context": self.tls_context, "require_starttls": False}
            controller = Controller(
                _ScriptedHandler(self),
                hostname=self.host,
                port=self.port,
                ready_timeout=5,
                **kwargs,
            )
            controller.start()
            self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._release.set()  # never leave a handler hanging in the server's thread
            self._controller.stop()
            self._controller = None
            self._release.clear()

    def __enter__(self) -> ScriptedSmtp:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def script(self, *entries: int | str) -> None:
        with self._lock:
            self._script.extend(entries)

    def release(self) -> None:
        self._release.set()

    @property
    def attempts(self) -> list[Attempt]:
        with self._lock:
            return list(self._attempts)

    @property
    def accepted(self) -> list[Attempt]:
        return [a for a in self.attempts if a.accepted]

    def accepted_ids(self) -> list[str]:
        return [a.message_id for a in self.accepted]

    async def _data(self, session: Session, envelope: Envelope) -> str:
        data = bytes(envelope.original_content or envelope.content or b"")
        tls = session.ssl.get("ssl_object") if session.ssl else None
        with self._lock:
            entry = self._script.pop(0) if self._script else None
        if entry == STALL:
            # Dropped: recorded now, because aiosmtpd cancels this handler when
            # the client hangs up, and a server that stalls never accepts.
            self._record(data, tls, "(no reply: stalled, message dropped)")
            await asyncio.sleep(self.stall_seconds)
            return "451 4.4.2 Timed out processing the message"
        if entry == BLOCK:
            # Shielded: the acceptance happens on release even if the client is
            # gone (killed), exactly the case the crash tests are about.
            return await asyncio.shield(self._blocked_then_accept(data, tls))
        if isinstance(entry, int):
            reply = f"{entry} {'4.3.0' if entry < 500 else '5.7.1'} Refused by test script"
        else:
            reply = "250 2.0.0 Message accepted for delivery"
        self._record(data, tls, reply)
        return reply

    async def _blocked_then_accept(self, data: bytes, tls: Any) -> str:
        self.blocked.set()
        await asyncio.to_thread(self._release.wait, 30)  # bounded even if never released
        reply = "250 2.0.0 Message accepted for delivery"
        self._record(data, tls, reply)
        return reply

    def _record(self, data: bytes, tls: Any, reply: str) -> None:
        parsed = message_from_bytes(data, policy=default_policy)
        with self._lock:
            self._attempts.append(
                Attempt(
                    message_id=str(parsed["Message-ID"]),
                    tls_version=tls.version() if tls is not None else None,
                    reply=reply,
                    data=data,
                )
            )


# --- helpers ---------------------------------------------------------------------


def reference_of(card: dict[str, Any]) -> str:
    found = REFERENCE.search(card_text(card))
    assert found, "the confirmation card carries the request reference"
    return found.group(0)


def expected_message_id(reference: str, sender: str = "ice-downtime@nhs.net") -> str:
    return f"<{reference}.ice-downtime@{sender.partition('@')[2]}>"


async def record(bot: BotHarness, reference: str) -> RequestRecord:
    found = await bot.client.app[RUNTIME].outbox.get(reference)
    assert found is not None
    return found


async def settle(seconds: float = 0.6) -> None:
    """Give the worker time to do something it must not do (a resend, another attempt).

    Several poll intervals and backoff caps of the bots below; nothing is
    asserted about timing, only that a wrong extra action would have had time.
    """
    await asyncio.sleep(seconds)


def sent_updates(bot: BotHarness, activity_id: str) -> list[Any]:
    return [
        u
        for u in bot.connector.updates
        if u.activity_id == activity_id and u.card and "Sent at" in card_text(u.card)
    ]


def failure_messages(bot: BotHarness) -> list[str]:
    return [s.text for s in bot.connector.sent if "could NOT be emailed" in (s.text or "")]


def assert_each_once(ids: Iterable[str]) -> None:
    ids = list(ids)
    assert len(ids) == len(set(ids)), f"a Message-ID was accepted twice: {ids}"


@pytest.fixture
def scripted() -> AsyncIterator[ScriptedSmtp]:
    with ScriptedSmtp(stall_seconds=2.0) as server:
        yield server


def smtp_settings(server: ScriptedSmtp, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "mail_transport": "smtp",
        "smtp_host": server.host,
        "smtp_port": server.port,
        "smtp_starttls": False,
        "mail_from": "ice-downtime@nhs.net",
        "mail_retry_base_seconds": 0.05,
        "mail_retry_max_seconds": 0.2,
        "outbox_poll_seconds": 0.05,
        "smtp_timeout_seconds": 2,
        "connector_retry_base_seconds": 0.05,  # Retry-After is still honoured in full
    }
    values.update(overrides)
    return values


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


async def wait_queued_after(bot: BotHarness, reference: str, attempts: int) -> RequestRecord:
    async with asyncio.timeout(10):
        while True:
            row = await record(bot, reference)
            if row.attempts >= attempts and row.status == "queued":
                return row
            await asyncio.sleep(0.02)


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
