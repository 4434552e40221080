"""The outbox: every downtime request, committed before the user hears "queued".

A row is the unit of delivery. Workers claim due rows with a lease; a worker
that dies mid-send leaves a lease that expires, and the row is claimed again
(at-least-once, with a stable Message-ID so a resend is the same message).
Submission is idempotent on the card's form id, so a double click, a Teams
retry or a replayed invoke gives one row and one email.

Patient data lives only in `payload` (and, for a forwarded form, in its held
file in `received_files`); `purge` clears both after delivery plus the
retention period and keeps the reconciliation metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, func, insert, null, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select

from bot.orders.reference import format_reference as reference_text
from bot.store.confirmations import CardLocation, record_card
from bot.store.db import Database, StoreUnavailable, rowcount
from bot.store.files import attach_in
from bot.store.tables import (
    ERROR_LIMIT,
    FAILED,
    FILE,
    FORM,
    QUEUED,
    SENDING,
    SENT,
    Kind,
    OutboxRequest,
    ReceivedFile,
    ReferenceCounter,
    Status,
    as_utc,
    utcnow,
)

__all__ = [
    "FAILED",
    "FILE",
    "FORM",
    "QUEUED",
    "SENDING",
    "SENT",
    "CardLocation",
    "ClaimedRequest",
    "FileGone",
    "Kind",
    "NewRequest",
    "NotTheSender",
    "Outbox",
    "OutboxRequest",
    "QueueDepth",
    "RecentLimit",
    "ReferenceCounter",
    "RequestRecord",
    "Status",
    "Submission",
    "TooManyRequests",
]


@dataclass(frozen=True, slots=True)
class NewRequest:
    """A checked request to queue: its routing facts (kept for good) and its payload."""

    form_id: str
    user_id: str
    practice_ods: str
    trust: str
    department: str
    priority: str
    mailbox: str
    #: The whole request as JSON (for kind "file": what routes the attached form);
    #: patient data, purged after retention.
    payload: dict[str, Any]
    #: How the worker composes it (`bot.store.tables.Kind`); "file" takes the held file along.
    kind: Kind = FORM


@dataclass(frozen=True, slots=True)
class Submission:
    """The request a form made, as stored; `duplicate` means this form was already queued.

    Everything the user is shown about a request after Send comes from here
    (never from what a card submitted): a form sends once, and a repeated Send
    with other details must show the details that were actually queued.
    `payload` is None once the patient data was purged.
    """

    reference: str
    status: str
    trust: str
    department: str
    mailbox: str
    created_at: datetime
    sent_at: datetime | None
    payload: dict[str, Any] | None
    duplicate: bool
    #: `bot.store.tables.Kind`: which confirmation the request's card shows.
    kind: str = FORM


@dataclass(frozen=True, slots=True)
class ClaimedRequest:
    """A row this worker holds the lease on, with what it needs to render and send."""

    reference: str
    user_id: str
    practice_ods: str
    trust: str
    department: str
    priority: str
    mailbox: str
    attempts: int
    created_at: datetime
    payload: dict[str, Any] | None
    kind: str = FORM
    #: The attached form's bytes (kind "file"); None for the bot's own form or once purged.
    attachment: bytes | None = None


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """How many requests are waiting or being sent, and since when (telemetry's gauges)."""

    queued: int
    sending: int
    #: When the oldest of them was submitted; None when there are none.
    oldest: datetime | None


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """The full state of one request; `payload` is None once purged."""

    reference: str
    form_id: str
    user_id: str
    practice_ods: str
    trust: str
    department: str
    priority: str
    mailbox: str
    status: str
    attempts: int
    next_attempt_at: datetime
    message_id: str | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None
    purged_at: datetime | None
    payload: dict[str, Any] | None
    kind: str = FORM


@dataclass(frozen=True, slots=True)
class RecentLimit:
    """At most `most` requests per user since `since` (the hourly limit)."""

    most: int
    since: datetime


class NotTheSender(Exception):
    """A repeated Send of a form that another user sent: they get nothing of it."""


class FileGone(Exception):
    """Send of an attached form whose held file is no longer there (purged, or not theirs)."""


#: The columns `_MADE_BY_FORM` reads, in its order.
_MadeByForm = tuple[
    str, str, str, str, str, str, datetime, datetime | None, dict[str, Any] | None, str
]


#: What a repeated Send (or a Review of a sent form) needs of the request its form made.
#: Statements built once with their parameters by name: Send runs them on every turn,
#: and building and keying a new statement each time cost more CPU than running it.
_MADE_BY_FORM: Select[*_MadeByForm] = select(
    OutboxRequest.user_id,
    OutboxRequest.reference,
    OutboxRequest.status,
    OutboxRequest.trust,
    OutboxRequest.department,
    OutboxRequest.mailbox,
    OutboxRequest.created_at,
    OutboxRequest.sent_at,
    OutboxRequest.payload,
    OutboxRequest.kind,
).where(OutboxRequest.form_id == bindparam("form_id"))
_INSERT_REQUEST = insert(OutboxRequest)


def _owned_by(existing: Row[*_MadeByForm], user_id: str) -> Submission:
    if existing.user_id != user_id:
        raise NotTheSender
    return _submission(existing, duplicate=True)


class TooManyRequests(Exception):
    """The user reached the per-user limit; nothing was queued."""

    def __init__(self, most: int) -> None:
        super().__init__(f"at most {most} requests in the window")
        self.most = most


#: How many requests a user queued since a moment (the hourly limit counts them).
_COUNT_SINCE: Select[int] = (
    select(func.count())
    .select_from(OutboxRequest)
    .where(
        OutboxRequest.user_id == bindparam("user_id"),
        OutboxRequest.created_at >= bindparam("since"),
    )
)


def _since(user_id: str, since: datetime) -> dict[str, Any]:
    return {"user_id": user_id, "since": as_utc(since)}


class Outbox:
    """Repository for requests; each method is one short transaction."""

    def __init__(self, db: Database, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = db
        self._clock = clock
        # An upsert that hands out the day's next number (RETURNING it); the dialect's own.
        self._next_sequence = (
            db.insert(ReferenceCounter)
            .values(day=bindparam("day"), last=1)
            .on_conflict_do_update(
                index_elements=[ReferenceCounter.day], set_={"last": ReferenceCounter.last + 1}
            )
            .returning(ReferenceCounter.last)
        )

    # submission -------------------------------------------------------------
    async def queue_request(
        self,
        request: NewRequest,
        card: CardLocation | None = None,
        limit: RecentLimit | None = None,
        *,
        created_at: datetime | None = None,
    ) -> Submission:
        """Everything Send commits, in ONE durable transaction, committed on return.

        The request row with its reference (the day's counter), and where its
        confirmation card is (`card`) with the notice row that tells the user
        the outcome later: all of it or none, so there is never a queued
        request the user cannot be told about, and "nothing was sent" is true
        whenever StoreUnavailable is raised.

        A repeat of a form already queued returns the first request as stored
        (`duplicate`), only to the user who sent it (NotTheSender otherwise),
        and re-points its card; it is never counted. With `limit`, a user who
        already queued `limit.most` requests since `limit.since` is refused
        (TooManyRequests) inside the same transaction, so the check and the
        insert cannot be split by a concurrent Send.

        A request of kind "file" takes the file held for its form
        (bot/store/files.py) in the same transaction; FileGone if it is not
        held any more, and then nothing is queued.
        """
        created = as_utc(created_at or self._clock())
        row = {
            "kind": request.kind,
            "form_id": request.form_id,
            "user_id": request.user_id,
            "practice_ods": request.practice_ods,
            "trust": request.trust,
            "department": request.department,
            "priority": request.priority,
            "mailbox": request.mailbox,
            "status": QUEUED,
            "attempts": 0,
            "next_attempt_at": created,
            "created_at": created,
            "payload": request.payload,
        }
        try:
            return await self._db.run_write(
                partial(self._queue_in, row=row, card=card, limit=limit)
            )
        except IntegrityError as error:
            # A concurrent Send of the same form (another instance on PostgreSQL)
            # won the race; ours rolled back whole, counter included.
            async with self._db.reading() as session:
                existing = (
                    await session.execute(_MADE_BY_FORM, {"form_id": request.form_id})
                ).first()
            if existing is None:
                raise StoreUnavailable(type(error).__name__) from error
            return _owned_by(existing, request.user_id)

    async def submit(
        self,
        *,
        form_id: str,
        user_id: str,
        practice_ods: str,
        trust: str,
        department: str,
        priority: str,
        mailbox: str,
        payload: dict[str, Any],
        created_at: datetime | None = None,
        limit: RecentLimit | None = None,
        kind: Kind = FORM,
    ) -> Submission:
        """`queue_request` for a request with no confirmation card (tools and tests)."""
        request = NewRequest(
            form_id, user_id, practice_ods, trust, department, priority, mailbox, payload, kind
        )
        return await self.queue_request(request, None, limit, created_at=created_at)

    def _queue_in(
        self,
        session: Session,
        *,
        row: dict[str, Any],
        card: CardLocation | None,
        limit: RecentLimit | None,
    ) -> Submission:
        """`queue_request`'s transaction as plain sync code, so it is one hop (`run_write`).

        Core statements on the session's connection, not ORM objects: the unit
        of work cost a millisecond of CPU a Send for rows that are written once
        and never read back here.
        """
        connection = session.connection()
        existing = connection.execute(_MADE_BY_FORM, {"form_id": row["form_id"]}).first()
        if existing is not None:
            submission = _owned_by(existing, row["user_id"])
        else:
            if limit is not None and (
                connection.execute(_COUNT_SINCE, _since(row["user_id"], limit.since)).scalar_one()
                >= limit.most
            ):
                raise TooManyRequests(limit.most)
            created: datetime = row["created_at"]
            day = {"day": reference_day(created)}
            sequence = connection.execute(self._next_sequence, day).scalar_one()
            reference = format_reference(created, int(sequence))
            connection.execute(_INSERT_REQUEST, {**row, "reference": reference})
            if row["kind"] == FILE and not attach_in(
                session, form_id=row["form_id"], user_id=row["user_id"], reference=reference
            ):
                raise FileGone
            submission = Submission(
                reference=reference,
                status=QUEUED,
                trust=row["trust"],
                department=row["department"],
                mailbox=row["mailbox"],
                created_at=created,
                sent_at=None,
                payload=row["payload"],
                duplicate=False,
                kind=row["kind"],
            )
        if card is not None:
            record_card(session, submission.reference, card, new=not submission.duplicate)
        return submission

    async def made_by_form(self, form_id: str, user_id: str) -> Submission | None:
        """The request this form already made, if any (NotTheSender if another user's).

        A sent form is closed: Review and Edit on it answer with this, never
        with a fresh review of whatever the card carries now.
        """
        async with self._db.reading() as session:
            existing = (await session.execute(_MADE_BY_FORM, {"form_id": form_id})).first()
        return None if existing is None else _owned_by(existing, user_id)

    async def count_since(self, user_id: str, since: datetime) -> int:
        """Requests this user queued since `since` (what the per-user limit counts).

        Counted in the database rather than in memory so the limit holds across
        restarts and across instances sharing one PostgreSQL.
        """
        async with self._db.reading() as session:
            return int(await session.scalar(_COUNT_SINCE, _since(user_id, since)) or 0)

    # claiming ---------------------------------------------------------------
    async def claim_due(
        self, owner: str, now: datetime, lease_seconds: float, limit: int = 1
    ) -> list[ClaimedRequest]:
        """Lease up to `limit` due rows to `owner` and mark them sending.

        Due means queued and past `next_attempt_at`, or sending with an expired
        lease (its worker died). Each claim counts as an attempt, so a message
        that kills its worker every time still runs out of attempts.
        """
        now = as_utc(now)
        lease_until = now + timedelta(seconds=lease_seconds)
        async with self._db.transaction() as session:
            if self._db.is_sqlite:
                # One UPDATE: SQLite runs writers one at a time, and the guard is
                # re-checked inside the statement, so no row is claimed twice.
                ids: Any = candidates(now, limit).scalar_subquery()
            else:
                ids = list(
                    await session.scalars(candidates(now, limit).with_for_update(skip_locked=True))
                )
                if not ids:
                    return []
            statement = (
                update(OutboxRequest)
                .where(OutboxRequest.id.in_(ids), claimable(now))
                .values(
                    status=SENDING,
                    lease_owner=owner,
                    lease_until=lease_until,
                    attempts=OutboxRequest.attempts + 1,
                )
                .returning(OutboxRequest)
                .execution_options(synchronize_session=False)
            )
            rows = list(await session.scalars(statement))
            files = await self._attachments(session, [r.reference for r in rows if r.kind == FILE])
        ordered = sorted(rows, key=lambda r: as_utc(r.next_attempt_at))
        return [_claimed(row, files.get(row.reference)) for row in ordered]

    @staticmethod
    async def _attachments(session: Any, references: list[str]) -> dict[str, bytes]:
        """The held files of claimed "file" requests: the worker needs their bytes to send."""
        if not references:
            return {}
        rows = await session.execute(
            select(ReceivedFile.reference, ReceivedFile.content).where(
                ReceivedFile.reference.in_(references), ReceivedFile.content.is_not(None)
            )
        )
        return {reference: content for reference, content in rows}

    # outcomes -----------------------------------------------------------------
    async def mark_sent(
        self, reference: str, *, owner: str | None, message_id: str, sent_at: datetime
    ) -> bool:
        """True if this worker still held the lease (else another worker owns the outcome)."""
        return await self._finish(
            reference,
            owner,
            status=SENT,
            message_id=message_id,
            sent_at=as_utc(sent_at),
            last_error=None,
            lease_owner=None,
            lease_until=None,
        )

    async def mark_retry(
        self, reference: str, *, owner: str | None, next_attempt_at: datetime, error: str
    ) -> bool:
        return await self._finish(
            reference,
            owner,
            status=QUEUED,
            next_attempt_at=as_utc(next_attempt_at),
            last_error=_short(error),
            lease_owner=None,
            lease_until=None,
        )

    async def mark_failed(
        self, reference: str, *, owner: str | None, error: str, failed_at: datetime | None = None
    ) -> bool:
        return await self._finish(
            reference,
            owner,
            status=FAILED,
            failed_at=as_utc(failed_at or self._clock()),
            last_error=_short(error),
            lease_owner=None,
            lease_until=None,
        )

    async def _finish(self, reference: str, owner: str | None, **values: Any) -> bool:
        guard = [OutboxRequest.reference == reference, OutboxRequest.status == SENDING]
        if owner is not None:
            guard.append(OutboxRequest.lease_owner == owner)
        async with self._db.transaction() as session:
            result = await session.execute(
                update(OutboxRequest)
                .where(*guard)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        return bool(rowcount(result))

    # reading and retention ------------------------------------------------------
    async def get(self, reference: str) -> RequestRecord | None:
        async with self._db.reading() as session:
            row = await session.scalar(
                select(OutboxRequest).where(OutboxRequest.reference == reference)
            )
        return _record(row) if row else None

    async def oldest_unsent(self) -> datetime | None:
        """When the oldest request still queued or sending was submitted; None when there is none.

        Its age is the queue's health (`/readyz`): with the default retry
        policy every request is sent or failed within about 46 minutes.
        """
        async with self._db.reading() as session:
            oldest = await session.scalar(
                select(func.min(OutboxRequest.created_at)).where(
                    OutboxRequest.status.in_((QUEUED, SENDING))
                )
            )
        return _maybe_utc(oldest)

    async def depth(self) -> QueueDepth:
        """Requests queued and sending, and the oldest one's submission time: one query."""
        statement = (
            select(OutboxRequest.status, func.count(), func.min(OutboxRequest.created_at))
            .where(OutboxRequest.status.in_((QUEUED, SENDING)))
            .group_by(OutboxRequest.status)
        )
        async with self._db.reading() as session:
            rows = {
                status: (count, oldest)
                for status, count, oldest in await session.execute(statement)
            }
        times = [as_utc(oldest) for _, oldest in rows.values() if oldest is not None]
        return QueueDepth(
            queued=int(rows.get(QUEUED, (0, None))[0]),
            sending=int(rows.get(SENDING, (0, None))[0]),
            oldest=min(times, default=None),
        )

    async def purge(self, now: datetime, retention_days: int) -> int:
        """Drop patient data from rows finished more than `retention_days` ago; count them.

        A forwarded form's file (its bytes and the user's file name) is cleared
        in the same transaction as its request's payload.
        """
        cutoff = as_utc(now) - timedelta(days=retention_days)
        finished = or_(
            and_(OutboxRequest.status == SENT, OutboxRequest.sent_at <= cutoff),
            and_(OutboxRequest.status == FAILED, OutboxRequest.failed_at <= cutoff),
        )
        due = select(OutboxRequest.reference).where(OutboxRequest.purged_at.is_(None), finished)
        async with self._db.transaction() as session:
            await session.execute(
                update(ReceivedFile)
                .where(ReceivedFile.purged_at.is_(None), ReceivedFile.reference.in_(due))
                .values(content=null(), name=null(), purged_at=as_utc(now))
                .execution_options(synchronize_session=False)
            )
            result = await session.execute(
                update(OutboxRequest)
                .where(OutboxRequest.purged_at.is_(None), finished)
                .values(payload=null(), purged_at=as_utc(now))
                .execution_options(synchronize_session=False)
            )
        return int(rowcount(result) or 0)


def claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(OutboxRequest.status == QUEUED, OutboxRequest.next_attempt_at <= now),
        and_(OutboxRequest.status == SENDING, OutboxRequest.lease_until <= now),
    )


def candidates(now: datetime, limit: int) -> Select[int]:
    """The ids a claim may take, oldest due first (exposed so tests can compile it)."""
    return (
        select(OutboxRequest.id)
        .where(claimable(now))
        .order_by(OutboxRequest.next_attempt_at, OutboxRequest.id)
        .limit(limit)
    )


def _uk_date(moment: datetime) -> date:
    """The UK calendar day: a request made at 00:30 BST belongs to that day, not the one before."""
    return as_utc(moment).astimezone(ZoneInfo("Europe/London")).date()


def reference_day(moment: datetime) -> str:
    """The key of the per-day reference counter."""
    return f"{_uk_date(moment):%Y%m%d}"


def format_reference(moment: datetime, sequence: int) -> str:
    return reference_text(_uk_date(moment), sequence)


def _submission(row: Row[*_MadeByForm], *, duplicate: bool) -> Submission:
    return Submission(
        reference=row.reference,
        status=row.status,
        trust=row.trust,
        department=row.department,
        mailbox=row.mailbox,
        created_at=as_utc(row.created_at),
        sent_at=_maybe_utc(row.sent_at),
        payload=row.payload,
        duplicate=duplicate,
        kind=row.kind,
    )


def _claimed(row: OutboxRequest, attachment: bytes | None = None) -> ClaimedRequest:
    return ClaimedRequest(
        reference=row.reference,
        user_id=row.user_id,
        practice_ods=row.practice_ods,
        trust=row.trust,
        department=row.department,
        priority=row.priority,
        mailbox=row.mailbox,
        attempts=row.attempts,
        created_at=as_utc(row.created_at),
        payload=row.payload,
        kind=row.kind,
        attachment=attachment,
    )


def _record(row: OutboxRequest) -> RequestRecord:
    return RequestRecord(
        reference=row.reference,
        form_id=row.form_id,
        user_id=row.user_id,
        practice_ods=row.practice_ods,
        trust=row.trust,
        department=row.department,
        priority=row.priority,
        mailbox=row.mailbox,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=as_utc(row.next_attempt_at),
        message_id=row.message_id,
        last_error=row.last_error,
        created_at=as_utc(row.created_at),
        sent_at=_maybe_utc(row.sent_at),
        failed_at=_maybe_utc(row.failed_at),
        purged_at=_maybe_utc(row.purged_at),
        payload=row.payload,
        kind=row.kind,
    )


def _maybe_utc(moment: datetime | None) -> datetime | None:
    return as_utc(moment) if moment else None


def _short(text: str) -> str:
    return " ".join(text.split())[:ERROR_LIMIT]
