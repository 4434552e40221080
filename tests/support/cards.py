"""Helpers every card test uses: schema validation, Teams limits, and walking a card.

`assert_valid_card` is the one gate a card passes before we call it done:
schema-valid against the official Adaptive Card 1.5 schema (Draft 6), under the
28 KB Teams limit, version "1.5", a non-empty `fallbackText`, and every
Action.Execute carries an Action.Submit fallback with identical data (Teams
clients without Universal Actions send the Submit, and the handler must see the
same verb and data either way).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft6Validator

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "adaptive-card-1.5.json"
MAX_CARD_BYTES = 28 * 1024
MAX_TOP_LEVEL_ACTIONS = 6

Card = dict[str, Any]
Action = dict[str, Any]

# The markdown escapes cards.render.escape_markdown adds: invisible once rendered.
_MD_ESCAPE = re.compile(r"\\([\\`*_\[\]()~>#|.+-])")
# A markdown link shows only its label: [label](url) -> label.
_MD_LINK = re.compile(r"(?<!\\)\[((?:[^\]\\]|\\.)*)\]\((?:[^)\\]|\\.)*\)")


@cache
def card_validator() -> Draft6Validator:
    """The Adaptive Card 1.5 schema, loaded and checked once per test session."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft6Validator.check_schema(schema)
    return Draft6Validator(schema)


def card_size(card: Card) -> int:
    """Bytes of the card as the bot sends it: compact JSON, escaped ("漢" is six bytes)."""
    return len(json.dumps(card, separators=(",", ":")))


def iter_actions(card: Any) -> Iterator[Action]:
    """Every action in a card, at any depth: top-level, ActionSets, selectActions, ShowCards.

    Fallback actions are not yielded on their own: they are the same button on
    older clients, checked by `assert_valid_card`.
    """
    if isinstance(card, dict):
        if isinstance(card.get("type"), str) and card["type"].startswith("Action."):
            yield card
        for key, value in card.items():
            if key == "fallback":
                continue
            yield from iter_actions(value)
    elif isinstance(card, list):
        for item in card:
            yield from iter_actions(item)


def _visible(text: str) -> str:
    return _MD_ESCAPE.sub(r"\1", _MD_LINK.sub(r"\1", text))


def _iter_text(node: Any) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _iter_text(item)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    is_action = isinstance(kind, str) and kind.startswith("Action.")
    if kind in ("TextBlock", "TextRun") and isinstance(node.get("text"), str):
        yield node["text"]
    elif kind == "FactSet":
        for fact in node.get("facts", []):
            yield f"{fact.get('title', '')}: {fact.get('value', '')}"
    elif is_action and isinstance(node.get("title"), str):
        yield node["title"]
    for key, value in node.items():
        if key in ("fallback", "speak", "fallbackText", "data"):
            continue
        yield from _iter_text(value)


def card_text(card: Card) -> str:
    """All text a user sees on the card (TextBlocks, facts, button titles), one per line.

    Markdown escapes and link targets are removed, so tests compare with what
    the reader sees: `kch-tr.xr\\_reception` reads as `kch-tr.xr_reception`.
    """
    return "\n".join(_visible(text) for text in _iter_text(card.get("body", [])) if text) + (
        "\n" + "\n".join(_visible(t) for t in _iter_text(card.get("actions", [])) if t)
    )


def opens_dialog(action: Action) -> bool:
    """An Action.Submit that asks Teams to open a dialog (`msteams.type` is `task/fetch`)."""
    data = action.get("data")
    return (
        action.get("type") == "Action.Submit"
        and isinstance(data, dict)
        and data.get("msteams") == {"type": "task/fetch"}
    )


def buttons(card: Card) -> list[tuple[str, str, dict[str, Any]]]:
    """(title, verb, data without the verb) for every Action.Execute on the card, and every
    button that opens a dialog, in order."""
    found = []
    for action in iter_actions(card):
        if action["type"] == "Action.Execute" or opens_dialog(action):
            data = {k: v for k, v in action["data"].items() if k not in ("verb", "msteams")}
            found.append((action["title"], action["data"]["verb"], data))
    return found


def assert_valid_card(card: Card) -> None:
    """Fail with a readable message unless the card is fit to send to Teams."""
    errors = sorted(card_validator().iter_errors(card), key=lambda e: list(e.absolute_path))
    assert not errors, "schema errors:\n" + "\n".join(
        f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:10]
    )
    assert card.get("type") == "AdaptiveCard"
    assert card.get("version") == "1.5", f"version is {card.get('version')!r}, want '1.5'"
    size = card_size(card)
    assert size < MAX_CARD_BYTES, f"card is {size} bytes, limit {MAX_CARD_BYTES}"
    fallback_text = card.get("fallbackText")
    assert isinstance(fallback_text, str) and fallback_text.strip(), "fallbackText missing"
    assert len(card.get("actions", [])) <= MAX_TOP_LEVEL_ACTIONS, "too many top-level actions"
    for action in iter_actions(card):
        if action["type"] != "Action.Execute":
            continue
        title = action.get("title")
        assert action.get("verb"), f"Action.Execute {title!r} has no verb"
        fallback = action.get("fallback")
        assert isinstance(fallback, dict), f"Action.Execute {title!r} has no fallback"
        assert fallback.get("type") == "Action.Submit", f"{title!r} falls back to {fallback!r}"
        assert fallback.get("title") == title, f"{title!r} fallback has another title"
        data = action.get("data")
        assert fallback.get("data") == data, f"{title!r}: Execute and Submit data differ"
        assert isinstance(data, dict) and data.get("verb") == action["verb"], (
            f"{title!r}: data must carry the verb for the Submit path"
        )


def inputs_of(card: Card) -> dict[str, dict[str, Any]]:
    """Every input element on a card (at any depth: containers, columns), by id."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Input."):
                found[str(node["id"])] = node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card.get("body", []))
    return found


def input_values(card: Card) -> dict[str, str]:
    """Each input's value on a card, by id: what pressing a button on it submits."""
    return {key: str(item["value"]) for key, item in inputs_of(card).items() if "value" in item}
