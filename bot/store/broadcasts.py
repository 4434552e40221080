"""The durable queue of proactive Teams messages: one row per (message, conversation).

An incident announcement is queued as one row for every installed
conversation, in the same transaction that declares it; a reconciliation card
or a reminder is one row for one user's personal chat. The unique constraint
on (topic, subject, conversation) means a conversation can be queued for a
message only once, however often the admin clicks or however many instances
queue it. Workers claim due rows with a lease (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, as the mail outbox does), and a row becomes `sent` with the Teams
activity id once Teams accepted it, so a restart or another instance never
sends it again.

The one window left is between "Teams accepted" and "we recorded it": a worker
killed there leaves its lease to expire, and the row is sent again. That is
at-least-once, chosen over at-most-once (docs/decisions.md D20): a missed
outage notice is worse than a repeated one, and the window is one HTTP round
trip plus one commit.

Rows hold ids and, for a reminder, request references: never patient data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Row, and_, func, or_, select, update
from sqlalchemy.sql import ColumnElement, Select

from bot.store.conversations import personal_chat_key
from bot.store.db import Database, rowcount
from bot.store.tables import (
    BROADCAST_ERROR_LIMIT,
    BroadcastDelivery,
    InstalledConversation,
    as_utc,
)

Topic = Literal["announcement", "reconciliation", "follow_up", "log_email"]
ANNOUNCEMENT, RECONCILIATION, FOLLOW_UP = "announcement", "reconciliation", "follow_up"
#: The outcome of a practice log email, told to the user who asked for it.
LOG_EMAIL = "log_email"
QUEUED, SENDING, SENT, DROPPED, FAILED = "queued", "sending", "sent", "dropped", "failed"
_ERROR_LIMIT = BROADCAST_ERROR_LIMIT


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A row this worker holds the lease on, with the conversation's reference (None: gone)."""

    id: int
    topic: str
    subject: str
    conversation_key: str
    user_id: str | None
    attempts: int
    reference: dict[str, Any] | None
    tenant_id: str | None
    payload: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Progress:
    """Where one message's deliveries stand."""

    queued: int = 0
    sent: int = 0
    dropped: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.queued + self.sent + self.dropped + self.failed


def delivery_values(
    topic: str,
    subject: str,
    conversation_key: str,
    now: datetime,
    *,
    user_id: str | None = None,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A new queued row, for callers that queue inside their own transaction."""
    moment = as_utc(now)
    return {
        "topic": topic,
        "subject": subject,
        "conversation_key": conversation_key,
        "user_id": user_id,
        "status": QUEUED,
        "attempts": 0,
        "next_attempt_at": moment,
        "created_at": moment,
        "payload": payload,
    }


class BroadcastQueue:
    """Claims and outcomes of proactive deliveries; each method is one short transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def queue_personal(
        self,
        topic: str,
        subject: str,
        user_id: str,
        now: datetime,
        *,
        tenants: frozenset[str] | None,
        payload: dict[str, Any] | None = None,
    ) -> bool:
        """Queue one message for a user's personal chat, once; False if already queued or
        the user has no personal chat with the bot."""
        async with self._db.transaction() as session:
            key = await session.scalar(personal_chat_key(user_id, tenants))
            if key is None:
                return False
            values = delivery_values(topic, subject, key, now, user_id=user_id, payload=payload)
            result = await session.execute(
                self._db.insert(BroadcastDelivery)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["topic", "subject", "conversation_key"])
            )
        return bool(rowcount(result))

    async def claim_due(
        self, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> list[ClaimedDelivery]:
        """Lease up to `limit` due rows to `owner`, oldest first, and mark them sending.

        Due: queued and past `next_attempt_at`, or sending with an expired
        lease (its worker died). Each claim counts as an attempt.
        """
        now = as_utc(now)
        lease_until = now + timedelta(seconds=lease_seconds)
        if self._db.is_sqlite:
            # Nothing due is the usual answer: a read, so an idle poll never takes
            # SQLite's one write lock away from a user's Send.
            async with self._db.reading() as session:
                if await session.scalar(_candidates(now, 1)) is None:
                    return []
        async with self._db.transaction() as session:
            if self._db.is_sqlite:
                ids: Any = _candidates(now, limit).scalar_subquery()
            else:
                ids = list(
                    await session.scalars(_candidates(now, limit).with_for_update(skip_locked=True))
                )
                if not ids:
                    return []
            claimed = list(
                await session.scalars(
                    update(BroadcastDelivery)
                    .where(BroadcastDelivery.id.in_(ids), _claimable(now))
                    .values(
                        status=SENDING,
                        lease_owner=owner,
                        lease_until=lease_until,
                        attempts=BroadcastDelivery.attempts + 1,
                    )
                    .returning(BroadcastDelivery)
                    .execution_options(synchronize_session=False)
                )
            )
            keys = sorted({row.conversation_key for row in claimed})
            found: Iterable[Row[str, dict[str, Any], str | None]] = (
                await session.execute(
                    select(
                        InstalledConversation.key,
                        InstalledConversation.reference,
                        InstalledConversation.tenant_id,
                    ).where(InstalledConversation.key.in_(keys))
                )
                if keys
                else []
            )
            where = {key: (reference, tenant) for key, reference, tenant in found}
        claimed.sort(key=lambda row: (as_utc(row.next_attempt_at), row.id))
        return [
            ClaimedDelivery(
                id=row.id,
                topic=row.topic,
                subject=row.subject,
                conversation_key=row.conversation_key,
                user_id=row.user_id,
                attempts=row.attempts,
                reference=where.get(row.conversation_key, (None, None))[0],
                tenant_id=where.get(row.conversation_key, (None, None))[1],
                payload=row.payload,
            )
            for row in claimed
        ]

    async def mark_sent(
        self, delivery_id: int, *, owner: str, activity_id: str | None, sent_at: datetime
    ) -> bool:
        """True if this worker still held the lease (else another owns the outcome)."""
        return await self._finish(
            delivery_id,
            owner,
            status=SENT,
            activity_id=(activity_id or "")[:200] or None,
            sent_at=as_utc(sent_at),
            last_error=None,
        )

    async def mark_retry(
        self, delivery_id: int, *, owner: str, next_attempt_at: datetime, error: str
    ) -> bool:
        return await self._finish(
            delivery_id,
            owner,
            status=QUEUED,
            next_attempt_at=as_utc(next_attempt_at),
            last_error=error[:_ERROR_LIMIT],
        )

    async def mark_dropped(self, delivery_id: int, *, owner: str, reason: str) -> bool:
        """Not sent and never will be: the conversation is gone, or there is nothing to say."""
        return await self._finish(
            delivery_id, owner, status=DROPPED, last_error=reason[:_ERROR_LIMIT]
        )

    async def mark_failed(self, delivery_id: int, *, owner: str, error: str) -> bool:
        return await self._finish(
            delivery_id, owner, status=FAILED, last_error=error[:_ERROR_LIMIT]
        )

    async def release(self, delivery_ids: Sequence[int], *, owner: str, now: datetime) -> None:
        """Give claimed rows not yet attempted back (a worker stopping), counting no attempt."""
        if not delivery_ids:
            return
        async with self._db.transaction() as session:
            await session.execute(
                update(BroadcastDelivery)
                .where(
                    BroadcastDelivery.id.in_(list(delivery_ids)),
                    BroadcastDelivery.status == SENDING,
                    BroadcastDelivery.lease_owner == owner,
                )
                .values(
                    status=QUEUED,
                    lease_owner=None,
                    lease_until=None,
                    next_attempt_at=as_utc(now),
                    attempts=BroadcastDelivery.attempts - 1,
                )
                .execution_options(synchronize_session=False)
            )

    async def _finish(self, delivery_id: int, owner: str, **values: Any) -> bool:
        async with self._db.transaction() as session:
            result = await session.execute(
                update(BroadcastDelivery)
                .where(
                    BroadcastDelivery.id == delivery_id,
                    BroadcastDelivery.status == SENDING,
                    BroadcastDelivery.lease_owner == owner,
                )
                .values(**values, lease_owner=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )
        return bool(rowcount(result))

    async def progress(self, topic: str, subject: str) -> Progress:
        """How far one message has got (for the admin's /status)."""
        async with self._db.reading() as session:
            rows = await session.execute(
                select(BroadcastDelivery.status, func.count())
                .where(BroadcastDelivery.topic == topic, BroadcastDelivery.subject == subject)
                .group_by(BroadcastDelivery.status)
            )
            counts = dict(rows.all())
        return Progress(
            queued=int(counts.get(QUEUED, 0)) + int(counts.get(SENDING, 0)),
            sent=int(counts.get(SENT, 0)),
            dropped=int(counts.get(DROPPED, 0)),
            failed=int(counts.get(FAILED, 0)),
        )

    async def waiting(self) -> int:
        """Proactive messages queued or being sent, every topic (telemetry's backlog gauge)."""
        async with self._db.reading() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(BroadcastDelivery)
                .where(BroadcastDelivery.status.in_((QUEUED, SENDING)))
            )
        return int(count or 0)

    async def rows(self, topic: str | None = None) -> list[BroadcastDelivery]:
        """Every row (for tests and operators' queries)."""
        statement = select(BroadcastDelivery).order_by(BroadcastDelivery.id)
        if topic is not None:
            statement = statement.where(BroadcastDelivery.topic == topic)
        async with self._db.reading() as session:
            return list(await session.scalars(statement))


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(BroadcastDelivery.status == QUEUED, BroadcastDelivery.next_attempt_at <= now),
        and_(BroadcastDelivery.status == SENDING, BroadcastDelivery.lease_until <= now),
    )


def _candidates(now: datetime, limit: int) -> Select[int]:
    return (
        select(BroadcastDelivery.id)
        .where(_claimable(now))
        .order_by(BroadcastDelivery.next_attempt_at, BroadcastDelivery.id)
        .limit(limit)
    )


__all__ = [
    "ANNOUNCEMENT",
    "FOLLOW_UP",
    "LOG_EMAIL",
    "RECONCILIATION",
    "BroadcastDelivery",
    "BroadcastQueue",
    "ClaimedDelivery",
    "Progress",
    "delivery_values",
]
