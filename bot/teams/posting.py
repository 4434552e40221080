"""Put a card in front of the user: replace the one already there, or post it anew.

Used wherever the bot changes a card it sent before: a step of the request
form answered by an Action.Submit (`bot/teams/bot.py`), and a confirmation
card updated to "sent" or "failed" after the turn (`bot/teams/proactive.py`).
Teams refuses an update when the message was deleted or is too old to edit;
the user must still see the new card, so it is then posted as a new message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from botbuilder.core import TurnContext

from bot.teams.activities import card_attachment_activity
from bot.turns import Reply

log = logging.getLogger(__name__)


async def replace_or_send(
    turn_context: TurnContext, activity_id: str | None, card: Mapping[str, Any]
) -> None:
    """Update the message `activity_id` to show `card`; post `card` as a new message when there
    is no such id or Teams refuses the update. Raises only if the new message fails too."""
    activity = card_attachment_activity(Reply(card=card))
    if activity_id:
        activity.id = activity_id
        try:
            await turn_context.update_activity(activity)
            return
        except Exception as error:  # noqa: BLE001 - the card may be gone; the user still must see it
            log.warning(
                "card update failed (%s); posting it as a new message", type(error).__name__
            )
            activity.id = None
    await turn_context.send_activity(activity)


__all__ = ["replace_or_send"]
