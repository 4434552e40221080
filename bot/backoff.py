"""How long to wait before trying something again: one small policy for every retry.

Exponential steps with "equal jitter" (half of each step fixed so the delay
always grows, half random so many retries queued in one outage spread out),
a cap on the step, a `Retry-After` from the server honoured when it asks for
longer, and a limit on attempts. It knows nothing of Teams, SMTP or the
store: callers say which attempt failed and what the server answered, and
decide for themselves what is worth retrying.

Today the incident broadcast (`bot/broadcast.py`) uses it; the older retry
loops (connector, mail worker, notices) are to move onto it (issue 14).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays for attempt 1, 2, 3, ...: `base`, doubling, each step at most `cap`."""

    base: float
    cap: float
    #: Attempts in all, the first included; `exhausted(n)` is True from the n-th failure.
    max_attempts: int
    #: The longest `Retry-After` obeyed: a bogus "wait a week" must not stall the queue.
    retry_after_cap: float = 3600.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base:
            raise ValueError("backoff needs 0 < base <= cap")
        if self.max_attempts < 1:
            raise ValueError("backoff needs at least one attempt")

    def step(self, attempt: int) -> float:
        """The un-jittered step after failed attempt `attempt` (1-based)."""
        return min(self.cap, self.base * 2 ** max(0, attempt - 1))

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt `attempt`.

        Between half and all of the step; never less than a `Retry-After` the
        server gave (up to `retry_after_cap`), since asking again sooner only
        earns another refusal.
        """
        step = self.step(attempt)
        jittered = step / 2 + self.rng.uniform(0, step / 2)
        if retry_after is None:
            return jittered
        return max(jittered, min(max(retry_after, 0.0), self.retry_after_cap))

    def exhausted(self, attempt: int) -> bool:
        """True when attempt `attempt` was the last one allowed."""
        return attempt >= self.max_attempts


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a `Retry-After` header value (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, moment - (time.time() if now is None else now))


__all__ = ["Backoff", "parse_retry_after"]
