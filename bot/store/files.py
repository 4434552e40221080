"""Completed forms users attached, held from the moment they arrive until purged.

A file is fetched while the user's message is answered (Teams' download URL
lives only minutes), so it must be held between that turn and Send. It is
patient data from the first byte: its bytes and the user's file name are
kept only while needed:

* held, not yet sent: deleted by housekeeping `ABANDONED_AFTER` after it
  arrived (the user never pressed Send);
* sent (or finally failed): its bytes and name are cleared by the same hourly
  purge, at the same moment as the request's payload (RETENTION_DAYS after
  the outcome). What is kept is what reconciliation needs: the reference,
  type, size and SHA-256 digest.

One row per form instance (`form_id`, the card's idempotency key), linked to
its request by `reference` inside Send's own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Row, Select, delete, select, update
from sqlalchemy.orm import Session

from bot.store.db import Database, rowcount
from bot.store.tables import FILE_NAME_MAX, ReceivedFile, as_utc

#: Held files the user never sent are deleted this long after they arrived.
ABANDONED_AFTER = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class HeldFile:
    """A held file without its bytes: what the cards and Send need to know."""

    form_id: str
    user_id: str
    name: str
    media_type: str
    extension: str
    size: int
    sha256: str
    reference: str | None
    purged: bool


class ReceivedFiles:
    """Repository for held files; each method is one short transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def hold(
        self,
        *,
        form_id: str,
        user_id: str,
        name: str,
        media_type: str,
        extension: str,
        content: bytes,
        sha256: str,
        received_at: datetime,
    ) -> HeldFile:
        """Keep a file just fetched until its form is sent (or abandoned); what is held."""
        row = ReceivedFile(
            form_id=form_id,
            user_id=user_id,
            name=name[:FILE_NAME_MAX],
            media_type=media_type,
            extension=extension,
            size=len(content),
            sha256=sha256,
            content=content,
            received_at=as_utc(received_at),
            reference=None,
            purged_at=None,
        )
        async with self._db.transaction() as session:
            session.add(row)
        return _held(row)

    async def describe(self, form_id: str) -> HeldFile | None:
        """The file held for this form (without its bytes), or None."""
        async with self._db.reading() as session:
            row = (
                await session.execute(_described().where(ReceivedFile.form_id == form_id))
            ).first()
        return _held(row) if row else None

    async def content(self, reference: str) -> bytes | None:
        """The bytes of the file a request carries; None once purged (or for no such file)."""
        async with self._db.reading() as session:
            return await session.scalar(
                select(ReceivedFile.content).where(ReceivedFile.reference == reference)
            )

    async def forget_abandoned(self, now: datetime) -> int:
        """Delete held files never sent, `ABANDONED_AFTER` after they arrived; count them.

        Files that went with a request are cleared with its payload by
        `Outbox.purge`, in the same transaction.
        """
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(ReceivedFile)
                .where(
                    ReceivedFile.reference.is_(None),
                    ReceivedFile.received_at <= as_utc(now) - ABANDONED_AFTER,
                )
                .execution_options(synchronize_session=False)
            )
        return int(rowcount(result) or 0)


def attach_in(session: Session, *, form_id: str, user_id: str, reference: str) -> bool:
    """Inside Send's transaction: give the held file to its request. False if it is gone.

    Only the user who attached the file, only a file not already sent, and
    only while its bytes are still held.
    """
    result = session.connection().execute(
        update(ReceivedFile)
        .where(
            ReceivedFile.form_id == form_id,
            ReceivedFile.user_id == user_id,
            ReceivedFile.reference.is_(None),
            ReceivedFile.content.is_not(None),
        )
        .values(reference=reference)
    )
    return bool(result.rowcount)


#: The columns `_described` reads, in its order: all but the bytes.
_Described = tuple[str, str, str | None, str, str, int, str, str | None, datetime | None]


def _described() -> Select[*_Described]:
    return select(
        ReceivedFile.form_id,
        ReceivedFile.user_id,
        ReceivedFile.name,
        ReceivedFile.media_type,
        ReceivedFile.extension,
        ReceivedFile.size,
        ReceivedFile.sha256,
        ReceivedFile.reference,
        ReceivedFile.purged_at,
    )


def _held(row: ReceivedFile | Row[*_Described]) -> HeldFile:
    return HeldFile(
        form_id=row.form_id,
        user_id=row.user_id,
        name=row.name or "",
        media_type=row.media_type,
        extension=row.extension,
        size=row.size,
        sha256=row.sha256,
        reference=row.reference,
        purged=row.purged_at is not None,
    )
