"""The downtime log: reading the requests table back for people, and queueing a log email.

`my requests`, the practice log, the reconciliation card and the reminder all
list requests the same way: reference, trust, department, priority, status and
times, plus the NHS number masked to its last four digits while the request's
patient data is still held. Names, dates of birth and clinical text never leave
here: a `LoggedRequest` has no field that could carry them. After
`RETENTION_DAYS` the payload is purged and the masked number goes with it;
reference, times, department and outcome stay.

A practice log emailed as CSV is a row of kind `log` in the same `requests`
table, so the mail outbox (claim, lease, retry, pacing, Message-ID) sends it
like a request; it never shows in a log itself.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from bot.orders.validation import mask_nhs_number
from bot.store.db import Database
from bot.store.outbox import RecentLimit, TooManyRequests
from bot.store.tables import LOG, QUEUED, OutboxRequest, as_utc

#: Rows a card lists at most (a card must stay under 28 KB).
PAGE = 10


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request as the downtime log shows it: no patient data but a masked NHS number."""

    reference: str
    kind: str
    user_id: str
    practice_ods: str
    trust: str
    department: str
    priority: str
    #: Where it was (or is to be) emailed: a routing fact, shown for what to do by hand.
    mailbox: str
    status: str
    created_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None
    #: "*** *** 1234" while the patient data is held; None after the purge (or a file).
    masked_nhs_number: str | None


@dataclass(frozen=True, slots=True)
class Page:
    rows: tuple[LoggedRequest, ...]
    page: int
    more: bool


@dataclass(frozen=True, slots=True)
class QueuedLog:
    reference: str
    duplicate: bool


_COLUMNS = (
    OutboxRequest.reference,
    OutboxRequest.kind,
    OutboxRequest.user_id,
    OutboxRequest.practice_ods,
    OutboxRequest.trust,
    OutboxRequest.department,
    OutboxRequest.priority,
    OutboxRequest.mailbox,
    OutboxRequest.status,
    OutboxRequest.created_at,
    OutboxRequest.sent_at,
    OutboxRequest.failed_at,
    OutboxRequest.payload,
)


class RequestLog:
    """Reads for the downtime log; each method is one short query or transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def mine(self, user_id: str, page: int = 0, size: int = PAGE) -> Page:
        """This user's own requests (form and forwarded file), newest first, one page."""
        page = max(0, page)
        statement = (
            _requests()
            .where(OutboxRequest.user_id == user_id)
            .order_by(OutboxRequest.created_at.desc(), OutboxRequest.id.desc())
            .offset(page * size)
            .limit(size + 1)
        )
        rows = await self._rows(statement)
        return Page(tuple(rows[:size]), page, len(rows) > size)

    async def for_practice(
        self, ods_code: str, since: datetime, until: datetime | None
    ) -> list[LoggedRequest]:
        """Every request made under this ODS code in the window, oldest first."""
        statement = _requests().where(
            func.upper(OutboxRequest.practice_ods) == ods_code.strip().upper(),
            *_between(since, until),
        )
        return await self._rows(statement.order_by(OutboxRequest.created_at, OutboxRequest.id))

    async def of_user_between(
        self, user_id: str, since: datetime, until: datetime | None
    ) -> list[LoggedRequest]:
        """This user's requests in the window, oldest first (the reconciliation card)."""
        statement = _requests().where(OutboxRequest.user_id == user_id, *_between(since, until))
        return await self._rows(statement.order_by(OutboxRequest.created_at, OutboxRequest.id))

    async def by_references(self, references: Iterable[str]) -> list[LoggedRequest]:
        wanted = sorted(set(references))
        if not wanted:
            return []
        statement = _requests().where(OutboxRequest.reference.in_(wanted))
        return await self._rows(statement.order_by(OutboxRequest.sent_at, OutboxRequest.id))

    async def queue_email(
        self,
        *,
        key: str,
        user_id: str,
        practice_ods: str,
        mailbox: str,
        payload: dict[str, Any],
        now: datetime,
        limit: RecentLimit,
    ) -> QueuedLog:
        """Queue a practice log email in the outbox (committed on return).

        Idempotent on `key` (the log card's button): pressing it twice queues
        one email. Counted with the user's requests against the hourly limit:
        it is mail from the same account (TooManyRequests when over).
        """
        values = {
            "kind": LOG,
            "form_id": key,
            "user_id": user_id,
            "practice_ods": practice_ods,
            "trust": "",
            "department": "practice log",
            "priority": "",
            "mailbox": mailbox,
            "status": QUEUED,
            "attempts": 0,
            "next_attempt_at": as_utc(now),
            "created_at": as_utc(now),
            "payload": payload,
        }

        def work(session: Session) -> QueuedLog:
            connection = session.connection()
            known = connection.execute(
                select(OutboxRequest.reference).where(OutboxRequest.form_id == key)
            ).scalar()
            if known is not None:
                return QueuedLog(known, duplicate=True)
            recent = connection.execute(
                select(func.count())
                .select_from(OutboxRequest)
                .where(
                    OutboxRequest.user_id == user_id,
                    OutboxRequest.created_at >= as_utc(limit.since),
                )
            ).scalar_one()
            if recent >= limit.most:
                raise TooManyRequests(limit.most)
            reference = log_reference(now)
            connection.execute(insert(OutboxRequest), {**values, "reference": reference})
            return QueuedLog(reference, duplicate=False)

        return await self._db.run_write(work)

    async def _rows(self, statement: Any) -> list[LoggedRequest]:
        async with self._db.reading() as session:
            return [_logged(row) for row in await session.execute(statement)]


def log_reference(now: datetime) -> str:
    """`LOG-YYYYMMDD-xxxxxx`: never a `DT-` number, so request numbering has no gaps."""
    return f"LOG-{as_utc(now):%Y%m%d}-{secrets.token_hex(3).upper()}"


def _requests() -> Any:
    return select(*_COLUMNS).where(OutboxRequest.kind != LOG)


def _between(since: datetime, until: datetime | None) -> list[Any]:
    window = [OutboxRequest.created_at >= as_utc(since)]
    if until is not None:
        window.append(OutboxRequest.created_at <= as_utc(until))
    return window


def _logged(row: Any) -> LoggedRequest:
    return LoggedRequest(
        reference=row.reference,
        kind=row.kind,
        user_id=row.user_id,
        practice_ods=row.practice_ods,
        trust=row.trust,
        department=row.department,
        priority=row.priority,
        mailbox=row.mailbox,
        status=row.status,
        created_at=as_utc(row.created_at),
        sent_at=as_utc(row.sent_at) if row.sent_at else None,
        failed_at=as_utc(row.failed_at) if row.failed_at else None,
        masked_nhs_number=_masked(row.payload),
    )


def _masked(payload: Any) -> str | None:
    """The NHS number, masked here so no caller ever holds it in full."""
    patient = payload.get("patient") if isinstance(payload, dict) else None
    number = patient.get("nhs_number") if isinstance(patient, dict) else None
    return mask_nhs_number(number) if isinstance(number, str) and number.strip() else None


__all__ = ["PAGE", "LoggedRequest", "Page", "QueuedLog", "RequestLog", "log_reference"]
