"""Small pieces several handler modules share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.directory import Directory, ServiceDesk
from bot.incidents.board import IncidentBoard
from bot.incidents.views import incident_context
from bot.store import Profiles
from bot.turns import Outcome, Reply, User
from bot.vocabulary import canonical_borough
from cards import CardRenderer

BoroughAnswer = Callable[..., Awaitable[Outcome]]


def borough_button(answer: BoroughAnswer) -> BoroughAnswer:
    """The handler for a borough button: the intent's answer, with the borough the card sent.

    A button only ever carries one of the six boroughs, so it takes no
    `other_borough` (the router would refuse a card field the verb does not declare).
    """

    async def pressed(
        cards: CardRenderer,
        directory: Directory,
        profiles: Profiles,
        user: User,
        borough: str | None = None,
    ) -> Outcome:
        return await answer(
            cards=cards, directory=directory, profiles=profiles, user=user, borough=borough
        )

    return pressed


async def users_desk(
    directory: Directory, profiles: Profiles, user: User, borough: str | None
) -> tuple[str, ServiceDesk] | None:
    """The service desk for the borough the user named (remembered for next time),
    else for the one they named before, else None (ask them).

    Only the six boroughs the BCP covers are remembered: a borough outside them
    never reaches here as `borough` (the parser names it `other_borough`), so
    "helpdesk croydon" leaves the remembered borough as it was.
    """
    named = canonical_borough(borough)
    if named is not None:
        await profiles.update(user.id, borough=named)
    else:
        named = canonical_borough(await profiles.borough(user.id))
    desk = directory.desk_for(named) if named else None
    return (named, desk) if named and desk else None


async def incident_first(
    incidents: IncidentBoard, cards: CardRenderer, outcome: Outcome
) -> Outcome:
    """While an admin has declared an outage, say so before any ICE answer.

    The open incident is cached in memory (`IncidentBoard.open`), so this costs
    no database read on a busy turn.
    """
    incident = await incidents.open()
    if incident is None:
        return outcome
    context = incident_context(incident, "status")
    card = cards.render("incident", context)
    return Outcome(
        replies=[Reply(text=context["headline"], card=card), *outcome.replies],
        update=outcome.update,
        private=outcome.private,
    )
