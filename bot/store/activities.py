"""De-duplication of activities Teams delivers more than once.

Teams retries a turn that took over ~15 s, and a network retry can repeat any
POST. The first delivery of `(conversation id, activity id)` claims the key; a
repeat finds it taken and is acknowledged without a second answer.

Where the key is kept follows from the database. SQLite is one file on one
host, so there is exactly one instance: an in-process table of recent keys is
enough and costs no write per message. PostgreSQL means instances may share
the load, and a retry can reach a different one: there the claim is an atomic
INSERT ... ON CONFLICT DO NOTHING in the shared table (still checked against
the in-process table first, which answers most repeats without a query).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

from sqlalchemy import delete

from bot.store.db import Database, rowcount
from bot.store.tables import ProcessedActivity, utcnow


class ActivityLog:
    def __init__(
        self, db: Database, *, remember: timedelta = timedelta(minutes=30), max_keys: int = 200_000
    ) -> None:
        self._db = db
        self._remember = remember
        self._max_keys = max_keys
        self._recent: OrderedDict[tuple[str, str], datetime] = OrderedDict()

    async def claim(self, conversation_id: str, activity_id: str) -> bool:
        """True the first time this activity is seen, False for every repeat."""
        key = (conversation_id, activity_id)
        now = utcnow()
        self._forget_before(now - self._remember)
        if key in self._recent:
            return False
        self._recent[key] = now  # claimed before any await: a concurrent repeat sees it
        if len(self._recent) > self._max_keys:
            self._recent.popitem(last=False)
        if self._db.is_sqlite:
            return True
        try:
            return await self._claim_shared(conversation_id, activity_id)
        except BaseException:
            self._recent.pop(key, None)
            raise

    def _forget_before(self, horizon: datetime) -> None:
        while self._recent:
            oldest_key, seen = next(iter(self._recent.items()))
            if seen >= horizon:
                return
            del self._recent[oldest_key]

    async def _claim_shared(self, conversation_id: str, activity_id: str) -> bool:
        statement = (
            self._db.insert(ProcessedActivity)
            .values(conversation_id=conversation_id, activity_id=activity_id, seen_at=utcnow())
            .on_conflict_do_nothing()
        )
        async with self._db.transaction(durable=False) as session:
            result = await session.execute(statement)
        return rowcount(result) == 1

    async def release(self, conversation_id: str, activity_id: str) -> None:
        """Undo a claim whose turn failed, so Teams' retry is answered instead of ignored."""
        self._recent.pop((conversation_id, activity_id), None)
        if self._db.is_sqlite:
            return
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
            return rowcount(result) or 0
