"""Quick look-ups: the service desk for a borough and the mailbox for a trust and modality.

Answers are new messages: pressing "Change borough" or "Other mailboxes" leaves
the card already shown in place, so nothing the user was reading disappears.
"""

from __future__ import annotations

from typing import Any

from bot.directory import Department, Directory, Trust
from bot.handlers.common import borough_button, users_desk
from bot.nlu import Intent
from bot.router import Command, Router
from bot.store import Profiles
from bot.turns import Outcome, User
from bot.vocabulary import BOROUGHS, SITE_BY_ID, Site, modality
from cards import CardRenderer


def register(router: Router) -> None:
    @router.intent(
        Intent.HELPDESK,
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
        other_borough: str | None = None,
    ) -> Outcome:
        """Named borough wins and is remembered; otherwise the remembered one; otherwise ask.

        A borough outside the six is told plainly that the BCP does not cover it,
        and the remembered borough stays as it was: that user's desk is not ours to guess.
        """
        if other_borough and not borough:
            return Outcome.card(
                cards.render("helpdesk_picker", boroughs=list(BOROUGHS), outside=other_borough)
            )
        known = await users_desk(directory, profiles, user, borough)
        if known is None:
            return Outcome.card(
                cards.render("helpdesk_picker", boroughs=list(BOROUGHS), outside=None)
            )
        named, desk = known
        return Outcome.card(cards.render("helpdesk", desk=desk, borough=named))

    @router.intent(
        Intent.MAILBOX,
        command=Command(
            "mailbox", "mailbox", "Where to email a request, e.g. mailbox kings ultrasound"
        ),
    )
    async def mailbox(
        cards: CardRenderer,
        directory: Directory,
        trust: str | None = None,
        modality: str | None = None,
        site: str | None = None,
    ) -> Outcome:
        return _mailbox(cards, directory, trust, modality, site)

    router.action("helpdesk.show", fields=("borough",))(borough_button(helpdesk))

    @router.action("helpdesk.pick")
    async def helpdesk_picker(cards: CardRenderer) -> Outcome:
        return Outcome.card(cards.render("helpdesk_picker", boroughs=list(BOROUGHS), outside=None))

    @router.action("mailbox.show", fields=("trust", "department"))
    @router.action("mailbox.pick", fields=("trust", "department"))
    async def mailbox_button(
        cards: CardRenderer,
        directory: Directory,
        trust: str | None = None,
        department: str | None = None,
    ) -> Outcome:
        return _mailbox(cards, directory, trust, department, None)


def _mailbox(
    cards: CardRenderer,
    directory: Directory,
    trust_id: str | None,
    modality_id: str | None,
    site_id: str | None,
) -> Outcome:
    """Never guess: an unknown trust or a modality the BCP lists no mailbox for gets a
    picker or a plain "the BCP does not list it"."""
    chosen = directory.trust(trust_id) if trust_id else None
    site = SITE_BY_ID.get(site_id or "")
    if chosen is None:
        return Outcome.card(
            cards.render("mailbox_picker", trusts=list(directory.trusts), trust=None, site=None)
        )
    if chosen.single_mailbox:
        return Outcome.card(_mailbox_card(cards, directory, chosen, chosen.departments[0], site))
    if modality_id is None:
        return Outcome.card(
            cards.render("mailbox_picker", trusts=list(directory.trusts), trust=chosen, site=site)
        )
    department = chosen.department(modality_id)
    if department is None:
        known = modality(modality_id)
        return Outcome.card(
            cards.render(
                "mailbox_unsupported",
                trust=chosen,
                modality=known.name if known else "this modality",
            )
        )
    return Outcome.card(_mailbox_card(cards, directory, chosen, department, site))


def _mailbox_card(
    cards: CardRenderer,
    directory: Directory,
    trust: Trust,
    department: Department,
    site: Site | None,
) -> dict[str, Any]:
    return cards.render(
        "mailbox", directory=directory, trust=trust, department=department, site=site
    )
