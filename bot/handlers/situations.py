"""The situations of the BCP: ICE down, ICE working but no access, PCN/Federation; ICE back.

Every answer here is a new message: the card a button was pressed on stays in
the chat, so the steps a user was following never vanish mid-task.
"""

from __future__ import annotations

from typing import Any

from bot.directory import Directory
from bot.handlers.common import borough_button, incident_first, users_desk
from bot.incidents.board import IncidentBoard
from bot.incidents.views import when
from bot.nlu import Intent
from bot.router import Command, Router
from bot.store import Profiles
from bot.turns import Outcome, User
from bot.vocabulary import BOROUGHS
from cards import CardRenderer

ICE_BACK = (
    "Good to hear ICE is working again: request through ICE as usual. "
    'I can\'t see ICE myself, so if it fails for you again, type "ICE is down".'
)
STILL_DECLARED = (
    "Good to hear ICE is working for you. An ICE outage for all practices is still declared "
    "(since {since}): the administrators will announce here when it is over. Type status to "
    "check."
)


def register(router: Router) -> None:
    async def triage(cards: CardRenderer) -> Outcome:
        """Ask which situation applies before giving steps: the steps differ."""
        return Outcome.card(cards.render("triage"))

    async def downtime_steps(cards: CardRenderer, directory: Directory) -> Outcome:
        """An outage said plainly gets the steps at once (with a line for the other two cases)."""
        return Outcome.card(cards.render("downtime_steps", directory=directory))

    async def access_steps(
        cards: CardRenderer,
        directory: Directory,
        profiles: Profiles,
        user: User,
        borough: str | None = None,
        other_borough: str | None = None,
    ) -> Outcome:
        """Access problems need the service desk, so show the user's own desk if we know it."""
        return Outcome.card(
            await access_card(cards, directory, profiles, user, borough, other_borough)
        )

    # Typed: an outage declared by an admin is said first (bot/handlers/common.py).
    @router.intent(Intent.ICE_TRIAGE)
    async def triage_typed(cards: CardRenderer, incidents: IncidentBoard) -> Outcome:
        return await incident_first(incidents, cards, await triage(cards=cards))

    # Named as the welcome card and every button name it: "ICE is down" (the typed word
    # "down" still asks which situation applies).
    @router.intent(
        Intent.ICE_DOWN,
        command=Command("down", "ICE is down", "The downtime steps: which form, which mailbox"),
    )
    async def steps_typed(
        cards: CardRenderer, directory: Directory, incidents: IncidentBoard
    ) -> Outcome:
        return await incident_first(
            incidents, cards, await downtime_steps(cards=cards, directory=directory)
        )

    @router.intent(
        Intent.ICE_ACCESS,
        command=Command("access", "access", "ICE works but I can't get in: what to do"),
    )
    async def access_typed(
        cards: CardRenderer,
        directory: Directory,
        profiles: Profiles,
        incidents: IncidentBoard,
        user: User,
        borough: str | None = None,
        other_borough: str | None = None,
    ) -> Outcome:
        outcome = await access_steps(
            cards=cards,
            directory=directory,
            profiles=profiles,
            user=user,
            borough=borough,
            other_borough=other_borough,
        )
        return await incident_first(incidents, cards, outcome)

    # PCN staff reach this from the triage card's button, or by saying so; its quick
    # command gave its place in Teams' ten to `status` (docs/decisions.md D21).
    @router.intent(Intent.ICE_PCN)
    async def pcn(cards: CardRenderer, directory: Directory) -> Outcome:
        return Outcome.card(cards.render("pcn", directory=directory))

    @router.intent(Intent.ICE_BACK)
    async def ice_back(incidents: IncidentBoard) -> Outcome:
        incident = await incidents.open()
        if incident is None:
            return Outcome.message(ICE_BACK)
        return Outcome.message(STILL_DECLARED.format(since=when(incident.declared_at)))

    # Buttons: the card pressed may itself be the incident's, so no incident card again.
    router.action("ice.triage")(triage)
    router.action("ice.down")(downtime_steps)
    router.action("ice.access", fields=("borough",))(borough_button(access_steps))
    router.action("access.borough", fields=("borough",))(borough_button(access_steps))
    router.action("ice.pcn")(pcn)


async def access_card(
    cards: CardRenderer,
    directory: Directory,
    profiles: Profiles,
    user: User,
    borough: str | None = None,
    other_borough: str | None = None,
) -> dict[str, Any]:
    """The BCP's access rule and the user's own service desk (named, remembered, or asked)."""
    known = (
        None
        if other_borough and not borough
        else await users_desk(directory, profiles, user, borough)
    )
    return cards.render(
        "access_steps",
        directory=directory,
        desk=known[1] if known else None,
        borough=known[0] if known else None,
        boroughs=list(BOROUGHS),
        outside=other_borough if not known else None,
    )
