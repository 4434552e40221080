"""Tell the user, after the turn has ended, that their request was sent or failed.

The outbox worker knows nothing of Teams; it calls `DeliveryNotifier` with a
`DeliveryEvent`. This updates the confirmation card in place ("sent at 10:32"
or "failed") and, on failure, sends the user what to do by hand: the mailbox
and the request's text, in their personal chat with the bot.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import ConversationReference

from bot.mail.worker import DeliveryEvent
from bot.store.confirmations import Confirmations
from bot.teams.activities import card_attachment_activity
from bot.turns import Reply
from cards import CardRenderer

log = logging.getLogger(__name__)

ConfirmationContext = Callable[[DeliveryEvent], Awaitable[Mapping[str, Any]]]
ManualText = Callable[[str], Awaitable[str | None]]


class NotificationFailed(Exception):
    """The user was not (fully) told; the message names only what failed and the error types."""


class DeliveryNotifier:
    """The worker's `notify` callback for a bot running on a CloudAdapter."""

    def __init__(
        self,
        *,
        adapter: CloudAdapter,
        app_id: str,
        confirmations: Confirmations,
        cards: CardRenderer,
        confirmation_context: ConfirmationContext,
        manual_text: ManualText,
    ) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._confirmations = confirmations
        self._cards = cards
        self._confirmation_context = confirmation_context
        self._manual_text = manual_text

    async def __call__(self, event: DeliveryEvent) -> None:
        confirmation = await self._confirmations.get(event.reference)
        if confirmation is None:
            log.warning("no confirmation card for reference=%s", event.reference)
            return
        context = await self._confirmation_context(event)
        card = self._cards.render("order_confirmation", context)
        manual = await self._manual_text(event.reference) if event.status == "failed" else None
        reference = ConversationReference().deserialize(confirmation.conversation)

        failures: list[str] = []

        async def tell(turn_context: TurnContext) -> None:
            # Errors are kept here, not raised: the adapter's turn-error handler
            # would swallow them (so the worker would count the user as told) and
            # apologise to the user for a turn they never took.
            try:
                await _replace_or_send(turn_context, confirmation.activity_id, card)
            except Exception as error:  # noqa: BLE001 - reported below, after the failure text
                failures.append(f"card: {type(error).__name__}")
            if event.status == "failed":
                # The by-hand instructions matter more than the card: always try them.
                try:
                    await turn_context.send_activity(_failure_message(event, manual))
                except Exception as error:  # noqa: BLE001 - reported below
                    failures.append(f"message: {type(error).__name__}")

        await self._adapter.continue_conversation(reference, tell, self._app_id)
        if failures:
            raise NotificationFailed(", ".join(failures))
        log.info("user told reference=%s status=%s", event.reference, event.status)


async def _replace_or_send(
    turn_context: TurnContext, activity_id: str | None, card: Mapping[str, Any]
) -> None:
    activity = card_attachment_activity(Reply(card=card))
    if activity_id:
        activity.id = activity_id
        try:
            await turn_context.update_activity(activity)
            return
        except Exception:  # noqa: BLE001 - the card may be gone; the user still must be told
            log.warning("confirmation card update failed; sending a new card")
            activity.id = None
    await turn_context.send_activity(activity)


def _failure_message(event: DeliveryEvent, manual: str | None) -> str:
    lines = [
        f"Request {event.reference} could NOT be emailed to {event.mailbox}.",
        f"Please email it yourself to {event.mailbox} now, quoting {event.reference}.",
    ]
    if manual:
        lines += ["", "The request to copy into your email:", "", manual]
    else:
        lines.append("Its details are no longer held here: please fill the trust's form again.")
    return "\n".join(lines)
