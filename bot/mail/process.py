"""A child process that composes emails, PDF included, away from the bot's event loop.

Composing is 50-100 ms of CPU a request (templates, PDF, MIME). In a thread it
holds the GIL while turns wait; in its own process it does not, and the PDF
stack (fpdf2, fontTools, Pillow) never loads into the bot at all. What to
compose is the caller's (`bot/orders/delivery.py` `compose_request`); this
module only runs it in the child and keeps a broken child from failing a request.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

log = logging.getLogger(__name__)


def _exit_with_parent(parent_pid: int, interval: float = 1.0) -> None:
    """In the child: leave as soon as the bot is gone, even if it was killed with -9.

    A SIGTERM'd bot shuts the child down itself; a killed one cannot, and the
    child would otherwise wait for work forever, holding its memory.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


#: How long a new compose child may take to start and answer (spawn and imports).
_START_SECONDS = 60.0


class ComposeProcess:
    """One child process that composes emails, PDF included, away from the bot's event loop.

    Composing is 50-100 ms of CPU a request (templates, PDF, MIME). In a thread
    it holds the GIL while turns wait; in its own process it does not, and the
    PDF stack (fpdf2, fontTools, Pillow) never loads into the bot at all. The
    process is started on the first email ("spawn": nothing of the bot's event
    loop or connections is inherited) and stopped with the app.
    """

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def run(self, function: Callable[..., bytes], *args: Any) -> bytes:
        """Run `function(*args)` in the child; blocks the calling (worker) thread only.

        If the child cannot be started (no processes, memory or semaphores
        left) or died (killed, out of memory), the email is composed here
        instead and a fresh child is tried next time: a broken helper process
        must never turn into failed requests. An error raised by `function`
        itself (a payload that does not validate) is the caller's, unchanged.
        """
        pool = None
        try:
            pool = self._started()
            future = pool.submit(function, *args)
        except (OSError, RuntimeError) as error:  # BrokenProcessPool and TimeoutError included
            log.warning(
                "compose process could not start (%s); composing in the bot process this time",
                type(error).__name__,
            )
            self._discard(pool)
            return function(*args)
        try:
            return future.result()
        except BrokenProcessPool:
            log.warning("compose process died; composing in the bot process this time")
            self._discard(pool)
            return function(*args)

    def _started(self) -> ProcessPoolExecutor:
        """The running child, started and heard from first.

        A child that cannot start fails in one of several places (at submit, in
        the pool's own thread, or as a child that exits at once), depending on
        timing. Waiting for its first answer here turns all of them into one
        outcome, "could not start", raised before any email is handed over;
        "died" then always means a child that was running.
        """
        with self._lock:
            if self._pool is None:
                pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_exit_with_parent,
                    initargs=(os.getpid(),),
                )
                try:
                    pool.submit(os.getpid).result(timeout=_START_SECONDS)
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
                self._pool = pool
            return self._pool

    def child_pids(self) -> list[int]:
        """The running child's pid (for operators' process listings, and tests)."""
        pool = self._pool
        return list(getattr(pool, "_processes", None) or {}) if pool is not None else []

    def close(self) -> None:
        self._discard(self._pool)

    def _discard(self, pool: ProcessPoolExecutor | None) -> None:
        """Forget `pool` unless another has replaced it already, and stop it without waiting."""
        with self._lock:
            if self._pool is pool:
                self._pool = None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["ComposeProcess"]
