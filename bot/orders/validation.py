"""Field checks for a radiology request, shared by the card (client) and the server.

Each shape rule is written once, as a regex that is valid in both Python and
JavaScript (the Adaptive Card renderers use JavaScript `RegExp`, which is not
anchored by default and has no inline flags). The patterns are therefore:

- anchored with `^...$` and tolerant of surrounding spaces, because the card
  checks the raw text while the server strips it first;
- case-insensitive by construction (`[A-Za-z]`), because JavaScript offers no
  `(?i)` and users type postcodes and codes in lower case;
- written with `[0-9]` rather than `\\d`, because Python's `\\d` also matches
  non-ASCII digits that JavaScript (and the NHS) would not accept.

The server applies the same pattern, then normalises and applies the checks a
regex cannot express (Modulus 11, number lengths by prefix). `CLIENT_RULES`
hands the patterns to the card, so the two sides cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType


class FieldError(ValueError):
    """A value the user must correct; the message is shown to them next to the field."""


# --- NHS number -------------------------------------------------------------------------

NHS_NUMBER_PATTERN = r"^[\s-]*(?:[0-9][\s-]*){10}$"
NHS_NUMBER_MESSAGE = "Enter the 10-digit NHS number (spaces or hyphens are fine)"
NHS_NUMBER_CHECK_MESSAGE = "NHS number check digit is wrong: please re-check the 10 digits"
_NHS_SEPARATORS = re.compile(r"[\s-]+")
_NHS_WEIGHTS = range(10, 1, -1)


def nhs_check_digit(first_nine: str) -> int | None:
    """The Modulus 11 check digit for nine digits, or None when no number can have them.

    Kept separate so the arithmetic can be tested on its own against the NHS rule:
    weights 10..2, 11 - (sum mod 11), 11 becomes 0, 10 means invalid.
    """
    total = sum(int(digit) * weight for digit, weight in zip(first_nine, _NHS_WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def is_valid_nhs_number(value: str) -> bool:
    """True for a correctly typed NHS number; trusts reject requests with a wrong one."""
    try:
        clean_nhs_number(value)
    except FieldError:
        return False
    return True


def clean_nhs_number(value: str) -> str:
    """The 10 digits of an NHS number, after checking the shape and the Modulus 11 digit.

    Users paste numbers as "943 476 5919" or "943-476-5919", so separators are
    dropped; a mistyped digit almost always breaks the check digit, which is
    the one chance to catch it before a trust rejects the request.
    """
    if not re.fullmatch(NHS_NUMBER_PATTERN, value.strip()):
        raise FieldError(NHS_NUMBER_MESSAGE)
    digits = _NHS_SEPARATORS.sub("", value)
    if nhs_check_digit(digits[:9]) != int(digits[9]):
        raise FieldError(NHS_NUMBER_CHECK_MESSAGE)
    return digits


def format_nhs_number(value: str) -> str:
    """Show an NHS number as 3-3-4 ("943 476 5919"), the way clinicians read it aloud."""
    digits = _NHS_SEPARATORS.sub("", value)
    if len(digits) != 10:
        return value
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


def mask_nhs_number(value: str) -> str:
    """Keep only the last 4 digits visible ("*** *** 5919") for confirmations in Teams.

    Teams is not a clinical record; the last four digits are enough for a user
    to match a confirmation to a patient. Masking an already masked value gives
    the same result, so callers need not track which one they hold.
    """
    digits = re.sub(r"[^0-9]", "", value)
    return f"*** *** {digits[-4:]}" if len(digits) >= 4 else "*** *** ****"


# --- Postcode ---------------------------------------------------------------------------


def _letters(ranges: str) -> str:
    """A character class of the given upper-case ranges in both cases."""
    return f"[{ranges}{ranges.lower()}]"


_PC_FIRST = _letters("A-PR-UWYZ")  # no Q, V, X in the first position
_PC_SECOND = _letters("A-HK-Y")  # no I, J, Z in the second position
_PC_THIRD = _letters("A-HJKPSTUW")  # letter after the digit in A9A
_PC_FOURTH = _letters("ABEHMNPRVWXY")  # letter after the digit in AA9A
_PC_INWARD = _letters("ABD-HJLNP-UW-Z")  # no C, I, K, M, O, V in the inward code
_PC_OUTWARD = (
    f"(?:{_PC_FIRST}[0-9]{{1,2}}|{_PC_FIRST}{_PC_SECOND}[0-9]{{1,2}}"
    f"|{_PC_FIRST}[0-9]{_PC_THIRD}|{_PC_FIRST}{_PC_SECOND}[0-9]{_PC_FOURTH})"
)
POSTCODE_PATTERN = rf"^\s*(?:[Gg][Ii][Rr]\s*0[Aa][Aa]|{_PC_OUTWARD}\s*[0-9]{_PC_INWARD}{{2}})\s*$"
POSTCODE_MESSAGE = "Enter a UK postcode, for example SE1 7EH"


def clean_postcode(value: str) -> str:
    """Upper case with one space before the inward code ("SE1 7EH"), as Royal Mail prints it.

    The outward/inward split is always the last three characters, so the space
    can be put back whatever the user typed, and radiology can match the address.
    """
    if not re.fullmatch(POSTCODE_PATTERN, value.strip()):
        raise FieldError(POSTCODE_MESSAGE)
    compact = re.sub(r"\s+", "", value).upper()
    return f"{compact[:-3]} {compact[-3:]}"


# --- Telephone --------------------------------------------------------------------------

#: The card's check catches only what is plainly no phone number (a letter, fewer than the
#: ten characters of the shortest UK number); which numbers exist, and of what kind, is
#: libphonenumber's rule. The input's maxLength bounds the length.
PHONE_PATTERN = r"^\s*\+?\(?[0-9][\s()0-9-]{9,}$"
PHONE_MESSAGE = "Enter a UK landline or mobile number, for example 020 7188 7188"


def clean_phone(value: str) -> str:
    """A UK landline, mobile or 03 number, written the national way ("020 7188 7188").

    Radiology phones patients to book, so the number must be one that can be
    dialled from the UK and answered. Which ranges exist, and whether a number
    is a landline, a mobile, freephone, premium rate or a personal (070)
    number, comes from libphonenumber (Google's metadata of the numbering
    plan), not from rules of ours; it also knows how each area code is
    grouped. Staff may type +44, +44 (0), 0044, spaces, brackets or hyphens.
    """
    # Imported on first use: 40-50 ms that start-up need not pay (docs/performance.md).
    import phonenumbers

    text = value.strip()
    if not re.fullmatch(PHONE_PATTERN, text):
        raise FieldError(PHONE_MESSAGE)
    try:
        number = phonenumbers.parse(text, "GB")
    except phonenumbers.NumberParseException:
        raise FieldError(PHONE_MESSAGE) from None
    kind = phonenumbers.PhoneNumberType
    # The kinds a patient can be called back on; UAN is 03 (charged as a landline).
    callable_kinds = {kind.FIXED_LINE, kind.MOBILE, kind.FIXED_LINE_OR_MOBILE, kind.UAN}
    if (
        number.country_code != _UK_CALLING_CODE
        or not phonenumbers.is_valid_number(number)
        or phonenumbers.number_type(number) not in callable_kinds
    ):
        raise FieldError(PHONE_MESSAGE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


_UK_CALLING_CODE = 44


# --- GP practice ODS code ---------------------------------------------------------------

ODS_CODE_PATTERN = r"^\s*[A-Za-z][0-9]{5}\s*$"
ODS_CODE_MESSAGE = "Enter the practice ODS code: one letter and 5 digits, for example G85001"


def clean_ods_code(value: str) -> str:
    """Upper-cased practice code; it goes in the logs and lets radiology identify the sender."""
    if not re.fullmatch(ODS_CODE_PATTERN, value.strip()):
        raise FieldError(ODS_CODE_MESSAGE)
    return value.strip().upper()


# --- nhs.net mailbox --------------------------------------------------------------------

NHS_MAIL_PATTERN = r"^\s*[A-Za-z0-9_'+-]+(?:\.[A-Za-z0-9_'+-]+)*@[Nn][Hh][Ss]\.[Nn][Ee][Tt]\s*$"
NHS_MAIL_MESSAGE = (
    "Enter the practice's monitored nhs.net mailbox, for example practice.name@nhs.net"
)
_MAX_LOCAL_PART = 64


def clean_nhs_mail(value: str) -> str:
    """A lower-cased @nhs.net address: rejections and results must reach a monitored mailbox.

    nhs.net to nhs.net mail is already secure, which is why other domains are
    refused rather than merely warned about.
    """
    stripped = value.strip()
    if not re.fullmatch(NHS_MAIL_PATTERN, stripped):
        raise FieldError(NHS_MAIL_MESSAGE)
    if len(stripped.partition("@")[0]) > _MAX_LOCAL_PART:
        raise FieldError(NHS_MAIL_MESSAGE)
    return stripped.lower()


# --- Professional registration ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistrationRule:
    """One professional register whose number can stand in for a referrer's signature."""

    body: str
    pattern: str
    example: str
    who: str


REGISTRATION_RULES: tuple[RegistrationRule, ...] = (
    #                body    number shape                    example     who is on it
    RegistrationRule("GMC", r"[0-9]{7}", "1234567", "doctors"),
    RegistrationRule("NMC", r"[0-9]{2}[A-Z][0-9]{4}[A-Z]", "12A3456E", "nurses and midwives"),
    RegistrationRule("HCPC", r"[A-Z]{2}[0-9]{5,6}", "RA12345", "allied health professionals"),
)
REGISTRATION_PATTERN = (
    r"^\s*(?:"
    + "|".join(rule.pattern.replace("[A-Z]", "[A-Za-z]") for rule in REGISTRATION_RULES)
    + r")\s*$"
)
REGISTRATION_MESSAGE = (
    "Enter a GMC (7 digits), NMC (e.g. 12A3456E) or HCPC (e.g. RA12345) registration number"
)


def registration_body(number: str) -> str | None:
    """Which register a cleaned number belongs to; the shapes do not overlap."""
    return next((r.body for r in REGISTRATION_RULES if re.fullmatch(r.pattern, number)), None)


def clean_registration(value: str) -> str:
    """The referrer's registration number, upper-cased.

    IR(ME)R needs an entitled referrer; the number stands in for a signature
    and lets radiology check the register, so the shape must be right.
    """
    if not re.fullmatch(REGISTRATION_PATTERN, value.strip()):
        raise FieldError(REGISTRATION_MESSAGE)
    return value.strip().upper()


# --- Dates ------------------------------------------------------------------------------

MAX_AGE_YEARS = 120
DATE_MESSAGE = "Enter a date like 2026-11-29 (or 29/11/2026)"
_UK_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_form_date(value: str) -> date:
    """A date from Input.Date ("YYYY-MM-DD") or typed UK-style ("DD/MM/YYYY").

    Clients without a date picker fall back to a text box, where UK users type
    day first; anything else is refused rather than guessed.
    """
    text = value.strip()
    try:
        if _ISO_DATE.fullmatch(text):
            return date.fromisoformat(text)
        if match := _UK_DATE.fullmatch(text):
            day, month, year = (int(part) for part in match.groups())
            return date(year, month, day)
    except ValueError:
        pass
    raise FieldError(DATE_MESSAGE)


def age_on(birth: date, day: date) -> int:
    """Whole years of age on `day`, as used for the pregnancy question's age band."""
    had_birthday = (day.month, day.day) >= (birth.month, birth.day)
    return day.year - birth.year - (0 if had_birthday else 1)


def earliest_birth_date(today: date) -> date:
    """The oldest plausible date of birth: anything earlier is almost certainly a typo."""
    try:
        return today.replace(year=today.year - MAX_AGE_YEARS)
    except ValueError:  # 29 February in a year that has none
        return today.replace(year=today.year - MAX_AGE_YEARS, day=28)


def check_birth_date(birth: date, today: date) -> date:
    """Date of birth in the past and age under 120; a wrong one misidentifies the patient."""
    if birth > today:
        raise FieldError("Date of birth is in the future: please check it")
    if birth <= earliest_birth_date(today):
        raise FieldError(f"Date of birth gives an age of {MAX_AGE_YEARS} or more: please check it")
    return birth


# --- Free text --------------------------------------------------------------------------

_SINGLE_LINE_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029\ud800-\udfff]")
_MULTI_LINE_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def check_single_line(value: str) -> str:
    """Refuse line breaks and control characters in names, codes and other one-line fields.

    These values end up in email headers' neighbours, PDFs and Epic; a stray CR/LF
    could split a line or forge a header, so it is rejected, not silently removed.
    Lone surrogates (possible in JSON) are refused too: they cannot be encoded
    into the email or the card.
    """
    if _SINGLE_LINE_FORBIDDEN.search(value):
        raise FieldError("Use a single line without line breaks or control characters")
    return value


def check_multi_line(value: str) -> str:
    """Allow line breaks in clinical text, but no other control characters."""
    if _MULTI_LINE_FORBIDDEN.search(value):
        raise FieldError("Remove the control characters from this text")
    return value


# --- Rules for the card -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientRule:
    """One shape rule, both sides of it: the card's `regex` and `errorMessage`, and the
    server's `clean` (the same pattern, then what a regex cannot check, normalised)."""

    regex: str
    error_message: str
    clean: Callable[[str], str]


CLIENT_RULES: MappingProxyType[str, ClientRule] = MappingProxyType(
    {
        "nhs_number": ClientRule(NHS_NUMBER_PATTERN, NHS_NUMBER_MESSAGE, clean_nhs_number),
        "postcode": ClientRule(POSTCODE_PATTERN, POSTCODE_MESSAGE, clean_postcode),
        "phone": ClientRule(PHONE_PATTERN, PHONE_MESSAGE, clean_phone),
        "ods_code": ClientRule(ODS_CODE_PATTERN, ODS_CODE_MESSAGE, clean_ods_code),
        "nhs_mail": ClientRule(NHS_MAIL_PATTERN, NHS_MAIL_MESSAGE, clean_nhs_mail),
        "registration": ClientRule(REGISTRATION_PATTERN, REGISTRATION_MESSAGE, clean_registration),
    }
)
