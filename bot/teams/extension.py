"""The search message extension's invoke: `composeExtension/query` in, result cards out.

Teams sends the query as the user types in the compose box (and once with the
parameter `initialRun` when the extension opens, if the manifest asks for it);
it waits at most 5 seconds and needs HTTP 200 with a `composeExtension` body.
Results are a list: each attachment is the Adaptive Card to insert plus a
thumbnail-card preview (Teams requires a preview for an Adaptive Card result).
A search with nothing to show answers `type: message` with one line of text.

The body is a plain dict, serialised once by `bot/web.py` (botbuilder 4.17.1
serialises an invoke body twice on its own path and fails).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botbuilder.schema import Activity

from bot.teams.activities import ADAPTIVE_CARD_CONTENT_TYPE
from bot.turns import SearchAnswer

COMPOSE_EXTENSION_QUERY = "composeExtension/query"
THUMBNAIL_CONTENT_TYPE = "application/vnd.microsoft.card.thumbnail"
INITIAL_RUN = "initialRun"
MAX_QUERY_CHARS = 200


def search_request(activity: Activity) -> tuple[str, str] | None:
    """The command id and the query text, or None when the invoke is not a search."""
    value = activity.value if isinstance(activity.value, Mapping) else None
    if value is None or not isinstance(value.get("commandId"), str):
        return None
    parameters = value.get("parameters")
    if parameters is None:
        return value["commandId"], ""
    if not isinstance(parameters, list):
        return None
    for parameter in parameters:
        if not isinstance(parameter, Mapping):
            return None
        if parameter.get("name") == INITIAL_RUN:
            return value["commandId"], ""
        text = parameter.get("value")
        if isinstance(text, str):
            return value["commandId"], text[:MAX_QUERY_CHARS]
    return value["commandId"], ""


def search_response_body(answer: SearchAnswer) -> dict[str, Any]:
    """The `composeExtension` response for what the search found."""
    if not answer.results:
        return {"composeExtension": {"type": "message", "text": answer.message or ""}}
    return {
        "composeExtension": {
            "type": "result",
            "attachmentLayout": "list",
            "attachments": [
                {
                    "contentType": ADAPTIVE_CARD_CONTENT_TYPE,
                    "content": dict(result.card),
                    "preview": {
                        "contentType": THUMBNAIL_CONTENT_TYPE,
                        "content": {"title": result.title, "text": result.text},
                    },
                }
                for result in answer.results
            ],
        }
    }


def search_message_body(text: str) -> dict[str, Any]:
    """A one-line answer in the search pane (a refusal, "slow down")."""
    return search_response_body(SearchAnswer(message=text))


__all__ = [
    "COMPOSE_EXTENSION_QUERY",
    "search_message_body",
    "search_request",
    "search_response_body",
]
