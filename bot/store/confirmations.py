"""Where each request's confirmation card lives, and what its user has been told.

Kept apart from the outbox: the outbox knows requests and delivery, this knows
Teams conversations. Nothing here is patient data.

`notices` is a table of its own, not columns on `requests` or
`confirmation_cards`: it came before the bot had migrations, when `create_all`
could add a missing table to an existing database but never a column. A notice row is
made with the card (first Send), so requests confirmed before this table
existed are never picked up and re-announced after an upgrade.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import and_, case, func, insert, or_, select, update
from sqlalchemy.orm import Session

from bot.store.db import Database
from bot.store.tables import (
    FAILED,
    SENT,
    ConfirmationCard,
    Notice,
    OutboxRequest,
    as_utc,
    utcnow,
)


@dataclass(frozen=True, slots=True)
class Confirmation:
    reference: str
    user_id: str
    activity_id: str | None
    conversation: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CardLocation:
    """Where a request's confirmation card is: whose it is, its activity, its conversation."""

    user_id: str
    activity_id: str | None
    conversation: dict[str, Any]


#: Built once: Send runs both on every turn (see `bot/store/outbox.py`, `_MADE_BY_FORM`).
_INSERT_CARD = insert(ConfirmationCard)
_INSERT_NOTICE = insert(Notice)


def record_card(session: Session, reference: str, card: CardLocation, *, new: bool) -> None:
    """Record (or, for a repeated Send, refresh) where the card is, inside the caller's transaction.

    `new=True` (a request queued in this very transaction) skips looking for
    rows that cannot exist yet. The notice row is made with the card, in the
    same transaction: a card with no notice row would never be retried if the
    first "sent"/"failed" notice did not arrive.
    """
    row = None if new else session.get(ConfirmationCard, reference)
    if row is None:
        # Core inserts (no unit of work): this is on every first Send.
        connection = session.connection()
        connection.execute(
            _INSERT_CARD,
            {
                "reference": reference,
                "user_id": card.user_id,
                "activity_id": card.activity_id,
                "conversation": card.conversation,
            },
        )
        if new or session.get(Notice, reference) is None:
            notice = {"reference": reference, "attempts": 0, "next_attempt_at": _now()}
            connection.execute(_INSERT_NOTICE, notice)
    elif card.activity_id:
        row.activity_id = card.activity_id
        row.conversation = card.conversation


class Confirmations:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def remember(
        self, reference: str, *, user_id: str, activity_id: str | None, conversation: dict[str, Any]
    ) -> None:
        """Record where the card of an already queued request is (Send does it with the request)."""
        card = CardLocation(user_id, activity_id, conversation)
        await self._db.run_write(partial(record_card, reference=reference, card=card, new=False))

    async def get(self, reference: str) -> Confirmation | None:
        async with self._db.reading() as session:
            row = await session.get(ConfirmationCard, reference)
            if row is None:
                return None
            return Confirmation(row.reference, row.user_id, row.activity_id, row.conversation)


@dataclass(frozen=True, slots=True)
class NoticeClaim:
    """An attempt at telling `status` that this caller now holds, and what is already told."""

    reference: str
    status: str
    attempts: int
    card_told: bool
    message_told: bool


class Notices:
    """The durable record behind "the user hears each outcome exactly once".

    Every method is one short transaction, so the state survives a restart and
    is shared by every instance on one PostgreSQL. Rows never hold patient data.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(
        self, reference: str, status: str, *, now: datetime, lease_until: datetime
    ) -> NoticeClaim | None:
        """Take the right to tell `status` now; None if it was told or someone is telling it.

        One upsert: it inserts the row (a card remembered before this table
        existed) or updates it only while it is due and not yet told, so of two
        concurrent callers exactly one gets the claim. A new outcome for the
        same reference starts again with no parts told.
        """
        now, lease_until = as_utc(now), as_utc(lease_until)
        same = Notice.status == status
        upsert = self._db.insert(Notice).values(
            reference=reference, status=status, attempts=1, next_attempt_at=lease_until
        )
        statement = upsert.on_conflict_do_update(
            index_elements=[Notice.reference],
            set_={
                "attempts": case((same, Notice.attempts + 1), else_=1),
                "card_told_at": case((same, Notice.card_told_at), else_=None),
                "message_told_at": case((same, Notice.message_told_at), else_=None),
                "told_at": None,
                "status": status,
                "next_attempt_at": lease_until,
            },
            where=and_(Notice.next_attempt_at <= now, _not_told(status)),
        ).returning(Notice.attempts, Notice.card_told_at, Notice.message_told_at)
        async with self._db.transaction() as session:
            row = (await session.execute(statement)).first()
        if row is None:
            return None
        return NoticeClaim(
            reference,
            status,
            row.attempts,
            row.card_told_at is not None,
            row.message_told_at is not None,
        )

    async def record(
        self,
        claim: NoticeClaim,
        *,
        now: datetime,
        card_told: bool,
        message_told: bool,
        told: bool,
        next_attempt_at: datetime,
        error: str | None,
    ) -> None:
        """Store the parts the connector accepted; release the claim until `next_attempt_at`."""
        now = as_utc(now)
        values: dict[str, Any] = {
            "next_attempt_at": as_utc(next_attempt_at),
            "last_error": error[:200] if error else None,
        }
        if card_told and not claim.card_told:
            values["card_told_at"] = now
        if message_told and not claim.message_told:
            values["message_told_at"] = now
        if told:
            values["told_at"] = now
        async with self._db.transaction() as session:
            await session.execute(
                update(Notice)
                .where(Notice.reference == claim.reference, Notice.status == claim.status)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    async def due(self, now: datetime, *, max_attempts: int, limit: int = 50) -> list[str]:
        """References whose outcome (sent or failed) the user has not been told and may be now.

        Read with the outcome from `requests` (a join, nothing copied): only
        rows with a notice row, so only cards remembered since notices exist.
        An outcome whose attempts ran out is left alone (it was logged as given up).
        """
        now = as_utc(now)
        outcome = OutboxRequest.status
        fresh = or_(Notice.status.is_(None), Notice.status != outcome)
        statement = (
            select(Notice.reference)
            .join(OutboxRequest, OutboxRequest.reference == Notice.reference)
            .where(
                outcome.in_((SENT, FAILED)),
                Notice.next_attempt_at <= now,
                or_(fresh, Notice.told_at.is_(None)),
                or_(fresh, Notice.attempts < max_attempts),
            )
            .order_by(Notice.next_attempt_at)
            .limit(limit)
        )
        async with self._db.reading() as session:
            return list(await session.scalars(statement))

    async def untold(self) -> int:
        """Outcomes (sent or failed) recorded that the user has not been told: the backlog.

        Given-up notices count too: those users were never told.
        """
        outcome = OutboxRequest.status
        statement = (
            select(func.count())
            .select_from(Notice)
            .join(OutboxRequest, OutboxRequest.reference == Notice.reference)
            .where(
                outcome.in_((SENT, FAILED)),
                _not_told(outcome),
            )
        )
        async with self._db.reading() as session:
            return int(await session.scalar(statement) or 0)

    async def get(self, reference: str) -> Notice | None:
        """The row as stored (for tests and operators' queries)."""
        async with self._db.reading() as session:
            return await session.get(Notice, reference)


def _not_told(status: Any) -> Any:
    return or_(Notice.status.is_(None), Notice.status != status, Notice.told_at.is_(None))


def _now() -> datetime:
    return as_utc(utcnow())
