"""The patient-data check behind the reminder in shared chats (bot/privacy.py), rule by rule.

The conversation tests (`test_conversation_answers.py`) prove the reminder is
sent and quotes nothing; these state what counts as patient data: an NHS
number that passes Modulus 11 however it is grouped, and a date of birth
next to "DOB" or a name. A false alarm costs one polite line, so the
positives are broad; the negatives are the everyday messages that must not
nag (phone numbers, meeting dates, hospital and day names).
"""

from __future__ import annotations

import pytest

from bot.privacy import looks_like_patient_data

VALID = "9434765919"  # Modulus 11 check digit right
WRONG_CHECK = "9434765918"  # the same with a wrong check digit


@pytest.mark.parametrize(
    "number",
    [
        VALID,
        "943 476 5919",  # as printed, 3-3-4
        "943-476-5919",
        "9434 765 919",
        "94 34 76 59 19",  # any grouping
        "9-4-3-4-7-6-5-9-1-9",
        "943 476-5919",
    ],
)
def test_a_valid_nhs_number_counts_however_it_is_grouped(number: str) -> None:
    assert looks_like_patient_data(f"need an xray for {number} please")


@pytest.mark.parametrize(
    "text",
    [
        VALID,  # the message is only the number
        f"NHS:{VALID}",  # glued to a word
        f"({VALID})",
        f"nhs no {VALID}.",
    ],
)
def test_a_valid_nhs_number_counts_wherever_it_stands(text: str) -> None:
    assert looks_like_patient_data(text)


@pytest.mark.parametrize(
    "text",
    [
        WRONG_CHECK,
        "943 476 5918",
        "call the service desk on 020 8176 5400",
        "0208 176 5400",
        "07700 900 123",
        "1" + VALID,  # eleven digits that end in a valid number
        VALID + "1",  # eleven digits that start with one
        "943 476 591",  # nine digits
        "943 476 59190",
        "ticket 123456 raised",
    ],
)
def test_numbers_that_are_not_a_valid_nhs_number_do_not_count(text: str) -> None:
    assert not looks_like_patient_data(text)


def test_a_valid_number_later_in_the_message_counts_after_an_invalid_one() -> None:
    assert looks_like_patient_data(f"not {WRONG_CHECK} but {VALID}")


@pytest.mark.parametrize(
    "date",
    [
        "12/03/1961",
        "12.3.61",
        "12-03-1961",
        "1/3/61",
        "1961-03-12",
        "12 March 1961",
        "12th March 1961",
        "1st Mar 1961",
        "2nd Feb. 1961",
        "3rd June, 1961",
        "12 mar 61",
    ],
)
def test_a_date_next_to_dob_counts_in_every_written_shape(date: str) -> None:
    assert looks_like_patient_data(f"patient DOB {date} needs a scan")


@pytest.mark.parametrize(
    "month",
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
)
def test_every_month_name_makes_a_date(month: str) -> None:
    assert looks_like_patient_data(f"born 12 {month} 1961")
    assert looks_like_patient_data(f"born 12 {month.title()} 1961")


@pytest.mark.parametrize(
    "words", ["DOB", "dob", "D.O.B.", "d.o.b", "date of birth", "Date of Birth", "born", "birthday"]
)
def test_every_way_of_saying_date_of_birth_counts(words: str) -> None:
    assert looks_like_patient_data(f"{words} 12/03/1961")
    assert looks_like_patient_data(f"12/03/1961 ({words})")


@pytest.mark.parametrize(
    "name", ["Mr Khan", "Mrs Khan", "Ms Khan", "Miss Khan", "Mx Khan", "Master Khan", "Dr Khan"]
)
def test_a_title_and_a_name_beside_a_date_count(name: str) -> None:
    assert looks_like_patient_data(f"{name} 12/03/1961 needs an xray")
    assert looks_like_patient_data(f"xray for {name}., 12/03/1961")


@pytest.mark.parametrize("name", ["Mrs O'Neil", "Mr Smith-Jones", "Dr. Patel"])
def test_names_with_apostrophes_hyphens_and_a_dotted_title_count(name: str) -> None:
    assert looks_like_patient_data(f"{name} 12/03/1961")


@pytest.mark.parametrize(
    "name",
    [
        "John Smith",
        "Aoife O'Neil",
        "Anna Smith-Jones",
        "Lily-May Jones",
        "Lily-April Jones",
        "Noor Al-amin",
    ],
)
def test_two_capitalised_words_beside_a_date_count_as_a_name(name: str) -> None:
    assert looks_like_patient_data(f"{name} 12.3.61 where do I send this")


@pytest.mark.parametrize(
    "text",
    [
        "staff meeting 12/03/2026 in room 2",
        "ICE down since 12/03/2026",
        "Kings College 12/03/2026",  # known words, not a name
        "Denmark Hill closed on 12/03/2026",
        "Princess Royal xray backlog 12.3.26",
        "Guys Hospital, 12 March 2026",
        "Monday March 12th: training at 12/03/2026",
        "St Thomas radiology 12/03/2026",
        "Please send by 12/03/2026",  # one capital word is not a name
        "John Smith needs an xray",  # a name but no date
        "Mrs Khan needs an xray",
        "DOB",
        "",
        "12/03",  # no year: not a date of birth
    ],
)
def test_dates_and_names_that_are_not_a_date_of_birth_do_not_count(text: str) -> None:
    assert not looks_like_patient_data(text)


@pytest.mark.parametrize("known", ["Kings", "Bromley", "Lewisham", "Patient", "Urgent"])
def test_a_pair_counts_as_a_name_only_when_neither_word_is_a_known_one(known: str) -> None:
    assert not looks_like_patient_data(f"{known} Smith 12/03/1961")
    assert not looks_like_patient_data(f"Smith {known} 12/03/1961")
    assert looks_like_patient_data(f"Jane Smith 12/03/1961 {known.lower()}")


def test_dob_counts_up_to_forty_characters_from_the_date() -> None:
    near = "DOB" + " " * 37 + "12/03/1961"  # "DOB" starts 40 characters before the date
    far = "DOB" + " " * 38 + "12/03/1961"
    assert looks_like_patient_data(near)
    assert not looks_like_patient_data(far)
    after_near = "12/03/1961" + " " * 37 + "DOB"  # ends 40 characters after the date
    after_far = "12/03/1961" + " " * 38 + "DOB"
    assert looks_like_patient_data(after_near)
    assert not looks_like_patient_data(after_far)


def test_a_name_counts_up_to_forty_characters_from_the_date() -> None:
    assert looks_like_patient_data("Mrs Khan" + " " * 32 + "12/03/1961")
    assert not looks_like_patient_data("Mrs Khan" + " " * 33 + "12/03/1961")
    assert looks_like_patient_data("12/03/1961" + " " * 32 + "Mrs Khan")
    # Forty characters after the date end in "Mrs K": no name is seen there yet.
    assert not looks_like_patient_data("12/03/1961" + " " * 35 + "Mrs Khan")


def test_a_later_date_of_birth_counts_after_a_date_that_is_not_one() -> None:
    text = "meeting 12/03/2026" + " " * 60 + "DOB 01/02/1950"
    assert looks_like_patient_data(text)


def test_dob_must_be_a_word_of_its_own() -> None:
    assert not looks_like_patient_data("adobe reader 12/03/2026")
    assert not looks_like_patient_data("stubborn printer 12/03/2026")


@pytest.mark.parametrize(
    "month",
    [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
        "Sept",
    ],
)
def test_every_month_written_in_full_makes_a_date(month: str) -> None:
    assert looks_like_patient_data(f"born 12 {month} 1961")


@pytest.mark.parametrize(
    "date", ["12  March 1961", "12 March  1961", "12\tMarch\t1961", "12 March,\n1961"]
)
def test_a_written_date_with_extra_spaces_still_counts(date: str) -> None:
    assert looks_like_patient_data(f"DOB {date}")


@pytest.mark.parametrize(
    "text",
    [
        # A month and a year, or a day and a month, is not a date of birth.
        "Dr Shah's clinic moves in March 2026",
        "Mrs Khan: clinic on 12 March 9 to 5",
        # Addresses and references with dots or slashes are not dates.
        "Print Server 10.200.12.50 is down",
        "Service Desk ticket SD/12/2026 raised",
        # Words run together are one word, not a first name and a surname.
        "the SharePoint form from 12/03/2026 is out of date",
        # A single capital letter is not a first name.
        "X Ray booked for 12/03/2026",
    ],
)
def test_everyday_numbers_and_words_near_a_capital_do_not_count(text: str) -> None:
    assert not looks_like_patient_data(text)


@pytest.mark.parametrize(
    "name",
    [
        # Surnames that are also words the bot knows (places, months): only the title
        # makes them a name.
        "Mr Hill",
        "Mrs Hill",
        "Ms May",
        "Miss Royal",
        "Mx Hill",
        "Master May",
        "Mrs  Hill",  # two spaces
        # "Dr" is a known word too, so with it only the title rule sees the name.
        "Dr O'Neil",
        "Dr D'Souza",
        "Dr Ozturk",
        "Dr Ahmed",  # the first and last letters of the alphabet
        "Dr Zhang",
    ],
)
def test_a_title_makes_the_next_capitalised_word_a_name(name: str) -> None:
    assert looks_like_patient_data(f"{name} 12/03/1961")


@pytest.mark.parametrize(
    "name",
    [
        "Zara Smith",
        "John Ahmed",
        "Jane Zhang",
        "Liz Smith",
        "Ravi Shah",
        "Jane Lopez",
        "John  Smith",  # two spaces
        "Jane Hill-Smith",  # half of the surname is a known word
    ],
)
def test_two_capitalised_words_of_any_letters_count_as_a_name(name: str) -> None:
    assert looks_like_patient_data(f"{name} 12/03/1961")
