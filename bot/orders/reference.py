"""Request references: `DT-YYYYMMDD-NNNN`, the key radiology and the practice reconcile on.

The day makes a reference readable on the phone ("the one from the 29th"), the
sequence makes it unique within the day. The sequence itself is allocated by
the outbox in the database, never here, so two workers cannot mint the same one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

PREFIX = "DT"
MAX_SEQUENCE = 9999
REFERENCE_PATTERN = re.compile(r"DT-([0-9]{4})([0-9]{2})([0-9]{2})-([0-9]{4})")


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed reference: the day it was made and its number within that day."""

    day: date
    sequence: int

    def __str__(self) -> str:
        return format_reference(self.day, self.sequence)


def format_reference(day: date, sequence: int) -> str:
    """`DT-20261129-0007`; refuses numbers that would not fit, rather than widening silently.

    A fixed width keeps references sortable and easy to read aloud; more than
    9999 downtime requests in a day from this bot would mean something is wrong.
    """
    if not 1 <= sequence <= MAX_SEQUENCE:
        raise ValueError(f"sequence must be 1..{MAX_SEQUENCE}, got {sequence}")
    return f"{PREFIX}-{day:%Y%m%d}-{sequence:04d}"


def parse_reference(text: str) -> Reference | None:
    """The day and sequence of a reference a user typed or pasted, or None if it is not one.

    Tolerates surrounding spaces and lower case, because people copy references
    out of emails; returns None instead of raising so callers can reply politely.
    """
    match = REFERENCE_PATTERN.fullmatch(text.strip().upper())
    if match is None:
        return None
    year, month, day, sequence = (int(part) for part in match.groups())
    try:
        parsed_day = date(year, month, day)
    except ValueError:
        return None
    return Reference(parsed_day, sequence) if sequence >= 1 else None
