"""The downtime radiology request: choose, fill, review, send.

Each step's card carries the form's id and its owner; the bot holds nothing
until Send, where the values are checked again from scratch, committed to the
outbox and acknowledged as "queued". The email itself goes out from the outbox
worker, never inside the turn.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bot.directory import Directory
from bot.nlu import Intent
from bot.orders.delivery import by_hand_message, manual_text
from bot.orders.form import (
    VERB_CHOOSE,
    VERB_EDIT,
    VERB_REVIEW,
    VERB_SEND,
    VERB_TEXT,
    choose_context,
    closed_form_context,
    form_context,
    new_form_id,
    prefill_from_profile,
    review_context,
    stored_confirmation,
)
from bot.orders.model import (
    FORM_ERROR,
    LONDON,
    FormErrors,
    RadiologyRequest,
    remembered_details,
    validate_choice,
    validate_submission,
)
from bot.router import Command, Router
from bot.settings import Settings
from bot.store import Profiles, StoreUnavailable
from bot.store.outbox import (
    CardLocation,
    NewRequest,
    NotTheSender,
    Outbox,
    RecentLimit,
    Submission,
    TooManyRequests,
)
from bot.turns import CardAction, Conversation, Incoming, Outcome, Reply, User
from cards import CardRenderer
from cards.render import CardTooLarge

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Kick = Callable[[], None]

NOT_YOURS = (
    "Only the person who started this request can continue it. Type 'order' to start your own."
)
PERSONAL_ONLY = "Requests are filled in only in your personal chat with me. Type 'order' there."
START_AGAIN = "This form could not be read. Type 'order' to start again."
SAVE_FAILED = (
    "The request could not be saved just now, so nothing was sent. "
    "Please press Review and then Send again in a moment."
)
TOO_MANY = (
    "You have sent {limit} requests in the last hour, the most allowed. Please wait a few "
    "minutes, or email the trust's form by hand: type 'mailbox' to see where."
)
TOO_LARGE = (
    "This request is too long to show on a Teams card. Please shorten the longest fields "
    "(clinical history and question first) and press Review again."
)
_MAX_FORM_ID = 64
_HOUR = timedelta(hours=1)


def register(router: Router) -> None:
    @router.intent(
        Intent.ORDER,
        command=Command("order", "order", "Fill a radiology request here and I email it"),
    )
    async def start(
        cards: CardRenderer,
        directory: Directory,
        user: User,
        conversation: Conversation,
        trust: str | None = None,
        modality: str | None = None,
    ) -> Outcome:
        """Start in the personal chat: patient data never goes in a channel or group chat."""
        context = choose_context(
            form_id=new_form_id(),
            owner=user.id,
            directory=directory,
            prefill={"trust": trust or "", "modality": modality or ""},
        )
        card = cards.render("order_choose", context)
        if not conversation.is_personal:
            return Outcome(private=[Reply(card=card)])
        return Outcome.card(card)

    @router.action("order.start", fields=("trust", "department"))
    async def start_from_card(
        cards: CardRenderer,
        directory: Directory,
        user: User,
        conversation: Conversation,
        trust: object = None,
        department: object = None,
    ) -> Outcome:
        """A new message: the card the button was on (steps, a mailbox) stays in the chat."""
        return await start(
            cards=cards,
            directory=directory,
            user=user,
            conversation=conversation,
            trust=trust if isinstance(trust, str) else None,
            modality=department if isinstance(department, str) else None,
        )

    @router.action(VERB_CHOOSE)
    async def choose(
        cards: CardRenderer,
        directory: Directory,
        profiles: Profiles,
        user: User,
        conversation: Conversation,
        data: Mapping[str, Any],
        clock: Clock,
    ) -> Outcome:
        if refused := refuse_step(user, conversation, data):
            return refused
        form_id = str(data["form_id"])
        route = validate_choice(data, directory=directory)
        if isinstance(route, FormErrors):
            context = choose_context(
                form_id=form_id, owner=user.id, directory=directory, prefill=data, errors=route
            )
            return Outcome(update=cards.render("order_choose", context))
        profile = await profiles.get(user.id)
        prefill = prefill_from_profile(
            profile.practice if profile else None, profile.referrer if profile else None
        )
        context = form_context(
            form_id=form_id, owner=user.id, route=route, today=_today(clock), prefill=prefill
        )
        return Outcome(update=cards.render("order_form", context))

    @router.action(VERB_EDIT)
    async def edit(
        cards: CardRenderer,
        directory: Directory,
        outbox: Outbox,
        settings: Settings,
        user: User,
        conversation: Conversation,
        data: Mapping[str, Any],
        clock: Clock,
    ) -> Outcome:
        if refused := refuse_step(user, conversation, data):
            return refused
        if closed := await already_used(cards, directory, outbox, settings, user, data):
            return closed
        return _form_card(cards, directory, user, data, clock, errors=None)

    @router.action(VERB_REVIEW)
    async def review(
        cards: CardRenderer,
        directory: Directory,
        outbox: Outbox,
        settings: Settings,
        user: User,
        conversation: Conversation,
        data: Mapping[str, Any],
        clock: Clock,
    ) -> Outcome:
        if refused := refuse_step(user, conversation, data):
            return refused
        if closed := await already_used(cards, directory, outbox, settings, user, data):
            return closed
        checked = validate_submission(data, directory=directory, today=_today(clock))
        if isinstance(checked, FormErrors):
            return _form_card(cards, directory, user, data, clock, errors=checked)
        for shortened in (False, True):
            context = review_context(
                checked,
                form_id=str(data["form_id"]),
                owner=user.id,
                directory=directory,
                now=clock(),
                shortened=shortened,
            )
            try:
                return Outcome(update=cards.render("order_review", context))
            except CardTooLarge:
                continue  # long text in other alphabets, emoji, many lines: show it cut short
        log.warning("request review too large for a card even shortened")
        return _form_card(
            cards, directory, user, data, clock, errors=FormErrors({FORM_ERROR: TOO_LARGE})
        )

    @router.action(VERB_SEND)
    async def send(
        cards: CardRenderer,
        directory: Directory,
        profiles: Profiles,
        outbox: Outbox,
        settings: Settings,
        user: User,
        conversation: Conversation,
        incoming: Incoming,
        action: CardAction,
        data: Mapping[str, Any],
        clock: Clock,
        kick: Kick,
    ) -> Outcome:
        """Check again, commit to the outbox, then say "queued": never the other way round."""
        if refused := refuse_step(user, conversation, data):
            return refused
        checked = validate_submission(data, directory=directory, today=_today(clock))
        if isinstance(checked, FormErrors):
            # A form already used answers with its request whatever it carries now;
            # looked up only here, on the error path: a valid Send finds out in its
            # own transaction, without a read of its own.
            if closed := await already_used(cards, directory, outbox, settings, user, data):
                return closed
            return _form_card(cards, directory, user, data, clock, errors=checked)
        sending = Sending(cards, directory, outbox, settings, incoming, action, clock, kick)
        return await sending.queue(
            _new_request(checked, str(data["form_id"]), user, directory),
            remember=lambda: _remember_details(profiles, user, checked),
            not_saved=lambda: _form_card(
                cards, directory, user, data, clock, errors=FormErrors({FORM_ERROR: SAVE_FAILED})
            ),
        )

    @router.action(VERB_TEXT, fields=("reference",))
    async def request_text(
        directory: Directory,
        outbox: Outbox,
        user: User,
        conversation: Conversation,
        reference: object = None,
    ) -> Outcome:
        """ "Show request text" on a failed card: the by-hand text again, as a new message.

        Only to the person who sent the request, and only in their personal chat:
        the text holds the patient's details.
        """
        if not conversation.is_personal:
            return Outcome.message(PERSONAL_ONLY)
        wanted = isinstance(reference, str) and 0 < len(reference) <= _MAX_FORM_ID
        record = await outbox.get(reference) if wanted else None  # type: ignore[arg-type]
        if record is None or record.user_id != user.id:
            if record is not None:
                log.warning("request text refused: not the request's sender")
            return Outcome.message(NOT_YOURS)
        text = manual_text(record, directory)
        # A chat message, not a notice on the card: it is long and meant to be copied.
        return Outcome(
            private=[Reply(text=by_hand_message(record.reference, record.mailbox, text))]
        )


@dataclass(frozen=True, slots=True)
class Sending:
    """Send's one path, for the bot's own form and a completed form the user attached.

    Both Send handlers check their card their own way, then hand the request
    here: ONE durable transaction (`Outbox.queue_request`: the request, the
    hourly limit, where its card is and its notice, and for an attached form
    the link to its held file), then "queued" from what was stored. A form
    used before gets its stored request back (it is closed), never a second
    request or a confirmation of what the card carries now.
    """

    cards: CardRenderer
    directory: Directory
    outbox: Outbox
    settings: Settings
    incoming: Incoming
    action: CardAction
    clock: Clock
    kick: Kick

    async def queue(
        self,
        request: NewRequest,
        *,
        remember: Callable[[], Awaitable[None]],
        not_saved: Callable[[], Outcome],
        detail: str = "",
    ) -> Outcome:
        """Queue `request` and answer with its confirmation card (or why nothing was queued).

        `remember` keeps the practice's details for next time once queued;
        `not_saved` is the answer when the store could not commit (nothing was
        queued); `detail` adds safe facts to the log line (never patient data).
        Raises FileGone, untouched, for the caller that holds files.
        """
        limit = RecentLimit(self.settings.max_requests_per_hour, self.clock() - _HOUR)
        card = CardLocation(
            user_id=request.user_id,
            activity_id=self.action.card_activity_id,
            conversation=dict(self.incoming.reply_reference or {}),
        )
        try:
            submission = await self.outbox.queue_request(request, card, limit)
        except TooManyRequests:
            return Outcome.message(TOO_MANY.format(limit=limit.most))
        except NotTheSender:
            log.warning("request form step refused: the form was sent by another user")
            return Outcome.message(NOT_YOURS)
        except StoreUnavailable as error:
            # One transaction: the request, its card and its notice commit together
            # or not at all, so "nothing was sent" is true whenever it is said.
            log.error("request could not be saved: %s", error)
            return not_saved()
        if submission.duplicate:
            # The form was used before: its stored request is the answer, and nothing
            # of what this card carries now (details, practice) is kept.
            log.info(
                "request form already used reference=%s status=%s",
                submission.reference,
                submission.status,
            )
            return self.stored(submission)
        log.info(
            "request queued reference=%s kind=%s practice=%s trust=%s department=%s%s",
            submission.reference,
            request.kind,
            request.practice_ods,
            request.trust,
            request.department,
            detail,
        )
        try:
            await remember()
        except StoreUnavailable as error:  # only next time's prefill is lost
            log.warning("practice details not remembered: %s", error)
        self.kick()
        return self.stored(submission)

    def stored(self, submission: Submission) -> Outcome:
        return Outcome(update=stored_card(self.cards, self.directory, self.settings, submission))


def refuse_step(user: User, conversation: Conversation, data: Mapping[str, Any]) -> Outcome | None:
    """Refuse a step that is not this user's, not in a personal chat, or not from our form."""
    form_id = data.get("form_id")
    if not isinstance(form_id, str) or not 0 < len(form_id) <= _MAX_FORM_ID:
        return Outcome.message(START_AGAIN)
    if data.get("owner") != user.id:
        log.warning("request form step refused: not the form's owner")
        return Outcome.message(NOT_YOURS)
    if not conversation.is_personal:
        return Outcome.message(PERSONAL_ONLY)
    return None


async def already_used(
    cards: CardRenderer,
    directory: Directory,
    outbox: Outbox,
    settings: Settings,
    user: User,
    data: Mapping[str, Any],
) -> Outcome | None:
    """The answer for a form that already made a request (it is closed); None if it has not.

    For either kind of form: the bot's own, or a completed one the user attached.

    If the store cannot say, the step goes ahead: Send checks again inside its
    own transaction, so a form is never queued twice.
    """
    try:
        made = await outbox.made_by_form(str(data["form_id"]), user.id)
    except NotTheSender:
        log.warning("request form step refused: the form was sent by another user")
        return Outcome.message(NOT_YOURS)
    except StoreUnavailable as error:
        log.warning("could not check whether the form was sent: %s", error)
        return None
    if made is None:
        return None
    return Outcome(update=stored_card(cards, directory, settings, made))


def stored_card(
    cards: CardRenderer, directory: Directory, settings: Settings, stored: Submission
) -> dict[str, Any]:
    """The confirmation card, from the request as stored; closed if its form was used before."""
    context = stored_confirmation(
        reference=stored.reference,
        status=stored.status,
        trust=stored.trust,
        department=stored.department,
        mailbox=stored.mailbox,
        payload=stored.payload,
        directory=directory,
        sent_at=stored.sent_at,
        kind=stored.kind,
    )
    if stored.duplicate:
        modality = (stored.payload or {}).get("modality")
        context = closed_form_context(
            context,
            trust=stored.trust,
            modality=modality if isinstance(modality, str) else None,
            purged_after=None if stored.payload is not None else settings.retention_days,
            kind=stored.kind,
        )
    return cards.render("order_confirmation", context)


def _form_card(
    cards: CardRenderer,
    directory: Directory,
    user: User,
    data: Mapping[str, Any],
    clock: Clock,
    *,
    errors: FormErrors | None,
) -> Outcome:
    """The form again with what the user typed, and each error next to its field."""
    route = validate_choice(data, directory=directory)
    if isinstance(route, FormErrors):
        context = choose_context(
            form_id=str(data["form_id"]), owner=user.id, directory=directory, errors=route
        )
        return Outcome(update=cards.render("order_choose", context))
    context = form_context(
        form_id=str(data["form_id"]),
        owner=user.id,
        route=route,
        today=_today(clock),
        prefill={k: v for k, v in data.items() if isinstance(v, str)},
        errors=errors,
    )
    return Outcome(update=cards.render("order_form", context))


def _new_request(
    request: RadiologyRequest, form_id: str, user: User, directory: Directory
) -> NewRequest:
    return NewRequest(
        form_id=form_id,
        user_id=user.id,
        practice_ods=request.practice.ods_code,
        trust=request.trust,
        department=request.department,
        priority=request.priority,
        mailbox=request.mailbox(directory),
        payload=request.model_dump(mode="json"),
    )


async def _remember_details(profiles: Profiles, user: User, request: RadiologyRequest) -> None:
    practice, referrer = remembered_details(request)
    await profiles.update(user.id, practice=practice, referrer=referrer)


def _today(clock: Clock) -> date:
    """The date in London: a request made at 00:30 BST is dated that day, not the day before."""
    moment = clock()
    return (moment.astimezone(LONDON) if moment.tzinfo else moment).date()
