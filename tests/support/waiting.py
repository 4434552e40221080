"""Waiting in end-to-end tests: for something that must happen, or long enough for something
that must not."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


async def until(condition: Callable[[], Any], seconds: float = 15.0) -> None:
    """Poll `condition` until it is true; fail (TimeoutError) after `seconds`."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - polls state owned by other tasks and threads
            await asyncio.sleep(0.02)


async def settle(seconds: float = 0.6) -> None:
    """Give the app's background tasks time to do something they must not do (a resend,
    another attempt, a second notice).

    Several poll intervals and backoff caps of the test bots; nothing is
    asserted about timing, only that a wrong extra action would have had time.
    """
    await asyncio.sleep(seconds)


__all__ = ["settle", "until"]
