"""Clocks tests move by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.store.db import utcnow

#: Where a `Clock` starts: a Sunday in November 2026, 10:00 UTC.
START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


class Clock:
    """UTC "now" that moves only when told to (or when something sleeps on it)."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start
        #: Every pause taken through `sleep`, in seconds.
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)


class ShiftedClock:
    """The wall clock, moved forward by `offset`: for a running app, whose tasks need real
    time to pass, when a test must jump hours ahead (a reminder, a restoration)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset


class Ticks:
    """Monotonic seconds (a float clock, as `time.monotonic`) that move only when told to (or
    when something sleeps on it)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        #: Every pause taken through `sleep`, in seconds.
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)


__all__ = ["START", "Clock", "ShiftedClock", "Ticks"]
