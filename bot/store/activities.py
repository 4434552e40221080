"""De-duplication of activities Teams delivers more than once.

Teams retries a turn that took over ~15 s, and a network retry can repeat any
POST. The first delivery of `(conversation id, activity id)` claims the key in
the database; a repeat finds it taken and is acknowledged without a second answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import DateTime, String, delete
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.db import Base, Database, utcnow


class ProcessedActivity(Base):
    __tablename__ = "processed_activities"

    conversation_id: Mapped[str] = mapped_column(String(500), primary_key=True)
    activity_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class ActivityLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, conversation_id: str, activity_id: str) -> bool:
        """True the first time this activity is seen, False for every repeat.

        One INSERT ... ON CONFLICT DO NOTHING: the database decides atomically,
        also between several app instances sharing PostgreSQL.
        """
        statement = (
            self._db.insert(ProcessedActivity)
            .values(conversation_id=conversation_id, activity_id=activity_id, seen_at=utcnow())
            .on_conflict_do_nothing()
        )
        async with self._db.transaction(durable=False) as session:
            result = await session.execute(statement)
        return result.rowcount == 1

    async def release(self, conversation_id: str, activity_id: str) -> None:
        """Undo a claim whose turn failed, so Teams' retry is answered instead of ignored."""
        async with self._db.transaction(durable=False) as session:
            await session.execute(
                delete(ProcessedActivity).where(
                    ProcessedActivity.conversation_id == conversation_id,
                    ProcessedActivity.activity_id == activity_id,
                )
            )

    async def forget_older_than(self, age: timedelta) -> int:
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(ProcessedActivity).where(ProcessedActivity.seen_at < utcnow() - age)
            )
            return result.rowcount or 0
