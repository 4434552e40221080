"""`GET /readyz`: whether this instance can do its job now (a load balancer's health check).

`/healthz` answers from memory: the process is up (liveness). `/readyz`
checks, in order, and stops at the first that fails:

* `database`: a connection opens within `timeout` seconds;
* `migrations`: `alembic_version` holds this release's head revision (one query);
* `outbox`: the oldest request still queued or sending is younger than
  `READY_MAX_QUEUE_AGE_SECONDS`. With the default retry policy a request is
  sent or failed within about 46 minutes, so an older one means no worker is
  getting through the queue, not merely that NHSmail is slow.

The body says which check failed and nothing else: no exception text (it can
quote a connection string), no patient data. Probes that arrive while a check
runs share its result, so a flood of probes holds one database connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError

from bot.store.db import Database, StoreUnavailable, utcnow
from bot.store.migrations import HEAD, revision_on
from bot.store.outbox import Outbox

log = logging.getLogger(__name__)

CHECKS = ("database", "migrations", "outbox")
OK, FAILED, NOT_CHECKED = "ok", "failed", "not checked"


class Readiness:
    """Runs the checks; one run at a time, shared by the probes waiting for it."""

    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        *,
        max_queue_age: timedelta,
        clock: Callable[[], datetime] = utcnow,
        timeout: float = 5.0,
    ) -> None:
        self._db = db
        self._outbox = outbox
        self._max_queue_age = max_queue_age
        self._clock = clock
        self._timeout = timeout
        self._running: asyncio.Future[dict[str, str]] | None = None
        self._failing: str | None = None

    async def check(self) -> dict[str, str]:
        """Each check's result: `ok`, `failed` or `not checked` (after an earlier failure)."""
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._check())
        # Shielded: a probe that hangs up must not cancel the run others wait for.
        return await asyncio.shield(self._running)

    async def _check(self) -> dict[str, str]:
        results = dict.fromkeys(CHECKS, NOT_CHECKED)
        step = "database"
        try:
            async with asyncio.timeout(self._timeout):
                async with self._db.engine.connect() as connection:
                    results[step] = OK
                    step = "migrations"
                    current = await revision_on(connection) == HEAD
                results[step] = OK if current else FAILED
                if current:
                    step = "outbox"
                    oldest = await self._outbox.oldest_unsent()
                    fresh = oldest is None or self._clock() - oldest < self._max_queue_age
                    results[step] = OK if fresh else FAILED
        except (StoreUnavailable, DBAPIError, OSError, TimeoutError) as error:
            results[step] = FAILED
            log.debug("readiness %s check raised %s", step, type(error).__name__)
        self._note(results)
        return results

    def _note(self, results: dict[str, str]) -> None:
        """Log when readiness changes, not on every probe."""
        failing = failed_check(results)
        if failing != self._failing:
            if failing:
                log.warning("not ready: the %s check failed", failing)
            elif self._failing:
                log.info("ready again (the %s check passes)", self._failing)
            self._failing = failing


def failed_check(results: dict[str, str]) -> str | None:
    return next((name for name in CHECKS if results[name] == FAILED), None)


def readiness_body(results: dict[str, str]) -> tuple[dict[str, Any], int]:
    """The JSON body and HTTP status of `/readyz` for these results."""
    failing = failed_check(results)
    if failing is None:
        return {"status": "ready", "checks": results}, 200
    return {"status": "not ready", "failed": failing, "checks": results}, 503
