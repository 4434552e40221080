"""ICE incidents: declared, updated and restored by an admin, each step announced once.

At most one incident is open at a time, held by the database itself: an open
incident has `open_slot = 1`, a restored one NULL, and the column is unique
(several NULLs are allowed by SQLite and PostgreSQL alike), so two admins
declaring at the same moment cannot open two.

An announcement (declared, updated, restored) and its deliveries to every
installed conversation commit in ONE transaction with the incident change,
and the announcement is idempotent on the confirmation card's `draft_id`: a
double click, a Teams retry or a replayed invoke queues nothing twice. On
restore, the same transaction queues a reconciliation card for each user who
made a request during the incident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Subquery

from bot.store.broadcasts import ANNOUNCEMENT, QUEUED, RECONCILIATION
from bot.store.conversations import of_tenants
from bot.store.db import Database, rowcount
from bot.store.tables import (
    LOG,
    NOTE_LIMIT,
    Announcement,
    AnnouncementKind,
    BroadcastDelivery,
    Incident,
    InstalledConversation,
    OutboxRequest,
    as_utc,
)

Action = Literal["declare", "restore"]
_OPEN = 1


@dataclass(frozen=True, slots=True)
class IncidentView:
    id: int
    note: str
    declared_at: datetime
    declared_by_name: str
    updated_at: datetime
    updated_by_name: str
    restored_at: datetime | None
    restored_by_name: str | None
    restored_note: str | None

    @property
    def is_open(self) -> bool:
        return self.restored_at is None


@dataclass(frozen=True, slots=True)
class AnnouncementView:
    id: int
    kind: AnnouncementKind
    note: str
    created_at: datetime
    created_by_name: str
    audience: int
    reconciliations: int
    incident: IncidentView


@dataclass(frozen=True, slots=True)
class Draft:
    """What the admin confirmed: from the card's `draft_id`, the admin from the turn itself."""

    draft_id: str
    action: Action
    note: str
    admin_id: str
    admin_name: str
    now: datetime
    #: Tenants whose conversations may be told (None: every tenant, development only).
    tenants: frozenset[str] | None


class NothingToRestore(Exception):
    """`/restored` with no incident open."""


class Incidents:
    """The incident record and its announcements; every change is one transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def current(self) -> IncidentView | None:
        """The open incident, if any (one indexed read; callers cache it)."""
        async with self._db.reading() as session:
            row = await session.scalar(select(Incident).where(Incident.open_slot == _OPEN))
        return _view(row) if row else None

    async def latest(self) -> IncidentView | None:
        """The open incident, or else the one restored last."""
        async with self._db.reading() as session:
            row = await session.scalar(
                select(Incident).order_by(Incident.open_slot.is_(None), Incident.id.desc()).limit(1)
            )
        return _view(row) if row else None

    async def get(self, incident_id: int) -> IncidentView | None:
        async with self._db.reading() as session:
            row = await session.get(Incident, incident_id)
        return _view(row) if row else None

    async def last_announcement(self, incident_id: int) -> AnnouncementView | None:
        async with self._db.reading() as session:
            row = await session.scalar(
                select(Announcement)
                .where(Announcement.incident_id == incident_id)
                .order_by(Announcement.id.desc())
                .limit(1)
            )
            incident = await session.get(Incident, incident_id)
        return _announcement(row, incident) if row and incident else None

    async def announcement(self, announcement_id: int) -> AnnouncementView | None:
        async with self._db.reading() as session:
            row = await session.get(Announcement, announcement_id)
            incident = await session.get(Incident, row.incident_id) if row else None
        return _announcement(row, incident) if row and incident else None

    async def announce(self, draft: Draft) -> AnnouncementView:
        """Declare, update or restore, and queue the announcement, in one transaction.

        Declaring while an incident is open updates its note. A draft already
        confirmed returns its first announcement and queues nothing. Raises
        NothingToRestore for a restore with no incident open.
        """
        for attempt in range(3):
            try:
                async with self._db.transaction() as session:
                    return await self._announce_in(session, draft)
            except IntegrityError:
                # Another admin opened an incident (or confirmed this very draft)
                # at the same moment: read again and become an update or a repeat.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _announce_in(self, session: AsyncSession, draft: Draft) -> AnnouncementView:
        repeat = await session.scalar(
            select(Announcement).where(Announcement.draft_id == draft.draft_id)
        )
        if repeat is not None:
            return _announcement(repeat, await session.get(Incident, repeat.incident_id))
        now = as_utc(draft.now)
        note = draft.note[:NOTE_LIMIT]
        incident = await session.scalar(select(Incident).where(Incident.open_slot == _OPEN))
        kind: AnnouncementKind
        if draft.action == "restore":
            if incident is None:
                raise NothingToRestore
            incident.open_slot = None
            incident.restored_at = now
            incident.restored_by_name = draft.admin_name
            incident.restored_note = note or None
            incident.updated_at = now
            incident.updated_by_name = draft.admin_name
            kind = "restored"
        elif incident is None:
            incident = Incident(
                open_slot=_OPEN,
                note=note,
                declared_at=now,
                declared_by=draft.admin_id,
                declared_by_name=draft.admin_name,
                updated_at=now,
                updated_by_name=draft.admin_name,
            )
            session.add(incident)
            kind = "declared"
        else:
            incident.note = note
            incident.updated_at = now
            incident.updated_by_name = draft.admin_name
            kind = "updated"
        await session.flush()
        announcement = Announcement(
            draft_id=draft.draft_id,
            incident_id=incident.id,
            kind=kind,
            note=note,
            created_at=now,
            created_by=draft.admin_id,
            created_by_name=draft.admin_name,
        )
        session.add(announcement)
        await session.flush()
        announcement.audience = await _queue_everyone(session, announcement.id, now, draft.tenants)
        if kind == "restored":
            announcement.reconciliations = await _queue_reconciliations(
                session, incident, now, draft.tenants
            )
        await session.flush()
        return _announcement(announcement, incident)


async def _queue_everyone(
    session: AsyncSession, announcement_id: int, now: datetime, tenants: frozenset[str] | None
) -> int:
    """One queued delivery per installed conversation (INSERT ... SELECT: one statement)."""
    everyone = (
        select(InstalledConversation.key, literal(None).label("user_id"))
        .where(of_tenants(tenants))
        .subquery()
    )
    return await _queue(session, ANNOUNCEMENT, str(announcement_id), everyone, now)


async def _queue_reconciliations(
    session: AsyncSession, incident: Incident, now: datetime, tenants: frozenset[str] | None
) -> int:
    """A reconciliation card for each user who made a request while the incident was open."""
    requesters = (
        select(OutboxRequest.user_id)
        .distinct()
        .where(
            OutboxRequest.created_at >= as_utc(incident.declared_at),
            OutboxRequest.created_at <= now,
            OutboxRequest.kind != LOG,
        )
        .scalar_subquery()
    )
    personal = (
        select(
            InstalledConversation.key,
            func.max(InstalledConversation.user_id).label("user_id"),
        )
        .where(
            InstalledConversation.kind == "personal",
            InstalledConversation.user_id.in_(requesters),
            of_tenants(tenants),
        )
        .group_by(InstalledConversation.key)
        .subquery()
    )
    return await _queue(session, RECONCILIATION, str(incident.id), personal, now)


async def _queue(
    session: AsyncSession, topic: str, subject: str, targets: Subquery, now: datetime
) -> int:
    """Queue `topic`/`subject` for every (key, user_id) row of `targets`; how many."""
    source = select(
        literal(topic),
        literal(subject),
        targets.c.key,
        targets.c.user_id,
        literal(QUEUED),
        literal(0),
        literal(now),
        literal(now),
    )
    columns = ["topic", "subject", "conversation_key", "user_id", "status", "attempts"]
    statement = insert(BroadcastDelivery).from_select(
        [*columns, "next_attempt_at", "created_at"], source
    )
    result = await session.execute(statement)
    return int(rowcount(result) or 0)


def _view(row: Incident) -> IncidentView:
    return IncidentView(
        id=row.id,
        note=row.note,
        declared_at=as_utc(row.declared_at),
        declared_by_name=row.declared_by_name,
        updated_at=as_utc(row.updated_at),
        updated_by_name=row.updated_by_name,
        restored_at=as_utc(row.restored_at) if row.restored_at else None,
        restored_by_name=row.restored_by_name,
        restored_note=row.restored_note,
    )


def _announcement(row: Announcement, incident: Incident | None) -> AnnouncementView:
    assert incident is not None, "an announcement always has its incident"
    return AnnouncementView(
        id=row.id,
        kind=row.kind,
        note=row.note,
        created_at=as_utc(row.created_at),
        created_by_name=row.created_by_name,
        audience=row.audience,
        reconciliations=row.reconciliations,
        incident=_view(incident),
    )


__all__ = [
    "Announcement",
    "AnnouncementKind",
    "AnnouncementView",
    "Draft",
    "Incident",
    "IncidentView",
    "Incidents",
    "NothingToRestore",
]
