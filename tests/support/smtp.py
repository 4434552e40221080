"""Real SMTP servers on loopback for tests (aiosmtpd in its own thread).

`SmtpTestServer` records every accepted envelope, can be told to refuse the
next N messages with a given reply (421/451/550...), and can be stopped and
started again on the same port to play "SMTP is down". `ScriptedSmtp`, for the
fault suites, follows a script per message (refuse, stall, block until
released) and records every attempt with its TLS version and reply.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

_REPLIES = {
    421: "421 4.3.2 Service not available, closing channel",
    451: "451 4.3.0 Temporary server error, try again later",
    550: "550 5.7.1 Message rejected by policy",
    552: "552 5.3.4 Message too big",
}


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    tls_version: str | None

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        return parsed


def smtp_settings(server: SmtpTestServer | ScriptedSmtp, **overrides: Any) -> dict[str, Any]:
    """App settings that mail `server` in clear, retrying and polling fast (test timescales)."""
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


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class _Handler:
    def __init__(self, server: SmtpTestServer) -> None:
        self._server = server

    async def handle_DATA(self, _smtp: SMTP, session: Session, envelope: Envelope) -> str:
        return self._server._accept(session, envelope)


class SmtpTestServer:
    """Use as `with SmtpTestServer() as smtp:` or call start()/stop() yourself."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        tls_context: ssl.SSLContext | None = None,
        require_starttls: bool = False,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._tls_context = tls_context
        self._require_starttls = require_starttls
        self._lock = threading.Lock()
        self._failures: list[int] = []
        self._received: list[Received] = []
        self._controller: Controller | None = None

    # lifecycle -----------------------------------------------------------
    def start(self) -> SmtpTestServer:
        if self._controller is None:
            kwargs: dict[str, Any] = {}
            if self._tls_context is not None:
                kwargs = {
                    "tls_context": self._tls_context,
                    "require_starttls": self._require_starttls,
                }
            controller = Controller(
                _Handler(self), hostname=self.host, port=self.port, ready_timeout=5, **kwargs
            )
            controller.start()
            self._controller = controller
        return self

    def stop(self) -> None:
        """Close the listener: new connections are refused, as when the relay is down."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> SmtpTestServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # behaviour -----------------------------------------------------------
    def fail_next(self, code: int, count: int = 1) -> None:
        """Answer DATA of the next `count` messages with `code` instead of 250."""
        with self._lock:
            self._failures.extend([code] * count)

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def _accept(self, session: Session, envelope: Envelope) -> str:
        with self._lock:
            if self._failures:
                code = self._failures.pop(0)
                return _REPLIES.get(code, f"{code} Refused by test server")
            tls = session.ssl.get("ssl_object") if session.ssl else None
            self._received.append(
                Received(
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    data=bytes(envelope.original_content or envelope.content or b""),
                    tls_version=tls.version() if tls is not None else None,
                )
            )
        return "250 2.0.0 Message accepted for delivery"


# Request documents for mail tests -------------------------------------------
# The worker's `render` receives the stored payload; the app validates it into
# the request model. These tests build a real RequestDocument straight from a
# payload shaped like this one, with test-range NHS numbers only.

SAMPLE_PATIENT = {
    "surname": "O'Brien",
    "forenames": "Zoë Łukasz",
    "date_of_birth": "14/02/1961",
    "nhs_number": "999 000 0018",
    "sex": "Female",
    "address": "12 Camberwell Grove\nLondon",
    "postcode": "SE5 8RE",
    "phone": "020 7946 0123",
    "clinical_history": "Right upper quadrant pain for 3 weeks <b>after meals</b>.",
    "clinical_question": "Gallstones?",
    "examination": "Ultrasound abdomen",
    "referrer": "Dr Aisling Ní Bhriain, GP, GMC 7654321",
}

SAMPLE_ROUTING = {
    "trust_name": "King's College Hospital",
    "trust_short": "KCH",
    "department": "Ultrasound",
    "priority": "Urgent",
    "mailbox": "kch-tr.us.reception_dh@nhs.net",
    "practice_name": "Camberwell Test Surgery",
    "practice_ods": "G85001",
    "practice_email": "camberwell.test@nhs.net",
}


def sample_payload(**patient: str) -> dict[str, Any]:
    return {"routing": dict(SAMPLE_ROUTING), "patient": {**SAMPLE_PATIENT, **patient}}


def document_from_payload(payload: dict[str, Any], reference: str, created_at: Any) -> Any:
    """What the app's render does, minus the pydantic model: payload -> RequestDocument."""
    from bot.orders.document import DocumentField, RequestDocument, Section

    routing, patient = payload["routing"], payload["patient"]
    fields = tuple(
        DocumentField(name.replace("_", " ").capitalize(), str(value))
        for name, value in patient.items()
    )
    return RequestDocument(
        reference=reference,
        created_at=created_at,
        sections=(Section("Patient and request", fields),),
        **routing,
    )


# --- a scripted server, for the fault suites --------------------------------------

STALL = "stall"  # hold the DATA reply past the client's timeout (or until it hangs up); drop it
BLOCK = "block"  # hold the DATA reply until the test calls release(), then accept


@dataclass(frozen=True)
class Attempt:
    """One DATA the server saw: what it was, whether it came over TLS, what was answered."""

    message_id: str
    tls_version: str | None
    reply: str
    data: bytes
    #: The envelope's recipients: who receives this message if the reply is 250.
    rcpt_tos: tuple[str, ...] = ()

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

    async def handle_RCPT(
        self, _smtp: SMTP, _session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        return self._server._rcpt(envelope, address, options)


class ScriptedSmtp:
    """aiosmtpd on loopback whose answers to DATA follow a script, one entry per message.

    An entry is an SMTP code to refuse with (421, 451, 550...), STALL (no reply
    for `stall_seconds`, longer than the bot's SMTP timeout; the message is then
    discarded, as a server that gave up on it would), or BLOCK (no reply until
    `release()`; then the message is accepted, whether or not the client is still
    there to hear it). With the script empty every message is accepted.
    Stop and start keep the port, to play "the relay is down".

    `refuse_recipient` scripts RCPT TO for one address (a mailbox that is full,
    unknown or temporarily unavailable); every RCPT refused is in `rcpt_refusals`.
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
        #: Set when a DATA is stalled; `stalled_peers` holds each stalled client's (host, port).
        self.stalled = threading.Event()
        self.stalled_peers: list[tuple[str, int]] = []
        self._release = threading.Event()
        self._rcpt_scripts: dict[str, list[int] | int] = {}
        self.rcpt_refusals: list[tuple[str, int]] = []

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

    def refuse_recipient(self, address: str, code: int, times: int | None = None) -> None:
        """Refuse RCPT TO:<address> with `code`, the next `times` times (None: always)."""
        with self._lock:
            self._rcpt_scripts[address.lower()] = code if times is None else [code] * times

    def _rcpt(self, envelope: Envelope, address: str, options: list[str]) -> str:
        with self._lock:
            script = self._rcpt_scripts.get(address.lower())
            code = script if isinstance(script, int) else (script.pop(0) if script else None)
            if code is not None:
                self.rcpt_refusals.append((address, code))
        if code is not None:
            detail = "4.2.1 Mailbox temporarily unavailable" if code < 500 else "5.1.1 No such user"
            return f"{code} {detail}"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    def accepted_by(self, address: str) -> list[str]:
        """Message-IDs accepted for delivery to `address` (what its mailbox received)."""
        return [a.message_id for a in self.accepted if address.lower() in _lower(a.rcpt_tos)]

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
        rcpt_tos = tuple(envelope.rcpt_tos)
        if entry == STALL:
            # Dropped: recorded now, because aiosmtpd cancels this handler when
            # the client hangs up, and a server that stalls never accepts.
            self._record(data, tls, "(no reply: stalled, message dropped)", rcpt_tos)
            self.stalled_peers.append(session.peer)
            self.stalled.set()
            await asyncio.sleep(self.stall_seconds)
            return "451 4.4.2 Timed out processing the message"
        if entry == BLOCK:
            # Shielded: the acceptance happens on release even if the client is
            # gone (killed), exactly the case the crash tests are about.
            return await asyncio.shield(self._blocked_then_accept(data, tls, rcpt_tos))
        if isinstance(entry, int):
            reply = f"{entry} {'4.3.0' if entry < 500 else '5.7.1'} Refused by test script"
        else:
            reply = "250 2.0.0 Message accepted for delivery"
        self._record(data, tls, reply, rcpt_tos)
        return reply

    async def _blocked_then_accept(self, data: bytes, tls: Any, rcpt_tos: tuple[str, ...]) -> str:
        self.blocked.set()
        await asyncio.to_thread(self._release.wait, 30)  # bounded even if never released
        reply = "250 2.0.0 Message accepted for delivery"
        self._record(data, tls, reply, rcpt_tos)
        return reply

    def _record(self, data: bytes, tls: Any, reply: str, rcpt_tos: tuple[str, ...]) -> None:
        parsed = message_from_bytes(data, policy=default_policy)
        with self._lock:
            self._attempts.append(
                Attempt(
                    message_id=str(parsed["Message-ID"]),
                    tls_version=tls.version() if tls is not None else None,
                    reply=reply,
                    data=data,
                    rcpt_tos=rcpt_tos,
                )
            )


def _lower(addresses: tuple[str, ...]) -> set[str]:
    return {address.lower() for address in addresses}
