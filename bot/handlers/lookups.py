"""Quick look-ups: the service desk for a borough and the mailbox for a trust and modality."""

from __future__ import annotations

from bot.directory import BOROUGHS, Directory
from bot.handlers.common import replace_card, users_desk
from bot.nlu import MODALITY_NAMES
from bot.router import Command, Router
from bot.store import Profiles
from bot.turns import Outcome, User
from cards import CardRenderer


def register(router: Router) -> None:
    @router.intent(
        "helpdesk",
        command=Command(
            "helpdesk", "helpdesk", "Your borough's IT service desk, e.g. helpdesk bromley"
        ),
    )
    async def helpdesk(
        cards: CardRenderer,
        directory: Directory,
        profiles: Profiles,
        user: User,
        borough: str | None = None,
    ) -> Outcome:
        """Named borough wins and is remembered; otherwise the remembered one; otherwise ask."""
        known = await users_desk(directory, profiles, user, borough)
        if known is None:
            return Outcome.card(cards.render("helpdesk_picker", boroughs=list(BOROUGHS)))
        named, desk = known
        return Outcome.card(cards.render("helpdesk", desk=desk, borough=named))

    @router.intent(
        "mailbox",
        command=Command(
            "mailbox", "mailbox", "Where to email a request, e.g. mailbox kings ultrasound"
        ),
    )
    async def mailbox(
        cards: CardRenderer,
        directory: Directory,
        trust: str | None = None,
        modality: str | None = None,
        department: str | None = None,
    ) -> Outcome:
        """Never guess: an unknown trust or an unrouted modality gets a picker or a plain no."""
        modality = department or modality
        chosen = directory.trust(trust) if trust else None
        if chosen is None:
            return Outcome.card(
                cards.render("mailbox_picker", trusts=list(directory.trusts), trust=None)
            )
        if chosen.single_mailbox:
            return Outcome.card(
                cards.render("mailbox", trust=chosen, department=chosen.departments[0])
            )
        if modality is None:
            return Outcome.card(
                cards.render("mailbox_picker", trusts=list(directory.trusts), trust=chosen)
            )
        dept = chosen.department(modality)
        if dept is None:
            name = MODALITY_NAMES.get(modality, "this modality")
            return Outcome.card(cards.render("mailbox_unsupported", trust=chosen, modality=name))
        return Outcome.card(cards.render("mailbox", trust=chosen, department=dept))

    router.action("helpdesk.show")(replace_card(helpdesk))
    router.action("mailbox.show")(replace_card(mailbox))
    router.action("mailbox.pick")(replace_card(mailbox))

    @router.action("helpdesk.pick")
    async def helpdesk_picker(cards: CardRenderer) -> Outcome:
        return Outcome(update=cards.render("helpdesk_picker", boroughs=list(BOROUGHS)))
