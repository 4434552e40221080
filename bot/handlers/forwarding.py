"""The trust's own completed form, attached in the chat: receive, route, review, send.

BCP step 1 is "complete the downtime order form"; step 2 "email the
completed request form to the appropriate radiology department". A user who
completed the trust's form attaches it; the bot fetches and checks it at once
(Teams' download URL lives only minutes), holds it, asks only what routes it,
and on Send queues it in the same durable outbox as the bot's own form.

In a channel or group chat nothing is ever downloaded: the user is pointed to
their personal chat, and the file's name is never repeated (it may hold a
patient's name). Logs carry an upload id, size, type and outcome only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bot.directory import Directory
from bot.files.content import BY_EXTENSION
from bot.files.download import DownloadRefused, FileDownloader
from bot.handlers.orders import (
    NOT_YOURS,
    Clock,
    Kick,
    Sending,
    already_used,
    refuse_step,
)
from bot.nlu import Intent
from bot.orders.errors import FormErrors
from bot.orders.form import new_form_id
from bot.orders.forward_form import (
    VERB_FORWARD_EDIT,
    VERB_FORWARD_REVIEW,
    VERB_FORWARD_SEND,
    forward_choose_context,
    forward_review_context,
    practice_prefill,
)
from bot.orders.forwarded import (
    PRIORITIES,
    AttachedFile,
    ForwardedRequest,
    remembered_practice,
    validate_forward,
)
from bot.router import Router
from bot.settings import Settings
from bot.store import Profiles, StoreUnavailable
from bot.store.files import HeldFile, ReceivedFiles
from bot.store.outbox import FILE, FileGone, NewRequest, Outbox
from bot.turns import CardAction, Conversation, Incoming, Outcome, User
from cards import CardRenderer

log = logging.getLogger(__name__)

PERSONAL_ONLY = (
    "I don't open files in a channel or group chat: patient details never go there. "
    "To email a completed downtime form, attach it in your personal chat with me "
    "(select my name, then Chat)."
)
ONE_AT_A_TIME = (
    "Please attach one completed form at a time: one request goes in one email. "
    "Attach the first form again on its own."
)
NOT_HELD = (
    "I no longer have that file (files not sent within a day are deleted). "
    "Please attach the completed form again."
)
NOT_KEPT = "I couldn't keep that file just now, so nothing was sent. Please attach it again."
NOT_CHECKED = (
    "I couldn't look that form up just now, so nothing was sent. "
    "Please press the button again in a moment."
)
NOT_SAVED = (
    "The request could not be saved just now, so nothing was sent. "
    "Please press Send again in a moment."
)
ALREADY_USED = (
    "That form was already used for request {reference}. Attach it again only for a new request."
)
#: The card fields the forwarding steps read as parameters (the rest is read as `data`).
FIELDS = ("priority",)


def register(router: Router) -> None:
    @router.intent(Intent.FILE)
    async def received(
        cards: CardRenderer,
        directory: Directory,
        profiles: Profiles,
        files: ReceivedFiles,
        downloader: FileDownloader,
        user: User,
        conversation: Conversation,
        incoming: Incoming,
        clock: Clock,
        trust: str | None = None,
        modality: str | None = None,
        priority: str | None = None,
    ) -> Outcome:
        """A message with a file: fetched and checked in a personal chat only, then routed."""
        if not conversation.is_personal:
            log.info("file not downloaded: offered in a %s conversation", conversation.kind)
            return Outcome.message(PERSONAL_ONLY)
        if len(incoming.attachments) != 1:
            log.info("file not downloaded: %d files in one message", len(incoming.attachments))
            return Outcome.message(ONE_AT_A_TIME)
        offer = incoming.attachments[0]
        form_id = new_form_id()
        upload = form_id[:8]
        try:
            downloaded = await downloader.fetch(offer, incoming.bearer)
        except DownloadRefused as refused:
            log.info("file refused upload=%s outcome=%s", upload, refused.reason)
            return Outcome.message(refused.message)
        try:
            held = await files.hold(
                form_id=form_id,
                user_id=user.id,
                name=offer.name,
                media_type=downloaded.kind.media_type,
                extension=downloaded.kind.extension,
                content=downloaded.content,
                sha256=downloaded.sha256,
                received_at=clock(),
            )
        except StoreUnavailable as error:
            log.error("file not held upload=%s error=%s", upload, error)
            return Outcome.message(NOT_KEPT)
        log.info(
            "file received upload=%s type=%s size=%d outcome=held",
            upload,
            downloaded.kind.extension,
            downloaded.size,
        )
        try:
            profile = await profiles.get(user.id)
        except StoreUnavailable as error:  # the practice is asked for instead
            log.warning("practice details not read: %s", error)
            profile = None
        practice = practice_prefill(profile.practice if profile else None)
        context = forward_choose_context(
            form_id=form_id,
            owner=user.id,
            held=held,
            directory=directory,
            prefill={"trust": trust or "", "modality": modality or "", **practice},
            priority=priority if priority in PRIORITIES else None,
            ask_practice=not practice,
        )
        return Outcome.card(cards.render("forward_choose", context))

    async def review_or_edit(
        cards: CardRenderer,
        directory: Directory,
        files: ReceivedFiles,
        outbox: Outbox,
        settings: Settings,
        user: User,
        conversation: Conversation,
        action: CardAction,
        data: Mapping[str, Any],
        priority: str | None = None,
    ) -> Outcome:
        """Review: the mailbox and Reply-To before Send. Edit: the routing card again.

        One handler for both verbs: they check the same things first, and a
        form already sent answers both with its stored request.
        """
        held = await _unsent(cards, directory, files, outbox, settings, user, conversation, data)
        if isinstance(held, Outcome):
            return held
        if action.verb == VERB_FORWARD_EDIT:
            return _choose_again(cards, directory, user, held, data, priority, errors=None)
        checked = _checked(directory, held, data, priority)
        if isinstance(checked, FormErrors):
            return _choose_again(cards, directory, user, held, data, priority, errors=checked)
        context = forward_review_context(
            checked, form_id=held.form_id, owner=user.id, held=held, directory=directory
        )
        return Outcome(update=cards.render("forward_review", context))

    router.action(VERB_FORWARD_REVIEW, fields=FIELDS)(review_or_edit)
    router.action(VERB_FORWARD_EDIT, fields=FIELDS)(review_or_edit)

    @router.action(VERB_FORWARD_SEND, fields=FIELDS)
    async def send(
        cards: CardRenderer,
        directory: Directory,
        profiles: Profiles,
        files: ReceivedFiles,
        outbox: Outbox,
        settings: Settings,
        user: User,
        conversation: Conversation,
        incoming: Incoming,
        action: CardAction,
        data: Mapping[str, Any],
        clock: Clock,
        kick: Kick,
        priority: str | None = None,
    ) -> Outcome:
        """Check again, commit to the outbox with the held file, then say "queued"."""
        held = await _unsent(cards, directory, files, outbox, settings, user, conversation, data)
        if isinstance(held, Outcome):
            return held
        checked = _checked(directory, held, data, priority)
        if isinstance(checked, FormErrors):
            return _choose_again(cards, directory, user, held, data, priority, errors=checked)

        async def remember() -> None:
            profile = await profiles.get(user.id)
            practice = {**(profile.practice if profile else {}), **remembered_practice(checked)}
            await profiles.update(user.id, practice=practice)

        sending = Sending(cards, directory, outbox, settings, incoming, action, clock, kick)
        try:
            return await sending.queue(
                _new_request(checked, held, user, directory),
                remember=remember,
                not_saved=lambda: Outcome.message(NOT_SAVED),
                detail=f" type={checked.file.extension} size={checked.file.size}",
            )
        except FileGone:
            return Outcome.message(NOT_HELD)


async def _unsent(
    cards: CardRenderer,
    directory: Directory,
    files: ReceivedFiles,
    outbox: Outbox,
    settings: Settings,
    user: User,
    conversation: Conversation,
    data: Mapping[str, Any],
) -> HeldFile | Outcome:
    """The held file this card is about, or the answer that stops the step.

    A form already sent is closed, as the bot's own form is: Review, Edit and
    Send on it answer with the request as stored (`already_used`), never with
    what the card carries now.
    """
    if refused := refuse_step(user, conversation, data):
        return refused
    try:
        held = await files.describe(str(data["form_id"]))
    except StoreUnavailable as error:
        log.warning("held file not read: %s", error)
        return Outcome.message(NOT_CHECKED)
    if held is None:
        return Outcome.message(NOT_HELD)
    if held.user_id != user.id:
        log.warning("forwarded form step refused: not the file's owner")
        return Outcome.message(NOT_YOURS)
    if held.reference is not None:
        closed = await already_used(cards, directory, outbox, settings, user, data)
        return closed or Outcome.message(ALREADY_USED.format(reference=held.reference))
    if held.purged:
        return Outcome.message(NOT_HELD)
    return held


def _attached(held: HeldFile) -> AttachedFile:
    return AttachedFile(
        media_type=held.media_type,
        # Held only after identify() named its kind, so it is one of the accepted ones.
        extension=BY_EXTENSION[held.extension].extension,
        size=held.size,
        sha256=held.sha256,
    )


def _checked(
    directory: Directory, held: HeldFile, data: Mapping[str, Any], priority: str | None
) -> ForwardedRequest | FormErrors:
    return validate_forward(data, directory=directory, file=_attached(held), priority=priority)


def _new_request(
    request: ForwardedRequest, held: HeldFile, user: User, directory: Directory
) -> NewRequest:
    return NewRequest(
        form_id=held.form_id,
        user_id=user.id,
        practice_ods=request.practice.ods_code,
        trust=request.trust,
        department=request.department,
        priority=request.priority or "",
        mailbox=request.route(directory).mailbox,
        payload=request.model_dump(mode="json"),
        kind=FILE,
    )


def _choose_again(
    cards: CardRenderer,
    directory: Directory,
    user: User,
    held: HeldFile,
    data: Mapping[str, Any],
    priority: str | None,
    *,
    errors: FormErrors | None,
) -> Outcome:
    """The routing card again with what the user chose, and each error next to its input."""
    context = forward_choose_context(
        form_id=held.form_id,
        owner=user.id,
        held=held,
        directory=directory,
        prefill={k: v for k, v in data.items() if isinstance(v, str)},
        priority=priority if priority in PRIORITIES else None,
        ask_practice=True,
        errors=errors,
    )
    return Outcome(update=cards.render("forward_choose", context))
