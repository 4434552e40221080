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

from bot.directory import DEFAULT_PATH, load_directory
from bot.vocabulary import BOROUGHS, SITES
from cards.render import TEMPLATE_DIR, CardRenderer, compose_url
from tests.support.card_variants import (
    COMMANDS,
    NO_BUTTONS,
    VARIANTS,
    bromley_access,
    gstt,
    kch,
    lookup_cards,
    mailbox_context,
)
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

# Templates other engineers own and test.
NOT_OURS = re.compile(r"^order_")


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


def values(card: Any) -> list[str]:
    """The plain-text values (mailboxes, numbers, portals): TextRuns, never markdown."""
    runs = (n["inlines"] for n in _nodes(card) if n.get("type") == "RichTextBlock")
    return [run["text"] for inlines in runs for run in inlines]


def links(card: Card) -> list[tuple[str, str]]:
    """(title, url) of every Action.OpenUrl, selectActions included, in order."""
    return [
        (a.get("title", ""), a["url"]) for a in iter_actions(card) if a["type"] == "Action.OpenUrl"
    ]


def text_blocks(card: Any) -> list[dict[str, Any]]:
    """Every TextBlock, at any depth."""
    return [node for node in _nodes(card) if node.get("type") == "TextBlock"]


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
    if name not in NO_BUTTONS:
        assert list(iter_actions(card)), "no dead ends: every card has a button"
    else:
        assert not buttons(card), "an inserted card must not carry buttons for the bot"


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


# --- the BCP is the only procedure -----------------------------------------------------

# The BCP's text as a reader sees it: its HTML list markup and bullets dropped.
BCP_TEXT = " ".join(
    re.sub(
        r"<[^>]+>|•", " ", (Path(DEFAULT_PATH).parent / "bcp-source.txt").read_text("utf-8")
    ).split()
)
# Seen on cards before and not in the BCP: none may come back.
NOT_IN_THE_BCP = (
    "one referral per email",
    "rule:",
    "rejections and results go to",
    "through ice when it is back",
    "two-week-wait",
    "takes any radiology",
    "takes only",
)
# Cards that present procedure; what they say must be the BCP's words, apart from
# headings, labels and the bot's own prompts listed here (docs/clinical-safety.md).
PROCEDURE_CARDS = (
    "downtime_steps",
    "access_steps",
    "pcn",
    "helpdesk",
    "helpdesk_picker",
    "mailbox",
    "mailbox_picker",
    "mailbox_unsupported",
    "info",
    "lookup",
)
# Whole lines that are the bot's own: headings, prompts, labelled facts (a mailbox,
# a phone number) and statements *about* the BCP ("The BCP lists ..."). Listed in
# docs/clinical-safety.md; none of them states a procedure step.
BOT_LINE = re.compile(
    r"^(?:(?:Portal|Phone|Email|X-ray|Ultrasound|Fluoroscopy|Radiology)(?:: |$)|The BCP |From: |"
    r"Tap a mailbox to write to it\.|Not your borough\?$|For \w+:$|"
    r"No service desk for |No KCH downtime route for |[\w ()]+: part of |Pick a |"
    r"I'll show your IT service desk|Which borough is your practice in\?$|Form$|"
    r"Why it matters$|Log a ticket with the service desk$|Service desk( for \w+)?$|"
    r"ICE is down: the downtime procedure$|ICE works but you can't get in$|"
    r"PCNs and Federations: keep your current process$|After you email the form$|"
    r"A patient walks in and the request is not found$|.* (?:mailbox|mailboxes)$|"
    r"(?:Non-Urgent Results|Alerted reports)(?:: .*)?$|[\w ]+ service desk$|"
    r"[\w.+-]+@[\w.-]+$|\d[\d ]+$|"
    # What the bot itself offers after the BCP's steps (attaching a completed form), not a
    # procedure step.
    r"Completed the form already\? Attach it in your personal chat with me and I email it "
    r"to the right mailbox for you\.$)"
)
# Labels before the BCP's words on a line ("Step 1. Complete the downtime order form").
BOT_PREFIX = re.compile(
    r"^(?:For \w+: |Step \d\. |• |"
    r"\*\*Only you can't get in\?\*\* |\*\*At a PCN or Federation\?\*\* )"
)


def _bcp_sentences(line: str) -> list[str]:
    """The parts of a card line that must be the BCP's own words."""
    if BOT_LINE.match(line):
        return []
    line = BOT_PREFIX.sub("", line)
    parts = re.split(r"\s+…\s+", line)
    return [re.sub(r"\[[^\]]*\]\s*", "", p).strip() for p in parts if p.strip()]


@pytest.mark.parametrize(
    ("name", "context"),
    [(v[1], v[2]) for v in VARIANTS if v[1] in PROCEDURE_CARDS],
    ids=[v[0] for v in VARIANTS if v[1] in PROCEDURE_CARDS],
)
def test_procedure_cards_say_only_what_the_bcp_says(
    renderer: CardRenderer, name: str, context: Callable[[], dict[str, Any]]
) -> None:
    card = render(renderer, name, **context())
    text = card_text(card)
    for phrase in NOT_IN_THE_BCP:
        assert phrase not in text.lower(), f"{phrase!r} is not in the BCP"
    titles = {title for title, _, _ in buttons(card)} | {a.get("title") for a in iter_actions(card)}
    facts = set(values(card))  # mailboxes, numbers, portals: checked against the BCP below
    for line in text.splitlines():
        if line in titles or line in facts:
            continue
        for sentence in _bcp_sentences(line):
            assert " ".join(sentence.split()) in BCP_TEXT, f"not the BCP's words: {sentence!r}"


# --- welcome, triage, situations -----------------------------------------------


def test_welcome_offers_the_main_paths(renderer: CardRenderer) -> None:
    card = render(renderer, "welcome", directory=DIRECTORY)
    assert buttons(card) == [
        ("ICE is down", "ice.down", {}),
        ("Help", "help.show", {}),
        ("Service desk", "helpdesk.show", {}),
        ("Mailboxes", "mailbox.pick", {}),
        ("Results", "info.show", {"topic": "results"}),
    ]
    assert "downtime procedure" in card_text(card)


def test_triage_asks_which_situation_applies(renderer: CardRenderer) -> None:
    card = render(renderer, "triage")
    assert card["body"][0]["text"] == "Which applies to you?"
    assert buttons(card) == [
        ("ICE is down", "ice.down", {}),
        ("I can't get in", "ice.access", {}),
        ("PCN or Federation", "ice.pcn", {}),
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
    procedure = DIRECTORY.procedure
    assert procedure.form_step in text and procedure.email_step in text
    for trust in DIRECTORY.trusts:
        assert trust.form_text in text
        assert f"For {trust.bcp_name}:" in text
    for modality in ("X-ray", "Ultrasound", "Fluoroscopy"):
        assert modality in text
    assert DIRECTORY.after_sending.epic_entry in text
    assert buttons(card) == [
        ("New request", "order.start", {}),
        ("What happens next", "info.show", {"topic": "next"}),
        ("I can't get in", "ice.access", {}),
        ("PCN or Federation", "ice.pcn", {}),
    ]


def test_downtime_steps_give_one_line_each_for_the_other_situations(
    renderer: CardRenderer,
) -> None:
    card = render(renderer, "downtime_steps", directory=DIRECTORY)
    lines = card_text(card).splitlines()
    [access] = [line for line in lines if "Only you can't get in?" in line]
    [pcn] = [line for line in lines if "At a PCN or Federation?" in line]
    assert DIRECTORY.procedure.access_short in access
    assert "current processes with PCNs will remain unchanged" in pcn


def test_downtime_mailboxes_are_plain_text_values_a_tap_writes_to(
    renderer: CardRenderer,
) -> None:
    """Each mailbox stands alone as plain text (no markdown, so no escape can show), large,
    one per line, and tapping it opens a new message to exactly that address."""
    card = render(renderer, "downtime_steps", directory=DIRECTORY)
    assert sorted(values(card)) == sorted(BCP_MAILBOXES.values())
    assert "\\_" not in json.dumps(card), "an address escaped for markdown"
    runs = [b for b in _nodes(card) if b.get("type") == "RichTextBlock"]
    assert all(run["inlines"][0]["size"] == "Large" for run in runs)
    taps = [c["selectAction"]["url"] for c in _nodes(card) if "selectAction" in c]
    assert taps == [compose_url(m) for m in values(card)]


def _nodes(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += _nodes(value)
    elif isinstance(node, list):
        for item in node:
            found += _nodes(item)
    return found


def test_access_steps_with_a_known_desk(renderer: CardRenderer) -> None:
    card = render(renderer, "access_steps", **bromley_access())
    text = card_text(card)
    assert DIRECTORY.procedure.access_rule in text
    assert "only while actions are underway" in text
    assert DIRECTORY.procedure.access_why in text
    assert "Log a ticket with the service desk" in text
    assert "For Bromley the service desk details are:" in text
    phone, email, _portal = BHC_DESK
    assert phone in text and email in text
    assert "BHC Self-Service Portal (haloservicedesk.com)" in text
    assert SEL_DESK[0] not in text, "another borough's desk shown"
    assert_desk_links(card, BHC_DESK)
    assert buttons(card) == [
        ("ICE is down", "ice.down", {}),
        ("Change borough", "helpdesk.pick", {}),
    ]


def assert_desk_links(card: Card, desk: tuple[str, str, str]) -> None:
    """One tap each, exactly the BCP's: the portal (the primary action), call, email."""
    phone, email, portal = desk
    assert links(card) == [
        ("Open the portal", portal),
        ("Call", "tel:" + phone.replace(" ", "")),
        ("Email", compose_url(email)),
    ]
    assert next(a.get("style") for a in iter_actions(card) if a["type"] == "Action.OpenUrl") == (
        "positive"
    )
    assert [phone, email] == values(card)[1:], "phone and email as plain-text values"


@pytest.mark.parametrize("outside", [None, "Croydon"])
def test_access_steps_without_a_desk_ask_for_the_borough(
    renderer: CardRenderer, outside: str | None
) -> None:
    card = render(
        renderer,
        "access_steps",
        directory=DIRECTORY,
        desk=None,
        borough=None,
        boroughs=list(BOROUGHS),
        outside=outside,
    )
    text = card_text(card)
    assert DIRECTORY.procedure.access_rule in text
    assert "Which borough is your practice in?" in text
    said = (
        "The BCP covers Bexley, Bromley, Greenwich, Lambeth, Lewisham and Southwark only: "
        "it gives no service desk for Croydon."
    )
    assert (said in text) is (outside == "Croydon"), "a borough outside the six is told so"
    assert not emails_in(card), "no desk is known yet, so no desk details"
    assert buttons(card) == [
        *((b, "access.borough", {"borough": b}) for b in BOROUGHS),
        ("ICE is down", "ice.down", {}),
    ]
    # The six boroughs sit in the body, so the card stays within Teams' action limits.
    assert [a["title"] for a in card["actions"]] == ["ICE is down"]


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


def test_pcn_card_says_the_current_process_is_unchanged(renderer: CardRenderer) -> None:
    card = render(renderer, "pcn", directory=DIRECTORY)
    text = card_text(card)
    assert DIRECTORY.procedure.pcn_notice in text
    assert "current processes with PCNs will remain unchanged" in text
    assert not emails_in(card), "a PCN must not be sent to a downtime mailbox"
    assert buttons(card) == [("Help", "help.show", {})]


# --- service desks --------------------------------------------------------------


@pytest.mark.parametrize("borough", BOROUGHS)
def test_helpdesk_card_for_each_borough(renderer: CardRenderer, borough: str) -> None:
    desk = DIRECTORY.desk_for(borough)
    card = render(renderer, "helpdesk", desk=desk, borough=borough)
    text = card_text(card)
    phone, email, _portal = BCP_DESKS[borough]
    assert borough in text
    assert phone in text and email in text
    assert desk is not None and desk.intro in text and desk.portal_name in text
    other_phone = (SEL_DESK if BCP_DESKS[borough] is BHC_DESK else BHC_DESK)[0]
    assert other_phone not in text
    assert emails_in(card) == {email}
    assert_desk_links(card, BCP_DESKS[borough])
    assert buttons(card) == [("Change borough", "helpdesk.pick", {})]


def test_the_portal_is_shown_as_the_bcp_gives_it(renderer: CardRenderer) -> None:
    """SEL's portal is the bare address in the BCP; Bromley's is its link text."""
    sel = render(renderer, "helpdesk", desk=DIRECTORY.desk_for("Lambeth"), borough="Lambeth")
    bhc = render(renderer, "helpdesk", desk=DIRECTORY.desk_for("Bromley"), borough="Bromley")
    assert values(sel)[0] == "https://nhssel.haloitsm.com/portal/home"
    assert values(bhc)[0] == "BHC Self-Service Portal (haloservicedesk.com)"


def test_bromley_helpdesk_shows_the_bhc_numbers(renderer: CardRenderer) -> None:
    card = render(renderer, "helpdesk", desk=DIRECTORY.desk_for("Bromley"), borough="Bromley")
    assert "0208 315 8702" in card_text(card)
    assert "BHC.ITHelpdesk@nhs.net" in card_text(card)
    assert "0208 315 8702" in card["fallbackText"]


def test_helpdesk_picker_offers_the_six_boroughs(renderer: CardRenderer) -> None:
    card = render(renderer, "helpdesk_picker", boroughs=list(BOROUGHS))
    assert "Which borough is your practice in?" in card_text(card)
    assert buttons(card) == [(b, "helpdesk.show", {"borough": b}) for b in BOROUGHS]


def test_helpdesk_for_a_borough_outside_the_six_says_so_plainly(renderer: CardRenderer) -> None:
    card = render(renderer, "helpdesk_picker", boroughs=list(BOROUGHS), outside="Croydon")
    text = card_text(card)
    assert "No service desk for Croydon in the BCP" in text
    assert "The BCP covers Bexley, Bromley, Greenwich, Lambeth, Lewisham and Southwark only" in text
    assert not emails_in(card) and "020 8176 5400" not in text
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
    card = render(renderer, "mailbox", **mailbox_context(trust, department))
    text = card_text(card)
    mailbox = BCP_MAILBOXES[trust_id, department_id]
    assert emails_in(card) == {mailbox}, "exactly one address: the one to use"
    assert values(card) == [mailbox], "the mailbox as plain text: nothing to escape"
    [run] = [b for b in _nodes(card) if b.get("type") == "RichTextBlock"]
    assert run["inlines"][0]["size"] == "Large", "the mailbox is the largest text on the card"
    assert trust.form_text in text
    assert DIRECTORY.procedure.email_step in text
    assert links(card) == [("Email", compose_url(mailbox))]
    assert card["actions"][0]["style"] == "positive", "emailing it is the primary action"
    assert buttons(card) == [
        ("New request", "order.start", {"trust": trust_id, "department": department_id}),
        ("Mailboxes", "mailbox.pick", {}),
    ]


@pytest.mark.parametrize("site", SITES, ids=lambda s: s.id)
def test_a_site_is_named_with_its_trust(renderer: CardRenderer, site: Any) -> None:
    trust = DIRECTORY.trust(site.trust)
    card = render(renderer, "mailbox", **mailbox_context(trust, trust.departments[0], site))
    assert f"{site.name}: part of {trust.name}" in card_text(card)


def test_mailbox_picker_without_a_trust_lists_every_mailbox(renderer: CardRenderer) -> None:
    card = render(renderer, "mailbox_picker", trusts=list(DIRECTORY.trusts), trust=None)
    assert emails_in(card) == set(BCP_MAILBOXES.values())
    assert "For GSTT:" in card_text(card) and "For Kings:" in card_text(card)
    assert buttons(card) == [
        ("GSTT", "mailbox.pick", {"trust": "gstt"}),
        ("KCH", "mailbox.pick", {"trust": "kch"}),
    ]


def test_mailbox_picker_for_kch_offers_its_departments(renderer: CardRenderer) -> None:
    card = render(renderer, "mailbox_picker", trusts=list(DIRECTORY.trusts), trust=kch())
    kch_mailboxes = {m for (t, _), m in BCP_MAILBOXES.items() if t == "kch"}
    assert emails_in(card) == kch_mailboxes
    assert buttons(card) == [
        ("X-ray", "mailbox.show", {"trust": "kch", "department": "xray"}),
        ("Ultrasound", "mailbox.show", {"trust": "kch", "department": "ultrasound"}),
        ("Fluoroscopy", "mailbox.show", {"trust": "kch", "department": "fluoroscopy"}),
        ("Mailboxes", "mailbox.pick", {}),
    ]


def test_mailbox_picker_for_gstt_shows_its_one_mailbox(renderer: CardRenderer) -> None:
    card = render(renderer, "mailbox_picker", trusts=list(DIRECTORY.trusts), trust=gstt())
    assert emails_in(card) == {BCP_MAILBOXES["gstt", "radiology"]}
    assert ("Radiology", "mailbox.show", {"trust": "gstt", "department": "radiology"}) in buttons(
        card
    )


@pytest.mark.parametrize("modality", ["CT", "MRI", "Nuclear medicine"])
def test_unsupported_modality_says_what_the_bcp_lists_and_invents_no_route(
    renderer: CardRenderer, modality: str
) -> None:
    card = render(renderer, "mailbox_unsupported", trust=kch(), modality=modality)
    text = card_text(card)
    assert (
        "The BCP lists X-ray, Ultrasound and Fluoroscopy for Kings; "
        f"it gives no downtime route for {modality}." in text
    )
    assert not emails_in(card), "no address at all: none of them is a route for this modality"
    assert "ICE when it is back" not in text
    assert buttons(card) == [("Mailboxes", "mailbox.pick", {})]


def test_unsupported_modality_name_is_shown_literally(renderer: CardRenderer) -> None:
    modality = "[CT](https://x.example) *now*"
    card = render(renderer, "mailbox_unsupported", trust=kch(), modality=modality)
    heading = card["body"][0]["text"]
    assert "](" not in heading and "\\*now\\*" in heading, "markdown must be escaped"
    assert f"No KCH downtime route for {modality}" in card_text(card)


# --- results, rejections, what happens next, walk-ins ---------------------------------

TOPIC_BUTTONS = {"next": "What happens next", "rejections": "Rejections", "results": "Results"}


def _topic_lines(topic: str) -> list[str]:
    after, rejections = DIRECTORY.after_sending, DIRECTORY.rejections
    return {
        "next": [after.epic_entry, after.walk_in, after.scheduling],
        "walk_in": [after.walk_in, after.scheduling],
        "rejections": [rejections.rejected, rejections.small_changes, rejections.access_problem],
        "results": [line for r in DIRECTORY.results for line in (r.intro, r.no_reply, r.note)],
    }[topic]


@pytest.mark.parametrize("topic", ["next", "walk_in", "rejections", "results"])
def test_each_topic_answers_its_own_question_with_buttons_to_the_others(
    renderer: CardRenderer, topic: str
) -> None:
    card = render(renderer, "info", directory=DIRECTORY, topic=topic)
    text = card_text(card)
    for line in _topic_lines(topic):
        assert line in text
    for other in ("next", "walk_in", "rejections", "results"):
        if other != topic and not set(_topic_lines(other)) <= set(_topic_lines(topic)):
            assert not any(
                line in text for line in set(_topic_lines(other)) - {""} - set(_topic_lines(topic))
            ), f"{topic} also shows {other}"
    assert len(text_blocks(card)) <= 12, "a few lines, not three sections"
    # "What happens next" first, on a line of its own: three would not fit a phone.
    others = [t for t in ("next", "rejections", "results") if t != topic]
    assert buttons(card) == [(TOPIC_BUTTONS[t], "info.show", {"topic": t}) for t in others]


def test_results_never_show_a_referral_mailbox(renderer: CardRenderer) -> None:
    card = render(renderer, "info", directory=DIRECTORY, topic="results")
    assert emails_in(card) == set(RESULTS_MAILBOXES)
    text = card_text(card)
    assert text.count("You should not reply to this mailbox.") == len(RESULTS_MAILBOXES)
    assert "may hold non-urgent results" in text


def test_next_leads_with_the_72_hour_epic_entry(renderer: CardRenderer) -> None:
    card = render(renderer, "info", directory=DIRECTORY, topic="next")
    assert text_blocks(card)[1]["text"].replace("\\", "") == DIRECTORY.after_sending.epic_entry
    assert "72 hours" in card["fallbackText"]


def test_info_with_an_unknown_topic_shows_what_happens_next(renderer: CardRenderer) -> None:
    card = render(renderer, "info", directory=DIRECTORY, topic="weather")
    assert card["body"][0]["text"] == "After you email the form"


# --- the message extension's cards ----------------------------------------------------


@pytest.mark.parametrize(("title", "card"), lookup_cards(), ids=lambda v: str(v)[:30])
def test_lookup_cards_carry_one_fact_each_from_the_directory(
    renderer: CardRenderer, title: str, card: dict[str, Any]
) -> None:
    rendered = render(renderer, "lookup", **card)
    assert card_size(rendered) < 28 * 1024
    assert values(rendered) == [v["text"] for v in card["values"]]
    assert f"From: {DIRECTORY.source}" in card_text(rendered)
    if "do not reply" in title:
        assert links(rendered) == [], "the BCP says not to reply to a results mailbox"


# --- help and coming soon -------------------------------------------------------------

HELP_BUTTONS = [
    ("ICE is down", "ice.down", {}),
    ("New request", "order.start", {}),
    ("Service desk", "helpdesk.show", {}),
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
