"""The driving half of a background worker: run a pass, sleep until kicked or polled, stop cleanly.

The mail outbox worker and the broadcast worker both work this way: a pass
sends what is due; when a pass found a full batch there may be more, so the
next starts at once; otherwise the loop sleeps until `kick()` (something was
just queued on this instance) or `poll_interval` (something queued on another
instance, or a retry come due). `stop()` never cuts a send in progress: while
the worker marks itself busy the loop is let finish; idle or pacing, it is
cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator

log = logging.getLogger(__name__)

#: One pass; True when there is more to do at once (a full batch was handled).
Cycle = Callable[[], Awaitable[bool]]


class PollingLoop:
    def __init__(
        self,
        cycle: Cycle,
        *,
        name: str,
        poll_interval: float,
        logger: logging.Logger | None = None,
    ) -> None:
        self._cycle = cycle
        #: The worker's own logger, so its lines say where they come from.
        self._log = logger or log
        self._name = name
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._stopping = False
        self._busy = False
        self._task: asyncio.Task[None] | None = None

    @property
    def stopping(self) -> bool:
        return self._stopping

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Mark work that a stop must let finish (a claim, a send and its record)."""
        self._busy = True
        try:
            yield
        finally:
            self._busy = False

    def kick(self) -> None:
        """Wake now: something was just queued and should not wait for the poll."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Stop; work marked busy is finished first, anything else is cut short."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        if not self._busy:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                more = await self._cycle()
            except Exception as error:  # noqa: BLE001 - a store outage must not end the loop
                self._log.error("%s cycle failed: %s", self._name, type(error).__name__)
                more = False
            if not more and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_interval)


__all__ = ["PollingLoop"]
