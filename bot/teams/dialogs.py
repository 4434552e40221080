"""Teams dialogs (task modules) with an Adaptive Card inside: the invoke bodies, and the card.

A button whose Action.Submit data holds `"msteams": {"type": "task/fetch"}`
makes Teams send the bot a `task/fetch` invoke; the bot answers with the card
to show in a dialog. Each Action.Submit inside the dialog sends a `task/submit`
invoke, answered with the dialog's next card (`continue`), a line of text
(`message`), or nothing at all, which closes the dialog. Dialogs do not run
Action.Execute, so every Execute of a card shown in one becomes the
Action.Submit fallback it already carries (`for_dialog`).

Answers are plain dicts, serialised once by the HTTP edge (bot/web.py): the
botbuilder TaskModuleResponse path would serialise twice (trap 1 of
the SDK's traps in docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.teams.activities import ADAPTIVE_CARD_CONTENT_TYPE

#: The dialog's title, above its card: the request form is the bot's one dialog. No
#: patient data here, ever.
DIALOG_TITLE = "Radiology request"
#: Dialog width. Height is left to Teams, which fits a card dialog to its card; a
#: phone shows a dialog full screen whatever is asked.
DIALOG_WIDTH = "medium"


def for_dialog(card: Mapping[str, Any]) -> dict[str, Any]:
    """The card with every Action.Execute replaced by its Action.Submit fallback.

    Our Execute buttons always carry one (cards/render.py `execute_action`),
    with the verb in its data, so the same handler answers the Submit. The card's
    root is an AdaptiveCard, never an action, so its entries are what is swapped.
    """
    return {key: _swap(value) for key, value in card.items()}


def _swap(node: Any) -> Any:
    if isinstance(node, list):
        return [_swap(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    if node.get("type") == "Action.Execute" and isinstance(node.get("fallback"), Mapping):
        return _swap(node["fallback"])
    return {key: _swap(value) for key, value in node.items()}


def continue_body(card: Mapping[str, Any], title: str) -> dict[str, Any]:
    """Show `card` in the dialog (opening it, or as its next page)."""
    return {
        "task": {
            "type": "continue",
            "value": {
                "title": title,
                "width": DIALOG_WIDTH,
                "card": {"contentType": ADAPTIVE_CARD_CONTENT_TYPE, "content": for_dialog(card)},
            },
        }
    }


def message_body(text: str) -> dict[str, Any]:
    """Show a line of text in the dialog (Teams closes the form and shows the text)."""
    return {"task": {"type": "message", "value": text}}
