"""Tell the user, after the turn has ended, that their request was sent or failed.

The outbox worker knows nothing of Teams; it calls `DeliveryNotifier` with a
`DeliveryEvent`. This updates the confirmation card in place ("sent at 10:32"
or "failed") and, on failure, sends the user what to do by hand: the mailbox
and the request's text, in their personal chat with the bot.

Teams may be unreachable at that moment, so each outcome is told exactly once,
eventually: every attempt first claims the request's row in `notices` (the
claim is a lease, so the worker, the retry task and other instances never tell
the same thing at once), and only what the connector accepted is recorded as
told. `retell_forever` runs every NOTIFY_RETRY_SECONDS and retries outcomes
not yet told, with exponential backoff and at most `NOTICE_MAX_ATTEMPTS`
attempts. Logs carry the reference, outcome and error types only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import ConversationReference

from bot.backoff import STORE_WRITE, Backoff, retrying
from bot.mail.events import DeliveryEvent
from bot.orders.delivery import by_hand_message
from bot.store.confirmations import Confirmation, Confirmations, NoticeClaim, Notices
from bot.store.db import utcnow
from bot.store.outbox import FAILED, SENT, Outbox
from bot.teams.posting import replace_or_send
from cards import CardRenderer

log = logging.getLogger(__name__)

ConfirmationContext = Callable[[DeliveryEvent], Awaitable[Mapping[str, Any]]]
ManualText = Callable[[str], Awaitable[str | None]]
Clock = Callable[[], datetime]

#: Attempts at telling one outcome (the worker's first included) before giving up
#: and logging `notify-given-up`. With the default 60 s base: about four hours.
NOTICE_MAX_ATTEMPTS = 10
#: Cap on the pause between attempts, in seconds.
NOTICE_BACKOFF_MAX = 3600.0
#: How long an attempt holds its claim. Longer than one attempt can take (three
#: connector calls, each up to 4 tries of 15 s plus pauses), so a slow attempt
#: is never duplicated; a process that died mid-attempt is retried after it.
NOTICE_LEASE = timedelta(minutes=15)
#: Requests looked at per retry pass (the rest wait for the next pass).
NOTICE_BATCH = 50


class NotificationFailed(Exception):
    """The user was not (fully) told; the message names only what failed and the error types."""


class DeliveryNotifier:
    """The worker's `notify` callback for a bot running on a CloudAdapter."""

    def __init__(
        self,
        *,
        adapter: CloudAdapter,
        app_id: str,
        confirmations: Confirmations,
        cards: CardRenderer,
        confirmation_context: ConfirmationContext,
        manual_text: ManualText,
        notices: Notices,
        outbox: Outbox,
        retry_seconds: float = 60.0,
        max_attempts: int | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._confirmations = confirmations
        self._cards = cards
        self._confirmation_context = confirmation_context
        self._manual_text = manual_text
        self._notices = notices
        self._outbox = outbox
        # NOTIFY_RETRY_SECONDS doubling to an hour, no jitter (one notice per request).
        # NOTICE_MAX_ATTEMPTS is read at construction, not import, so a test can lower it.
        self._max_attempts = max_attempts or NOTICE_MAX_ATTEMPTS
        self._backoff = Backoff(
            base=retry_seconds,
            cap=NOTICE_BACKOFF_MAX,
            max_attempts=self._max_attempts,
            jitter=False,
        )
        self._clock = clock

    async def __call__(self, event: DeliveryEvent) -> None:
        """Tell the parts of this outcome not yet told; NotificationFailed if any did not arrive.

        Returns quietly when the outcome was already told, or another caller
        is telling it right now: that is the exactly-once guarantee, not a fault.
        """
        confirmation = await self._confirmations.get(event.reference)
        if confirmation is None:
            log.warning("no confirmation card for reference=%s", event.reference)
            return
        now = self._clock()
        claim = await self._notices.claim(
            event.reference, event.status, now=now, lease_until=now + NOTICE_LEASE
        )
        if claim is None:
            log.info(
                "notice already given or under way reference=%s status=%s",
                event.reference,
                event.status,
            )
            return
        told = _Told(card=claim.card_told, message=claim.message_told)
        try:
            failures = await self._attempt(event, confirmation, told)
        except asyncio.CancelledError:
            # Shutting down mid-attempt: keep what arrived and free the claim for
            # the next start instead of leaving it leased for NOTICE_LEASE.
            with contextlib.suppress(Exception):
                await self._record(claim, event, told, ["cancelled"], retry_now=True)
            raise
        except Exception as error:  # noqa: BLE001 - e.g. the store, before anything was sent
            failures = [f"notice: {type(error).__name__}"]
        await self._record(claim, event, told, failures)
        if failures:
            raise NotificationFailed(", ".join(failures))
        log.info("user told reference=%s status=%s", event.reference, event.status)

    async def _attempt(
        self, event: DeliveryEvent, confirmation: Confirmation, told: _Told
    ) -> list[str]:
        """One call into the conversation for the parts still owed; the parts that failed."""
        context = await self._confirmation_context(event)
        card = self._cards.render("order_confirmation", context)
        failed = event.status == FAILED
        manual = await self._manual_text(event.reference) if failed else None
        reference = ConversationReference().deserialize(confirmation.conversation)

        failures: list[str] = []

        async def tell(turn_context: TurnContext) -> None:
            # Errors are kept here, not raised: the adapter's turn-error handler
            # would swallow them (so the worker would count the user as told) and
            # apologise to the user for a turn they never took.
            if not told.card:
                try:
                    await replace_or_send(turn_context, confirmation.activity_id, card)
                    told.card = True
                except Exception as error:  # noqa: BLE001 - reported below, after the text
                    failures.append(f"card: {type(error).__name__}")
            if failed and not told.message:
                # The by-hand instructions matter more than the card: always try them.
                try:
                    await turn_context.send_activity(_failure_message(event, manual))
                    told.message = True
                except Exception as error:  # noqa: BLE001 - reported below
                    failures.append(f"message: {type(error).__name__}")

        try:
            await self._adapter.continue_conversation(reference, tell, self._app_id)
        except Exception as error:  # noqa: BLE001 - e.g. no token: this attempt failed
            failures.append(f"conversation: {type(error).__name__}")
        return failures

    async def _record(
        self,
        claim: NoticeClaim,
        event: DeliveryEvent,
        told: _Told,
        failures: list[str],
        *,
        retry_now: bool = False,
    ) -> None:
        """Record what arrived and when to try again; retried briefly on a store fault.

        Losing this write after the user was told would let the lease expire
        and the notice be given again, so it is retried for a few seconds.
        """
        now = self._clock()
        complete = not failures and told.card and (told.message or event.status != FAILED)
        pause_for = 0.0 if complete or retry_now else self._backoff.delay(claim.attempts)
        next_attempt_at = now + timedelta(seconds=pause_for)
        try:
            await retrying(
                partial(
                    self._notices.record,
                    claim,
                    now=now,
                    card_told=told.card,
                    message_told=told.message,
                    told=complete,
                    next_attempt_at=next_attempt_at,
                    error=", ".join(failures) or None,
                ),
                replace(STORE_WRITE, max_attempts=6),
            )
        except Exception as error:
            log.error(
                "notice not recorded reference=%s status=%s error=%s",
                event.reference,
                event.status,
                type(error).__name__,
            )
            raise
        if not complete and not retry_now and self._backoff.exhausted(claim.attempts):
            log.error(
                "notify-given-up reference=%s status=%s attempts=%d",
                event.reference,
                event.status,
                claim.attempts,
            )

    # the retry task -------------------------------------------------------------------
    async def retell_due(self) -> int:
        """Retry every outcome the user has not been told and is due; how many were tried."""
        references = await self._notices.due(
            self._clock(), max_attempts=self._max_attempts, limit=NOTICE_BATCH
        )
        for reference in references:
            record = await self._outbox.get(reference)
            if record is None or record.status not in (SENT, FAILED):
                continue
            event = DeliveryEvent(
                reference,
                record.user_id,
                SENT if record.status == SENT else FAILED,
                record.mailbox,
                record.sent_at,
                record.last_error if record.status == FAILED else None,
            )
            try:
                await self(event)
            except Exception as error:  # noqa: BLE001 - retried on a later pass, bounded
                log.error(
                    "notice retry notify-failed reference=%s status=%s error=%s",
                    reference,
                    event.status,
                    error if isinstance(error, NotificationFailed) else type(error).__name__,
                )
        return len(references)

    async def retell_forever(self, interval: float) -> None:
        """Every `interval` seconds (the first pass at once, for a restart): `retell_due`."""
        while True:
            try:
                await self.retell_due()
            except Exception as error:  # noqa: BLE001 - a store outage must not end the task
                log.error("notice retry pass failed: %s", type(error).__name__)
            await asyncio.sleep(interval)


@dataclass(slots=True)
class _Told:
    """The parts of one notice the connector has accepted so far."""

    card: bool
    message: bool


def _failure_message(event: DeliveryEvent, manual: str | None) -> str:
    return by_hand_message(event.reference, event.mailbox, manual)
