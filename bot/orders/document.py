"""A completed request laid out as labelled sections, the shape radiology re-keys from.

The email (HTML and text) and the PDF are all drawn from this one structure, so
the three can never disagree, and the mail code needs to know nothing about the
request model's fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
