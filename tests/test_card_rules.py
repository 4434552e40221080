"""Every card the bot can send, in every state, against the design rules (docs/decisions.md, D16).

The cards and states are the one list in `cards/gallery.py`, which `make cards`
also pictures: a card added there is checked here and drawn there.

Rules (the measurements and their calibration are in tests/support/card_rules.py):

- every text and link at least 4.5:1 against its background in Teams light and
  dark (3:1 for large text), from the vendored Teams host configs;
- addresses, numbers and links fit on one line at 360 px;
- at most three buttons a row, every label whole at 360 px, the primary
  (positive) button first in its row and at most one per card;
- one name for one action across all cards.

Schema validity and the 28 KB limit are checked for the same list in tests/test_cards.py.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from cards.gallery import Sample, rendered, samples
from cards.render import CardRenderer
from tests.support.card_rules import (
    action_kind,
    contrast,
    contrast_problems,
    parts,
    row_problems,
    text_width,
    width_problems,
)
from tests.support.cards import iter_actions

SAMPLES = samples()
RENDERER = CardRenderer()


def _card(sample: Sample) -> dict[str, Any]:
    return rendered(sample, RENDERER)


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_every_text_is_readable_in_light_and_dark(sample: Sample) -> None:
    assert contrast_problems(_card(sample)) == []


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_no_address_or_number_breaks_across_lines_on_a_phone(sample: Sample) -> None:
    assert width_problems(_card(sample)) == []


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_buttons_fit_a_phone_and_the_primary_comes_first(sample: Sample) -> None:
    assert row_problems(_card(sample)) == []


def test_one_name_for_one_action_across_every_card() -> None:
    """ "Mailboxes" here and "Other mailboxes" there make a reader wonder if they differ.

    A button that picks one of several (a borough, a trust, a department) is named
    for its choice; every other button that does the same thing has the same title
    on every card.
    """
    names: dict[str, set[str]] = defaultdict(set)
    where: dict[tuple[str, str], str] = {}
    for sample in SAMPLES:
        actions = list(iter_actions(_card(sample)))
        kinds = [action_kind(a) for a in actions]
        for action, kind in zip(actions, kinds, strict=True):
            if kinds.count(kind) > 1 and kind.startswith("verb "):
                continue  # one of several choices, named for what it picks
            names[kind].add(action["title"])
            where.setdefault((kind, action["title"]), sample.name)
    differing = {
        kind: sorted(f"{title!r} ({where[kind, title]})" for title in titles)
        for kind, titles in names.items()
        if len(titles) > 1
    }
    assert differing == {}


def test_the_gallery_names_every_card_once() -> None:
    names = [s.name for s in SAMPLES]
    assert len(names) == len(set(names))


# --- the checks themselves can fail ----------------------------------------------


def _card_of(*body: dict[str, Any], actions: list[dict[str, Any]] | None = None) -> dict:
    return {"type": "AdaptiveCard", "version": "1.5", "body": list(body), "actions": actions or []}


def _button(title: str, style: str | None = None) -> dict[str, Any]:
    action = {"type": "Action.Submit", "title": title, "data": {}}
    return action | ({"style": style} if style else {})


def test_contrast_matches_known_values() -> None:
    white, black = (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)
    assert contrast(white, black) == pytest.approx(21)
    green = (0x92 / 255, 0xC3 / 255, 0x53 / 255)
    # Teams' "Good" green, as a "Sent" in colour would be, on white: far below 4.5.
    assert contrast(green, white) == pytest.approx(2.07, abs=0.01)


@pytest.mark.parametrize(
    "block",
    [
        {"type": "TextBlock", "text": "Sent", "color": "Good", "wrap": True},
        {"type": "TextBlock", "text": "Failed", "color": "Attention", "wrap": True},  # dark
        {"type": "TextBlock", "text": "[portal](https://a.example)", "wrap": True},  # dark
        {
            "type": "Container",
            "style": "attention",
            "items": [{"type": "TextBlock", "text": "x", "color": "Attention"}],
        },
    ],
    ids=["good-on-white", "attention-in-dark", "link-in-dark", "red-on-salmon"],
)
def test_the_contrast_check_catches_what_issue_10_saw(block: dict[str, Any]) -> None:
    assert contrast_problems(_card_of(block))


def test_dark_text_on_a_coloured_bar_passes() -> None:
    bar = {
        "type": "Container",
        "style": "good",
        "items": [{"type": "TextBlock", "text": "✓ Sent 10:32", "weight": "Bolder"}],
    }
    assert contrast_problems(_card_of(bar)) == []


def test_the_width_check_catches_an_address_too_wide_for_a_phone() -> None:
    long = {"type": "TextBlock", "text": "gst-tr.radiologyreferrals@nhs.net", "size": "Large"}
    assert width_problems(_card_of(long | {"weight": "Bolder"}))
    assert width_problems(_card_of(long)) == []


def test_the_row_check_catches_cut_labels_four_buttons_and_a_late_primary() -> None:
    labels = ["X-ray", "Ultrasound", "Fluoroscopy", "All trusts"]
    four = {"type": "ActionSet", "actions": [_button(t) for t in labels]}
    assert any("4 buttons" in p for p in row_problems(_card_of(four)))
    wide = {"type": "ActionSet", "actions": [_button("What happens next")] * 3}
    assert any("need" in p for p in row_problems(_card_of(wide)))
    late = {"type": "ActionSet", "actions": [_button("Edit"), _button("Send", "positive")]}
    assert any("not first" in p for p in row_problems(_card_of(late)))
    fits = {"type": "ActionSet", "actions": [_button(t) for t in labels[:3]]}
    assert row_problems(_card_of(fits)) == []


def test_the_calibration_matches_the_renderer() -> None:
    """Three equal buttons at 360 px leave 79 px of label each in the renderer.

    (Measured with tools/cards/render.mjs: see tests/support/card_rules.py.) The
    check must agree: three labels of 79 px fit, three of 80 px do not.
    """
    row = next(p for p in parts(_card_of(actions=[_button("a")])) if not hasattr(p, "text"))
    assert (row.width - 2 * 8) / 3 - 24 == pytest.approx(79, abs=0.5)
    assert text_width("Ultrasound") > 68  # DejaVu is wider than the renderer's button font
