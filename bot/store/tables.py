"""Every table the bot keeps: the whole schema in one module, importing nothing of the store.

The repositories (`activities`, `confirmations`, `files`, `outbox`, `profiles`), `db`
(which creates the schema) and the migrations' autogenerate all read it here,
and this module imports none of them, so the store's modules form layers, not
a circle: tables <- db <- repositories.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, Literal

from sqlalchemy import (
    JSON,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Status = Literal["queued", "sending", "sent", "failed"]
# Final, so each is typed as its Literal (a DeliveryEvent's status takes SENT or FAILED).
QUEUED: Final = "queued"
SENDING: Final = "sending"
SENT: Final = "sent"
FAILED: Final = "failed"
#: Longest `last_error` kept for a request (a code and a short server phrase).
ERROR_LIMIT = 500

#: What a request is, in `requests.kind`; the outbox worker composes each kind its own way.
#: A new kind (another email the outbox must deliver durably) is a new value here, a
#: composer for it in the delivery (bot/orders/delivery.py) and, if it carries bytes,
#: rows in a table of its own like `received_files`. Rows stored before the column
#: existed are the bot's own form: the column's server default.
#:
#: * "form": the bot's own form; `payload` is the whole request (a PDF is rendered).
#: * "file": a completed trust form the user attached; `payload` only routes it and
#:   the file itself is held in `received_files` (bot/store/files.py).
#: * "log": not a radiology request but a practice's downtime log, emailed to the
#:   practice as CSV (bot/incidents/downtime_log.py); `payload` holds the CSV, with
#:   masked NHS numbers only, and is purged after retention like any payload.
Kind = Literal["form", "file", "log"]
FORM: Kind = "form"
FILE: Kind = "file"
LOG: Kind = "log"
#: Room in `requests.kind` for the names of kinds to come.
KIND_LENGTH = 16


#: Constraint and index names, fixed so a migration can name what it changes and
#: autogenerate compares like with like on SQLite and PostgreSQL. They are
#: PostgreSQL's own default names (and SQLAlchemy's for indexes), so the tables
#: `create_all` made before the bot had migrations already carry exactly these
#: names: stamping such a database needs no renames (bot/store/migrations).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}


class Base(DeclarativeBase):
    """Declarative base of every table below."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """The clock stored times are read from: UTC, so SQLite's text comparison keeps order."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A time as stored: UTC, so SQLite's text comparison keeps order right.

    A naive time (SQLite hands them back without a zone) was stored as UTC.
    """
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


# --- requests (bot/store/outbox.py) -----------------------------------------------------


class OutboxRequest(Base):
    """One request to one mailbox. Everything but `payload` is safe to keep and log."""

    __tablename__ = "requests"
    __table_args__ = (
        Index("ix_requests_due", "status", "next_attempt_at"),
        # A user's requests by time: the hourly limit Send counts, "my requests", the
        # reconciliation. Read from the index alone, so a count costs the rows in its
        # window, not every request the user ever made (rows stay after the purge).
        Index("ix_requests_user_created", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    #: `Kind`: how the worker composes this request's email.
    kind: Mapped[str] = mapped_column(String(KIND_LENGTH), default=FORM, server_default=FORM)
    form_id: Mapped[str] = mapped_column(String(200), unique=True)
    user_id: Mapped[str] = mapped_column(String(200))
    practice_ods: Mapped[str] = mapped_column(String(16))
    trust: Mapped[str] = mapped_column(String(16))
    department: Mapped[str] = mapped_column(String(80))
    priority: Mapped[str] = mapped_column(String(32))
    mailbox: Mapped[str] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message_id: Mapped[str | None] = mapped_column(String(254))
    last_error: Mapped[str | None] = mapped_column(String(ERROR_LIMIT))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReferenceCounter(Base):
    """The last sequence number handed out per (UK) day, for `DT-YYYYMMDD-NNNN`."""

    __tablename__ = "reference_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


# --- completed forms users attached (bot/store/files.py) -------------------------------

#: Longest user's file name kept (it is shown back to them on the routing card).
FILE_NAME_MAX = 255


class ReceivedFile(Base):
    """A completed trust form the user attached: held from arrival until Send, then purged.

    One row per form instance (`form_id`, the card's idempotency key), linked
    to its request by `reference` inside Send's own transaction. `name` and
    `content` are patient data and are cleared with the request's payload.
    """

    __tablename__ = "received_files"

    form_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), index=True)
    #: The user's own file name, shown back only to them; patient data, purged.
    name: Mapped[str | None] = mapped_column(String(FILE_NAME_MAX))
    media_type: Mapped[str] = mapped_column(String(100))
    extension: Mapped[str] = mapped_column(String(8))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    #: The file byte for byte as it arrived; patient data, purged.
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: The request that carries it, set by Send; None while only held.
    reference: Mapped[str | None] = mapped_column(String(32), unique=True)
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- confirmation cards and notices (bot/store/confirmations.py) ------------------------


class ConfirmationCard(Base):
    __tablename__ = "confirmation_cards"

    reference: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200))
    #: The Teams activity holding the card; None when the card could not be addressed.
    activity_id: Mapped[str | None] = mapped_column(String(200))
    conversation: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Notice(Base):
    """What the user has been told about one request's outcome, and when to try again.

    One row per request, keyed by reference: `status` is the outcome the other
    columns describe. The parts are recorded separately (`card_told_at`,
    `message_told_at`) so a retry after a half-delivered notice repeats only
    the part that did not arrive. `next_attempt_at` is both the backoff after a
    failed attempt and the lease while an attempt is in flight, so two
    instances (or the worker and the retry task) never tell the same thing at
    once. `last_error` holds the failing part and an exception type only.
    """

    __tablename__ = "notices"

    reference: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: "sent" or "failed"; None until the first attempt at telling an outcome.
    status: Mapped[str | None] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    card_told_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message_told_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Set once every part of the notice of `status` was accepted by the connector.
    told_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(200))


# --- users (bot/store/profiles.py) ------------------------------------------------------


class UserProfile(Base):
    __tablename__ = "user_profiles"

    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    borough: Mapped[str | None] = mapped_column(String(40))
    practice: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    referrer: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# --- de-duplication (bot/store/activities.py) -------------------------------------------


class ProcessedActivity(Base):
    __tablename__ = "processed_activities"

    conversation_id: Mapped[str] = mapped_column(String(500), primary_key=True)
    activity_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


# --- where the app is installed (bot/store/conversations.py) ----------------------------


class InstalledConversation(Base):
    """A conversation the bot may post to on its own: a personal chat, a group chat, a team.

    Keyed as the Teams edge decides (bot/teams/installs.py): a conversation id,
    or `team:<team id>` for a team, whose `reference` posts to the channel the
    app was added to. Nothing here is patient data: ids, the service URL, and
    the staff member's display name.
    """

    __tablename__ = "conversations"

    key: Mapped[str] = mapped_column(String(500), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    tenant_id: Mapped[str | None] = mapped_column(String(100))
    #: The Teams user id of a personal chat's user (None for group chats and teams).
    user_id: Mapped[str | None] = mapped_column(String(200), index=True)
    reference: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: "install" (an install event) or "use" (someone used the bot there first).
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# --- incidents (bot/store/incidents.py) -------------------------------------------------

#: Longest note an admin's announcement may carry.
NOTE_LIMIT = 1000


class Incident(Base):
    """One declared ICE outage; `open_slot` is 1 while open, NULL once restored, and unique,
    so at most one incident is open (several NULLs are allowed on SQLite and PostgreSQL)."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    open_slot: Mapped[int | None] = mapped_column(Integer, unique=True)
    note: Mapped[str] = mapped_column(String(NOTE_LIMIT))
    declared_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: Entra object id and display name of the admin (staff, not patient data).
    declared_by: Mapped[str] = mapped_column(String(100))
    declared_by_name: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by_name: Mapped[str] = mapped_column(String(200))
    restored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    restored_by_name: Mapped[str | None] = mapped_column(String(200))
    restored_note: Mapped[str | None] = mapped_column(String(NOTE_LIMIT))


#: What an announcement says of its incident, in `announcements.kind`.
AnnouncementKind = Literal["declared", "updated", "restored"]


class Announcement(Base):
    """One message to every installed conversation about an incident."""

    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: The confirmation card's id: the same card confirmed twice announces once.
    draft_id: Mapped[str] = mapped_column(String(64), unique=True)
    incident_id: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[AnnouncementKind] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(NOTE_LIMIT))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))
    created_by_name: Mapped[str] = mapped_column(String(200))
    #: Conversations queued for it, and users queued a reconciliation card (restored only).
    audience: Mapped[int] = mapped_column(Integer, default=0)
    reconciliations: Mapped[int] = mapped_column(Integer, default=0)


# --- proactive messages (bot/store/broadcasts.py, follow_ups.py) ------------------------

#: Longest `last_error` kept for a proactive delivery.
BROADCAST_ERROR_LIMIT = 200


class BroadcastDelivery(Base):
    """One proactive message to one conversation, and how far it got."""

    __tablename__ = "broadcast_deliveries"
    __table_args__ = (
        UniqueConstraint("topic", "subject", "conversation_key", name="broadcast_deliveries_once"),
        Index("ix_broadcast_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: announcement, reconciliation, follow_up or log_email.
    topic: Mapped[str] = mapped_column(String(16))
    #: What is sent: an announcement id, an incident id, a reminder batch id, a reference.
    subject: Mapped[str] = mapped_column(String(64))
    conversation_key: Mapped[str] = mapped_column(String(500))
    #: The user a personal message is for (None for an announcement).
    user_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The Teams activity id of the message, once Teams accepted it.
    activity_id: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(String(BROADCAST_ERROR_LIMIT))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: A reminder's request references, or a log email's outcome (ids only).
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class FollowUp(Base):
    """A request its sender has been reminded about (or was due to be: no personal chat)."""

    __tablename__ = "follow_ups"

    reference: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200))
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
