"""The background sender: claims due requests, sends them, and tells the user how it went.

Delivery is at-least-once (a lease that expires is claimed again) with a stable
Message-ID, and the user hears about each request exactly once per outcome the
store records. Logs carry reference, practice ODS code, trust, department,
outcome and message id; never payload values, never exception text that could
quote them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from functools import partial

from bot.backoff import STORE_WRITE, Backoff, Sleep, retrying
from bot.mail.events import DeliveryEvent, Notify
from bot.mail.transport import MailTransport, PermanentDeliveryError, TemporaryDeliveryError
from bot.pacing import Pacer
from bot.polling import PollingLoop
from bot.store.db import utcnow
from bot.store.outbox import ClaimedRequest, Outbox
from bot.telemetry import Telemetry

log = logging.getLogger(__name__)

#: The email for a claimed request: its `kind` decides how it is composed, from its
#: payload (and, for kind "file", the held file in `attachment`).
Render = Callable[[ClaimedRequest], EmailMessage]


class OutboxWorker:
    """One per process; several processes may share a PostgreSQL outbox safely."""

    def __init__(
        self,
        outbox: Outbox,
        transport: MailTransport,
        render: Render,
        notify: Notify,
        *,
        backoff: Backoff,
        max_per_minute: int = 30,
        lease_seconds: float = 300.0,
        poll_interval: float = 10.0,
        batch_size: int = 30,
        clock: Callable[[], datetime] = utcnow,
        sleep: Sleep = asyncio.sleep,
        owner: str | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._outbox = outbox
        self._transport = transport
        self._render = render
        self._notify = notify
        #: Over minutes, jittered: MAIL_RETRY_BASE_SECONDS doubling to MAIL_RETRY_MAX_SECONDS,
        #: MAIL_MAX_ATTEMPTS in all (bot/backoff.py).
        self._backoff = backoff
        self._lease_seconds = lease_seconds
        self._batch_size = batch_size
        self._clock = clock
        self.owner = owner or f"worker-{uuid.uuid4().hex[:12]}"
        self._pacer = Pacer(max_per_minute, clock, sleep)
        self._telemetry = telemetry or Telemetry()
        self._sleep = sleep
        self._lease_until = clock()
        self._loop = PollingLoop(
            self._cycle, name="outbox", poll_interval=poll_interval, logger=log
        )

    # driving --------------------------------------------------------------------
    async def run_once(self) -> int:
        """Send what is due now (up to one batch); the number of requests handled."""
        handled = 0
        while handled < self._batch_size and not self._loop.stopping:
            await self._pacer.wait()
            with self._loop.busy():
                now = self._clock()
                claimed = await self._outbox.claim_due(
                    self.owner, now, self._lease_seconds, limit=1
                )
                self._lease_until = now + timedelta(seconds=self._lease_seconds)
                if not claimed:
                    return handled
                row = claimed[0]
                with self._telemetry.send(row.reference, row.attempts, partial(_trace, row)):
                    await self._deliver(row)
                handled += 1
        return handled

    async def _cycle(self) -> bool:
        return await self.run_once() >= self._batch_size

    def kick(self) -> None:
        """Wake the loop now: a request was just queued and should not wait for the poll."""
        self._loop.kick()

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        """Stop polling; a send already under way is finished and recorded first."""
        await self._loop.stop()

    # one request -------------------------------------------------------------------
    async def _deliver(self, row: ClaimedRequest) -> None:
        message = await self._rendered(row)
        if message is None:
            await self._fail(row, "request could not be rendered (invalid or missing payload)")
            return
        message_id = str(message.get("Message-ID", ""))
        try:
            await self._transport.send(message)
        except PermanentDeliveryError as error:
            await self._fail(row, _reason(error), message_id)
            return
        except TemporaryDeliveryError as error:
            await self._retry_or_fail(row, _reason(error), message_id)
            return
        except Exception as error:  # noqa: BLE001 - an unknown transport fault is retried, bounded
            await self._retry_or_fail(row, f"unexpected: {type(error).__name__}", message_id)
            return
        self._pacer.record()
        await self._sent(row, message_id)

    async def _rendered(self, row: ClaimedRequest) -> EmailMessage | None:
        """Compose in a thread: the PDF takes ~0.3 s of CPU, too long to hold the bot's loop."""
        if row.payload is None:
            return None
        try:
            return await asyncio.to_thread(self._render, row)
        except Exception as error:  # noqa: BLE001 - a bad payload is a permanent failure
            # Only the type: validation messages quote the offending (patient) values.
            self._log(row, "render-failed", error=type(error).__name__)
            return None

    async def _sent(self, row: ClaimedRequest, message_id: str) -> None:
        sent_at = self._clock()
        owned = await self._record(
            row,
            "sent",
            lambda: self._outbox.mark_sent(
                row.reference, owner=self.owner, message_id=message_id, sent_at=sent_at
            ),
        )
        if owned is None:
            return
        self._log(row, "sent" if owned else "sent-lease-lost", message_id=message_id)
        if owned:
            event = DeliveryEvent(row.reference, row.user_id, "sent", row.mailbox, sent_at)
            await self._tell(event)

    async def _retry_or_fail(self, row: ClaimedRequest, reason: str, message_id: str) -> None:
        if self._backoff.exhausted(row.attempts):
            await self._fail(row, f"gave up after {row.attempts} attempts: {reason}", message_id)
            return
        delay = self._backoff.delay(row.attempts)
        await self._outbox.mark_retry(
            row.reference,
            owner=self.owner,
            next_attempt_at=self._clock() + timedelta(seconds=delay),
            error=reason,
        )
        self._log(row, "retry", message_id=message_id, error=reason, delay=f"{delay:.1f}s")

    async def _fail(self, row: ClaimedRequest, reason: str, message_id: str = "") -> None:
        owned = await self._record(
            row,
            "failed",
            lambda: self._outbox.mark_failed(row.reference, owner=self.owner, error=reason),
        )
        if owned is None:
            return
        self._log(
            row, "failed" if owned else "failed-lease-lost", message_id=message_id, error=reason
        )
        if owned:
            await self._tell(
                DeliveryEvent(row.reference, row.user_id, "failed", row.mailbox, None, reason)
            )

    async def _record(
        self, row: ClaimedRequest, outcome: str, write: Callable[[], Awaitable[bool]]
    ) -> bool | None:
        """Store an outcome the server already gave, retrying while this worker holds the lease.

        Once the server has accepted a message, failing to write "sent" must not
        leave the row "sending": its lease would expire and the message would go
        again. So a store fault here is retried (the store is usually back within
        seconds) until the lease runs out; only then is the row left to be
        claimed again (at-least-once: the same Message-ID). None means not recorded.
        """
        try:
            return await retrying(
                write,
                STORE_WRITE,
                may_wait=lambda _pause: self._clock() < self._lease_until,
                on_retry=lambda error, _pause: self._log(
                    row, f"{outcome}-record-retry", error=type(error).__name__
                ),
                sleep=self._sleep,
            )
        except Exception as error:  # noqa: BLE001 - a store fault outlasting the lease
            self._log(row, f"{outcome}-not-recorded", error=type(error).__name__)
            return None

    async def _tell(self, event: DeliveryEvent) -> None:
        """The outcome is already recorded; a failed notification must not change it."""
        try:
            await self._notify(event)
        except Exception as error:  # noqa: BLE001 - notification is best effort by design
            log.error(
                "outbox notify-failed reference=%s status=%s error=%s",
                event.reference,
                event.status,
                type(error).__name__,
            )

    def _log(self, row: ClaimedRequest, outcome: str, **extra: str) -> None:
        self._telemetry.outcome(outcome)
        level = logging.WARNING if outcome not in ("sent", "retry") else logging.INFO
        details = "".join(f" {key}={value}" for key, value in extra.items() if value)
        log.log(
            level,
            "outbox %s reference=%s ods=%s trust=%s department=%s attempt=%d%s",
            outcome,
            row.reference,
            row.practice_ods,
            row.trust,
            row.department,
            row.attempts,
            details,
        )


def _trace(row: ClaimedRequest) -> dict[str, str]:
    """What a send's span says: the routing facts the log line has, never the payload."""
    return {
        "icebot.practice.ods": row.practice_ods,
        "icebot.trust": row.trust,
        "icebot.department": row.department,
    }


def _reason(error: Exception) -> str:
    return str(error) or type(error).__name__
