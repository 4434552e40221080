"""The bot's own reminder: `FOLLOW_UP_HOURS` after a request was sent, tell its sender.

Not a BCP step: the BCP says radiology enters a request into Epic within 72
hours of receiving it, and practices asked for a nudge to check the patient
has heard by then. The card says it is the bot's reminder (docs/clinical-safety.md).

Every `interval` seconds (and once at start-up) each instance queues the
reminders that have come due (bot/store/follow_ups.py: each request once,
across instances); the broadcast worker sends them. With FOLLOW_UP_HOURS=0
the task is not started at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from bot.store.follow_ups import FollowUps

log = logging.getLogger(__name__)

#: How often due reminders are looked for: a reminder is at most this late.
INTERVAL_SECONDS = 300.0


class FollowUpScheduler:
    def __init__(
        self,
        follow_ups: FollowUps,
        *,
        hours: int,
        tenants: frozenset[str] | None,
        kick: Callable[[], None],
        clock: Callable[[], datetime],
        interval: float = INTERVAL_SECONDS,
    ) -> None:
        if hours <= 0:
            raise ValueError("FOLLOW_UP_HOURS=0 means no reminders: build no scheduler")
        self._follow_ups = follow_ups
        self._hours = hours
        self._tenants = tenants
        self._kick = kick
        self._clock = clock
        self._interval = interval

    async def run_once(self) -> int:
        """Queue every reminder due now; how many users will be reminded."""
        queued = await self._follow_ups.queue_due(
            self._clock(), hours=self._hours, tenants=self._tenants
        )
        if queued:
            log.info("follow-up reminders queued users=%d", queued)
            self._kick()
        return queued

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception as error:  # noqa: BLE001 - a store outage must not end the task
                log.error("follow-up pass failed: %s", type(error).__name__)
            await asyncio.sleep(self._interval)


__all__ = ["INTERVAL_SECONDS", "FollowUpScheduler"]
