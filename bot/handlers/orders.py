"""The downtime radiology request: New request, choose, three steps, review, Send.

"New request" opens the form as a Teams dialog; a client that cannot open one
(or a button on an older card) gets the same cards in the chat, updated in
place. Either way each card carries the form's id, its owner and every value
entered so far; the bot holds nothing until Send, where the values are checked
again from scratch, committed to the outbox and acknowledged as "queued". The
email itself goes out from the outbox worker, never inside the turn.

Each step validates before the next; an error anywhere opens the earliest
step that has one. A form that already made a request is closed: any step of
it answers with the request as stored (docs/clinical-safety.md, H12).
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
from bot.orders.errors import (
    FORM_ERROR,
    FormErrors,
    read_inputs,
    validate_choice,
    validate_submission,
)
from bot.orders.fields import PRACTICE_INPUTS, REFERRER_INPUTS, STEP_BY_ID, STEPS
from bot.orders.form import (
    VERB_CHANGE,
    VERB_CHOOSE,
    VERB_EDIT,
    VERB_NEXT,
    VERB_REVIEW,
    VERB_SEND,
    VERB_START,
    VERB_STEP,
    VERB_TEXT,
    choose_context,
    closed_form_context,
    errors_up_to,
    first_step_with,
    new_form_id,
    prefill_from_profile,
    review_context,
    start_context,
    step_context,
    stored_confirmation,
)
from bot.orders.model import LONDON, RadiologyRequest, remembered_details
from bot.orders.routing import Route
from bot.router import Command, Router
from bot.settings import Settings
from bot.store import Profiles, StoreUnavailable
from bot.store.confirmations import Confirmations
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
    "The request could not be saved just now, so it was not sent. Nothing you entered is "
    "lost: press Send again in a moment."
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
_ROUTE_KEYS = frozenset({"trust", "modality", "department", FORM_ERROR})


def register(router: Router) -> None:
    @router.intent(
        Intent.ORDER,
        command=Command("order", "order", "Fill a radiology request here and I email it"),
    )
    async def order(
        cards: CardRenderer,
        directory: Directory,
        conversation: Conversation,
        trust: str | None = None,
        modality: str | None = None,
    ) -> Outcome:
        """`order`: what the form does and "New request". Patient data never goes in a
        channel or group chat, so there the card goes to the personal chat."""
        card = cards.render("order_start", start_context(directory, trust, modality))
        if not conversation.is_personal:
            return Outcome(private=[Reply(card=card)])
        return Outcome.card(card)

    @router.action(VERB_START, fields=("trust", "department"))
    async def start(
        cards: CardRenderer,
        directory: Directory,
        user: User,
        conversation: Conversation,
        action: CardAction,
        clock: Clock,
        trust: str | None = None,
        department: str | None = None,
    ) -> Outcome:
        """New request: a fresh form's first card, in the dialog it opens or (a client that
        cannot open dialogs, an older button) as a new message, so the card pressed stays.

        With a route already known (a mailbox card's button) that is step 1; otherwise
        the trust and modality are asked first.
        """
        if not conversation.is_personal:
            card = cards.render("order_start", start_context(directory, trust, department))
            return Outcome(private=[Reply(card=card)])
        form_id = new_form_id()
        route = validate_choice({"trust": trust, "modality": department}, directory=directory)
        if isinstance(route, Route):
            context = step_context(
                STEPS[0].id, form_id=form_id, owner=user.id, route=route, today=_today(clock)
            )
            card = cards.render("order_step", context)
        else:
            prefill = {"trust": trust or "", "modality": department or ""}
            context = choose_context(
                form_id=form_id, owner=user.id, directory=directory, prefill=prefill
            )
            card = cards.render("order_choose", context)
        return Outcome(update=card) if action.dialog else Outcome.card(card)

    @router.action(VERB_CHOOSE)
    async def choose(
        cards: CardRenderer,
        directory: Directory,
        user: User,
        conversation: Conversation,
        data: Mapping[str, Any],
        clock: Clock,
    ) -> Outcome:
        """The trust and modality chosen: step 1, with anything entered before kept."""
        if refused := refuse_step(user, conversation, data):
            return refused
        route = validate_choice(data, directory=directory)
        if isinstance(route, FormErrors):
            return _choose_card(cards, directory, user, data, route)
        values = _values(data)
        return _step_card(cards, STEPS[0].id, route, user, data, values, clock)

    @router.action(VERB_CHANGE)
    async def change(
        cards: CardRenderer,
        directory: Directory,
        outbox: Outbox,
        settings: Settings,
        user: User,
        conversation: Conversation,
        data: Mapping[str, Any],
    ) -> Outcome:
        """ "Change" beside the route on step 1: the trust and modality again, values kept."""
        if stop := await _gate(cards, directory, outbox, settings, user, conversation, data):
            return stop
        return _choose_card(cards, directory, user, data, FormErrors({}))

    @router.action(VERB_STEP)
    async def show_step(
        cards: CardRenderer,
        directory: Directory,
        outbox: Outbox,
        settings: Settings,
        user: User,
        conversation: Conversation,
        data: Mapping[str, Any],
        clock: Clock,
    ) -> Outcome:
        """Back, or "Change" on remembered details: a step as it was, nothing checked."""
        if stop := await _gate(cards, directory, outbox, settings, user, conversation, data):
            return stop
        step = STEP_BY_ID.get(str(data.get("step")), STEPS[0])
        change = data.get("change") == "yes"
        return _show_step(cards, directory, user, data, clock, step.id, change=change)

    @router.action(VERB_NEXT)
    async def next_step(
        cards: CardRenderer,
        directory: Directory,
        profiles: Profiles,
        outbox: Outbox,
        settings: Settings,
        user: User,
        conversation: Conversation,
        data: Mapping[str, Any],
        clock: Clock,
    ) -> Outcome:
        """Check this step (and the ones before it), then the next step, or the review."""
        if stop := await _gate(cards, directory, outbox, settings, user, conversation, data):
            return stop
        step = STEP_BY_ID.get(str(data.get("step")), STEPS[0])
        checked = validate_submission(data, directory=directory, today=_today(clock))
        if isinstance(checked, FormErrors):
            if _ROUTE_KEYS & set(checked):
                return _route_problem(cards, directory, user, data, checked, clock)
            errors = errors_up_to(checked, step)
            if errors:
                return _errors_card(cards, directory, user, data, FormErrors(errors), clock)
        if isinstance(checked, RadiologyRequest) and step.number == len(STEPS):
            return _review(cards, directory, user, data, checked, clock)
        following = STEPS[min(step.number, len(STEPS) - 1)]
        values = _values(data)
        if following.id == "practice" and not _has_practice(values):
            values |= await _remembered(profiles, user)
        route = validate_choice(data, directory=directory)
        assert isinstance(route, Route)  # validate_submission found no route error
        return _step_card(cards, following.id, route, user, data, values, clock)

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
        """Edit on a review card from before the steps: step 1, everything kept."""
        if stop := await _gate(cards, directory, outbox, settings, user, conversation, data):
            return stop
        return _show_step(cards, directory, user, data, clock, STEPS[0].id)

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
        """Every value at once (a whole form card from before the steps): the review, or the
        earliest step with an error."""
        if stop := await _gate(cards, directory, outbox, settings, user, conversation, data):
            return stop
        checked = validate_submission(data, directory=directory, today=_today(clock))
        if isinstance(checked, FormErrors):
            return _errors_card(cards, directory, user, data, checked, clock)
        return _review(cards, directory, user, data, checked, clock)

    @router.action(VERB_SEND)
    async def send(
        cards: CardRenderer,
        directory: Directory,
        profiles: Profiles,
        outbox: Outbox,
        confirmations: Confirmations,
        settings: Settings,
        user: User,
        conversation: Conversation,
        incoming: Incoming,
        action: CardAction,
        data: Mapping[str, Any],
        clock: Clock,
        kick: Kick,
    ) -> Outcome:
        """Check again, commit to the outbox, then say "queued": never the other way round.

        From the chat, the review card becomes the confirmation in place. From a
        dialog, the dialog closes and the confirmation is posted in the chat; its
        activity id is then recorded with the request, so the worker updates that
        card to sent or failed as it does any other.
        """
        if refused := refuse_step(user, conversation, data):
            return refused
        checked = validate_submission(data, directory=directory, today=_today(clock))
        if isinstance(checked, FormErrors):
            # A form already used answers with its request whatever it carries now;
            # looked up only here, on the error path: a valid Send finds out in its
            # own transaction, without a read of its own.
            if closed := await already_used(cards, directory, outbox, settings, user, data):
                return closed
            return _errors_card(cards, directory, user, data, checked, clock)
        sending = Sending(
            cards, directory, outbox, settings, incoming, action, clock, kick, confirmations
        )
        return await sending.queue(
            _new_request(checked, str(data["form_id"]), user, directory),
            remember=lambda: _remember_details(profiles, user, checked),
            not_saved=lambda: _review(
                cards, directory, user, data, checked, clock, failure=SAVE_FAILED
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
        record = None
        if isinstance(reference, str) and 0 < len(reference) <= _MAX_FORM_ID:
            record = await outbox.get(reference)
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

    From the chat, the card pressed becomes the confirmation in place. From a
    Teams dialog (the bot's own form), the dialog closes and the confirmation
    is posted in the chat: its activity id is recorded with the request
    (`confirmations`) before the worker is woken, so the worker updates that
    card to sent or failed as it does any other.
    """

    cards: CardRenderer
    directory: Directory
    outbox: Outbox
    settings: Settings
    incoming: Incoming
    action: CardAction
    clock: Clock
    kick: Kick
    confirmations: Confirmations | None = None

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
            activity_id=None if self.action.dialog else self.action.card_activity_id,
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
        if self.action.dialog and self.confirmations is not None:
            confirmation = stored_card(self.cards, self.directory, self.settings, submission)
            return Outcome(replies=[Reply(card=confirmation, posted=self._track(submission, card))])
        self.kick()
        return self.stored(submission)

    def stored(self, submission: Submission) -> Outcome:
        return Outcome(update=stored_card(self.cards, self.directory, self.settings, submission))

    def _track(
        self, submission: Submission, card: CardLocation
    ) -> Callable[[str | None], Awaitable[None]]:
        """Once the dialog's confirmation is posted: record where, then wake the worker.

        The worker is woken only now, so its "sent" finds the card to update.
        Should the card not be posted (or its place not recorded), the request
        still goes: the worker then posts the outcome as a new card.
        """
        confirmations = self.confirmations
        assert confirmations is not None

        async def posted(activity_id: str | None) -> None:
            if activity_id:
                try:
                    await confirmations.remember(
                        submission.reference,
                        user_id=card.user_id,
                        activity_id=activity_id,
                        conversation=card.conversation,
                    )
                except StoreUnavailable as error:
                    log.warning("confirmation card not recorded: %s", error)
            self.kick()

        return posted


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


async def _gate(
    cards: CardRenderer,
    directory: Directory,
    outbox: Outbox,
    settings: Settings,
    user: User,
    conversation: Conversation,
    data: Mapping[str, Any],
) -> Outcome | None:
    """What a step of a form answers instead of going on: a refusal (not the form's owner,
    not the personal chat, not our form) or, for a form that already made a request, that
    request as stored. None to go on."""
    return refuse_step(user, conversation, data) or await already_used(
        cards, directory, outbox, settings, user, data
    )


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


def _values(data: Mapping[str, Any]) -> dict[str, str]:
    """The declared fields' values a card carried, as text."""
    values, _ = read_inputs(data)
    return values


def _choose_card(
    cards: CardRenderer,
    directory: Directory,
    user: User,
    data: Mapping[str, Any],
    errors: Mapping[str, str],
) -> Outcome:
    """The trust and modality (again), with every value entered so far riding along."""
    context = choose_context(
        form_id=str(data["form_id"]),
        owner=user.id,
        directory=directory,
        prefill={k: v for k, v in data.items() if isinstance(v, str)},
        errors=errors,
    )
    return Outcome(update=cards.render("order_choose", context))


def _show_step(
    cards: CardRenderer,
    directory: Directory,
    user: User,
    data: Mapping[str, Any],
    clock: Clock,
    step: str,
    *,
    change: bool = False,
) -> Outcome:
    """A step as the data carries it, nothing checked (Back, Change, Edit)."""
    route = validate_choice(data, directory=directory)
    if isinstance(route, FormErrors):
        return _choose_card(cards, directory, user, data, route)
    return _step_card(cards, step, route, user, data, _values(data), clock, change=change)


def _step_card(
    cards: CardRenderer,
    step: str,
    route: Route,
    user: User,
    data: Mapping[str, Any],
    values: Mapping[str, str],
    clock: Clock,
    *,
    errors: Mapping[str, str] | None = None,
    change: bool = False,
) -> Outcome:
    def card(compact: bool) -> dict[str, Any]:
        context = step_context(
            step,
            form_id=str(data["form_id"]),
            owner=user.id,
            route=route,
            today=_today(clock),
            values=values,
            errors=errors,
            change=change,
            compact=compact,
        )
        return cards.render("order_step", context)

    try:
        return Outcome(update=card(compact=False))
    except CardTooLarge:  # every value at its longest and most in error: names only
        return Outcome(update=card(compact=True))


def _errors_card(
    cards: CardRenderer,
    directory: Directory,
    user: User,
    data: Mapping[str, Any],
    errors: FormErrors,
    clock: Clock,
) -> Outcome:
    """The earliest step with an error, every error named at its top."""
    if _ROUTE_KEYS & set(errors):
        return _route_problem(cards, directory, user, data, errors, clock)
    route = validate_choice(data, directory=directory)
    assert isinstance(route, Route)  # no route error above
    first = first_step_with(errors)
    return _step_card(cards, first.id, route, user, data, _values(data), clock, errors=errors)


def _route_problem(
    cards: CardRenderer,
    directory: Directory,
    user: User,
    data: Mapping[str, Any],
    errors: FormErrors,
    clock: Clock,
) -> Outcome:
    """A route that does not resolve: the trust and modality again. A form-level problem
    on a good route (an unreadable form): step 1, with the problem at its top."""
    route = validate_choice(data, directory=directory)
    if isinstance(route, FormErrors) or not set(errors) <= {FORM_ERROR}:
        route_errors = route if isinstance(route, FormErrors) else {}
        return _choose_card(cards, directory, user, data, {**errors, **route_errors})
    return _step_card(cards, STEPS[0].id, route, user, data, _values(data), clock, errors=errors)


def _review(
    cards: CardRenderer,
    directory: Directory,
    user: User,
    data: Mapping[str, Any],
    request: RadiologyRequest,
    clock: Clock,
    *,
    failure: str = "",
) -> Outcome:
    """The review card; shortened when the full one would not fit a Teams card."""
    for shortened in (False, True):
        context = review_context(
            request,
            form_id=str(data["form_id"]),
            owner=user.id,
            directory=directory,
            now=clock(),
            shortened=shortened,
            failure=failure,
        )
        try:
            return Outcome(update=cards.render("order_review", context))
        except CardTooLarge:
            continue  # long text in other alphabets, emoji, many lines: show it cut short
    log.warning("request review too large for a card even shortened")
    return _step_card(
        cards,
        STEPS[0].id,
        request.route(directory),
        user,
        data,
        _values(data),
        clock,
        errors={FORM_ERROR: TOO_LARGE},
    )


def _has_practice(values: Mapping[str, str]) -> bool:
    return any(key in values for key in (*PRACTICE_INPUTS, *REFERRER_INPUTS))


async def _remembered(profiles: Profiles, user: User) -> dict[str, str]:
    """The practice and referrer this user sent last time (nothing if the store is down)."""
    try:
        profile = await profiles.get(user.id)
    except StoreUnavailable as error:  # they type them again
        log.warning("remembered details not read: %s", error)
        return {}
    if profile is None:
        return {}
    return prefill_from_profile(profile.practice, profile.referrer)


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
