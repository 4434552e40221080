"""How long to wait before trying something again: the one implementation of every retry.

Exponential steps from a base, each at most a cap; optionally "equal jitter"
(half of each step fixed so the delay always grows, half random so many
retries queued in one outage spread out); a server's `Retry-After` taken into
account; a limit on attempts. It knows nothing of Teams, SMTP or the store:
callers say which attempt failed and what the server answered, and decide for
themselves what is worth retrying.

The POLICIES stay with their users, each a `Backoff` with its own numbers:

* the mail outbox (`bot/mail/worker.py`): over minutes, jittered,
  MAIL_RETRY_*, MAIL_MAX_ATTEMPTS; the delay is stored as the row's next try;
* the connector (`bot/teams/connector.py`): within a turn's time budget, no
  jitter, CONNECTOR_RETRY_*; Teams' `Retry-After` replaces the step (capped);
* the broadcast (`bot/broadcast.py`): jittered, BROADCAST_RETRY_*, never
  sooner than Teams' `Retry-After`;
* telling the user an outcome (`bot/teams/proactive.py`): NOTIFY_RETRY_SECONDS
  doubling to an hour, no jitter;
* recording an outcome the server already gave (`retrying`, below): a store
  write retried briefly, while the lease that guards it lasts.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TypeVar

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays for attempt 1, 2, 3, ...: `base`, doubling, each step at most `cap`."""

    base: float
    cap: float
    #: Attempts in all, the first included; `exhausted(n)` is True from the n-th failure.
    #: None: no limit here (the caller stops by time instead, as a lease runs out).
    max_attempts: int | None
    #: The longest `Retry-After` obeyed: a bogus "wait a week" must not stall the queue.
    retry_after_cap: float = 3600.0
    #: Equal jitter (half of each step random). Off where one caller retries alone
    #: and a predictable pause matters more than spreading a crowd out.
    jitter: bool = True
    #: How a server's `Retry-After` combines with the step: "floor" waits at least that
    #: long (asking sooner only earns another refusal); "replace" waits exactly that
    #: (a caller with a time budget, for whom "Retry-After: 0" means now).
    retry_after: Literal["floor", "replace"] = "floor"
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < 0:
            raise ValueError("backoff needs a base and a cap of zero or more")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("backoff needs at least one attempt")

    def step(self, attempt: int) -> float:
        """The un-jittered step after failed attempt `attempt` (1-based)."""
        doubling: int = 2 ** max(0, attempt - 1)  # int ** int is declared Any (could be a float)
        return min(self.cap, self.base * doubling)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt `attempt`.

        With jitter, between half and all of the step. A `Retry-After` the
        server gave (bounded by `retry_after_cap`) is a floor under that, or
        replaces it (see `retry_after`).
        """
        step = self.step(attempt)
        wait = step / 2 + self.rng.uniform(0, step / 2) if self.jitter else step
        if retry_after is None:
            return wait
        asked = min(max(retry_after, 0.0), self.retry_after_cap)
        return asked if self.retry_after == "replace" else max(wait, asked)

    def exhausted(self, attempt: int) -> bool:
        """True when attempt `attempt` was the last one allowed."""
        return self.max_attempts is not None and attempt >= self.max_attempts


#: Retrying a store write after the server already did its part: 50 ms doubling to 2 s.
#: The caller bounds it: by a lease (`may_wait`), or with `replace(STORE_WRITE, max_attempts=n)`.
STORE_WRITE = Backoff(base=0.05, cap=2.0, max_attempts=None, jitter=False)


class TryAgain(Exception):
    """An answer that means "not now" rather than "no" (HTTP 429 or 503): `retrying` retries it
    like an error, waiting as the server's `retry_after` (seconds) asks."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def _always(_delay: float) -> bool:
    return True


def _ignore(_error: Exception, _delay: float) -> None:
    return None


async def retrying(
    call: Callable[[], Awaitable[T]],
    backoff: Backoff,
    *,
    retry_on: type[Exception] | tuple[type[Exception], ...] = Exception,
    may_wait: Callable[[float], bool] = _always,
    on_retry: Callable[[Exception, float], None] = _ignore,
    sleep: Sleep = asyncio.sleep,
) -> T:
    """`call()` until it returns, pausing `backoff.delay(n)` after the n-th failure.

    Only the errors in `retry_on` are retried; anything else (a cancellation
    included) goes straight through. A `TryAgain` is delayed as its
    `retry_after` asks (see `Backoff.retry_after`). Stops, raising the last
    error, when the attempts are used up or `may_wait(delay)` says the next
    pause is not worth taking (a lease or a turn's time about to run out).
    `on_retry` hears each error that is retried and the pause before the next try.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except retry_on as error:
            asked = error.retry_after if isinstance(error, TryAgain) else None
            delay = backoff.delay(attempt, asked)
            if backoff.exhausted(attempt) or not may_wait(delay):
                raise
            on_retry(error, delay)
        await sleep(delay)


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


__all__ = ["STORE_WRITE", "Backoff", "Sleep", "TryAgain", "parse_retry_after", "retrying"]
