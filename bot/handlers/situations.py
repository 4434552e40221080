"""The three situations of the BCP: ICE down, ICE working but no access, PCN/Federation."""

from __future__ import annotations

from bot.directory import BOROUGHS, Directory
from bot.handlers.common import replace_card, users_desk
from bot.router import Command, Router
from bot.store import Profiles
from bot.turns import Outcome, User
from cards import CardRenderer


def register(router: Router) -> None:
    @router.intent(
        "ice_triage",
        command=Command("down", "down", "ICE is down or I can't get in: what to do now"),
    )
    async def triage(cards: CardRenderer) -> Outcome:
        """Ask which situation applies before giving steps: the steps differ."""
        return Outcome.card(cards.render("triage"))

    @router.intent("ice_down")
    async def downtime_steps(cards: CardRenderer, directory: Directory) -> Outcome:
        return Outcome.card(cards.render("downtime_steps", directory=directory))

    @router.intent(
        "ice_access",
        command=Command("access", "access", "ICE works but I can't get in: what to do"),
    )
    async def access_steps(
        cards: CardRenderer,
        directory: Directory,
        profiles: Profiles,
        user: User,
        borough: str | None = None,
    ) -> Outcome:
        """Access problems need the service desk, so show the user's own desk if we know it."""
        known = await users_desk(directory, profiles, user, borough)
        card = cards.render(
            "access_steps",
            directory=directory,
            desk=known[1] if known else None,
            borough=known[0] if known else None,
            boroughs=list(BOROUGHS),
        )
        return Outcome.card(card)

    @router.intent("ice_pcn", command=Command("pcn", "pcn", "I work for a PCN or Federation"))
    async def pcn(cards: CardRenderer, directory: Directory) -> Outcome:
        return Outcome.card(cards.render("pcn", directory=directory))

    router.action("ice.triage")(replace_card(triage))
    router.action("ice.down")(replace_card(downtime_steps))
    router.action("ice.access")(replace_card(access_steps))
    router.action("access.borough")(replace_card(access_steps))
    router.action("ice.pcn")(replace_card(pcn))
