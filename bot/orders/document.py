"""A completed request laid out as labelled sections, the shape radiology re-keys from.

The email (HTML and text) and the PDF are all drawn from this one structure, so
the three can never disagree, and the mail code needs to know nothing about the
request model's fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class DocumentField:
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    fields: tuple[DocumentField, ...]


@dataclass(frozen=True, slots=True)
class RequestDocument:
    """Everything needed to compose and route the email for one request.

    Only `sections` carries patient data; every other attribute is safe for a
    subject line or a log.
    """

    reference: str
    created_at: datetime
    trust_name: str
    trust_short: str
    department: str
    priority: str
    mailbox: str
    practice_name: str
    practice_ods: str
    practice_email: str
    sections: tuple[Section, ...]


class _Trust(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def short_name(self) -> str: ...


class Routed(Protocol):
    """Where a request goes: the bot's own form's `Route` and a forwarded form's alike."""

    @property
    def trust(self) -> _Trust: ...
    @property
    def department_label(self) -> str: ...
    @property
    def mailbox(self) -> str: ...


class Replies(Protocol):
    """The practice replies go to, as both kinds of request hold it."""

    @property
    def name(self) -> str: ...
    @property
    def ods_code(self) -> str: ...
    @property
    def email(self) -> str: ...


def routed_document(
    *,
    reference: str,
    created_at: datetime,
    route: Routed,
    priority: str,
    practice: Replies,
    sections: tuple[Section, ...] = (),
) -> RequestDocument:
    """A request's document from its route and practice: one place for the routing facts."""
    return RequestDocument(
        reference=reference,
        created_at=created_at,
        trust_name=route.trust.name,
        trust_short=route.trust.short_name,
        department=route.department_label,
        priority=priority,
        mailbox=route.mailbox,
        practice_name=practice.name,
        practice_ods=practice.ods_code,
        practice_email=practice.email,
        sections=sections,
    )
