"""How the parser reads a message: the mechanisms behind the corpus (tests/test_corpus.py).

The corpus says *what* each phrasing means; these tests pin down *why*, one
rule at a time, so a change that breaks a rule fails here with its name.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.nlu import Intent, normalise, parse, query_tags
from bot.vocabulary import MODALITIES, OTHER_AREAS, SITES


@given(st.text(max_size=300))
def test_parse_never_raises(text: str) -> None:
    assert isinstance(parse(text).intent, Intent)


def test_slots_cannot_be_changed_by_a_caller() -> None:
    """`parse` caches its answers, so a handler must not be able to alter one."""
    parsed = parse("mailbox kings ultrasound")
    with pytest.raises(TypeError):
        parsed.slots["trust"] = "gstt"  # type: ignore[index]
    assert parse("mailbox kings ultrasound").slots == {"trust": "kch", "modality": "ultrasound"}


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Can't get into ICE", ["cant", "get_into", "ice"]),
        ("KING'S X-Ray", ["kings", "x_ray"]),
        (
            "ice is down full stop what do i do question mark",
            ["ice", "is", "down", "what", "do", "i", "do", "?"],
        ),
        ("kings u/s", ["kings", "us"]),
    ],
)
def test_normalise_folds_apostrophes_dictation_and_phrases(text: str, tokens: list[str]) -> None:
    assert normalise(text) == tokens


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("dwon", "down"), ("ultrasund", "ultrasound"), ("flouroscopy", "fluoroscopy")],
)
def test_typos_of_known_words_are_corrected(typed: str, meant: str) -> None:
    assert normalise(typed) == [meant]


@pytest.mark.parametrize("word", ["town", "dawn", "survey", "covering", "lunch"])
def test_ordinary_words_are_not_corrected_into_known_ones(word: str) -> None:
    """One changed letter in a short word, or a name outside the six, is another word."""
    assert normalise(word) == [word]


@pytest.mark.parametrize(
    "text", ["ice cream in the fridge", "the ice machine is broken", "black ice on the road"]
)
def test_ice_the_substance_is_not_the_system(text: str) -> None:
    assert parse(text).intent is Intent.UNKNOWN


@pytest.mark.parametrize("text", ["I see is down", "i see keeps crashing"])
def test_voice_typed_i_see_is_ice(text: str) -> None:
    assert parse(text).intent is Intent.ICE_DOWN


def test_i_see_as_words_is_not_ice() -> None:
    assert parse("I see, thanks").intent is Intent.THANKS


def test_it_in_capitals_is_the_it_department_and_in_lower_case_a_pronoun() -> None:
    assert parse("who do I ring for IT").intent is Intent.HELPDESK
    assert parse("is it down?").intent is Intent.ICE_STATUS


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("the printer is down", Intent.UNKNOWN),
        ("its down", Intent.ICE_TRIAGE),
        ("results of the staff survey are out", Intent.UNKNOWN),
        ("where do results come from", Intent.RESULTS),
    ],
)
def test_weak_cues_count_only_without_foreign_words(text: str, intent: Intent) -> None:
    assert parse(text).intent is intent


def test_a_statement_of_an_outage_is_not_a_question_about_one() -> None:
    """A statement gets the steps; the question asks whether an outage was declared."""
    assert parse("ICE is down").intent is Intent.ICE_DOWN
    assert parse("is ICE down?").intent is Intent.ICE_STATUS


@pytest.mark.parametrize(
    "text", ["outage", "ICE outage", "ICE was declared down by the supplier", "restored"]
)
def test_only_a_slash_or_a_leading_declare_announces_to_everyone(text: str) -> None:
    """Everyone's words never become an admin's command: /outage and "declare ..." only."""
    assert parse(text).intent not in (Intent.INCIDENT_DECLARE, Intent.INCIDENT_RESTORE)


@pytest.mark.parametrize("text", ["log a ticket", "I can't log in", "log on to ICE"])
def test_log_in_a_phrase_is_not_the_practice_log(text: str) -> None:
    assert parse(text).intent is not Intent.PRACTICE_LOG


def test_anything_mentioning_ice_that_cannot_be_placed_is_a_possible_outage() -> None:
    assert parse("ICE is being odd with the thingamajig").intent is Intent.ICE_TRIAGE


def test_a_command_word_yields_when_the_rest_asks_something_else() -> None:
    assert parse("request bounced back after vetting").intent is Intent.REJECTIONS
    assert parse("request an ultrasound at kings").intent is Intent.ORDER
    assert parse("/results of the staff survey").intent is Intent.RESULTS  # a slash is explicit


def test_us_is_ultrasound_only_next_to_a_trust_or_request_word() -> None:
    assert parse("kings us").slots == {"trust": "kch", "modality": "ultrasound"}
    assert "modality" not in parse("can you send a request for us to kings").slots


def test_a_borough_outside_the_six_is_its_own_slot() -> None:
    parsed = parse("helpdesk croydon")
    assert parsed.slots == {"other_borough": "Croydon"}
    assert parse("helpdesk lambeth, we moved from croydon").slots == {"borough": "Lambeth"}


def test_slots_an_intent_does_not_use_are_not_part_of_its_meaning() -> None:
    assert parse("helpdesk bromley for a kings xray").slots == {"borough": "Bromley"}


@pytest.mark.parametrize("modality", MODALITIES, ids=lambda m: m.id)
def test_every_modality_is_recognised_by_its_name(modality) -> None:
    assert parse(f"mailbox guys {modality.name}").slots.get("modality") == modality.id


@pytest.mark.parametrize("site", SITES, ids=lambda s: s.id)
def test_every_site_names_its_trust(site) -> None:
    slots = parse(f"{site.words[0]} mailbox").slots
    assert (slots.get("site"), slots.get("trust")) == (site.id, site.trust)


@pytest.mark.parametrize("area", OTHER_AREAS, ids=lambda a: a.name)
def test_every_area_outside_the_six_is_recognised(area) -> None:
    assert parse(f"helpdesk {area.words[0]}").slots == {"other_borough": area.name}


def test_search_queries_are_read_with_the_same_vocabulary() -> None:
    assert query_tags("kings us") == [
        ("kings", frozenset({"trust:kch"})),
        ("us", frozenset({"modality:ultrasound"})),
    ]
    assert query_tags("for the") == []
    assert query_tags("brom") == [("brom", frozenset())]
