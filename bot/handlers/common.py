"""Small pieces several handler modules share."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from bot.turns import Outcome


def replace_card(handler: Callable[..., Awaitable[Outcome]]) -> Callable[..., Awaitable[Outcome]]:
    """Answer a card button by replacing the card it came from.

    Navigation buttons (triage -> steps, picker -> details) then leave one card
    in the chat instead of a growing stack. `functools.wraps` keeps the wrapped
    signature visible, so the router still passes arguments by name.
    """

    @functools.wraps(handler)
    async def wrapper(**kwargs: Any) -> Outcome:
        outcome = await handler(**kwargs)
        if outcome.update is None and len(outcome.replies) == 1 and outcome.replies[0].card:
            return Outcome(update=outcome.replies[0].card, private=outcome.private)
        return outcome

    return wrapper
