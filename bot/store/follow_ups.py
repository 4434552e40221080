"""The bot's own reminder, `FOLLOW_UP_HOURS` after a request was sent: which are due, once.

A request is reminded about once: `follow_ups` holds one row per reference
reminded, inserted with ON CONFLICT DO NOTHING ... RETURNING, so of two
instances scanning at the same moment each claims only what the other did not.
The requests a user is reminded about at one time go in one message (one
queued broadcast delivery to their personal chat listing the references), in
the same transaction as the claim, so a crash between the two loses nothing
and repeats nothing.

A reminder more than `lateness` overdue (the bot was stopped for a day) is not
sent: a message about a request from days ago, arriving all at once after an
outage of the bot, would be noise rather than help.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bot.store.broadcasts import FOLLOW_UP, delivery_values
from bot.store.conversations import personal_chat_key
from bot.store.db import Database
from bot.store.tables import LOG, SENT, BroadcastDelivery, FollowUp, OutboxRequest, as_utc


class FollowUps:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def queue_due(
        self,
        now: datetime,
        *,
        hours: float,
        lateness: timedelta = timedelta(hours=24),
        tenants: frozenset[str] | None = None,
    ) -> int:
        """Queue a reminder for each user with requests sent `hours` ago; how many were queued."""
        now = as_utc(now)
        due_before = now - timedelta(hours=hours)
        due_after = due_before - lateness

        def work(session: Session) -> int:
            connection = session.connection()
            reminded = select(FollowUp.reference)
            candidates = connection.execute(
                select(OutboxRequest.reference, OutboxRequest.user_id)
                .where(
                    OutboxRequest.status == SENT,
                    OutboxRequest.kind != LOG,
                    OutboxRequest.sent_at <= due_before,
                    OutboxRequest.sent_at > due_after,
                    OutboxRequest.reference.not_in(reminded),
                )
                .order_by(OutboxRequest.sent_at)
            ).all()
            by_user: dict[str, list[str]] = defaultdict(list)
            for reference, user_id in candidates:
                by_user[user_id].append(reference)
            queued = 0
            for user_id, references in by_user.items():
                rows = [{"reference": r, "user_id": user_id, "queued_at": now} for r in references]
                claim = (
                    self._db.insert(FollowUp)
                    .values(rows)
                    .on_conflict_do_nothing(index_elements=[FollowUp.reference])
                    .returning(FollowUp.reference)
                )
                mine = [row[0] for row in connection.execute(claim)]
                key = connection.execute(personal_chat_key(user_id, tenants)).scalar()
                if not mine or key is None:
                    continue
                connection.execute(
                    insert(BroadcastDelivery),
                    delivery_values(
                        FOLLOW_UP,
                        uuid.uuid4().hex,
                        key,
                        now,
                        user_id=user_id,
                        payload={"references": sorted(mine)},
                    ),
                )
                queued += 1
            return queued

        return await self._db.run_write(work)


__all__ = ["FollowUp", "FollowUps"]
