"""Send one proactive message to a stored conversation, and say what Teams answered.

The broadcast worker (`bot/broadcast.py`) decides what to do with the answer;
this only knows the Bot Framework: `continue_conversation` on the app's
`CloudAdapter`, so the message goes through the pooled connector clients, the
cached token and `RetryPolicy` (`bot/teams/connector.py`), which already
retries a short 429/5xx within the call. What still fails comes back here as
an exception carrying the HTTP answer, sorted into the worker's outcomes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import ConversationReference

from bot.broadcast import Gone, Refused, Retry, SendResult, Sent
from bot.teams.activities import card_attachment_activity
from bot.teams.connector import RETRY_STATUSES, retry_after
from bot.turns import Reply

log = logging.getLogger(__name__)

#: The conversation is gone for this bot: uninstalled, the team deleted, the bot blocked.
GONE_STATUSES = frozenset({403, 404})
#: Worth trying again later: Teams' transient answers, and our own token (401) being refused.
LATER_STATUSES = RETRY_STATUSES | {401, 500}


class TeamsSender:
    """The broadcast worker's `send`, for a bot running on a CloudAdapter."""

    def __init__(self, adapter: CloudAdapter, app_id: str) -> None:
        self._adapter = adapter
        self._app_id = app_id

    async def __call__(self, reference: Mapping[str, Any], reply: Reply) -> SendResult:
        conversation = ConversationReference().deserialize(dict(reference))
        outcome: dict[str, Any] = {}

        async def post(turn_context: TurnContext) -> None:
            # Kept, not raised: the adapter's turn-error handler would swallow the
            # error and post an apology into a conversation that asked nothing.
            # A new message, not a reply: without this the SDK replies to the made-up id
            # of the continuation activity, and in a channel a post must start its own thread.
            turn_context.activity.id = None
            try:
                response = await turn_context.send_activity(card_attachment_activity(reply))
                outcome["id"] = getattr(response, "id", None)
            except Exception as error:  # noqa: BLE001 - sorted below
                outcome["error"] = error

        try:
            await self._adapter.continue_conversation(conversation, post, self._app_id)
        except Exception as error:  # noqa: BLE001 - e.g. no token: sorted below
            outcome["error"] = error
        if "error" in outcome:
            return classify(outcome["error"])
        return Sent(outcome.get("id"))


def classify(error: BaseException) -> SendResult:
    """What an exception from the connector means for a broadcast delivery."""
    if isinstance(error, aiohttp.ClientError | TimeoutError):
        return Retry(f"unreachable: {type(error).__name__}")
    # msrest keeps the transport's response: aiohttp's has `status`, others `status_code`.
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    if not isinstance(status, int):
        return Retry(f"error: {type(error).__name__}")
    if status in GONE_STATUSES:
        return Gone(status)
    if status in LATER_STATUSES or status >= 500:
        wait = retry_after(getattr(response, "headers", None))
        return Retry(f"HTTP {status}", retry_after=wait, throttled=status == 429)
    return Refused(f"HTTP {status}")


__all__ = ["GONE_STATUSES", "TeamsSender", "classify"]
