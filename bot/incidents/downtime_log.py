"""The downtime log as the handlers use it: my requests, the practice log, emailing it.

The practice is the one remembered in the user's profile (the practice on
their last request), never one a card names: a card's data comes from the
client, so pressing "Email the log" can only ever send the user's own
practice's log to that practice's own remembered nhs.net mailbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.directory import Directory
from bot.incidents.views import csv_rows, summary_of, when
from bot.mail.events import DeliveryEvent, Notify
from bot.mail.practice_log import csv_text
from bot.store import Profiles
from bot.store.broadcasts import LOG_EMAIL, BroadcastQueue
from bot.store.conversations import Conversations
from bot.store.incidents import IncidentView
from bot.store.outbox import RecentLimit
from bot.store.request_log import LoggedRequest, Page, QueuedLog, RequestLog

log = logging.getLogger(__name__)

LOG_REFERENCE_PREFIX = "LOG-"


@dataclass(frozen=True, slots=True)
class Practice:
    """The user's remembered practice: its ODS code and nhs.net mailbox (if known)."""

    ods_code: str
    mailbox: str | None


@dataclass(frozen=True, slots=True)
class PracticeLog:
    practice: Practice
    incident: IncidentView
    rows: tuple[LoggedRequest, ...]
    #: Teams display names of the senders, by user id (staff, not patients).
    names: dict[str, str]


class DowntimeLog:
    """A service handlers ask for by name (`downtime_log`)."""

    def __init__(
        self,
        requests: RequestLog,
        profiles: Profiles,
        conversations: Conversations,
        queue: BroadcastQueue,
        directory: Directory,
        *,
        kick_broadcast: Callable[[], None],
        tenants: frozenset[str] | None,
    ) -> None:
        self._requests = requests
        self._profiles = profiles
        self._conversations = conversations
        self._queue = queue
        self._directory = directory
        self._kick_broadcast = kick_broadcast
        self._tenants = tenants

    async def mine(self, user_id: str, page: int = 0) -> Page:
        return await self._requests.mine(user_id, page)

    async def practice_of(self, user_id: str) -> Practice | None:
        """The practice remembered from the user's last request, if any."""
        profile = await self._profiles.get(user_id)
        practice = profile.practice if profile else None
        if not isinstance(practice, dict):
            return None
        ods = practice.get("practice_ods")
        if not isinstance(ods, str) or not ods.strip():
            return None
        mailbox = practice.get("practice_email")
        return Practice(
            ods.strip().upper(), mailbox if isinstance(mailbox, str) and mailbox else None
        )

    async def practice_log(self, practice: Practice, incident: IncidentView) -> PracticeLog:
        rows = await self._requests.for_practice(
            practice.ods_code, incident.declared_at, incident.restored_at
        )
        names = await self._conversations.display_names(r.user_id for r in rows)
        return PracticeLog(practice, incident, tuple(rows), names)

    async def email(
        self, entry: PracticeLog, *, user_id: str, key: str, now: datetime, most_per_hour: int
    ) -> QueuedLog:
        """Queue the log as a CSV email to the practice's mailbox (idempotent on `key`).

        The caller wakes the mail worker (`kick`), as Send does.
        """
        assert entry.practice.mailbox, "the card offers the email only with a mailbox"
        incident = entry.incident
        window = f"From {when(incident.declared_at)}" + (
            f" to {when(incident.restored_at)}" if incident.restored_at else " (outage still open)"
        )
        payload = {
            "kind": "log",
            "ods_code": entry.practice.ods_code,
            "mailbox": entry.practice.mailbox,
            "incident": incident.id,
            "window": window,
            "summary": summary_of(entry.rows),
            "csv": csv_text(csv_rows(entry.rows, entry.names, self._directory)),
        }
        queued = await self._requests.queue_email(
            key=key,
            user_id=user_id,
            practice_ods=entry.practice.ods_code,
            mailbox=entry.practice.mailbox,
            payload=payload,
            now=now,
            limit=RecentLimit(most_per_hour, now - timedelta(hours=1)),
        )
        if not queued.duplicate:
            log.info(
                "practice log queued reference=%s ods=%s rows=%d",
                queued.reference,
                entry.practice.ods_code,
                len(entry.rows),
            )
        return queued

    async def tell_outcome(self, event: DeliveryEvent, now: datetime) -> None:
        """The mail worker's notice for a log email: a message to whoever asked for it."""
        subject = f"{event.reference}:{event.status}"
        queued = await self._queue.queue_personal(
            LOG_EMAIL,
            subject,
            event.user_id,
            now,
            tenants=self._tenants,
            payload={
                "reference": event.reference,
                "status": event.status,
                "mailbox": event.mailbox,
                "sent_at": event.sent_at.isoformat() if event.sent_at else None,
            },
        )
        if queued:
            self._kick_broadcast()


def is_log_email(reference: str) -> bool:
    return reference.startswith(LOG_REFERENCE_PREFIX)


def with_log_notices(notify: Notify, logs: DowntimeLog, clock: Callable[[], datetime]) -> Notify:
    """The mail worker's `notify`: a log email's outcome goes to whoever asked for it."""

    async def dispatch(event: DeliveryEvent) -> None:
        if is_log_email(event.reference):
            await logs.tell_outcome(event, clock())
            return
        await notify(event)

    return dispatch


__all__ = [
    "LOG_REFERENCE_PREFIX",
    "DowntimeLog",
    "Practice",
    "PracticeLog",
    "is_log_email",
    "with_log_notices",
]
