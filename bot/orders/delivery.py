"""From a stored request back to an email, a confirmation card or a by-hand fallback.

The outbox stores a request as its JSON payload. These functions re-validate
that payload into the model (with the date it was made, so an age or date rule
gives the same answer as at submission) and draw everything from it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from bot.directory import Directory
from bot.mail.compose import (
    attachment_name,
    compose_email,
    compose_forwarded,
    render_text,
)
from bot.mail.events import DeliveryEvent
from bot.mail.practice_log import compose_practice_log
from bot.mail.process import ComposeProcess
from bot.orders.form import stored_confirmation
from bot.orders.forwarded import ForwardedRequest
from bot.orders.model import LONDON, RadiologyRequest
from bot.store.outbox import FILE, FORM, ClaimedRequest, Outbox, RequestRecord
from bot.store.tables import LOG


def request_from_payload(
    payload: dict[str, Any], created_at: datetime, directory: Directory
) -> RadiologyRequest:
    local_day = (created_at.astimezone(LONDON) if created_at.tzinfo else created_at).date()
    return RadiologyRequest.model_validate(
        payload, context={"directory": directory, "today": local_day}
    )


def forwarded_from_payload(payload: dict[str, Any], directory: Directory) -> ForwardedRequest:
    return ForwardedRequest.model_validate(payload, context={"directory": directory})


def compose_request(
    payload: dict[str, Any],
    reference: str,
    created_at: datetime,
    sender: str,
    directory: Directory,
    attachment: bytes | None = None,
    kind: str = FORM,
) -> bytes:
    """The whole email for a stored request, as bytes (so it can come from another process).

    `kind` is the request's (`bot.store.tables.Kind`) and picks the composer.
    Raises on a kind with no composer, on a payload that is no longer a valid
    request, and on a forwarded form whose file is no longer held: the worker
    then fails the request rather than send something else.
    """
    composer = _COMPOSERS.get(kind)
    if composer is None:
        raise ValueError(f"no composer for requests of kind {kind!r}")
    return composer(payload, reference, created_at, sender, directory, attachment)


def _compose_form(
    payload: dict[str, Any],
    reference: str,
    created_at: datetime,
    sender: str,
    directory: Directory,
    _attachment: bytes | None,
) -> bytes:
    """The bot's own form: the request in the body and as a PDF."""
    request = request_from_payload(payload, created_at, directory)
    document = request.as_document(reference, created_at, directory)
    return compose_email(document, sender=sender).as_bytes()


def _compose_file(
    payload: dict[str, Any],
    reference: str,
    created_at: datetime,
    sender: str,
    directory: Directory,
    attachment: bytes | None,
) -> bytes:
    """A completed trust form: a covering note, the held file attached byte for byte."""
    forwarded = forwarded_from_payload(payload, directory)
    if attachment is None:
        raise ValueError("the attached form is no longer held")
    document = forwarded.as_document(reference, created_at, directory)
    return compose_forwarded(
        document,
        sender=sender,
        attachment=attachment,
        media_type=forwarded.file.media_type,
        extension=forwarded.file.extension,
        kind_label=forwarded.kind_label,
    ).as_bytes()


def _compose_log(
    payload: dict[str, Any],
    reference: str,
    created_at: datetime,
    sender: str,
    _directory: Directory,
    _attachment: bytes | None,
) -> bytes:
    """A practice's downtime log: a short note and the log as CSV (bot/mail/practice_log.py)."""
    return compose_practice_log(payload, reference, created_at, sender).as_bytes()


#: How each kind of request becomes an email. A new kind adds its composer here.
_COMPOSERS: dict[str, Callable[..., bytes]] = {
    FORM: _compose_form,
    FILE: _compose_file,
    LOG: _compose_log,
}


class OrderDelivery:
    """The order side of delivery: rendering emails and telling the user the outcome."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        directory: Directory,
        sender: str,
        compose_process: ComposeProcess | None = None,
    ) -> None:
        self._outbox = outbox
        self._directory = directory
        self._sender = sender
        self._process = compose_process

    def render_email(self, row: ClaimedRequest) -> EmailMessage:
        """The worker's `render` (called in a worker thread): the email for a claimed request."""
        if row.payload is None:
            raise ValueError("the request's details were purged")
        args = (
            row.payload,
            row.reference,
            row.created_at,
            self._sender,
            self._directory,
            row.attachment,
            row.kind,
        )
        if self._process is None:
            raw = compose_request(*args)
        else:
            raw = self._process.run(compose_request, *args)
        return message_from_bytes(raw, policy=policy.default)

    async def confirmation(self, event: DeliveryEvent) -> dict[str, Any]:
        """Context for the updated confirmation card, from the stored request."""
        record = await self._outbox.get(event.reference)
        return stored_confirmation(
            reference=event.reference,
            status=event.status,
            trust=record.trust if record else "",
            department=record.department if record else "",
            mailbox=record.mailbox if record else event.mailbox,
            payload=record.payload if record else None,
            directory=self._directory,
            sent_at=event.sent_at,
            kind=record.kind if record else FORM,
        )

    async def manual_text(self, reference: str) -> str | None:
        """The request as plain text, for the user to email by hand after a failure."""
        return manual_text(await self._outbox.get(reference), self._directory)


def manual_text(record: RequestRecord | None, directory: Directory) -> str | None:
    """What the user puts in the email they send themselves, or None once purged.

    The bot's own form: its text to copy. A completed form the user attached:
    which file to attach (theirs, named by the reference), since the bot
    cannot hand it back in a chat message.
    """
    if record is None or record.payload is None:
        return None
    if record.kind == FILE:
        forwarded = forwarded_from_payload(record.payload, directory)
        return (
            "Attach the completed form you sent me in this chat (it is still in your "
            f"OneDrive) to your email, and quote {record.reference} in the subject. I would "
            f"have named it {attachment_name(record.reference, forwarded.file.extension)}."
        )
    request = request_from_payload(record.payload, record.created_at, directory)
    text = render_text(request.as_document(record.reference, record.created_at, directory))
    return f"The request to copy into your email:\n\n{text}"


def by_hand_message(reference: str, mailbox: str, manual: str | None) -> str:
    """What to do when a request could not be emailed: sent when delivery fails, and again
    whenever the user presses "Show request text" on the failed card."""
    lines = [
        f"Request {reference} could NOT be emailed to {mailbox}.",
        f"Please email it yourself to {mailbox} now, quoting {reference}.",
    ]
    if manual:
        lines += ["", manual]
    else:
        lines.append("Its details are no longer held here: please fill the trust's form again.")
    return "\n".join(lines)
