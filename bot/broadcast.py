"""The background sender of proactive Teams messages: announcements, reconciliations, reminders.

It claims due rows of `broadcast_deliveries` (bot/store/broadcasts.py) with a
lease, asks `compose` for the message (a card rendered from the store at send
time, so a reconciliation lists what is true when it goes), and hands it to
`send` (the Teams edge, bot/teams/broadcast.py), which says what Teams
answered. It knows nothing of Teams beyond these outcomes:

* `Sent`: Teams accepted it; the activity id is recorded, the row is done.
* `Gone`: 403 or 404, the app was removed or the user blocked it; the
  conversation leaves the registry and the row is dropped.
* `Retry`: 429, 412, 5xx or no answer; the row waits `bot/backoff.py`'s delay
  (never less than Teams' Retry-After) and is tried again, at most
  BROADCAST_MAX_ATTEMPTS times. A 429 also pauses this worker for that long:
  it means the app, not the conversation, is over Teams' limit.
* `Refused`: anything else Teams will not take (400, 413); retrying cannot help.

Pacing (BROADCAST_MAX_PER_SECOND, per instance) keeps the app under Teams'
published limits: 50 requests a second per app per tenant, and 7 a second to
any one conversation (each conversation gets one message per announcement).
Logs carry topic, subject, outcome and error types; conversation ids and
references are not logged.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.backoff import STORE_WRITE, Backoff, Sleep, retrying
from bot.pacing import Pacer
from bot.polling import PollingLoop
from bot.store.broadcasts import BroadcastQueue, ClaimedDelivery
from bot.store.conversations import Conversations
from bot.store.db import utcnow
from bot.turns import Reply

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Sent:
    activity_id: str | None


@dataclass(frozen=True, slots=True)
class Gone:
    status: int


@dataclass(frozen=True, slots=True)
class Retry:
    reason: str
    retry_after: float | None = None
    #: Teams said 429: the whole app is over its limit, not just this conversation.
    throttled: bool = False


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str


SendResult = Sent | Gone | Retry | Refused
Send = Callable[[Mapping[str, Any], Reply], Awaitable[SendResult]]
#: The message for one delivery; None when there is nothing to say (dropped).
Compose = Callable[[ClaimedDelivery], Awaitable[Reply | None]]


class BroadcastWorker:
    """One per process; several processes may share one PostgreSQL queue safely."""

    def __init__(
        self,
        queue: BroadcastQueue,
        conversations: Conversations,
        compose: Compose,
        send: Send,
        *,
        per_second: float,
        backoff: Backoff,
        tenant_allowed: Callable[[str | None], bool],
        lease_seconds: float = 120.0,
        poll_interval: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
        sleep: Sleep = asyncio.sleep,
        owner: str | None = None,
    ) -> None:
        self._queue = queue
        self._conversations = conversations
        self._compose = compose
        self._send = send
        self._backoff = backoff
        self._tenant_allowed = tenant_allowed
        self._lease_seconds = lease_seconds
        self._clock = clock
        self._sleep = sleep
        self.owner = owner or f"broadcast-{uuid.uuid4().hex[:12]}"
        self._pacer = Pacer.at_rate(per_second, clock, sleep)
        #: Rows claimed at once: about a second's worth, so a lease never outlives its sends.
        self._batch = max(1, int(per_second))
        self._paused_until = clock()
        self._loop = PollingLoop(
            self._cycle, name="broadcast", poll_interval=poll_interval, logger=log
        )

    # driving --------------------------------------------------------------------
    def kick(self) -> None:
        """Wake now: something was just queued and should not wait for the poll."""
        self._loop.kick()

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        """Stop; a send already under way is finished and recorded first."""
        await self._loop.stop()

    async def _cycle(self) -> bool:
        return await self.run_once() > 0

    async def run_once(self) -> int:
        """Claim one batch of due deliveries and send them, paced; how many were handled.

        Rows claimed but not yet attempted when the worker stops (or is cancelled
        while pacing) are given back at once, so a restart does not wait for
        their lease to run out.
        """
        await self._wait_out_throttling()
        with self._loop.busy():  # a claim in flight is finished before a stop, never cut
            claimed = await self._queue.claim_due(
                self.owner, self._clock(), self._lease_seconds, self._batch
            )
        handled = 0
        try:
            for row in claimed:
                if self._loop.stopping or self._throttled():
                    break
                await self._pacer.wait()
                with self._loop.busy():
                    await self._deliver(row)
                handled += 1
        finally:
            if rest := [r.id for r in claimed[handled:]]:
                await asyncio.shield(self._queue.release(rest, owner=self.owner, now=self._clock()))
        return handled

    # one delivery -----------------------------------------------------------------
    async def _deliver(self, row: ClaimedDelivery) -> None:
        if row.reference is None:
            await self._drop(row, "conversation no longer installed")
            return
        # No tenant: a chat copied from before tenants were recorded (of_tenants).
        if row.tenant_id is not None and not self._tenant_allowed(row.tenant_id):
            await self._drop(row, "tenant not allowed")
            return
        try:
            reply = await self._compose(row)
        except Exception as error:  # noqa: BLE001 - the store may be briefly unavailable
            await self._retry(row, Retry(f"compose: {type(error).__name__}"))
            return
        if reply is None:
            await self._drop(row, "nothing to send")
            return
        try:
            result = await self._send(row.reference, reply)
        except Exception as error:  # noqa: BLE001 - the sender should classify; never lose a row
            result = Retry(f"unexpected: {type(error).__name__}")
        self._pacer.record()
        if isinstance(result, Sent):
            await self._sent(row, result)
        elif isinstance(result, Gone):
            await self._conversations.remove(row.conversation_key)
            await self._drop(row, f"conversation gone ({result.status})")
        elif isinstance(result, Retry):
            await self._retry(row, result)
        else:
            await self._finish(
                row,
                "failed",
                lambda: self._queue.mark_failed(row.id, owner=self.owner, error=result.reason),
            )

    async def _sent(self, row: ClaimedDelivery, result: Sent) -> None:
        sent_at = self._clock()
        await self._finish(
            row,
            "sent",
            lambda: self._queue.mark_sent(
                row.id, owner=self.owner, activity_id=result.activity_id, sent_at=sent_at
            ),
        )

    async def _retry(self, row: ClaimedDelivery, result: Retry) -> None:
        if self._backoff.exhausted(row.attempts):
            await self._finish(
                row,
                "given-up",
                lambda: self._queue.mark_failed(
                    row.id, owner=self.owner, error=f"gave up: {result.reason}"
                ),
                level=logging.ERROR,
            )
            return
        delay = self._backoff.delay(row.attempts, result.retry_after)
        if result.throttled:
            self._paused_until = max(self._paused_until, self._clock() + timedelta(seconds=delay))
        await self._finish(
            row,
            "retry",
            lambda: self._queue.mark_retry(
                row.id,
                owner=self.owner,
                next_attempt_at=self._clock() + timedelta(seconds=delay),
                error=result.reason,
            ),
            detail=f" delay={delay:.1f}s error={result.reason}",
        )

    async def _drop(self, row: ClaimedDelivery, reason: str) -> None:
        await self._finish(
            row,
            "dropped",
            lambda: self._queue.mark_dropped(row.id, owner=self.owner, reason=reason),
            detail=f" reason={reason}",
        )

    async def _finish(
        self,
        row: ClaimedDelivery,
        outcome: str,
        write: Callable[[], Awaitable[bool]],
        *,
        level: int = logging.INFO,
        detail: str = "",
    ) -> None:
        """Record an outcome, retrying a store fault while the lease lasts.

        After Teams accepted a message, failing to write "sent" must not leave
        the row to be claimed again (a second copy in that chat), so the write
        is retried until the lease runs out.
        """
        until = self._clock() + timedelta(seconds=self._lease_seconds)
        try:
            owned = await retrying(
                write,
                STORE_WRITE,
                may_wait=lambda pause: self._clock() + timedelta(seconds=pause) < until,
                sleep=self._sleep,
            )
        except Exception as error:  # noqa: BLE001 - a store fault outlasting the lease
            log.error(
                "broadcast %s-not-recorded topic=%s subject=%s error=%s",
                outcome,
                row.topic,
                row.subject,
                type(error).__name__,
            )
            return
        log.log(
            level if owned else logging.WARNING,
            "broadcast %s%s topic=%s subject=%s delivery=%d attempt=%d%s",
            outcome,
            "" if owned else "-lease-lost",
            row.topic,
            row.subject,
            row.id,
            row.attempts,
            detail,
        )

    # throttling -------------------------------------------------------------------
    def _throttled(self) -> bool:
        return self._clock() < self._paused_until

    async def _wait_out_throttling(self) -> None:
        """Teams said 429: send nothing until its Retry-After has passed (a second at a time,
        so a stop is not held up)."""
        while not self._loop.stopping and (pause := self._pause_left()) > 0:
            await self._sleep(min(pause, 1.0))

    def _pause_left(self) -> float:
        return (self._paused_until - self._clock()).total_seconds()


__all__ = [
    "BroadcastWorker",
    "Compose",
    "Gone",
    "Refused",
    "Retry",
    "Send",
    "SendResult",
    "Sent",
]
