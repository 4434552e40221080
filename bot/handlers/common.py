"""Small pieces several handler modules share."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from bot.directory import Directory, ServiceDesk, canonical_borough
from bot.store import Profiles
from bot.turns import Outcome, User


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


async def users_desk(
    directory: Directory, profiles: Profiles, user: User, borough: str | None
) -> tuple[str, ServiceDesk] | None:
    """The service desk for the borough the user named (remembered for next time),
    else for the one they named before, else None (ask them)."""
    named = canonical_borough(borough)
    if named is not None:
        await profiles.update(user.id, borough=named)
    else:
        named = canonical_borough(await profiles.borough(user.id))
    desk = directory.desk_for(named) if named else None
    return (named, desk) if named and desk else None
