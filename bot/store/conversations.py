"""Every conversation the app is installed in: where an incident announcement must go.

One row per place the bot can post to on its own: a user's personal chat, a
group chat, or a team (the channel it was added to). Rows come from
installation and membership events (added, removed) and from use, so users who
talked to the bot before these events were recorded are still reached. A
personal chat's row is also where the bot finds the user later (the
"sent"/"failed" notice keeps its own copy; the reconciliation card and the
reminder look here).

The Teams edge decides the key and the reference (`bot/teams/installs.py`);
this module only stores them. Nothing here is patient data: a conversation
reference holds ids, the service URL, and the staff member's display name.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import delete, func, or_, select, true
from sqlalchemy.sql import ColumnElement, Select

from bot.store.db import Database, rowcount
from bot.store.tables import InstalledConversation, utcnow

ConversationKind = Literal["personal", "groupChat", "channel"]
#: How the bot learnt of the conversation: an install event, or someone using it there.
Source = Literal["install", "use"]


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    """What the edge knows about one conversation, ready to store."""

    key: str
    kind: ConversationKind
    tenant_id: str | None
    user_id: str | None
    #: A JSON conversation reference for a new (not reply) message in this conversation.
    reference: dict[str, Any]
    source: Source = "use"


@dataclass(frozen=True, slots=True)
class Audience:
    """How many conversations an announcement would reach, by kind."""

    personal: int = 0
    group_chats: int = 0
    teams: int = 0

    @property
    def total(self) -> int:
        return self.personal + self.group_chats + self.teams


def of_tenants(tenants: frozenset[str] | None) -> ColumnElement[bool]:
    """Conversations of these tenants (None: any). A row with no tenant was copied from
    before tenants were recorded (migration 0003): it passed the allow-list then, and
    the user's next message records its tenant."""
    if tenants is None:
        return true()
    return or_(
        InstalledConversation.tenant_id.in_(sorted(tenants)),
        InstalledConversation.tenant_id.is_(None),
    )


def personal_chat_key(user_id: str, tenants: frozenset[str] | None) -> Select[str]:
    """The key of this user's personal chat (the latest, if Teams ever gave two)."""
    statement = (
        select(InstalledConversation.key)
        .where(InstalledConversation.user_id == user_id, InstalledConversation.kind == "personal")
        .order_by(InstalledConversation.updated_at.desc())
        .limit(1)
    )
    return statement.where(of_tenants(tenants))


class Conversations:
    """Records, removes and reads installed conversations; each write is one short transaction.

    A conversation is written only when something about it changed (as the
    personal chat's reference always was): the last reference written per key
    is remembered, so a busy channel costs no write per message. With
    PostgreSQL another instance may have removed the row (an uninstall, a 403),
    so there the memory lasts `refresh_seconds` and the row is written again
    after that; SQLite has one instance and remembers until restart.
    """

    def __init__(
        self,
        db: Database,
        *,
        remembered: int = 20_000,
        refresh_seconds: float = 600.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._written: OrderedDict[str, tuple[dict[str, Any], float]] = OrderedDict()
        self._max = remembered
        self._refresh = None if db.is_sqlite else refresh_seconds
        self._monotonic = monotonic

    async def record(self, record: ConversationRecord) -> bool:
        """Store (or refresh) a conversation; False when nothing needed writing.

        An install event always writes. Use of a team in another channel than
        the one it was added to keeps the team's channel: announcements go
        where the team chose to have the app.
        """
        if record.source == "use" and self._fresh(record):
            return False
        now = utcnow()
        values = {
            "key": record.key,
            "kind": record.kind,
            "tenant_id": record.tenant_id,
            "user_id": record.user_id,
            "reference": record.reference,
            "source": record.source,
            "created_at": now,
            "updated_at": now,
        }
        statement = self._db.insert(InstalledConversation).values(**values)
        if record.kind == "channel" and record.source == "use":
            statement = statement.on_conflict_do_nothing(index_elements=[InstalledConversation.key])
        else:
            changes = {k: values[k] for k in ("kind", "tenant_id", "user_id", "reference")}
            if record.source == "install":
                changes["source"] = "install"
            statement = statement.on_conflict_do_update(
                index_elements=[InstalledConversation.key], set_={**changes, "updated_at": now}
            )
        async with self._db.transaction(durable=False) as session:
            await session.execute(statement)
        self._remember(record)
        return True

    async def remove(self, key: str) -> bool:
        """Forget a conversation (uninstalled, or Teams refused it); True if it was known."""
        self._written.pop(key, None)
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(InstalledConversation).where(InstalledConversation.key == key)
            )
        return bool(rowcount(result))

    def forget_cached(self, key: str) -> None:
        """Drop what this instance remembers writing (another part removed the row)."""
        self._written.pop(key, None)

    async def personal_reference(self, user_id: str) -> dict[str, Any] | None:
        async with self._db.reading() as session:
            row = await session.scalar(
                select(InstalledConversation.reference)
                .where(
                    InstalledConversation.user_id == user_id,
                    InstalledConversation.kind == "personal",
                )
                .order_by(InstalledConversation.updated_at.desc())
                .limit(1)
            )
        return row

    async def display_names(self, user_ids: Iterable[str]) -> dict[str, str]:
        """Teams display names of these users, from their personal chats' references."""
        wanted = sorted(set(user_ids))
        if not wanted:
            return {}
        async with self._db.reading() as session:
            rows = await session.execute(
                select(InstalledConversation.user_id, InstalledConversation.reference).where(
                    InstalledConversation.user_id.in_(wanted),
                    InstalledConversation.kind == "personal",
                )
            )
        names: dict[str, str] = {}
        for user_id, reference in rows:
            user = reference.get("user") if isinstance(reference, dict) else None
            name = user.get("name") if isinstance(user, dict) else None
            if isinstance(name, str) and name.strip() and user_id:
                names[user_id] = name.strip()
        return names

    async def audience(self, tenants: frozenset[str] | None) -> Audience:
        """How many conversations would receive an announcement now (None: every tenant)."""
        statement = select(InstalledConversation.kind, func.count()).group_by(
            InstalledConversation.kind
        )
        statement = statement.where(of_tenants(tenants))
        async with self._db.reading() as session:
            counts = dict((await session.execute(statement)).all())
        return Audience(
            personal=int(counts.get("personal", 0)),
            group_chats=int(counts.get("groupChat", 0)),
            teams=int(counts.get("channel", 0)),
        )

    async def get(self, key: str) -> InstalledConversation | None:
        async with self._db.reading() as session:
            return await session.get(InstalledConversation, key)

    def _fresh(self, record: ConversationRecord) -> bool:
        known = self._written.get(record.key)
        if known is None or known[0] != record.reference:
            return False
        if self._refresh is not None and self._monotonic() - known[1] > self._refresh:
            return False
        self._written.move_to_end(record.key)
        return True

    def _remember(self, record: ConversationRecord) -> None:
        self._written[record.key] = (record.reference, self._monotonic())
        self._written.move_to_end(record.key)
        if len(self._written) > self._max:
            self._written.popitem(last=False)


__all__ = [
    "Audience",
    "ConversationKind",
    "ConversationRecord",
    "Conversations",
    "InstalledConversation",
    "of_tenants",
    "personal_chat_key",
]
