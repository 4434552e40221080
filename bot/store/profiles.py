"""What the bot remembers about a user between conversations.

Borough (for the service desk), and practice and referrer details (to prefill
the request form and to find the user's practice log). Where to reach the user
later (their personal chat) is kept with every other installed conversation,
in `bot/store/conversations.py`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from bot.store.db import Database
from bot.store.tables import UserProfile, utcnow

_PROFILE_FIELDS = frozenset({"borough", "practice", "referrer"})


class Profiles:
    """Reads and writes user profiles; every write is its own short transaction."""

    def __init__(self, db: Database, *, remembered: int = 10_000) -> None:
        self._db = db
        self._written_max = remembered
        # The practice and referrer details are written after each request but
        # rarely change; remembering what was last written saves a committed
        # transaction on nearly every Send.
        self._fields_written: OrderedDict[str, dict[str, Any]] = OrderedDict()
        # Skipping a write because "we wrote this last" is only right when no other
        # instance writes: SQLite (one file, one instance). On PostgreSQL, always write.
        self._single_writer = db.is_sqlite

    async def get(self, user_id: str) -> UserProfile | None:
        async with self._db.reading() as session:
            return await session.get(UserProfile, user_id)

    async def borough(self, user_id: str) -> str | None:
        profile = await self.get(user_id)
        return profile.borough if profile else None

    async def update(self, user_id: str, **changes: Any) -> None:
        """Set the given fields (borough, practice, referrer), creating the profile if new.

        One upsert, so two first messages from the same user at the same moment
        cannot both try to create the profile.
        """
        unknown = set(changes) - _PROFILE_FIELDS
        if unknown:
            raise ValueError(f"not profile fields: {sorted(unknown)}")
        known = self._fields_written.get(user_id, {})
        if self._single_writer and all(
            name in known and known[name] == value for name, value in changes.items()
        ):
            return  # the same practice and referrer again: nothing to write
        values = {"practice": {}, "referrer": {}, **changes, "updated_at": utcnow()}
        statement = self._db.insert(UserProfile).values(user_id=user_id, **values)
        statement = statement.on_conflict_do_update(
            index_elements=[UserProfile.user_id],
            set_={**changes, "updated_at": values["updated_at"]},
        )
        async with self._db.transaction(durable=False) as session:
            await session.execute(statement)
        self._fields_written[user_id] = {**known, **changes}
        self._fields_written.move_to_end(user_id)
        if len(self._fields_written) > self._written_max:
            self._fields_written.popitem(last=False)
