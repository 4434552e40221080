"""How the parser reads a message: the mechanisms behind the corpus (tests/test_corpus.py).

The corpus says *what* each phrasing means; these tests pin down *why*, one
rule at a time, so a change that breaks a rule fails here with its name.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.nlu import Intent, Parsed, normalise, parse, parse_for, query_tags
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


# --- Every rule of `_decide`, stated by a phrasing that only that rule places -------
# Each phrasing is chosen so that breaking the named rule (a cue dropped, "and" swapped for
# "or") changes the intent it reaches. Most do not start with a command word.


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        # Helpdesk: a desk word, a weak desk word, or a borough, without a command word.
        ("who do we ring about a ticket", Intent.HELPDESK),
        ("what is the number for bromley", Intent.HELPDESK),
        ("latest on the helpdesk", Intent.HELPDESK),
        # Mailbox: a mailbox word, or "where" with sending or going.
        ("where does it go", Intent.MAILBOX),
        ("latest where to send", Intent.MAILBOX),
        ("latest on the mailbox", Intent.MAILBOX),
        ("which one", Intent.UNKNOWN),  # "where" alone is no mailbox question
        # A mailbox word with a name outranks one foreign word ("mate").
        ("mailbox kings xray mate", Intent.MAILBOX),
        # Order: a request word with sending or wanting, or starting with "refer"/"book".
        ("refer a patient for imaging", Intent.ORDER),
        ("book a kings xray", Intent.ORDER),
        ("request kings xray, is that right?", Intent.ORDER),
        ("referrals", Intent.UNKNOWN),  # a request word alone asks nothing
        ("kings xray", Intent.MAILBOX),  # a name alone asks where it goes
        # One foreign word is allowed with "radiology", two are not.
        ("where do radiology results arrive", Intent.RESULTS),
        ("radiology results of the annual staff survey", Intent.UNKNOWN),
        ("radiology results, huh blah", Intent.UNKNOWN),
        # A system for ordering or radiology is ICE.
        ("the radiology system is down", Intent.ICE_DOWN),
        ("the referral system has crashed", Intent.ICE_DOWN),
        # A PCN with a foreign word counts when it is about ordering, radiology or an outage.
        ("pcn hub is down", Intent.ICE_PCN),
        ("pcn hub referral", Intent.ICE_PCN),
        ("pcn hub imaging", Intent.ICE_PCN),
        ("pcn hub xray", Intent.UNKNOWN),
        # Trouble alone, with nothing else named, may be an outage: the triage question.
        ("its slow", Intent.ICE_TRIAGE),
        # An access word with trouble or something missing is one person's access problem.
        ("login is slow", Intent.ICE_ACCESS),
        ("my smartcard is missing", Intent.ICE_ACCESS),
        # A patient turned up and the hospital has no request: walk-in.
        ("patient turned up for their xray request", Intent.WALK_IN),
        ("patient here but no request", Intent.WALK_IN),
        ("hospital cant find the request", Intent.WALK_IN),
        ("no request here", Intent.UNKNOWN),  # nobody turned up anywhere
    ],
)
def test_non_command_phrasings_reach_their_rule(text: str, intent: Intent) -> None:
    assert parse(text).intent is intent


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("ICE is back", Intent.ICE_BACK),
        # "Back" with any sign of a problem is not the all-clear.
        ("ICE back then down again", Intent.ICE_DOWN),
        ("ICE is back but slow", Intent.ICE_TRIAGE),
        ("ICE not back yet", Intent.ICE_TRIAGE),
        ("ice is back but my login has expired", Intent.ICE_ACCESS),
        # About ICE and naming a place: where it goes, if it says where or sending.
        ("ICE: which one for kings ultrasound", Intent.MAILBOX),
        ("sending kings ultrasound while ICE is off", Intent.MAILBOX),
        ("ICE mailbox", Intent.MAILBOX),
        ("help ice is down", Intent.ICE_DOWN),
        ("/help ICE is down", Intent.ICE_DOWN),  # help with ICE named is the situation
    ],
)
def test_rules_about_ice_itself(text: str, intent: Intent) -> None:
    assert parse(text).intent is intent


@pytest.mark.parametrize(
    "text",
    [
        # A status word with a problem, not asked as a question: a report, not "any news?".
        "latest: still down",
        "latest, slow",
        "latest, we cant",
        "latest, password",
        # ... or with what the user wants to do, or a place: not a question about ICE's state.
        "ICE status, which mailbox",
        "ICE status, mailbox",
        "ICE status, helpdesk",
        "ICE status, send the form",
        "ICE status, where",
        "ICE status for kings",
        "ICE status of the request",
        # A question about an outage that is really about me, or about how to do something.
        "is ICE down for me?",
        "is ICE down, just me?",
        "is ICE down, cant log in?",
        "is ICE down? the request",
        "is ICE down? mailbox",
        "is ICE down? helpdesk",
        "is ICE down, should I submit?",
        "is ICE down? where",
        # "ok?" asks after ICE only when a system is named.
        "is it ok?",
    ],
)
def test_status_questions_are_only_about_ice_for_everyone(text: str) -> None:
    assert parse(text).intent is not Intent.ICE_STATUS


@pytest.mark.parametrize(
    "text", ["ICE status", "ICE news", "is ICE slow?", "any news? we cant", "is the system ok?"]
)
def test_status_questions(text: str) -> None:
    assert parse(text).intent is Intent.ICE_STATUS


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("my requests", Intent.MY_REQUESTS),
        ("what have i sent", Intent.MY_REQUESTS),
        ("my requests to send", Intent.ORDER),
        ("my requests i want", Intent.ORDER),
        ("my requests rejected", Intent.REJECTIONS),
        ("my requests results", Intent.RESULTS),
        ("my requests walked in", Intent.WALK_IN),
        ("logs", Intent.PRACTICE_LOG),
        ("logbook", Intent.PRACTICE_LOG),
        ("incident log", Intent.PRACTICE_LOG),
        ("our log", Intent.PRACTICE_LOG),
        ("surgery log", Intent.PRACTICE_LOG),
        ("ice log", Intent.PRACTICE_LOG),
        ("practice log", Intent.PRACTICE_LOG),
        ("downtime log", Intent.PRACTICE_LOG),
        ("outage log", Intent.PRACTICE_LOG),
    ],
)
def test_what_i_sent_and_the_practice_log(text: str, intent: Intent) -> None:
    assert parse(text).intent is intent


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("request", Intent.ORDER),
        ("request please", Intent.ORDER),
        ("order a referral", Intent.ORDER),
        ("order thanks", Intent.ORDER),
        ("access", Intent.ICE_ACCESS),
        ("down", Intent.ICE_TRIAGE),
        ("help desk", Intent.HELPDESK),
        ("mail box", Intent.MAILBOX),
        # Mistyped commands: corrected, then the command.
        ("rejectons", Intent.REJECTIONS),
        ("dwon", Intent.ICE_TRIAGE),
        ("mailbxo", Intent.MAILBOX),
        # A command word followed by one other word that asks something else.
        ("request rejected", Intent.REJECTIONS),
        ("/order ice", Intent.ORDER),  # a slash is explicit
        ("/outgae", Intent.INCIDENT_DECLARE),
        ("/restore", Intent.INCIDENT_RESTORE),
        ("   /outage", Intent.INCIDENT_DECLARE),
    ],
)
def test_command_words_and_their_typos(text: str, intent: Intent) -> None:
    assert parse(text).intent is intent


@pytest.mark.parametrize(
    "text",
    [
        "order ice",
        "order down",
        "order slow",
        "order password",
        "order pcn",
        "order results",
        "order rejected",
        "order next steps",
        "order walked in",
        "order missing",
        "order helpdesk",
        "order mailbox",
        "order status",
        "order anyone else",
        "order back",
    ],
)
def test_a_command_word_is_not_the_command_when_the_rest_asks_something_else(text: str) -> None:
    assert parse(text).intent is not Intent.ORDER


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("pls declare ICE down", Intent.INCIDENT_DECLARE),
        ("declare down", Intent.INCIDENT_DECLARE),
        ("announce restored", Intent.INCIDENT_RESTORE),
        ("declare", Intent.UNKNOWN),
        ("please declare", Intent.UNKNOWN),
        ("please", Intent.UNKNOWN),
    ],
)
def test_an_admin_announcement_said_in_words(text: str, intent: Intent) -> None:
    assert parse(text).intent is intent


@pytest.mark.parametrize(
    "text",
    [
        "nice day, the printer is down",
        "rice is off",
        "dice broken",
        "mice in the kitchen",
        "nice one",
        "price list down",
    ],
)
def test_words_that_contain_ice_are_not_ice(text: str) -> None:
    """A four-letter word is corrected only by swapping two letters, and a
    three-letter one never, so "nice", "rice" and "dice" never become ICE."""
    assert parse(text).intent not in {
        Intent.ICE_DOWN, Intent.ICE_TRIAGE, Intent.ICE_ACCESS, Intent.ICE_STATUS, Intent.ICE_BACK,
    }  # fmt: skip
    assert "ice" not in normalise(text)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("dwon", "down"),  # four letters: two swapped
        ("rejectons", "rejections"),  # one letter missing
        ("flouroscpy", "fluoroscopy"),  # ten or more letters: two edits
        ("mamography", "mammography"),
        ("ultrasonud", "ultrasound"),
    ],
)
def test_typos_are_corrected_within_their_length_s_allowance(typed: str, meant: str) -> None:
    assert normalise(typed) == [meant]


@pytest.mark.parametrize("word", ["dowm", "rejecxyzns", "pasword1", "ice9", "abcd", "1234"])
def test_a_word_too_far_from_any_known_word_is_kept_as_typed(word: str) -> None:
    assert normalise(word) == [word]


def test_the_email_is_the_mailbox_when_named_as_a_thing() -> None:
    for text in (
        "what is the email?",
        "what is the radiology email?",
        "what is the referrals email?",
        "what is the referral email?",
        "what is the department email?",
        "email for radiology?",
        "email please?",
        "email pls?",
        "whats their email",
    ):
        assert parse(text).intent is Intent.MAILBOX, text


def test_voice_typing_and_dictation_are_folded() -> None:
    assert normalise("King\u2019s") == ["kings"]
    assert normalise("we\u2019ve, they'll, I'm, he'd") == ["weve", "theyll", "im", "hed"]
    assert normalise("ICE down question mark") == ["ice", "down", "?"]
    assert normalise("ice down full stop") == ["ice", "down"]
    assert normalise("ice?down") == ["ice", "?", "down"]
    assert normalise("kings u/s") == ["kings", "us"]
    assert normalise("zebra 0800") == ["zebra", "0800"]
    assert parse("i see password expired").intent is Intent.ICE_ACCESS


def test_an_empty_or_question_mark_message_is_unknown_with_no_slots() -> None:
    for text in ("", "   ", "?", " ? "):
        parsed = parse(text)
        assert parsed.intent is Intent.UNKNOWN and dict(parsed.slots) == {}
    assert Parsed(Intent.HELP).slots == {}


def test_the_priority_of_an_attached_form_is_read_as_typed() -> None:
    def priority(text: str) -> str | None:
        return parse_for(Intent.FILE, text).slots.get("priority")

    assert priority("urgent, guys") == "urgent"
    assert priority("urgently please") == "urgent"
    assert priority("routine kings") == "routine"
    assert priority("non urgent") == "routine"
    assert priority("nonurgent") == "routine"
    assert priority("not urgently") == "routine"
    assert priority("not routine, urgent") == "urgent"
    assert priority("not routine") is None
    assert priority("kings ultrasound") is None
    assert priority("") is None
    assert parse_for(Intent.FILE, "?").slots == {}
    assert parse_for(Intent.MAILBOX, "urgent kings").slots == {"trust": "kch"}


def test_search_tags_keep_every_word_but_question_marks() -> None:
    assert query_tags("? kings") == [("kings", frozenset({"trust:kch"}))]
    assert query_tags("us mailbox") == [
        ("us", frozenset({"modality:ultrasound"})),
        ("mailbox", frozenset({"concept:mailbox"})),
    ]
    # "us" next to nothing that makes it ultrasound is the pronoun, a word with no tags.
    assert all(word != "us" for word, _ in query_tags("can you help us"))
    assert all(word != "us" for word, _ in query_tags("us for the kings"))  # two words away
    assert query_tags("kings email") == [
        ("kings", frozenset({"trust:kch"})),
        ("email", frozenset({"concept:send", "concept:sent"})),
    ]


def test_the_public_names_exist() -> None:
    import bot.nlu as nlu

    assert all(hasattr(nlu, name) for name in nlu.__all__)
    assert {Intent.WELCOME.value, Intent.PATIENT_DATA.value} == {"welcome", "patient_data"}


def test_us_is_ultrasound_next_to_a_place_a_mailbox_or_a_request_word() -> None:
    assert parse("us kings").slots == {"trust": "kch", "modality": "ultrasound"}
    assert parse("mailbox us").slots == {"modality": "ultrasound"}
    assert parse("us referral").slots == {"modality": "ultrasound"}
    assert query_tags("us referral")[0] == ("us", frozenset({"modality:ultrasound"}))
    # Two words away is not next to it.
    assert [word for word, _ in query_tags("us for kings")] == ["kings"]
    assert [word for word, _ in query_tags("kings for us")] == ["kings"]
    assert query_tags("") == []


def test_a_place_s_email_is_its_mailbox_even_beside_a_foreign_word() -> None:
    assert parse("kings email mate").intent is Intent.MAILBOX


def test_more_rule_edges() -> None:
    # A status word with a sending word asks how to send, not whether ICE is up.
    assert parse("ICE status, should I submit").intent is not Intent.ICE_STATUS
    # "After" with "sent": what happens next.
    assert parse("after i sent it").intent is Intent.NEXT
    # One foreign word ("pathway") is allowed beside "radiology".
    assert parse("radiology results pathway").intent is Intent.RESULTS
