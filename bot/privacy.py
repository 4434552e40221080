"""Does a message look like it carries patient data? (For the reminder in shared chats.)

A channel or group chat is not a clinical record, so a message there that seems
to hold an NHS number, or a date of birth next to a name, gets a short reminder
to keep patient details to the personal chat. The check errs on the side of
reminding: a false alarm costs one polite line, a miss leaves the user unaware.
It never returns or logs what it found.

- NHS number: ten digits, written together or grouped with spaces or hyphens
  (3-3-4 as printed, or any grouping), whose Modulus 11 check digit is right.
  Eleven-digit phone numbers and most ten-digit strings fail the check.
- Date of birth: a date (12/03/1961, 12.3.61, 1961-03-12, 12 March 1961) with
  "DOB", "date of birth" or "born" near it, or beside a name: a title and a
  name ("Mrs Khan"), or two capitalised words that are not ones the bot knows.
"""

from __future__ import annotations

import re

from bot.orders.validation import is_valid_nhs_number

_NHS_NUMBER = re.compile(r"(?<![\d])(?:\d[ -]?){9}\d(?![\d])")
_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec"
_DATE = re.compile(
    r"\b(?:\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{4}|\d{2})"
    r"|\d{4}-\d{2}-\d{2}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS})[a-z]*\.?,?\s+\d{{2,4}})\b",
    re.IGNORECASE,
)
_DOB_WORDS = re.compile(r"\b(?:dob|d\.o\.b\.?|date of birth|born|birthday)\b", re.IGNORECASE)
_TITLE_AND_NAME = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Master|Dr)\.?\s+[A-Z][a-z'\-]+")
# A name is one capitalised word, or several joined by hyphens ("Lily-May"): the
# halves of a double-barrelled name may each be a word the bot knows ("May").
_NAME_WORD = r"[A-Z][a-z'\-]+(?:-[A-Z][a-z]+)*"
_CAPITALISED_PAIR = re.compile(rf"\b({_NAME_WORD})\s+({_NAME_WORD})\b")
# Capitalised words that are not names in these chats.
_NOT_NAMES_TEXT = """
ice is the hi hello please kings king's college guys guy's st thomas thomas' evelina
denmark hill princess royal orpington hospital bexley bromley greenwich lambeth lewisham
southwark nhs gp dr radiology ultrasound x-ray xray ct mri monday tuesday wednesday
thursday friday saturday sunday january february march april may june july august
september october november december urgent routine patient
"""
_NOT_NAMES = frozenset(_NOT_NAMES_TEXT.split())
# How far (in characters) from a date a name or "DOB" counts as next to it.
_NEAR = 40


def _has_nhs_number(text: str) -> bool:
    for match in _NHS_NUMBER.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if len(digits) == 10 and is_valid_nhs_number(digits):
            return True
    return False


def _name_near(window: str) -> bool:
    if _TITLE_AND_NAME.search(window):
        return True
    return any(
        a.lower() not in _NOT_NAMES and b.lower() not in _NOT_NAMES
        for a, b in _CAPITALISED_PAIR.findall(window)
    )


def _has_birth_date(text: str) -> bool:
    for match in _DATE.finditer(text):
        window = text[max(0, match.start() - _NEAR) : match.end() + _NEAR]
        if _DOB_WORDS.search(window) or _name_near(window):
            return True
    return False


def looks_like_patient_data(text: str) -> bool:
    """True when the text seems to carry an NHS number or a date of birth with a name."""
    if not text or not any(c.isdigit() for c in text):
        return False
    return _has_nhs_number(text) or _has_birth_date(text)


__all__ = ["looks_like_patient_data"]
