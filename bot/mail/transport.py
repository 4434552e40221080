"""Getting a composed message to the hospital mailbox: SMTP in production, files in development.

Every failure is sorted into temporary (try again later) or permanent (tell
the user now, they must send it by hand). The reason carried by an error is a
code and a short server or network phrase: never message content.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import ssl
import tempfile
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import getaddresses
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import aiosmtplib

from bot.settings import Settings

log = logging.getLogger(__name__)

_REASON_LIMIT = 200
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


class DeliveryError(Exception):
    """A message was not delivered; `code` is the SMTP reply code when there was one."""

    def __init__(self, reason: str, *, code: int | None = None) -> None:
        self.code = code
        self.reason = _short(reason)
        super().__init__(f"{code} {self.reason}" if code else self.reason)


class TemporaryDeliveryError(DeliveryError):
    """Worth retrying later: the network, the server or the server's queue was not ready."""


class PermanentDeliveryError(DeliveryError):
    """The server refused this message for good (5xx): retrying would only repeat the refusal."""


@runtime_checkable
class MailTransport(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Deliver or raise `TemporaryDeliveryError` / `PermanentDeliveryError`."""
        ...


def tls12_context(context: ssl.SSLContext | None = None) -> ssl.SSLContext:
    """A verifying client context that refuses anything older than TLS 1.2 (NHSmail's floor).

    A caller's own context (a test CA, a corporate bundle) is accepted but its
    floor is raised, so no configuration can quietly allow TLS 1.0/1.1.
    """
    context = context or ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if context.minimum_version < ssl.TLSVersion.TLSv1_2:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class SmtpTransport:
    """SMTP submission (send.nhs.net:587 with STARTTLS, or a local relay without login).

    A new connection per message: at most 30 a minute, so pooling buys nothing
    and a fresh connection never inherits a half-broken session.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str = "",
        password: str = "",
        starttls: bool = True,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        self._starttls = starttls
        self._timeout = timeout
        self._tls_context = tls12_context(tls_context) if starttls else None

    async def send(self, message: EmailMessage) -> None:
        """One envelope: the hospital mailbox (To) first and required, then the copies (Cc).

        SMTP answers DATA once for every recipient it accepted, so the practice's
        copy arrives exactly when radiology's does. What must not happen is
        aiosmtplib's default: a refused recipient is left out and the message
        goes to the rest, so a refused hospital mailbox still copied the practice
        (on every retry). Here a refusal of a To address ends the envelope before
        DATA: nobody receives anything and the attempt is retried or failed
        whole. A refused copy alone does not hold radiology's message back.
        """
        primary = _addresses(message, "To")
        copies = [a for a in _addresses(message, "Cc") if a.lower() not in _lower(primary)]
        client = _PrimaryFirst(
            primary,
            hostname=self._host,
            port=self._port,
            timeout=self._timeout,
            start_tls=self._starttls,
            tls_context=self._tls_context,
        )
        try:
            await client.connect()
            if self._username:
                await client.login(self._username, self._password)
            refused, _ = await client.send_message(message, recipients=[*primary, *copies])
        except Exception as error:  # noqa: BLE001 - every failure must be classified, none escape raw
            raise classify(error) from None
        finally:
            await _quietly_quit(client)
        for response in refused.values():  # copies only: a refused To never reaches DATA
            log.warning("copy refused by the mail server code=%s", response.code)


class _PrimaryFirst(aiosmtplib.SMTP):
    """An SMTP client whose envelope fails whole when a primary recipient is refused at RCPT.

    aiosmtplib sends RCPT for each recipient in the order given and collects
    refusals; raising here instead (for a primary address) stops it before
    DATA, and `sendmail` resets the envelope.
    """

    def __init__(self, primary: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._primary = _lower(primary)

    async def rcpt(self, recipient: str, *args: Any, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        try:
            return await super().rcpt(recipient, *args, **kwargs)
        except aiosmtplib.SMTPRecipientRefused as refusal:
            if recipient.lower() in self._primary:
                raise aiosmtplib.SMTPRecipientsRefused([refusal]) from None
            raise


def _addresses(message: EmailMessage, header: str) -> list[str]:
    return [address for _, address in getaddresses(message.get_all(header, [])) if address]


def _lower(addresses: list[str]) -> set[str]:
    return {address.lower() for address in addresses}


def classify(error: BaseException) -> DeliveryError:
    """Sort an SMTP or network failure into temporary or permanent.

    TLS handshake and certificate failures count as temporary: they are almost
    always an operational fault on the path (a certificate being rotated, a
    load-balancer node with a stale chain, an intercepting proxy) that is fixed
    within the retry window, and the message itself is not at fault. We never
    fall back to plaintext, and the worker's attempt limit still turns a
    lasting fault into a visible failure the user is told about.
    """
    if isinstance(error, DeliveryError):
        return error
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [refusal.code for refusal in error.recipients] or [550]
        return _by_code(min(codes), "all recipients refused")
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return _by_code(error.code, error.message)
    if isinstance(error, ssl.SSLError | ssl.CertificateError):
        return TemporaryDeliveryError(f"TLS handshake failed: {type(error).__name__}")
    if isinstance(error, aiosmtplib.SMTPNotSupported):
        return TemporaryDeliveryError(f"server does not support a required feature: {error}")
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return TemporaryDeliveryError(f"timed out: {type(error).__name__}")
    if isinstance(error, OSError | aiosmtplib.SMTPException):
        return TemporaryDeliveryError(f"connection failed: {type(error).__name__}: {error}")
    return TemporaryDeliveryError(f"unexpected failure: {type(error).__name__}")


def _by_code(code: int, text: str) -> DeliveryError:
    if 500 <= code < 600:
        return PermanentDeliveryError(text, code=code)
    return TemporaryDeliveryError(text, code=code)


async def _quietly_quit(client: aiosmtplib.SMTP) -> None:
    if not client.is_connected:
        return
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()


def _short(text: str) -> str:
    return " ".join(str(text).split())[:_REASON_LIMIT]


class FileTransport:
    """Development delivery: one `.eml` file per message under `directory`.

    Written to a temporary file and renamed into place, so a reader never sees a
    half-written message; named after the Message-ID, so a resend of the same
    request finds its file and writes nothing new.
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def path_for(self, message: EmailMessage) -> Path:
        identity = str(message.get("Message-ID", "")).strip().strip("<>")
        local = identity.partition("@")[0].removesuffix(".ice-downtime")
        name = _UNSAFE_FILENAME.sub("_", local).strip("._")
        if not name:
            raise PermanentDeliveryError("message has no usable Message-ID")
        return self.directory / f"{name}.eml"

    async def send(self, message: EmailMessage) -> None:
        target = self.path_for(message)
        data = message.as_bytes(policy=SMTP_POLICY)
        try:
            await asyncio.to_thread(_write_once, target, data)
        except OSError as error:
            raise TemporaryDeliveryError(f"cannot write mail file: {error.strerror}") from None


def _write_once(target: Path, data: bytes) -> None:
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".eml")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def build_transport(settings: Settings) -> MailTransport:
    """The transport `MAIL_TRANSPORT` names; `file` (the default) writes under `MAIL_DIR`."""
    if settings.mail_transport == "file":
        return FileTransport(settings.mail_dir)
    return SmtpTransport(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        timeout=settings.smtp_timeout_seconds,
    )
