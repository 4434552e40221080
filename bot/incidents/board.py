"""The incident board: what every turn may ask ("is an outage declared?") and what admins do.

"Is ICE down?" is asked on the turn path, so the open incident is kept in
memory for `ttl` seconds (15 by default) instead of read on every turn: at
most one query per instance per TTL, however busy the bot. This instance
forgets it at once when an admin declares or restores through it; another
instance sees the change within the TTL, which is far inside the minutes an
announcement takes to reach every conversation anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.store.broadcasts import ANNOUNCEMENT, BroadcastQueue, Progress
from bot.store.conversations import Audience, Conversations
from bot.store.incidents import AnnouncementView, Draft, Incidents, IncidentView


@dataclass(slots=True)
class _Cached:
    incident: IncidentView | None
    until: float


class IncidentBoard:
    """Reads (cached) and changes (announced) the incident; a service handlers ask for."""

    def __init__(
        self,
        incidents: Incidents,
        conversations: Conversations,
        queue: BroadcastQueue,
        *,
        kick: Callable[[], None],
        tenants: frozenset[str] | None,
        ttl: float = 15.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._incidents = incidents
        self._conversations = conversations
        self._queue = queue
        self._kick = kick
        self._tenants = tenants
        self._ttl = ttl
        self._monotonic = monotonic
        self._cached: _Cached | None = None

    async def open(self) -> IncidentView | None:
        """The open incident, from memory when read less than `ttl` seconds ago."""
        now = self._monotonic()
        if self._cached is not None and now < self._cached.until:
            return self._cached.incident
        incident = await self._incidents.current()
        self._cached = _Cached(incident, now + self._ttl)
        return incident

    async def latest(self) -> IncidentView | None:
        """The open incident, else the last one restored (for logs and /status)."""
        return await self._incidents.latest()

    async def audience(self) -> Audience:
        """Who an announcement would reach now (for the confirmation card)."""
        return await self._conversations.audience(self._tenants)

    async def announce(self, draft: Draft) -> AnnouncementView:
        """Declare, update or restore and queue the announcement; then send it at once."""
        try:
            return await self._incidents.announce(draft)
        finally:
            self._cached = None
            self._kick()

    async def last_announcement(self, incident: IncidentView) -> AnnouncementView | None:
        return await self._incidents.last_announcement(incident.id)

    async def progress(self, announcement: AnnouncementView) -> Progress:
        return await self._queue.progress(ANNOUNCEMENT, str(announcement.id))

    @property
    def tenants(self) -> frozenset[str] | None:
        return self._tenants


__all__ = ["IncidentBoard"]
