"""Pacing: at most N sends in any window of time, for every worker that talks to a service
with a published rate limit (NHSmail's per-mailbox limit, Teams' per-app limit).

It only waits; what to do when the service still says "too many" is the
caller's (`bot/backoff.py`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

Sleep = Callable[[float], Awaitable[Any]]


class Pacer:
    """At most `per_minute` sends in any `window` seconds (60 by default: Exchange Online's
    per-mailbox limit for the mail outbox; the broadcast uses a window of about a second).

    A sliding window of send times rather than a token bucket: it never bursts
    above the limit at a window edge, and with an injected clock and sleep it
    is tested without waiting.
    """

    def __init__(
        self, per_minute: int, clock: Callable[[], datetime], sleep: Sleep, window: float = 60.0
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self._limit = per_minute
        self._clock = clock
        self._sleep = sleep
        self._window = window
        self._sent: deque[datetime] = deque()

    @classmethod
    def at_rate(cls, per_second: float, clock: Callable[[], datetime], sleep: Sleep) -> Pacer:
        """On average `per_second` sends a second (0.5: one every 2 s), never more in a window."""
        if per_second <= 0:
            raise ValueError("per_second must be above 0")
        limit = max(1, math.ceil(per_second))
        return cls(limit, clock, sleep, window=limit / per_second)

    def delay(self) -> float:
        """Seconds to wait before the next send may go (0 when there is room)."""
        now = self._clock()
        while self._sent and (now - self._sent[0]).total_seconds() >= self._window:
            self._sent.popleft()
        if len(self._sent) < self._limit:
            return 0.0
        return self._window - (now - self._sent[0]).total_seconds()

    async def wait(self) -> None:
        while (pause := self.delay()) > 0:
            await self._sleep(pause)

    def record(self) -> None:
        self._sent.append(self._clock())


__all__ = ["Pacer"]
