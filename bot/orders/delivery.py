"""From a stored request back to an email, a confirmation card or a by-hand fallback.

The outbox stores a request as its JSON payload. These functions re-validate
that payload into the model (with the date it was made, so an age or date rule
gives the same answer as at submission) and draw everything from it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

from bot.directory import Directory
from bot.mail.compose import (
    attachment_name,
    compose_email,
    compose_forwarded,
    render_text,
)
from bot.mail.practice_log import compose_practice_log
from bot.mail.worker import DeliveryEvent
from bot.orders.form import stored_confirmation
from bot.orders.forwarded import ForwardedRequest
from bot.orders.model import LONDON, RadiologyRequest
from bot.store.outbox import FILE, FORM, ClaimedRequest, Outbox, RequestRecord
from bot.store.tables import LOG

log = logging.getLogger(__name__)


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


def _exit_with_parent(parent_pid: int, interval: float = 1.0) -> None:
    """In the child: leave as soon as the bot is gone, even if it was killed with -9.

    A SIGTERM'd bot shuts the child down itself; a killed one cannot, and the
    child would otherwise wait for work forever, holding its memory.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


#: How long a new compose child may take to start and answer (spawn and imports).
_START_SECONDS = 60.0


class ComposeProcess:
    """One child process that composes emails, PDF included, away from the bot's event loop.

    Composing is 50-100 ms of CPU a request (templates, PDF, MIME). In a thread
    it holds the GIL while turns wait; in its own process it does not, and the
    PDF stack (fpdf2, fontTools, Pillow) never loads into the bot at all. The
    process is started on the first email ("spawn": nothing of the bot's event
    loop or connections is inherited) and stopped with the app.
    """

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def run(self, function: Callable[..., bytes], *args: Any) -> bytes:
        """Run `function(*args)` in the child; blocks the calling (worker) thread only.

        If the child cannot be started (no processes, memory or semaphores
        left) or died (killed, out of memory), the email is composed here
        instead and a fresh child is tried next time: a broken helper process
        must never turn into failed requests. An error raised by `function`
        itself (a payload that does not validate) is the caller's, unchanged.
        """
        pool = None
        try:
            pool = self._started()
            future = pool.submit(function, *args)
        except (OSError, RuntimeError) as error:  # BrokenProcessPool and TimeoutError included
            log.warning(
                "compose process could not start (%s); composing in the bot process this time",
                type(error).__name__,
            )
            self._discard(pool)
            return function(*args)
        try:
            return future.result()
        except BrokenProcessPool:
            log.warning("compose process died; composing in the bot process this time")
            self._discard(pool)
            return function(*args)

    def _started(self) -> ProcessPoolExecutor:
        """The running child, started and heard from first.

        A child that cannot start fails in one of several places (at submit, in
        the pool's own thread, or as a child that exits at once), depending on
        timing. Waiting for its first answer here turns all of them into one
        outcome, "could not start", raised before any email is handed over;
        "died" then always means a child that was running.
        """
        with self._lock:
            if self._pool is None:
                pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_exit_with_parent,
                    initargs=(os.getpid(),),
                )
                try:
                    pool.submit(os.getpid).result(timeout=_START_SECONDS)
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
                self._pool = pool
            return self._pool

    def child_pids(self) -> list[int]:
        """The running child's pid (for operators' process listings, and tests)."""
        pool = self._pool
        return list(getattr(pool, "_processes", None) or {}) if pool is not None else []

    def close(self) -> None:
        self._discard(self._pool)

    def _discard(self, pool: ProcessPoolExecutor | None) -> None:
        """Forget `pool` unless another has replaced it already, and stop it without waiting."""
        with self._lock:
            if self._pool is pool:
                self._pool = None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


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
        return cast(EmailMessage, message_from_bytes(raw, policy=policy.default))

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
