"""UK postcodes against the official format, letter by letter and digit by digit.

The table below is the published format (Royal Mail's Postcode Address File,
BS 7666), written here from the format itself and not from our pattern, so a
letter lost from or added to one position of `bot.orders.validation` fails a
test. Each value is judged by the server (`clean_postcode`) and by the card's
regex (`CLIENT_RULES`), which must agree.

    Outward code shapes: A9, A99, AA9, AA99, A9A, AA9A; inward code: 9AA.
    1st letter (area):            any but Q, V, X
    2nd letter (area):            any but I, J, Z
    3rd letter (A9A's letter):    only A B C D E F G H J K P S T U W
    4th letter (AA9A's letter):   only A B E H M N P R V W X Y
    inward letters:               any but C, I, K, M, O, V
    special case:                 GIR 0AA (Girobank)
"""

from __future__ import annotations

import re
import string

import pytest

from bot.orders.validation import CLIENT_RULES, POSTCODE_MESSAGE, FieldError, clean_postcode

LETTERS = string.ascii_uppercase
NOT_FIRST = set("QVX")
NOT_SECOND = set("IJZ")
THIRD = set("ABCDEFGHJKPSTUW")
FOURTH = set("ABEHMNPRVWXY")
NOT_INWARD = set("CIKMOV")

#: For each position a letter can take, postcodes that are valid with "?" as any allowed letter.
TEMPLATES: dict[str, tuple[set[str], tuple[str, ...]]] = {
    "first": (
        set(LETTERS) - NOT_FIRST,
        ("?1 1AA", "?12 1AA", "?A1 1AA", "?A12 1AA", "?1A 1AA", "?A1A 1AA"),
    ),
    "second": (set(LETTERS) - NOT_SECOND, ("A?1 1AA", "A?12 1AA", "A?1A 1AA")),
    "third": (THIRD, ("A1? 1AA",)),
    "fourth": (FOURTH, ("AA1? 1AA",)),
    "inward": (set(LETTERS) - NOT_INWARD, ("A1 1?A", "A1 1A?")),
}
#: Every digit of every shape, "?" standing for the digit.
DIGIT_TEMPLATES = ("A? 1AA", "A?? 1AA", "AA? 1AA", "AA?? 1AA", "A?A 1AA", "AA?A 1AA", "A1 ?AA")


def accepted(value: str) -> bool:
    """The server's verdict; the card's regex must give the same one."""
    try:
        clean_postcode(value)
    except FieldError as error:
        assert str(error) == POSTCODE_MESSAGE
        server = False
    else:
        server = True
    client = re.search(CLIENT_RULES["postcode"].regex, value) is not None
    assert client == server, f"card and server disagree on {value!r}"
    return server


@pytest.mark.parametrize(
    "postcode",
    [
        "SW1P 3BT",  # AA9A (Westminster)
        "YO1 7HH",  # AA9 (York)
        "W1T 1JY",  # A9A (London W1)
        "ZE1 0AA",  # AA9 (Lerwick: Z first, 0 inward)
        "EC1A 1BB",  # AA9A
        "SE1 7EH",  # AA9 (St Thomas')
        "SE5 9RS",  # AA9 (King's College Hospital)
        "M1 1AE",  # A9
        "B33 8TH",  # A99
        "CR2 6XH",  # AA9
        "DN55 1PT",  # AA99
        "BR6 0QA",  # AA9 with Q inward
        "GIR 0AA",  # the one special case
    ],
)
def test_real_postcodes_of_every_shape_are_accepted(postcode: str) -> None:
    assert accepted(postcode)
    assert clean_postcode(postcode.lower().replace(" ", "")) == postcode
    assert accepted(postcode.lower())


@pytest.mark.parametrize("position", TEMPLATES)
def test_each_letter_position_takes_exactly_the_letters_the_format_allows(position: str) -> None:
    allowed, templates = TEMPLATES[position]
    for template in templates:
        verdicts = {letter: accepted(template.replace("?", letter)) for letter in LETTERS}
        assert {letter for letter, ok in verdicts.items() if ok} == allowed, template
        # ... typed in lower case too (users do), since the case is not the rule.
        lower = {letter for letter in LETTERS if accepted(template.replace("?", letter).lower())}
        assert lower == allowed, template


@pytest.mark.parametrize("template", DIGIT_TEMPLATES)
def test_every_digit_is_allowed_wherever_a_digit_stands(template: str) -> None:
    assert all(accepted(template.replace("?", digit)) for digit in string.digits)
    assert not accepted(template.replace("?", "O"))  # the letter O is not a zero


@pytest.mark.parametrize(
    "value",
    [
        "A 1AA",  # no district digit
        "A123 1AA",  # three digits
        "AB123 1AA",
        "ABC1 1AA",  # three area letters
        "A1AB 1AA",  # two letters after the digit
        "A1 1A",  # inward code too short
        "A1 12AA",  # inward code with two digits
        "A1 AAA",  # inward code without a digit
        "A1A1 1AA",  # a digit after A9A's letter
        "A12A 1AA",  # a letter after A99
        "GIR 1AA",  # the special case has one inward code only
        "GI 0AA",
        "SE17 EH",  # the space in the wrong place
        "S E1 7EH",
        "SE1-7EH",
    ],
)
def test_shapes_outside_the_format_are_refused(value: str) -> None:
    assert not accepted(value)


@pytest.mark.parametrize(
    ("typed", "clean"),
    [
        ("sw1p3bt", "SW1P 3BT"),
        ("  W1T   1JY  ", "W1T 1JY"),
        ("ze1\t0aa", "ZE1 0AA"),
        ("Gir0aa", "GIR 0AA"),
    ],
)
def test_a_postcode_is_stored_upper_case_with_one_space(typed: str, clean: str) -> None:
    assert clean_postcode(typed) == clean
