"""Field checks: the server's answer for each rule, and the card's regex agreeing with it.

Every table row is a value a user might really type. The client regex is run
with Python here; the same pattern strings are what the card hands to the
JavaScript renderer (see test_order_cards for the rendered check).
"""

from __future__ import annotations

import re
from datetime import date

import pytest

from bot.orders.reference import format_reference, parse_reference
from bot.orders.validation import (
    CLIENT_RULES,
    PHONE_MESSAGE,
    REGISTRATION_RULES,
    FieldError,
    age_on,
    check_birth_date,
    check_multi_line,
    check_single_line,
    clean_nhs_mail,
    clean_nhs_number,
    clean_ods_code,
    clean_phone,
    clean_postcode,
    clean_registration,
    format_nhs_number,
    is_valid_nhs_number,
    mask_nhs_number,
    nhs_check_digit,
    parse_form_date,
    registration_body,
)

TODAY = date(2026, 11, 29)


def client_accepts(rule: str, value: str) -> bool:
    """How a JavaScript `new RegExp(regex).test(value)` would judge the raw input."""
    return re.search(CLIENT_RULES[rule].regex, value) is not None


# --- NHS number -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "digits"),
    [
        ("9434765919", "9434765919"),
        ("9434765870", "9434765870"),
        ("943 476 5919", "9434765919"),
        ("943-476-5919", "9434765919"),
        (" 943 - 476 - 5919 ", "9434765919"),
        ("9990000018", "9990000018"),
        ("999 000 0026", "9990000026"),
    ],
)
def test_valid_nhs_numbers_are_accepted_and_reduced_to_digits(typed: str, digits: str) -> None:
    assert clean_nhs_number(typed) == digits
    assert is_valid_nhs_number(typed)
    assert client_accepts("nhs_number", typed)


@pytest.mark.parametrize("typed", ["9434765828", "943 476 5828", "9990000017"])
def test_wrong_check_digit_is_refused_with_the_check_digit_message(typed: str) -> None:
    with pytest.raises(FieldError) as refused:
        clean_nhs_number(typed)
    assert str(refused.value) == "NHS number check digit is wrong: please re-check the 10 digits"
    assert not is_valid_nhs_number(typed)


@pytest.mark.parametrize(
    "typed", ["", "943476591", "94347659190", "943476591X", "943.476.5919", "٩٤٣٤٧٦٥٩١٩"]
)
def test_malformed_nhs_numbers_fail_on_shape_on_both_sides(typed: str) -> None:
    with pytest.raises(FieldError) as caught:
        clean_nhs_number(typed)
    assert str(caught.value) == "Enter the 10-digit NHS number (spaces or hyphens are fine)"
    assert not client_accepts("nhs_number", typed)


def test_a_check_digit_of_ten_means_no_valid_number() -> None:
    # 0000000060: weights give sum 12 -> 11 - 1 = 10, which no 10th digit can match.
    assert nhs_check_digit("000000006") is None
    assert not any(is_valid_nhs_number(f"000000006{d}") for d in "0123456789")


def test_check_digit_eleven_becomes_zero() -> None:
    # 000000000: sum 0 -> 11 -> 0, so 0000000000 passes the arithmetic.
    assert nhs_check_digit("000000000") == 0


@pytest.mark.parametrize("digits", ["12345678", "1234567890"])
def test_the_check_digit_is_only_computed_from_nine_digits(digits: str) -> None:
    """A miscounted slice is a programming error, not a number to weigh partly."""
    with pytest.raises(ValueError, match="zip"):
        nhs_check_digit(digits)


def test_nhs_number_display_and_mask() -> None:
    assert format_nhs_number("9434765919") == "943 476 5919"
    assert format_nhs_number("943-476-5919") == "943 476 5919"
    assert format_nhs_number("943 476 591") == "943 476 591"  # not ten digits: left alone
    assert mask_nhs_number("9434765919") == "*** *** 5919"
    assert mask_nhs_number("943 476 5919") == "*** *** 5919"
    assert mask_nhs_number("NHS no. 943-476-5919") == "*** *** 5919"
    assert mask_nhs_number(mask_nhs_number("9990000018")) == "*** *** 0018"
    assert "943" not in mask_nhs_number("9434765919")


@pytest.mark.parametrize("value", ["", "591", "5 9 1", "***"])
def test_a_mask_of_fewer_than_four_digits_shows_no_digit(value: str) -> None:
    assert mask_nhs_number(value) == "*** *** ****"


def test_a_mask_of_exactly_four_digits_shows_them() -> None:
    assert mask_nhs_number("5919") == "*** *** 5919"


# --- Dates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1980-05-04", date(1980, 5, 4)),
        ("04/05/1980", date(1980, 5, 4)),
        ("4/5/1980", date(1980, 5, 4)),
    ],
)
def test_form_dates_accept_iso_and_uk_day_first(typed: str, expected: date) -> None:
    assert parse_form_date(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2029-09-19", date(2029, 9, 19)),
        ("09/09/1999", date(1999, 9, 9)),
        ("19/9/2099", date(2099, 9, 19)),
    ],
)
def test_every_digit_is_read_in_every_date_position(typed: str, expected: date) -> None:
    assert parse_form_date(typed) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "1980-02-30",
        "31/02/2020",
        "05-04-1980",
        "yesterday",
        "",
        "1980",
        "1980-5-4",
        "004/05/1980",
        "04/005/1980",
    ],
)
def test_unreadable_dates_are_refused(typed: str) -> None:
    with pytest.raises(FieldError) as refused:
        parse_form_date(typed)
    assert str(refused.value) == "Enter a date like 2026-11-29 (or 29/11/2026)"


def test_birth_date_must_be_past_and_age_under_120() -> None:
    assert check_birth_date(date(1980, 5, 4), TODAY) == date(1980, 5, 4)
    assert check_birth_date(TODAY, TODAY) == TODAY  # a newborn
    assert check_birth_date(date(1906, 11, 30), TODAY) == date(1906, 11, 30)  # 119 today
    with pytest.raises(FieldError, match="future"):
        check_birth_date(date(2026, 11, 30), TODAY)
    with pytest.raises(FieldError, match="120"):
        check_birth_date(date(1896, 1, 1), TODAY)  # age 130
    with pytest.raises(FieldError, match="120"):
        check_birth_date(date(1906, 11, 29), TODAY)  # exactly 120


def test_on_29_february_the_oldest_birth_date_is_the_28th_120_years_before() -> None:
    leap_day = date(2020, 2, 29)  # 1900 was not a leap year
    with pytest.raises(FieldError, match="120"):
        check_birth_date(date(1900, 2, 28), leap_day)
    assert check_birth_date(date(1900, 3, 1), leap_day) == date(1900, 3, 1)


def test_a_future_birth_date_is_refused_with_its_own_message() -> None:
    with pytest.raises(FieldError) as refused:
        check_birth_date(date(2026, 11, 30), TODAY)
    assert str(refused.value) == "Date of birth is in the future: please check it"


def test_age_counts_whole_years_to_the_birthday() -> None:
    assert age_on(date(1980, 11, 29), TODAY) == 46
    assert age_on(date(1980, 11, 30), TODAY) == 45


# --- Postcode, phone, ODS, mailbox, registration ----------------------------------------


@pytest.mark.parametrize(
    ("typed", "clean"),
    [
        ("SE1 7EH", "SE1 7EH"),
        ("se17eh", "SE1 7EH"),
        ("  br1  1aa ", "BR1 1AA"),
        ("SW1A 1AA", "SW1A 1AA"),
        ("W1A 0AX", "W1A 0AX"),
        ("EC1A1BB", "EC1A 1BB"),
        ("M1 1AE", "M1 1AE"),
        ("GIR 0AA", "GIR 0AA"),
        ("gir0aa", "GIR 0AA"),
    ],
)
def test_uk_postcodes_are_normalised(typed: str, clean: str) -> None:
    assert clean_postcode(typed) == clean
    assert client_accepts("postcode", typed)


@pytest.mark.parametrize("typed", ["", "SE1", "SE1 7E", "QE1 7EH", "SE1 7CH", "12345", "SE1 7EH X"])
def test_non_postcodes_are_refused_on_both_sides(typed: str) -> None:
    with pytest.raises(FieldError, match="postcode"):
        clean_postcode(typed)
    assert not client_accepts("postcode", typed)


# Phone numbers are judged by libphonenumber (which number ranges exist, what type each
# is, how each is written). 07400 123456 is its own example UK mobile; Ofcom's ranges for
# drama (07700 900xxx, 01632 960xxx) are, rightly, not numbers anyone can be called on.


@pytest.mark.parametrize(
    ("typed", "clean"),
    [
        ("020 7188 7188", "020 7188 7188"),
        ("02071887188", "020 7188 7188"),
        ("0207 188 7188", "020 7188 7188"),  # grouped the old way, shown the right way
        ("+44 20 7188 7188", "020 7188 7188"),
        ("+44 (0)20 7188 7188", "020 7188 7188"),
        ("0044 20 7188 7188", "020 7188 7188"),
        ("(020) 7188-7188", "020 7188 7188"),
        ("07400 123456", "07400 123456"),
        ("+447400123456", "07400 123456"),
        ("07400-123-456", "07400 123456"),
        ("0300 123 4567", "0300 123 4567"),  # 03: charged as a landline
        (" 0113 496 0000 ", "0113 496 0000"),  # a four-digit area code (Leeds)
        ("0191 498 0999", "0191 498 0999"),
        ("01224 123456", "01224 123456"),  # a five-digit area code (Aberdeen)
        ("016977 2345", "016977 2345"),  # Brampton's six-digit code, four-digit number
        ("01697 72345", "016977 2345"),  # ... typed grouped as if the code had five
        ("0169772345", "016977 2345"),  # the fewest characters a UK number takes: ten
    ],
)
def test_uk_phone_numbers_are_shown_in_their_national_format(typed: str, clean: str) -> None:
    assert clean_phone(typed) == clean
    assert client_accepts("phone", typed)


@pytest.mark.parametrize(
    "typed",
    [
        "0800 123 4567",  # freephone: not a number a patient is called on
        "0909 879 0000",  # premium rate
        "07000 123456",  # personal number (re-routed, charged at a premium)
        "07700 900123",  # Ofcom's drama range: never a real mobile
        "01632 960001",  # ... nor a real landline
        "07400 12345",  # a digit short
        "074001234567",  # a digit too many
        "020 7188 718",
        "+33 1 23 45 67 89",  # France
        "+1 212 555 0100",  # the United States
        "+999 1234 5678",  # no country has the code 999
        "0" * 26,
    ],
)
def test_numbers_that_are_not_uk_landlines_or_mobiles_are_refused(typed: str) -> None:
    with pytest.raises(FieldError) as refused:
        clean_phone(typed)
    assert str(refused.value) == PHONE_MESSAGE


@pytest.mark.parametrize("typed", ["", "999", "phone me", "07400 l23456", "07400 123", "020-"])
def test_what_is_plainly_no_phone_number_is_refused_on_both_sides(typed: str) -> None:
    with pytest.raises(FieldError, match="UK landline or mobile"):
        clean_phone(typed)
    assert not client_accepts("phone", typed)


def test_the_card_leaves_which_numbers_exist_to_the_server() -> None:
    """The card's regex only catches what is plainly no number; libphonenumber does the rest."""
    assert client_accepts("phone", "020 7188 718")
    with pytest.raises(FieldError):
        clean_phone("020 7188 718")


def test_the_phone_hint_shows_a_number_the_check_accepts() -> None:
    examples = re.findall(r"0[0-9 ]{9,12}[0-9]", PHONE_MESSAGE)
    assert examples
    for example in examples:
        assert clean_phone(example) == example


@pytest.mark.parametrize(
    ("typed", "clean"),
    [
        ("G85001", "G85001"),
        (" g85001 ", "G85001"),
        ("A00000", "A00000"),  # any letter, any digits: the first and last of each
        ("Z99999", "Z99999"),
        ("a09090", "A09090"),
        ("z90909", "Z90909"),
    ],
)
def test_ods_codes_are_upper_cased(typed: str, clean: str) -> None:
    assert clean_ods_code(typed) == clean
    assert client_accepts("ods_code", typed)


@pytest.mark.parametrize("typed", ["", "G8500", "G850011", "GG8500", "885001", "G85 001"])
def test_malformed_ods_codes_are_refused(typed: str) -> None:
    with pytest.raises(FieldError, match="ODS code"):
        clean_ods_code(typed)
    assert not client_accepts("ods_code", typed)


@pytest.mark.parametrize(
    ("typed", "clean"),
    [
        ("practice.name@nhs.net", "practice.name@nhs.net"),
        ("Test.Practice@NHS.NET", "test.practice@nhs.net"),
        ("gst-tr.radiologyreferrals@nhs.net", "gst-tr.radiologyreferrals@nhs.net"),
        ("a_b-c+d@nhs.net", "a_b-c+d@nhs.net"),
        (" o'neil.jo@nhs.net ", "o'neil.jo@nhs.net"),
        # every character a mailbox name may hold, before and after a dot
        ("AZaz09_'+-.AZaz09_'+-@nhs.net", "azaz09_'+-.azaz09_'+-@nhs.net"),
    ],
)
def test_nhs_net_mailboxes_are_lower_cased(typed: str, clean: str) -> None:
    assert clean_nhs_mail(typed) == clean
    assert client_accepts("nhs_mail", typed)


@pytest.mark.parametrize(
    "typed",
    [
        "practice@gmail.com",
        "practice@nhs.uk",
        "practice@nhs.net.evil.com",
        "@nhs.net",
        "a..b@nhs.net",
        ".a@nhs.net",
        "a b@nhs.net",
        "a@nhs.net\nBcc: x@y.z",
        "x" * 65 + "@nhs.net",
    ],
)
def test_other_mailboxes_are_refused(typed: str) -> None:
    with pytest.raises(FieldError, match=r"nhs\.net"):
        clean_nhs_mail(typed)


def test_a_mailbox_name_of_exactly_64_characters_is_the_longest_accepted() -> None:
    """RFC 5321 allows 64 characters before the @; nhs.net addresses can be that long."""
    longest = "a" * 30 + "." + "b" * 33 + "@nhs.net"
    assert len(longest.partition("@")[0]) == 64
    assert clean_nhs_mail(longest) == longest
    with pytest.raises(FieldError):
        clean_nhs_mail("c" + longest)


def test_registration_table_has_the_three_registers() -> None:
    assert [rule.body for rule in REGISTRATION_RULES] == ["GMC", "NMC", "HCPC"]
    for rule in REGISTRATION_RULES:
        # each example is valid and written as it is stored
        assert clean_registration(rule.example) == rule.example
        assert registration_body(rule.example) == rule.body


@pytest.mark.parametrize(
    ("typed", "clean", "body"),
    [
        ("1234567", "1234567", "GMC"),
        ("12a3456e", "12A3456E", "NMC"),
        ("RA12345", "RA12345", "HCPC"),
        ("ph123456", "PH123456", "HCPC"),
        (" 1234567 ", "1234567", "GMC"),
    ],
)
def test_registration_numbers(typed: str, clean: str, body: str) -> None:
    assert clean_registration(typed) == clean
    assert registration_body(clean) == body
    assert client_accepts("registration", typed)


@pytest.mark.parametrize(
    ("typed", "body"),
    [
        ("1000009", "GMC"),
        ("9099990", "GMC"),
        ("00A0000A", "NMC"),
        ("99Z9999Z", "NMC"),
        ("az09999", "HCPC"),
        ("ZA900000", "HCPC"),
    ],
)
def test_each_register_shape_takes_any_digit_and_letter_in_its_places(
    typed: str, body: str
) -> None:
    """The shapes are the rule (7 digits; 2 digits, letter, 4 digits, letter; 2 letters, 5-6
    digits): 0 and 9, A and Z, either case, wherever a digit or letter stands."""
    assert registration_body(clean_registration(typed)) == body
    assert client_accepts("registration", typed)


def test_a_number_of_no_register_belongs_to_none() -> None:
    assert registration_body("12345") is None


@pytest.mark.parametrize(
    "typed", ["", "123456", "12345678", "12A3456", "R12345", "RA1234", "RA1234567"]
)
def test_malformed_registration_numbers_are_refused(typed: str) -> None:
    with pytest.raises(FieldError, match="GMC"):
        clean_registration(typed)
    assert not client_accepts("registration", typed)


# --- Text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "Smith\r\nBcc: x",
        "Smith\n",
        "a\x00b",  # the first control character
        "tab\there",
        "a\x1fb",  # the last C0 control character
        "a\x7fb",  # DEL
        "a\x85b",  # NEL, a line break to some readers
        "x\u2028y",  # line separator
        "x\u2029y",  # paragraph separator
        "\ud800",  # the first lone surrogate
        "\udfff",  # the last
    ],
)
def test_single_line_fields_refuse_line_breaks_and_control_characters(typed: str) -> None:
    with pytest.raises(FieldError) as refused:
        check_single_line(typed)
    assert str(refused.value) == "Use a single line without line breaks or control characters"


def test_single_line_fields_keep_ordinary_names() -> None:
    # a space (just after the control characters), "~" (just before DEL), U+00A0 and U+2030
    # (just around NEL and the separators), and the characters around the surrogates
    for name in ("O'Brien-Smith Zoë", "Ann ~Lee", "Ann\xa0Lee", "per \u2030", "\ud7ff\ue000"):
        assert check_single_line(name) == name


def test_multi_line_fields_allow_line_breaks_only() -> None:
    text = "Pain 3 weeks.\r\nWorse at night.\tNo trauma.\x85~ \u2028 \ud7ff\ue000"
    assert check_multi_line(text) == text


@pytest.mark.parametrize(
    "typed",
    ["bell\x07", "\x00", "\x08", "\x0b", "\x0c", "\x0e", "\x1f", "\x7f", "\ud800", "\udfff"],
)
def test_multi_line_fields_refuse_other_control_characters(typed: str) -> None:
    with pytest.raises(FieldError) as refused:
        check_multi_line(f"Pain{typed}")
    assert str(refused.value) == "Remove the control characters from this text"


def test_each_rule_tells_staff_what_to_type() -> None:
    """The card shows these next to the field, and the server the same ones."""
    messages = {name: rule.error_message for name, rule in CLIENT_RULES.items()}
    assert messages == {
        "nhs_number": "Enter the 10-digit NHS number (spaces or hyphens are fine)",
        "postcode": "Enter a UK postcode, for example SE1 7EH",
        "phone": "Enter a UK landline or mobile number, for example 020 7188 7188",
        "ods_code": "Enter the practice ODS code: one letter and 5 digits, for example G85001",
        "nhs_mail": (
            "Enter the practice's monitored nhs.net mailbox, for example practice.name@nhs.net"
        ),
        "registration": (
            "Enter a GMC (7 digits), NMC (e.g. 12A3456E) or HCPC (e.g. RA12345) registration number"
        ),
    }
    refusals = {
        "nhs_number": lambda: clean_nhs_number("12"),
        "postcode": lambda: clean_postcode("SE1"),
        "phone": lambda: clean_phone("12"),
        "ods_code": lambda: clean_ods_code("G1"),
        "nhs_mail": lambda: clean_nhs_mail("a@b.c"),
        "registration": lambda: clean_registration("1"),
    }
    for name, refuse in refusals.items():
        with pytest.raises(FieldError) as refused:
            refuse()
        assert str(refused.value) == messages[name], name


def test_every_client_rule_is_anchored() -> None:
    """JavaScript RegExp.test is unanchored: without ^...$ any substring would pass."""
    for name, rule in CLIENT_RULES.items():
        assert rule.regex.startswith("^") and rule.regex.endswith("$"), name
        assert not client_accepts(name, "junk " + "9434765919 G85001 SE1 7EH" + " junk"), name


# --- Reference --------------------------------------------------------------------------


def test_reference_round_trip() -> None:
    reference = format_reference(date(2026, 11, 29), 7)
    assert reference == "DT-20261129-0007"
    parsed = parse_reference(" dt-20261129-0007 ")
    assert parsed is not None
    assert (parsed.day, parsed.sequence, str(parsed)) == (date(2026, 11, 29), 7, reference)


@pytest.mark.parametrize(
    "text", ["", "DT-20261129-7", "DT-20261329-0001", "XX-20261129-0007", "DT-20261129-0000"]
)
def test_parse_reference_rejects_non_references(text: str) -> None:
    assert parse_reference(text) is None


@pytest.mark.parametrize("sequence", [0, -1, 10_000])
def test_format_reference_refuses_sequences_that_do_not_fit(sequence: int) -> None:
    with pytest.raises(ValueError, match="sequence"):
        format_reference(date(2026, 11, 29), sequence)
