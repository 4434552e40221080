"""Where each request's confirmation card lives, so it can be updated when the email goes.

Kept apart from the outbox: the outbox knows requests and delivery, this knows
Teams conversations. Nothing here is patient data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.db import Base, Database, utcnow


class ConfirmationCard(Base):
    __tablename__ = "confirmation_cards"

    reference: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200))
    #: The Teams activity holding the card; None when the card could not be addressed.
    activity_id: Mapped[str | None] = mapped_column(String(200))
    conversation: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True, slots=True)
class Confirmation:
    reference: str
    user_id: str
    activity_id: str | None
    conversation: dict[str, Any]


class Confirmations:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def remember(
        self, reference: str, *, user_id: str, activity_id: str | None, conversation: dict[str, Any]
    ) -> None:
        """Record (or, for a repeated Send, refresh) where the confirmation card is."""
        async with self._db.transaction() as session:
            row = await session.get(ConfirmationCard, reference)
            if row is None:
                session.add(
                    ConfirmationCard(
                        reference=reference,
                        user_id=user_id,
                        activity_id=activity_id,
                        conversation=conversation,
                    )
                )
            elif activity_id:
                row.activity_id = activity_id
                row.conversation = conversation

    async def get(self, reference: str) -> Confirmation | None:
        async with self._db.sessions() as session:
            row = await session.get(ConfirmationCard, reference)
            if row is None:
                return None
            return Confirmation(row.reference, row.user_id, row.activity_id, row.conversation)
