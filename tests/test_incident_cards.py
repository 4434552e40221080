"""The incident and downtime-log cards: what they may say, and what they never show.

Every variant is also validated with the other cards (tests/test_cards.py,
tests/support/card_variants.py) and its buttons checked against the router
(tests/test_router.py).
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.directory import DEFAULT_PATH, load_directory
from bot.incidents.views import (
    BOT_REMINDER,
    follow_up_context,
    incident_context,
    reconciliation_context,
)
from bot.mail.practice_log import csv_text
from cards.gallery_incidents import NOTE, ROWS, incident
from cards.render import CardRenderer
from tests.support.cards import assert_valid_card, card_text

DIRECTORY = load_directory()
BCP_TEXT = " ".join(
    re.sub(
        r"<[^>]+>|•|\s-\s", " ", (Path(DEFAULT_PATH).parent / "bcp-source.txt").read_text()
    ).split()
)


def render(name: str, context: dict) -> dict:
    card = CardRenderer().render(name, context)
    assert_valid_card(card)
    return card


def test_the_reconciliation_says_what_happens_next_in_the_bcps_words() -> None:
    context = reconciliation_context(incident(restored=True), ROWS, DIRECTORY)
    text = card_text(render("reconciliation", context))
    after = text.split("What the BCP says happens next", 1)[1].splitlines()
    facts = [line.removeprefix("• ") for line in after if line.startswith("• ")]
    assert len(facts) == 3 and "within 72 hours" in facts[0]
    for fact in facts:
        assert fact in BCP_TEXT, fact
    for box in DIRECTORY.results:
        for line in (box.name, box.intro, box.mailbox, box.no_reply):
            assert line in after, line
        for sentence in (box.intro, box.no_reply):
            assert sentence in BCP_TEXT


def test_the_reconciliation_puts_what_needs_doing_by_hand_first() -> None:
    text = card_text(
        render("reconciliation", reconciliation_context(incident(restored=True), ROWS, DIRECTORY))
    )
    failed, queued = (
        text.index("DT-20261201-0002 was NOT sent"),
        text.index("DT-20261201-0003 is still queued"),
    )
    assert failed < queued < text.index("DT-20261201-0001")
    assert "kch-tr.us.reception_dh@nhs.net" in text


def test_the_reminder_is_labelled_as_the_bots_own_and_quotes_the_bcp_exactly() -> None:
    text = card_text(render("follow_up", follow_up_context(ROWS[:2], 72, DIRECTORY)))
    assert BOT_REMINDER == "A reminder from this bot, not a step of the BCP."
    assert BOT_REMINDER in text
    bcp = text.split("The BCP says:", 1)[1].splitlines()[1]
    assert bcp == DIRECTORY.after_sending.epic_entry and bcp in BCP_TEXT


def test_the_admins_note_shows_exactly_as_typed() -> None:
    card = render("incident", incident_context(incident(), "status"))
    runs = [
        inline["text"]
        for block in card["body"]
        if block["type"] == "RichTextBlock"
        for inline in block["inlines"]
    ]
    assert runs == [NOTE], "a TextRun: no markdown, so '[see *ICE* status]' is not mangled"


def test_no_outage_declared_offers_the_outage_path_too() -> None:
    card = render("incident", incident_context(None, "status"))
    text = card_text(card)
    assert text.startswith("No ICE outage has been declared")
    assert text.rstrip().endswith("ICE is down"), "an undeclared outage still reaches the steps"


def test_a_csv_cell_never_runs_as_a_spreadsheet_formula() -> None:
    text = csv_text([["name"], ["=HYPERLINK(1)"], ["+1"], ["@SUM(A1)"], ["-2"], ["Sam"]])
    assert text.splitlines() == ["name", "'=HYPERLINK(1)", "'+1", "'@SUM(A1)", "'-2", "Sam"]
