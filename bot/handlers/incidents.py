"""ICE incidents: "is ICE down?" and /status for everyone; /outage and /restored for admins.

Who is an admin is decided by the Entra object id Teams sends with every
activity (`from.aadObjectId`), compared with ADMIN_AAD_OBJECT_IDS: never the
display name, which anyone can share, and never the Teams user id, which
differs per bot. The tenant allow-list was already applied at the edge.

Declaring never sends anything by itself: it shows the admin a confirmation
card (what goes out, to how many conversations), and only its Send queues
the announcement, in one transaction with the incident (bot/store/incidents.py).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Literal, TypeGuard

from bot.directory import Directory
from bot.handlers.situations import access_card
from bot.incidents.board import IncidentBoard
from bot.incidents.views import confirm_context, incident_context, queued_context
from bot.nlu import Intent
from bot.privacy import looks_like_patient_data
from bot.router import Command, Router
from bot.settings import Settings
from bot.store import Profiles, StoreUnavailable
from bot.store.incidents import Action, Draft, IncidentView, NothingToRestore
from bot.turns import Conversation, Outcome, Reply, User
from cards import CardRenderer

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

NOTE_MAX = 500
NOT_ADMIN = (
    "Only the ICE downtime administrators can declare an outage or its end, and you are not "
    "one of them. Nothing was sent. Type status to see whether an outage is declared."
)
NEED_NOTE = (
    "Add a short note after the command, for everyone to read. For example: "
    "/outage ICE is down for all practices since 08:10, supplier investigating"
)
NOTE_TOO_LONG = (
    f"Please keep the note under {NOTE_MAX} characters: it goes to every chat with the app. "
    "Nothing was sent."
)
NOTE_HAS_PATIENT_DATA = (
    "The note looks like it holds patient details, and it would go to every chat with the "
    "app. Nothing was sent: please write it without them."
)
NOTHING_OPEN = "No ICE outage is declared, so there is nothing to declare over. Nothing was sent."
CANCELLED = "Cancelled: nothing was sent."
NOT_SAVED = (
    "The announcement could not be saved just now, so nothing was sent. Press Send again in a "
    "moment."
)
STALE_CARD = "This card could not be read. Type /outage or /restored again."
_DRAFT = re.compile(r"^[0-9a-f]{32}$")


def register(router: Router) -> None:
    @router.intent(
        Intent.ICE_STATUS,
        command=Command("status", "status", "Is ICE down for everyone? Any outage declared"),
    )
    async def status(
        cards: CardRenderer,
        directory: Directory,
        profiles: Profiles,
        incidents: IncidentBoard,
        settings: Settings,
        user: User,
    ) -> Outcome:
        """The declared outage and the downtime steps; or "none declared" and the local steps."""
        if not settings.admin_aad_object_ids:
            # Nobody can declare here, so "none declared" would say nothing: ask instead.
            return Outcome.card(cards.render("triage"))
        incident = await incidents.open()
        if incident is None:
            context = incident_context(None, "status")
            return Outcome(
                replies=[
                    Reply(text=context["headline"], card=cards.render("incident", context)),
                    Reply(card=await access_card(cards, directory, profiles, user)),
                ]
            )
        progress = audience = None
        if settings.is_admin(user.aad_object_id):
            last = await incidents.last_announcement(incident)
            if last is not None:
                progress, audience = await incidents.progress(last), last.audience
        context = incident_context(incident, "status", progress=progress, audience=audience)
        return Outcome(
            replies=[
                Reply(text=context["headline"], card=cards.render("incident", context)),
                Reply(card=cards.render("downtime_steps", directory=directory)),
            ]
        )

    router.action("status.show")(status)

    @router.intent(Intent.INCIDENT_DECLARE)
    async def declare(
        cards: CardRenderer,
        incidents: IncidentBoard,
        settings: Settings,
        user: User,
        conversation: Conversation,
        text: str,
    ) -> Outcome:
        note, refused = _typed_note(settings, user, text, required=True)
        if refused:
            return refused
        incident = await incidents.open()
        action: Literal["declare", "update"] = "update" if incident else "declare"
        return await _confirmation(cards, incidents, conversation, action, note, incident)

    @router.intent(Intent.INCIDENT_RESTORE)
    async def restore(
        cards: CardRenderer,
        incidents: IncidentBoard,
        settings: Settings,
        user: User,
        conversation: Conversation,
        text: str,
    ) -> Outcome:
        note, refused = _typed_note(settings, user, text, required=False)
        if refused:
            return refused
        incident = await incidents.open()
        if incident is None:
            return Outcome.message(NOTHING_OPEN)
        return await _confirmation(cards, incidents, conversation, "restore", note, incident)

    @router.action("incident.confirm", fields=("draft_id", "change", "note"))
    async def confirm(
        cards: CardRenderer,
        incidents: IncidentBoard,
        settings: Settings,
        user: User,
        clock: Clock,
        draft_id: str | None = None,
        change: str | None = None,
        note: str | None = None,
    ) -> Outcome:
        """Send: the admin is checked again here, from the turn, never from the card."""
        if refused := _not_admin(settings, user):
            return refused
        if not (draft_id and _DRAFT.fullmatch(draft_id)) or not _is_action(change):
            return Outcome.message(STALE_CARD)
        note = (note or "").strip()
        if change == "declare" and not note:
            return Outcome.message(NEED_NOTE)
        if problem := _note_problem(note):
            return Outcome.message(problem)
        draft = Draft(
            draft_id=draft_id,
            action=change,
            note=note,
            admin_id=user.aad_object_id or "",
            admin_name=user.name.strip() or "an administrator",
            now=clock(),
            tenants=incidents.tenants,
        )
        try:
            announcement = await incidents.announce(draft)
        except NothingToRestore:
            return Outcome(update=cards.render("incident_done", title=NOTHING_OPEN, lines=[]))
        except StoreUnavailable as error:
            log.error("incident not announced: %s", error)
            return Outcome.message(NOT_SAVED)
        log.info(
            "incident announced kind=%s incident=%d announcement=%d audience=%d reconciliations=%d",
            announcement.kind,
            announcement.incident.id,
            announcement.id,
            announcement.audience,
            announcement.reconciliations,
        )
        return Outcome(update=cards.render("incident_done", queued_context(announcement)))

    @router.action("incident.cancel")
    async def cancel(cards: CardRenderer, settings: Settings, user: User) -> Outcome:
        if refused := _not_admin(settings, user):
            return refused
        return Outcome(update=cards.render("incident_done", title=CANCELLED, lines=[]))


async def _confirmation(
    cards: CardRenderer,
    incidents: IncidentBoard,
    conversation: Conversation,
    action: Literal["declare", "update", "restore"],
    note: str,
    incident: IncidentView | None,
) -> Outcome:
    """The card the admin confirms; in their personal chat if they typed in a shared one."""
    context = confirm_context(
        action=action,
        note=note,
        draft_id=uuid.uuid4().hex,
        audience=await incidents.audience(),
        incident=incident,
    )
    card = cards.render("incident_confirm", context)
    if conversation.is_personal:
        return Outcome.card(card)
    return Outcome(private=[Reply(card=card)])


def _is_action(change: str | None) -> TypeGuard[Action]:
    """What the confirmation card's `change` may be: the card data is the client's."""
    return change in ("declare", "restore")


def _not_admin(settings: Settings, user: User) -> Outcome | None:
    if settings.is_admin(user.aad_object_id):
        return None
    log.warning("incident command refused: not an admin")
    return Outcome.message(NOT_ADMIN)


def _typed_note(
    settings: Settings, user: User, text: str, *, required: bool
) -> tuple[str, Outcome | None]:
    """The note after /outage or /restored, or why nothing happens (not an admin, no note)."""
    if refused := _not_admin(settings, user):
        return "", refused
    note = command_note(text)
    if required and not note:
        return note, Outcome.message(NEED_NOTE)
    if problem := _note_problem(note):
        return note, Outcome.message(problem)
    return note, None


def _note_problem(note: str) -> str | None:
    if len(note) > NOTE_MAX:
        return NOTE_TOO_LONG
    if note and looks_like_patient_data(note):
        return NOTE_HAS_PATIENT_DATA
    return None


_LEADING = re.compile(
    r"^\s*(?:/\S+|(?:please\s+)?(?:declare|announce|broadcast)\b[^:]*:)\s*", re.IGNORECASE
)


def command_note(text: str) -> str:
    """The note after the command: "/outage ICE down since 8" -> "ICE down since 8".

    A natural phrasing carries its note after a colon ("declare an outage: ICE
    down since 8"); without one there is no note.
    """
    stripped = text.strip()
    match = _LEADING.match(stripped)
    if match is None:
        return ""
    return " ".join(stripped[match.end() :].split())


__all__ = ["NOTE_MAX", "command_note", "register"]
