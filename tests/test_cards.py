"""The conversational cards, rendered with the real directory in every variant.

Each card must be schema-valid Adaptive Card 1.5 under 28 KB (tests/support/cards.py),
show the facts the BCP document gives for its situation, and carry exactly the
verbs and data the handlers are coded against. Phone numbers and addresses are
also checked against literals copied from the BCP document, so a wrong mapping
in the directory or a template fails here even if both agree with each other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.directory import BOROUGHS, load_directory
from bot.router import Command
from cards.render import TEMPLATE_DIR, CardRenderer
from tests.support.cards import (
    Card,
    assert_valid_card,
    buttons,
    card_size,
    card_text,
    iter_actions,
)

DIRECTORY = load_directory()
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

# Literals from the BCP document (shared/seed), independent of directory.toml.
BCP_MAILBOXES = {
    ("gstt", "radiology"): "gst-tr.radiologyreferrals@nhs.net",
    ("kch", "xray"): "kch-tr.xr_reception_dh@nhs.net",
    ("kch", "ultrasound"): "kch-tr.us.reception_dh@nhs.net",
    ("kch", "fluoroscopy"): "kch-tr.fl_reception_dh@nhs.net",
}
SEL_DESK = ("020 8176 5400", "ICT@selondonics.nhs.uk", "https://nhssel.haloitsm.com/portal/home")
BHC_DESK = ("0208 315 8702", "BHC.ITHelpdesk@nhs.net", "https://haloservicedesk.com")
BCP_DESKS = {borough: SEL_DESK for borough in BOROUGHS if borough != "Bromley"} | {
    "Bromley": BHC_DESK
}
RESULTS_MAILBOXES = (
    "gst-tr.ICEdowntimeradiologyresults@nhs.net",
    "gst-tr.radiologysecretaries@nhs.net",
)

COMMANDS = [
    Command("ice", "ICE is down", "Steps when ICE is down"),
    Command("helpdesk", "helpdesk", "Your borough's IT service desk"),
    Command("mailbox", "mailbox", "Where to email a request, e.g. mailbox kings ultrasound"),
]

# Templates other engineers own and test.
NOT_OURS = re.compile(r"^order_")


def _kch() -> Any:
    trust = DIRECTORY.trust("kch")
    assert trust is not None
    return trust


def _gstt() -> Any:
    trust = DIRECTORY.trust("gstt")
    assert trust is not None
    return trust


def _bromley_access() -> dict[str, Any]:
    return {
        "directory": DIRECTORY,
        "desk": DIRECTORY.desk_for("Bromley"),
        "borough": "Bromley",
        "boroughs": list(BOROUGHS),
    }


# Every variant of every card: (id, template, context). The validity test runs
# over all of them; the template-coverage test reads the template names from here.
VARIANTS: list[tuple[str, str, Callable[[], dict[str, Any]]]] = [
    ("welcome", "welcome", lambda: {"directory": DIRECTORY}),
    ("triage", "triage", lambda: {}),
    ("triage-with-directory", "triage", lambda: {"directory": DIRECTORY}),
    ("downtime_steps", "downtime_steps", lambda: {"directory": DIRECTORY}),
    ("access-desk", "access_steps", _bromley_access),
    (
        "access-no-desk",
        "access_steps",
        lambda: {"directory": DIRECTORY, "desk": None, "borough": None, "boroughs": list(BOROUGHS)},
    ),
    ("pcn", "pcn", lambda: {"directory": DIRECTORY}),
    *(
        (f"helpdesk-{b}", "helpdesk", lambda b=b: {"desk": DIRECTORY.desk_for(b), "borough": b})
        for b in BOROUGHS
    ),
    ("helpdesk_picker", "helpdesk_picker", lambda: {"boroughs": list(BOROUGHS)}),
    *(
        (
            f"mailbox-{t.id}-{d.id}",
            "mailbox",
            lambda t=t, d=d: {"trust": t, "department": d},
        )
        for t in DIRECTORY.trusts
        for d in t.departments
    ),
    (
        "mailbox_picker-all",
        "mailbox_picker",
        lambda: {"trusts": list(DIRECTORY.trusts), "trust": None},
    ),
    *(
        (
            f"mailbox_picker-{t.id}",
            "mailbox_picker",
            lambda t=t: {"trusts": list(DIRECTORY.trusts), "trust": t},
        )
        for t in DIRECTORY.trusts
    ),
    ("mailbox_unsupported", "mailbox_unsupported", lambda: {"trust": _kch(), "modality": "CT"}),
    *(
        (f"info-{topic}", "info", lambda topic=topic: {"directory": DIRECTORY, "topic": topic})
        for topic in ("next", "rejections", "results")
    ),
    ("help", "help", lambda: {"commands": COMMANDS, "not_understood": False}),
    ("help-not-understood", "help", lambda: {"commands": COMMANDS, "not_understood": True}),
    ("help-no-commands", "help", lambda: {"commands": [], "not_understood": True}),
    ("coming_soon", "coming_soon", lambda: {"feature": "Ordering from Teams"}),
]


@pytest.fixture(scope="module")
def renderer() -> CardRenderer:
    return CardRenderer()


def render(renderer: CardRenderer, name: str, **context: Any) -> Card:
    """Render and validate: every card a test looks at has passed the full gate."""
    card = renderer.render(name, context)
    assert_valid_card(card)
    return card


def emails_in(card: Card) -> set[str]:
    """Every address the user can read on the card or in its notification text."""
    visible = "\n".join([card_text(card), card["fallbackText"], card.get("speak", "")])
    return set(EMAIL.findall(visible))


def text_blocks(card: Any) -> list[dict[str, Any]]:
    """Every TextBlock, at any depth."""
    found: list[dict[str, Any]] = []
    if isinstance(card, dict):
        if card.get("type") == "TextBlock":
            found.append(card)
        for value in card.values():
            found.extend(text_blocks(value))
    elif isinstance(card, list):
        for item in card:
            found.extend(text_blocks(item))
    return found


# --- every card --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "context"), [(v[1], v[2]) for v in VARIANTS], ids=[v[0] for v in VARIANTS]
)
def test_every_variant_is_a_valid_teams_card(
    renderer: CardRenderer, name: str, context: Callable[[], dict[str, Any]]
) -> None:
    card = render(renderer, name, **context())
    assert card_size(card) < 28 * 1024
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    speak = card.get("speak")
    assert isinstance(speak, str) and speak.strip() and "\n" not in speak
    assert "\n" not in card["fallbackText"]
    blocks = text_blocks(card)
    assert blocks, "a card with no text"
    assert all(block.get("wrap") is True for block in blocks), "unwrapped text is cut on mobile"
    heading = blocks[0]
    assert heading["weight"] == "Bolder", "the first line of every card is a heading"
    assert list(iter_actions(card)), "no dead ends: every card has a button"


def test_every_template_is_rendered_by_a_test(renderer: CardRenderer) -> None:
    """A new template cannot slip in untested (order_* cards are tested by their owner)."""
    templates = {name for name in renderer.names() if not NOT_OURS.match(name)}
    tested = {name for _, name, _ in VARIANTS}
    assert templates, f"no templates found in {TEMPLATE_DIR}"
    assert templates - tested == set(), f"templates without a test: {sorted(templates - tested)}"


def test_templates_hard_code_no_address_or_number() -> None:
    """Every mailbox, phone number and URL comes from the directory, never a template."""
    phone = re.compile(r"\b0\d{2,4} ?\d{3,4} ?\d{4}\b")
    for path in sorted(Path(TEMPLATE_DIR).glob("*.json.j2")):
        if NOT_OURS.match(path.name):
            continue
        source = path.read_text(encoding="utf-8")
        assert not EMAIL.search(source), f"{path.name} hard-codes an email address"
        assert not phone.search(source), f"{path.name} hard-codes a phone number"
        without_schema = source.replace("http://adaptivecards.io/schemas/adaptive-card.json", "")
        assert "http" not in without_schema, f"{path.name} hard-codes a URL"


# --- welcome, triage, situations -----------------------------------------------


def test_welcome_offers_the_main_paths(renderer: CardRenderer) -> None:
    card = render(renderer, "welcome", directory=DIRECTORY)
    assert buttons(card) == [
        ("ICE is down", "ice.triage", {}),
        ("Service desk", "helpdesk.pick", {}),
        ("Mailboxes", "mailbox.pick", {}),
        ("Results and rejections", "info.show", {"topic": "results"}),
        ("Help", "help.show", {}),
    ]
    assert "downtime procedure" in card_text(card)


def test_triage_asks_which_situation_applies(renderer: CardRenderer) -> None:
    card = render(renderer, "triage")
    assert card["body"][0]["text"] == "Which applies to you?"
    assert buttons(card) == [
        ("ICE is down for everyone", "ice.down", {}),
        ("ICE works but I can't get in", "ice.access", {}),
        ("I work for a PCN or Federation", "ice.pcn", {}),
    ]


def test_downtime_steps_give_both_forms_and_all_four_mailboxes(renderer: CardRenderer) -> None:
    card = render(renderer, "downtime_steps", directory=DIRECTORY)
    text = card_text(card)
    for mailbox in BCP_MAILBOXES.values():
        assert mailbox in text
        assert mailbox in card["fallbackText"], (
            "notifications and old clients see the mailboxes too"
        )
    assert emails_in(card) == set(BCP_MAILBOXES.values())
    for trust in DIRECTORY.trusts:
        assert trust.form_name in text and trust.form_location in text
    assert "Radiology - referrals" in text and "General imaging" in text
    for modality in ("X-ray", "Ultrasound", "Fluoroscopy"):
        assert modality in text
    assert "one referral per email" in text.lower()
    assert "72 hours" in text
    assert buttons(card) == [
        ("Start a request in Teams", "order.start", {}),
        ("What happens next", "info.show", {"topic": "next"}),
        ("Service desk", "helpdesk.pick", {}),
    ]


def test_downtime_mailboxes_are_copyable_facts(renderer: CardRenderer) -> None:
    """Each mailbox stands alone as a fact value, so a tap-and-hold copies just the address."""
    card = render(renderer, "downtime_steps", directory=DIRECTORY)
    facts = [
        fact["value"].replace("\\", "")
        for node in json.loads(json.dumps(card["body"]))
        if node.get("type") == "Container"
        for item in node["items"]
        if item["type"] == "FactSet"
        for fact in item["facts"]
    ]
    assert sorted(facts) == sorted(BCP_MAILBOXES.values())


def test_access_steps_with_a_known_desk(renderer: CardRenderer) -> None:
    card = render(renderer, "access_steps", **_bromley_access())
    text = card_text(card)
    assert DIRECTORY.procedure.access_rule in text
    assert DIRECTORY.procedure.access_why in text
    assert "Log a ticket with your service desk" in text
    phone, email, portal = BHC_DESK
    assert phone in text and email in text
    assert "BHC Self-Service Portal (haloservicedesk.com)" in text
    assert SEL_DESK[0] not in text, "another borough's desk shown"
    [open_url] = [a for a in iter_actions(card) if a["type"] == "Action.OpenUrl"]
    assert open_url["title"] == "Open the service desk portal"
    assert open_url["url"].rstrip("/") == portal
    assert buttons(card) == [
        ("Not Bromley? Change borough", "helpdesk.pick", {}),
        ("Show the downtime steps", "ice.down", {}),
    ]


def test_access_steps_without_a_desk_ask_for_the_borough(renderer: CardRenderer) -> None:
    card = render(
        renderer,
        "access_steps",
        directory=DIRECTORY,
        desk=None,
        borough=None,
        boroughs=list(BOROUGHS),
    )
    text = card_text(card)
    assert DIRECTORY.procedure.access_rule in text
    assert "Which borough is your practice in?" in text
    assert not emails_in(card), "no desk is known yet, so no desk details"
    assert buttons(card) == [
        *((b, "access.borough", {"borough": b}) for b in BOROUGHS),
        ("Show the downtime steps", "ice.down", {}),
    ]
    # The six boroughs sit in the body, so the card stays within Teams' action limits.
    assert [a["title"] for a in card["actions"]] == ["Show the downtime steps"]


def test_access_steps_with_a_desk_but_no_borough(renderer: CardRenderer) -> None:
    card = render(
        renderer,
        "access_steps",
        directory=DIRECTORY,
        desk=DIRECTORY.desk_for("Lewisham"),
        borough=None,
        boroughs=list(BOROUGHS),
    )
    assert ("Change borough", "helpdesk.pick", {}) in buttons(card)
    assert "Not " not in card_text(card)


def test_pcn_card_says_the_procedure_does_not_apply(renderer: CardRenderer) -> None:
    card = render(renderer, "pcn", directory=DIRECTORY)
    text = card_text(card)
    assert DIRECTORY.procedure.pcn_notice in text
    assert "does not apply to PCNs or Federations" in text
    assert not emails_in(card), "a PCN must not be sent to a downtime mailbox"
    assert buttons(card) == [("Help", "help.show", {})]


# --- service desks --------------------------------------------------------------


@pytest.mark.parametrize("borough", BOROUGHS)
def test_helpdesk_card_for_each_borough(renderer: CardRenderer, borough: str) -> None:
    desk = DIRECTORY.desk_for(borough)
    card = render(renderer, "helpdesk", desk=desk, borough=borough)
    text = card_text(card)
    phone, email, portal = BCP_DESKS[borough]
    assert borough in text
    assert phone in text and email in text
    assert desk is not None and desk.name in text and desk.portal_name in text
    other_phone = (SEL_DESK if BCP_DESKS[borough] is BHC_DESK else BHC_DESK)[0]
    assert other_phone not in text
    assert emails_in(card) == {email}
    [open_url] = [a for a in iter_actions(card) if a["type"] == "Action.OpenUrl"]
    assert open_url["url"].rstrip("/") == portal
    assert buttons(card) == [("Change borough", "helpdesk.pick", {})]


def test_bromley_helpdesk_shows_the_bhc_numbers(renderer: CardRenderer) -> None:
    card = render(renderer, "helpdesk", desk=DIRECTORY.desk_for("Bromley"), borough="Bromley")
    assert "0208 315 8702" in card_text(card)
    assert "BHC.ITHelpdesk@nhs.net" in card_text(card)
    assert "0208 315 8702" in card["fallbackText"]


def test_helpdesk_picker_offers_the_six_boroughs(renderer: CardRenderer) -> None:
    card = render(renderer, "helpdesk_picker", boroughs=list(BOROUGHS))
    assert "Which borough is your practice in?" in card_text(card)
    assert buttons(card) == [(b, "helpdesk.show", {"borough": b}) for b in BOROUGHS]


# --- mailboxes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trust_id", "department_id"), sorted(BCP_MAILBOXES), ids=lambda value: str(value)
)
def test_mailbox_card_for_each_department(
    renderer: CardRenderer, trust_id: str, department_id: str
) -> None:
    trust = DIRECTORY.trust(trust_id)
    assert trust is not None
    department = trust.department(department_id)
    assert department is not None
    card = render(renderer, "mailbox", trust=trust, department=department)
    text = card_text(card)
    mailbox = BCP_MAILBOXES[trust_id, department_id]
    assert emails_in(card) == {mailbox}, "exactly one address: the one to use"
    prominent = [b for b in text_blocks(card) if b.get("size") == "Large" and "@" in b["text"]]
    assert [b["text"].replace("\\", "") for b in prominent] == [mailbox]
    assert trust.form_name in text and trust.form_location in text
    assert ("One referral per email" in text) is (trust_id == "kch")
    assert buttons(card) == [
        (
            "Start a request in Teams",
            "order.start",
            {"trust": trust_id, "department": department_id},
        ),
        ("Other mailboxes", "mailbox.pick", {}),
    ]


def test_mailbox_picker_without_a_trust_lists_every_mailbox(renderer: CardRenderer) -> None:
    card = render(renderer, "mailbox_picker", trusts=list(DIRECTORY.trusts), trust=None)
    assert emails_in(card) == set(BCP_MAILBOXES.values())
    assert buttons(card) == [
        ("GSTT", "mailbox.pick", {"trust": "gstt"}),
        ("KCH", "mailbox.pick", {"trust": "kch"}),
    ]


def test_mailbox_picker_for_kch_offers_its_departments(renderer: CardRenderer) -> None:
    card = render(renderer, "mailbox_picker", trusts=list(DIRECTORY.trusts), trust=_kch())
    kch = {m for (t, _), m in BCP_MAILBOXES.items() if t == "kch"}
    assert emails_in(card) == kch
    assert buttons(card) == [
        ("X-ray", "mailbox.show", {"trust": "kch", "department": "xray"}),
        ("Ultrasound", "mailbox.show", {"trust": "kch", "department": "ultrasound"}),
        ("Fluoroscopy", "mailbox.show", {"trust": "kch", "department": "fluoroscopy"}),
        ("All trusts", "mailbox.pick", {}),
    ]


def test_mailbox_picker_for_gstt_shows_its_one_mailbox(renderer: CardRenderer) -> None:
    card = render(renderer, "mailbox_picker", trusts=list(DIRECTORY.trusts), trust=_gstt())
    assert emails_in(card) == {BCP_MAILBOXES["gstt", "radiology"]}
    assert ("Radiology", "mailbox.show", {"trust": "gstt", "department": "radiology"}) in buttons(
        card
    )


@pytest.mark.parametrize("modality", ["CT", "MRI", "Nuclear medicine"])
def test_unsupported_modality_is_a_plain_no_and_never_a_guess(
    renderer: CardRenderer, modality: str
) -> None:
    kch = _kch()
    card = render(renderer, "mailbox_unsupported", trust=kch, modality=modality)
    text = card_text(card)
    assert f"The downtime procedure gives no mailbox for {modality} at KCH." in text
    listed = {d.mailbox for d in kch.departments}
    assert emails_in(card) <= listed, "an address that is not one of the trust's listed mailboxes"
    assert emails_in(card) == {m for (t, _), m in BCP_MAILBOXES.items() if t == "kch"}
    for department in kch.departments:
        assert department.name in text
    assert buttons(card) == [("Other mailboxes", "mailbox.pick", {})]


def test_unsupported_modality_name_is_shown_literally(renderer: CardRenderer) -> None:
    modality = "[CT](https://x.example) *now*"
    card = render(renderer, "mailbox_unsupported", trust=_kch(), modality=modality)
    heading = card["body"][0]["text"]
    assert "](" not in heading and "\\*now\\*" in heading, "markdown must be escaped, not rendered"
    assert f"No downtime mailbox for {modality}" in card_text(card)


# --- results, rejections, what happens next ----------------------------------------

SECTION_TITLES = {
    "next": "What happens after you send",
    "rejections": "Rejections and changes",
    "results": "Results during downtime",
}
TOPIC_BUTTONS = {
    "next": "What happens next",
    "rejections": "Rejections and changes",
    "results": "Results",
}


@pytest.mark.parametrize("topic", ["next", "rejections", "results"])
def test_info_puts_the_asked_topic_first_and_shows_all(renderer: CardRenderer, topic: str) -> None:
    card = render(renderer, "info", directory=DIRECTORY, topic=topic)
    first = card["body"][0]
    assert first["items"][0]["text"] == SECTION_TITLES[topic]
    headings = [c["items"][0]["text"] for c in card["body"]]
    assert sorted(headings) == sorted(SECTION_TITLES.values())
    text = card_text(card)
    after, rejections = DIRECTORY.after_sending, DIRECTORY.rejections
    for fact in (after.epic_entry, after.walk_in, after.scheduling):
        assert fact in text
    for fact in (rejections.rejected, rejections.small_changes, rejections.access_problem):
        assert fact in text
    for result in DIRECTORY.results:
        assert result.name in text and result.mailbox in text
        if result.note:
            assert result.note in text
    assert emails_in(card) == set(RESULTS_MAILBOXES), (
        "only the results mailboxes, never a referral one"
    )
    assert text.count("Do not reply to this mailbox.") == len(RESULTS_MAILBOXES)
    assert "may hold non-urgent results" in text
    others = [t for t in ("next", "rejections", "results") if t != topic]
    assert buttons(card) == [(TOPIC_BUTTONS[t], "info.show", {"topic": t}) for t in others]


def test_info_with_an_unknown_topic_still_shows_everything(renderer: CardRenderer) -> None:
    card = render(renderer, "info", directory=DIRECTORY, topic="weather")
    assert card["body"][0]["items"][0]["text"] == SECTION_TITLES["next"]
    assert len(card["body"]) == 3


# --- help and coming soon -------------------------------------------------------------

HELP_BUTTONS = [
    ("ICE is down", "ice.triage", {}),
    ("Start a request", "order.start", {}),
    ("Service desk", "helpdesk.pick", {}),
    ("Mailboxes", "mailbox.pick", {}),
    ("Results", "info.show", {"topic": "results"}),
]


def test_help_lists_the_quick_commands(renderer: CardRenderer) -> None:
    card = render(renderer, "help", commands=COMMANDS, not_understood=False)
    text = card_text(card)
    assert "Sorry" not in text and "Sorry" not in card["fallbackText"]
    for command in COMMANDS:
        assert command.title in text and command.description in text
    assert buttons(card) == HELP_BUTTONS


def test_help_after_a_message_it_did_not_understand(renderer: CardRenderer) -> None:
    card = render(renderer, "help", commands=COMMANDS, not_understood=True)
    assert card["body"][0]["text"] == "Sorry, I didn't catch that."
    assert card["fallbackText"].startswith("Sorry, I didn't catch that.")
    assert buttons(card) == HELP_BUTTONS


def test_help_never_echoes_what_the_user_typed(renderer: CardRenderer) -> None:
    """The message may hold patient details and the card may be posted in a channel."""
    typed = "Jane Doe NHS 943 476 5919 needs a CT"
    card = renderer.render("help", commands=COMMANDS, not_understood=True, text=typed)
    assert_valid_card(card)
    rendered = json.dumps(card)
    assert "Jane" not in rendered and "943 476 5919" not in rendered


def test_coming_soon_names_the_feature(renderer: CardRenderer) -> None:
    card = render(renderer, "coming_soon", feature="Ordering from Teams")
    assert "Ordering from Teams" in card_text(card)
    assert buttons(card) == [("Help", "help.show", {})]


# --- the gate itself: assert_valid_card must reject what Teams would choke on -----------


def _minimal_card(**changes: Any) -> Card:
    action = {
        "type": "Action.Execute",
        "title": "Help",
        "verb": "help.show",
        "data": {"verb": "help.show"},
        "fallback": {"type": "Action.Submit", "title": "Help", "data": {"verb": "help.show"}},
    }
    card: Card = {
        "type": "AdaptiveCard",
        "version": "1.5",
        "fallbackText": "Help",
        "body": [{"type": "TextBlock", "text": "Help", "wrap": True}],
        "actions": [action],
    }
    card.update(changes)
    return card


def test_the_gate_accepts_a_good_card() -> None:
    assert_valid_card(_minimal_card())


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(_minimal_card(version="1.6"), id="version"),
        pytest.param(_minimal_card(fallbackText=" "), id="no-fallback-text"),
        pytest.param(_minimal_card(body=[{"type": "TextBlock"}]), id="schema"),
        pytest.param(
            _minimal_card(body=[{"type": "TextBlock", "text": "x" * 30_000, "wrap": True}]),
            id="too-large",
        ),
        pytest.param(
            _minimal_card(actions=[{"type": "Action.Execute", "title": "Go", "verb": "go"}]),
            id="execute-without-fallback",
        ),
        pytest.param(
            _minimal_card(
                actions=[
                    {
                        "type": "Action.Execute",
                        "title": "Go",
                        "verb": "go",
                        "data": {"verb": "go", "borough": "Bexley"},
                        "fallback": {
                            "type": "Action.Submit",
                            "title": "Go",
                            "data": {"verb": "go"},
                        },
                    }
                ]
            ),
            id="fallback-data-differs",
        ),
        pytest.param(
            _minimal_card(
                body=[
                    {
                        "type": "ActionSet",
                        "actions": [{"type": "Action.Execute", "title": "Go", "verb": "go"}],
                    }
                ]
            ),
            id="nested-execute-without-fallback",
        ),
        pytest.param(
            _minimal_card(
                actions=[
                    {"type": "Action.OpenUrl", "title": str(i), "url": "https://a.example"}
                    for i in range(7)
                ]
            ),
            id="seven-actions",
        ),
    ],
)
def test_the_gate_rejects_a_bad_card(bad: Card) -> None:
    with pytest.raises(AssertionError):
        assert_valid_card(bad)


def test_card_text_reads_as_the_user_sees_it() -> None:
    card = _minimal_card(
        body=[
            {"type": "TextBlock", "text": "kch-tr.xr\\_reception\\_dh@nhs.net", "wrap": True},
            {
                "type": "FactSet",
                "facts": [{"title": "Portal", "value": "[BHC portal](https://a.example)"}],
            },
        ]
    )
    text = card_text(card)
    assert "kch-tr.xr_reception_dh@nhs.net" in text
    assert "Portal: BHC portal" in text and "a.example" not in text
    assert "Help" in text
