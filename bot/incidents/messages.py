"""What each queued proactive delivery says, rendered when it is sent.

The broadcast worker calls `BroadcastComposer` for every row it claims:
announcements are rendered from the announcement as confirmed (and cached, as
they never change); a reconciliation card and a reminder are read from the
store at send time, so they show each request's status as it is then. None
means there is nothing to say any more (dropped, not sent):

* a "declared" or "updated" announcement still queued after ICE was declared
  restored (the restored announcement, queued to the same conversations, says
  what is true now);
* a reconciliation or reminder whose requests are no longer found.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any

from bot.directory import Directory
from bot.incidents.views import (
    announcement_context,
    follow_up_context,
    reconciliation_context,
    when,
)
from bot.store.broadcasts import ANNOUNCEMENT, FOLLOW_UP, LOG_EMAIL, RECONCILIATION, ClaimedDelivery
from bot.store.incidents import AnnouncementView, Incidents
from bot.store.request_log import RequestLog
from bot.turns import Reply
from cards import CardRenderer


class BroadcastComposer:
    """The broadcast worker's `compose`."""

    def __init__(
        self,
        *,
        cards: CardRenderer,
        directory: Directory,
        incidents: Incidents,
        requests: RequestLog,
        follow_up_hours: int,
    ) -> None:
        self._cards = cards
        self._directory = directory
        self._incidents = incidents
        self._requests = requests
        self._follow_up_hours = follow_up_hours
        self._announcements: OrderedDict[int, AnnouncementView] = OrderedDict()

    async def __call__(self, row: ClaimedDelivery) -> Reply | None:
        if row.topic == ANNOUNCEMENT:
            return await self._announcement(int(row.subject))
        if row.topic == RECONCILIATION:
            return await self._reconciliation(int(row.subject), row.user_id)
        if row.topic == FOLLOW_UP:
            return await self._follow_up(row.payload)
        if row.topic == LOG_EMAIL:
            return _log_email(row.payload)
        return None

    async def _announcement(self, announcement_id: int) -> Reply | None:
        announcement = self._announcements.get(announcement_id)
        if announcement is None:
            announcement = await self._incidents.announcement(announcement_id)
            if announcement is None:
                return None
            self._announcements[announcement_id] = announcement
            if len(self._announcements) > 32:
                self._announcements.popitem(last=False)
        if announcement.kind != "restored":
            current = await self._incidents.get(announcement.incident.id)
            if current is None or current.restored_at is not None:
                return None
        context = announcement_context(announcement)
        card = self._cards.render("incident", context)
        return Reply(text=context["headline"], card=card)

    async def _reconciliation(self, incident_id: int, user_id: str | None) -> Reply | None:
        incident = await self._incidents.get(incident_id)
        if incident is None or incident.restored_at is None or not user_id:
            return None
        rows = await self._requests.of_user_between(
            user_id, incident.declared_at, incident.restored_at
        )
        if not rows:
            return None
        card = self._cards.render(
            "reconciliation", reconciliation_context(incident, rows, self._directory)
        )
        return Reply(text="ICE is back: your requests during the outage", card=card)

    async def _follow_up(self, payload: dict[str, Any] | None) -> Reply | None:
        references = (payload or {}).get("references")
        if not isinstance(references, list):
            return None
        rows = await self._requests.by_references(str(r) for r in references)
        if not rows:
            return None
        card = self._cards.render(
            "follow_up", follow_up_context(rows, self._follow_up_hours, self._directory)
        )
        return Reply(text="Reminder: requests you sent to radiology", card=card)


def _log_email(payload: dict[str, Any] | None) -> Reply | None:
    """The outcome of a practice log email, as one line (no patient data in it)."""
    if not payload:
        return None
    reference, mailbox = payload.get("reference"), payload.get("mailbox")
    if payload.get("status") == "sent":
        sent = payload.get("sent_at")
        at = when(datetime.fromisoformat(sent)) if isinstance(sent, str) else ""
        return Reply(
            text=f"Your practice log {reference} was emailed to {mailbox}"
            + (f" at {at}." if at else ".")
        )
    return Reply(
        text=f"Your practice log {reference} could NOT be emailed to {mailbox}. "
        "Type 'practice log' to see it here."
    )


__all__ = ["BroadcastComposer"]
