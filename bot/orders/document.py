"""A completed request laid out as labelled sections, the shape radiology re-keys from.

The email (HTML and text), the PDF and the review card are all drawn from this
one structure, so they can never disagree, and the mail code needs to know
nothing about the request model's fields. The sections and their lines are
derived from the field declarations (`bot/orders/fields.py`): every field that
applies to the request is printed in its declared section, under its declared
label, in declaration order. The few lines that are not fields (the
reference, the time, the note that no pregnancy question applies) are written
here, next to the section they belong to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from bot.orders.fields import FIELD_BY_ID, FIELDS, SECTIONS, FieldSpec
from bot.orders.routing import Route
from bot.orders.rules import applies
from bot.orders.validation import age_on, format_nhs_number, registration_body


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


class Documented(Protocol):
    """What a document is drawn from: a `RadiologyRequest` (which imports this module)."""

    @property
    def practice(self) -> Replies: ...
    def values(self) -> dict[str, Any]: ...


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


def uk_date(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def build_document(
    request: Documented, route: Route, reference: str, created_at: datetime
) -> RequestDocument:
    """The request's document; `created_at` in London time (ages are counted on its day)."""
    values = request.values()
    sections = (
        Section(title, _lines(title, values, route, reference, created_at)) for title in SECTIONS
    )
    return routed_document(
        reference=reference,
        created_at=created_at,
        route=route,
        priority=FIELD_BY_ID["priority"].title_of(values["priority"]),
        practice=request.practice,
        sections=tuple(section for section in sections if section.fields),
    )


def _lines(
    title: str, values: Mapping[str, Any], route: Route, reference: str, created_at: datetime
) -> tuple[DocumentField, ...]:
    lines: list[DocumentField] = []
    if title == "Request":
        lines += [
            DocumentField("Reference", reference),
            DocumentField("Date/time requested", created_at.strftime("%d/%m/%Y %H:%M")),
        ]
    if title == "Safety" and not route.ionising:
        lines.append(DocumentField("Ionising radiation", "No: pregnancy questions not asked"))
    for spec in FIELDS:
        value = values.get(spec.id)
        answered = value not in (None, "", spec.unasked)
        if spec.section != title:
            continue
        if not (answered or spec.always_printed or applies(spec, route, values)):
            continue
        text = _printed(spec, value, values, route, created_at)
        if text:
            lines.append(DocumentField(spec.printed_as, text))
    return tuple(lines)


Printer = Callable[[Any, Mapping[str, Any], Route, datetime], str]

#: How a field whose value is not printed as is (or as its choice's title) is printed.
_PRINTERS: Mapping[str, Printer] = {
    "trust": lambda _v, _values, route, _t: route.trust.name,
    "department": lambda _v, _values, route, _t: route.department_label,
    "modality": lambda _v, _values, route, _t: route.modality.name,
    "patient_dob": lambda birth, _values, _r, at: (
        f"{uk_date(birth)} (age {age_on(birth, at.date())})"
    ),
    "nhs_number": lambda number, _values, _r, _t: format_nhs_number(number),
    "referrer_registration": lambda number, _values, _r, _t: (
        f"{registration_body(number) or ''} {number}".strip()
    ),
}


def _printed(
    spec: FieldSpec, value: Any, values: Mapping[str, Any], route: Route, created_at: datetime
) -> str:
    """The field's line as radiology reads it; "" leaves the line out."""
    if value in (None, "") or (value == spec.unasked and spec.empty):
        return spec.empty or ""
    printer = _PRINTERS.get(spec.id)
    if printer is not None:
        return printer(value, values, route, created_at)
    if isinstance(value, date):
        return uk_date(value)
    return spec.title_of(value) if spec.choices else str(value)


__all__ = [
    "DocumentField",
    "Replies",
    "RequestDocument",
    "Routed",
    "Section",
    "build_document",
    "routed_document",
    "uk_date",
]
