"""Per-user rate limits: a sliding-window log per key, with an injectable clock.

Used for (a) messages per user per minute at the Teams edge (one "slow down",
then silence for the rest of the window, so one user's flood cannot starve
anyone else) and (b) request submissions per user per hour
(`MAX_REQUESTS_PER_HOUR`) in the order flow.

Why not a library: `limits` (the well-kept choice on PyPI) reads the wall
clock itself and its memory storage runs a timer thread for expiry; we need a
clock the tests control, no threads, the "tell them once" state next to the
counter, and a hard bound on memory. That is this small class.

Memory is bounded twice over: each key keeps at most `limit` timestamps, and
at most `max_keys` keys are held. Keys idle for a whole window are dropped
first (they hold no information any more); if `max_keys` active keys are
still exceeded, the least recently seen is dropped, which can only let that
user through early, never lock anyone out.

Not thread-safe; the bot runs on one event loop and `hit` does not await.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

Clock = Callable[[], float]

MESSAGES_PER_MINUTE = 30
"""Generous for a person (one message every two seconds, sustained), low for a script."""


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    #: True only for the first refusal since this key was last allowed: tell the user once.
    first_refusal: bool = False
    #: Seconds until the next attempt would be allowed (0 when allowed).
    retry_after: float = 0.0


@dataclass(slots=True)
class _Window:
    hits: deque[float] = field(default_factory=deque)
    told: bool = False


class SlidingWindowLimiter:
    """At most `limit` allowed hits per key in any `window` seconds."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Clock = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if limit < 1 or window <= 0 or max_keys < 1:
            raise ValueError("limit and max_keys must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._keys: OrderedDict[Hashable, _Window] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def hit(self, key: Hashable) -> Verdict:
        """Count one attempt for `key` if it is within the limit; refusals are not counted."""
        now = self.clock()
        self._evict_idle(now)
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _Window()
            while len(self._keys) > self.max_keys:  # the new key is last: never itself
                del self._keys[next(iter(self._keys))]
        else:
            self._keys.move_to_end(key)
        self._expire(state, now)
        if len(state.hits) < self.limit:
            state.hits.append(now)
            state.told = False
            return Verdict(allowed=True)
        first = not state.told
        state.told = True
        return Verdict(
            allowed=False, first_refusal=first, retry_after=state.hits[0] + self.window - now
        )

    def check(self, key: Hashable) -> Verdict:
        """What `hit` would answer, without counting anything."""
        state = self._keys.get(key)
        if state is None:
            return Verdict(allowed=True)
        now = self.clock()
        live = [t for t in state.hits if t > now - self.window]
        if len(live) < self.limit:
            return Verdict(allowed=True)
        return Verdict(allowed=False, retry_after=live[0] + self.window - now)

    def _expire(self, state: _Window, now: float) -> None:
        horizon = now - self.window
        while state.hits and state.hits[0] <= horizon:
            state.hits.popleft()

    def _evict_idle(self, now: float) -> None:
        """Drop keys whose newest hit left the window, oldest-touched first (stops early)."""
        horizon = now - self.window
        while self._keys:
            key, state = next(iter(self._keys.items()))
            if state.hits and state.hits[-1] > horizon:
                return
            del self._keys[key]


def per_user_message_limiter(
    per_minute: int = MESSAGES_PER_MINUTE, clock: Clock = time.monotonic
) -> SlidingWindowLimiter:
    """The Teams edge's flood limit: `per_minute` messages per user (MAX_MESSAGES_PER_MINUTE)."""
    return SlidingWindowLimiter(per_minute, 60.0, clock=clock)
