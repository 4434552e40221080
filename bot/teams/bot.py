"""The Teams activity handler: activity in, router, outcome out.

It owns the Teams-specific rules (tenant allowlist, de-duplication of retried
activities, mention stripping, Universal Actions responses, moving patient
data to a personal chat) and nothing about the procedure itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal

from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import Activity, ActivityTypes, ConversationParameters

from bot.nlu import Intent
from bot.ratelimit import per_user_message_limiter
from bot.router import Router, UnknownVerb
from bot.services import Services
from bot.settings import Settings
from bot.store import ActivityLog, StoreUnavailable
from bot.store.conversations import Conversations
from bot.teams.activities import (
    ADAPTIVE_CARD_ACTION,
    CONVERSATION_KINDS,
    DIALOG_INVOKES,
    bot_token,
    card_attachment_activity,
    invoke_card_body,
    invoke_message_body,
    tenant_of,
    to_incoming,
)
from bot.teams.dialogs import DIALOG_TITLE, continue_body, message_body
from bot.teams.extension import (
    COMPOSE_EXTENSION_QUERY,
    search_message_body,
    search_request,
    search_response_body,
)
from bot.teams.installs import (
    conversation_key,
    conversation_record,
    installation_change,
    personal_record,
)
from bot.teams.posting import replace_or_send
from bot.telemetry import Telemetry, closed
from bot.turns import Incoming, Outcome, Reply
from bot.web import HANDLED_INVOKES

log = logging.getLogger(__name__)

REFUSAL = (
    "Sorry, this assistant is only available to GP practices in South East London. "
    "Your organisation is not enabled for it."
)
SLOW_DOWN = (
    "You're sending messages faster than I can answer, so I'll pause for a minute. "
    "If ICE is down and you need a mailbox now, wait a moment and type 'mailbox'."
)
# A button whose answer is a new message: Teams shows this under the card pressed.
ANSWERED_BELOW = "Answer posted below."
STALE_BUTTON = "That button is no longer available. Type 'help' to see what I can do."
OPEN_PERSONAL_CHAT = (
    "I've sent you a private message to continue: patient details never go in a channel. "
    "If it doesn't appear, open a chat with me (select my name, then Chat) and type 'order'."
)
CANNOT_OPEN_PERSONAL_CHAT = (
    "Patient details never go in a channel or group chat. Please open a chat with me "
    "(select my name, then Chat) and type 'order' there."
)
# A dialog closed with its answer in the chat, but the answer could not be posted there.
NOT_POSTED = "The answer could not be shown in the chat just now:"


class IceBot(TeamsActivityHandler):
    """Bot Framework entry point for every activity."""

    def __init__(
        self,
        *,
        router: Router,
        services: Services,
        settings: Settings,
        activity_log: ActivityLog,
        conversations: Conversations,
        make_reference: Callable[[Activity], dict[str, Any]],
        on_removed: Callable[[str], None] | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._router = router
        #: What handlers may ask for, as the router passes it (name -> object).
        self._services = services.by_name()
        self._settings = settings
        self._activity_log = activity_log
        self._conversations = conversations
        self._on_removed = on_removed
        self._make_reference = make_reference
        self._telemetry = telemetry or Telemetry()
        # One limiter per bot, per user id (docs/security.md); tests swap its clock.
        self.message_limiter = per_user_message_limiter(settings.max_messages_per_minute)

    async def on_turn(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        with self._telemetry.turn(activity.type, lambda: trace_attributes(activity)):
            await self._on_turn(turn_context)

    async def _on_turn(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if not self._settings.tenant_allowed(tenant_of(activity)):
            self._telemetry.outcome("refused")
            await self._refuse(turn_context)
            return
        if await self._over_message_limit(turn_context):
            self._telemetry.outcome("rate_limited")
            return
        key = await self._claim(activity)
        if key is False:
            self._telemetry.outcome("duplicate")
            log.info("duplicate activity ignored type=%s", activity.type)
            return
        try:
            await super().on_turn(turn_context)
        except Exception:
            if key:
                await self._activity_log.release(*key)  # let Teams' retry try again
            raise

    async def _over_message_limit(self, turn_context: TurnContext) -> bool:
        """Per-user flood limit (bot/ratelimit.py): one "slow down", then silence for the window.

        A flood from one user therefore cannot starve the others. Search-box
        queries are not counted: Teams sends one per keystroke, and a search
        reads only the in-memory directory (no store, no connector call).
        """
        activity = turn_context.activity
        if activity.type not in (ActivityTypes.message, ActivityTypes.invoke):
            return False
        if activity.name == COMPOSE_EXTENSION_QUERY:
            return False
        sender = activity.from_property.id if activity.from_property else None
        verdict = self.message_limiter.hit(sender if isinstance(sender, str) else "")
        if verdict.allowed:
            return False
        log.warning("message limit reached; dropping type=%s", activity.type)
        if activity.type == ActivityTypes.invoke:  # an invoke must be answered
            response = InvokeResponse(status=200, body=_notice_body(activity, SLOW_DOWN))
            await turn_context.send_activity(
                Activity(type=ActivityTypes.invoke_response, value=response)
            )
        elif verdict.first_refusal:
            await turn_context.send_activity(SLOW_DOWN)
        return True

    async def _claim(self, activity: Activity) -> tuple[str, str] | Literal[False] | None:
        """The de-duplication key claimed for this turn; None if not needed; False for a repeat.

        De-duplication is a courtesy: when the store is briefly locked the turn
        goes ahead unclaimed rather than failing, so the user still gets an
        answer (the Send handler reports its own store failures precisely).
        """
        key = _dedupe_key(activity)
        if key is None:
            return None
        try:
            return key if await self._activity_log.claim(*key) else False
        except StoreUnavailable as error:
            log.warning("de-duplication unavailable (%s); answering anyway", error)
            return None

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        incoming = to_incoming(turn_context.activity)
        incoming = await self._remember_conversation(turn_context, incoming)
        if incoming.action is None and not incoming.text and not incoming.attachments:
            return  # e.g. a message with only formatting or a card we did not send
        if any(offer.teams_hosted for offer in incoming.attachments):
            incoming = replace(incoming, bearer=bot_token(turn_context))
        outcome = await self._dispatch(incoming)
        await self._apply(turn_context, incoming, outcome)

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        activity = turn_context.activity
        if activity.name == COMPOSE_EXTENSION_QUERY:
            return await self._search(activity)
        if activity.name in DIALOG_INVOKES:
            return await self._dialog(turn_context)
        if activity.name != ADAPTIVE_CARD_ACTION:
            return await super().on_invoke_activity(turn_context)
        incoming = to_incoming(activity)
        if incoming.action is None:
            return InvokeResponse(status=400, body=_invoke_error("The card action had no verb."))
        incoming = await self._remember_conversation(turn_context, incoming)
        outcome = await self._dispatch(incoming)
        body = await self._apply(turn_context, incoming, outcome)
        return InvokeResponse(status=200, body=body or invoke_message_body(ANSWERED_BELOW))

    async def _dialog(self, turn_context: TurnContext) -> InvokeResponse:
        """A Teams dialog's invoke (`task/fetch` opens it, `task/submit` is a button in it).

        The handler's `update` is the dialog's next card; a text-only outcome
        is shown in the dialog; anything else (a confirmation card for the
        chat) is posted to the conversation and the dialog closes.
        """
        incoming = to_incoming(turn_context.activity)
        if incoming.action is None:
            return InvokeResponse(status=400, body=_invoke_error("The dialog action had no verb."))
        incoming = await self._remember_conversation(turn_context, incoming)
        outcome = await self._dispatch(incoming)
        return InvokeResponse(
            status=200, body=await self._answer_dialog(turn_context, incoming, outcome)
        )

    async def _answer_dialog(
        self, turn_context: TurnContext, incoming: Incoming, outcome: Outcome
    ) -> dict[str, Any] | None:
        if _only_text(outcome):
            return message_body(" ".join(r.text or "" for r in outcome.replies))
        unposted = [reply for reply in outcome.replies if not await self._post(turn_context, reply)]
        notice = None
        if outcome.private:
            notice = await self._send_private(turn_context, incoming, outcome.private)
        if outcome.update is not None:
            return continue_body(outcome.update, DIALOG_TITLE)
        if unposted:
            return message_body(" ".join([NOT_POSTED, *(reply.summary for reply in unposted)]))
        return message_body(notice) if notice else None

    async def _post(self, turn_context: TurnContext, reply: Reply) -> bool:
        """Post one reply from a dialog; tell its `posted` callback where it went (or that it
        did not). A dialog must still be answered when the chat cannot be reached."""
        try:
            response = await turn_context.send_activity(card_attachment_activity(reply))
        except Exception as error:  # noqa: BLE001 - the dialog says so instead
            log.warning("reply from a dialog not posted: %s", type(error).__name__)
            if reply.posted is not None:
                await reply.posted(None)
            return False
        if reply.posted is not None:
            await reply.posted(response.id if response is not None else None)
        return True

    async def _search(self, activity: Activity) -> InvokeResponse:
        """The message extension: the query goes to the router's search, never to a log."""
        request = search_request(activity)
        if request is None:
            return InvokeResponse(status=400, body=_invoke_error("The search had no command."))
        command_id, query = request
        try:
            answer = await self._router.dispatch_search(command_id, query, self._services)
        except UnknownVerb:
            log.info("unknown search command")
            return InvokeResponse(status=200, body=search_message_body(STALE_BUTTON))
        return InvokeResponse(status=200, body=search_response_body(answer))

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        """Record an install or removal; welcome once when the bot itself is added.

        Handled here rather than in TeamsActivityHandler's members-added path,
        which fetches every member from the connector first (trap 5).
        """
        change = await self._record_installation(turn_context.activity)
        if change == "add":
            incoming = to_incoming(turn_context.activity)
            outcome = await self._router.dispatch_intent(Intent.WELCOME, incoming, self._services)
            await self._apply(turn_context, incoming, outcome)

    async def on_installation_update(self, turn_context: TurnContext) -> None:
        """The app added to or removed from a personal scope, group chat or team.

        Teams also sends a conversation update for the same install, which is
        the one that says welcome; this one only keeps the registry right.
        """
        await self._record_installation(turn_context.activity)

    async def _record_installation(self, activity: Activity) -> str | None:
        """Keep the registry of installed conversations (where announcements go) right."""
        change = installation_change(activity)
        try:
            if change == "add":
                record = conversation_record(
                    activity, self._make_reference(activity), source="install"
                )
                if record is not None:
                    await self._conversations.record(record)
                    log.info("app installed kind=%s", record.kind)
            elif change == "remove" and (key := conversation_key(activity)) is not None:
                await self._conversations.remove(key)
                if self._on_removed is not None:
                    self._on_removed(key)
                log.info("app removed from a conversation")
        except StoreUnavailable as error:  # the next message or event records it again
            log.warning("installed conversation not recorded: %s", error)
        return change

    async def _dispatch(self, incoming: Incoming) -> Outcome:
        try:
            return await self._router.dispatch(incoming, self._services)
        except UnknownVerb:
            self._telemetry.outcome("unknown_verb")
            log.info("unknown card verb")
            return Outcome.message(STALE_BUTTON)

    async def _apply(
        self, turn_context: TurnContext, incoming: Incoming, outcome: Outcome
    ) -> dict[str, Any] | None:
        """Send the outcome; return the invoke body when the card is replaced via Execute."""
        action = incoming.action
        if action is not None and action.execute and _only_text(outcome):
            # Answer a button with a short notice rather than a chat message.
            return invoke_message_body(" ".join(r.text or "" for r in outcome.replies))
        for reply in outcome.replies:
            response = await turn_context.send_activity(card_attachment_activity(reply))
            if reply.posted is not None:
                await reply.posted(response.id if response is not None else None)
        if outcome.private:
            notice = await self._send_private(turn_context, incoming, outcome.private)
            if notice:
                await turn_context.send_activity(notice)
        if outcome.update is None:
            return None
        if action is not None and action.execute:
            return invoke_card_body(outcome.update)
        pressed = action.card_activity_id if action is not None else None
        await replace_or_send(turn_context, pressed, outcome.update)
        return None

    async def _send_private(
        self, turn_context: TurnContext, incoming: Incoming, replies: list[Reply]
    ) -> str | None:
        """Send to the user's personal chat, creating it when we are in a channel or group.

        Returns what to tell the user where they are (None in the personal chat itself).
        """
        if incoming.conversation.is_personal:
            for reply in replies:
                await turn_context.send_activity(card_attachment_activity(reply))
            return None
        activity = turn_context.activity
        tenant = incoming.conversation.tenant_id
        params = ConversationParameters(
            is_group=False,
            bot=activity.recipient,
            members=[activity.from_property],
            tenant_id=tenant,
            channel_data={"tenant": {"id": tenant}} if tenant else None,
        )

        async def send(private_context: TurnContext) -> None:
            record = personal_record(
                private_context.activity,
                self._make_reference(private_context.activity),
                incoming.user.id,
                incoming.user.name,
            )
            if record is not None:
                await self._conversations.record(record)
            for reply in replies:
                await private_context.send_activity(card_attachment_activity(reply))

        try:
            await turn_context.adapter.create_conversation(
                self._settings.app_id,
                send,
                params,
                activity.channel_id,
                activity.service_url,
                None,
            )
        except Exception:  # noqa: BLE001 - e.g. the user has not installed the app personally
            log.warning("could not open a personal chat")
            return CANNOT_OPEN_PERSONAL_CHAT
        return OPEN_PERSONAL_CHAT

    async def _remember_conversation(
        self, turn_context: TurnContext, incoming: Incoming
    ) -> Incoming:
        """Keep this conversation in the registry (announcements, telling a user later).

        Written only when its reference changed (`Conversations.record`), so a
        turn normally costs no write. A personal chat's reference is returned
        on the incoming turn too, so a handler needs no store read for it.
        """
        activity = turn_context.activity
        reference = self._make_reference(activity)
        record = conversation_record(activity, reference)
        if record is not None:
            try:
                await self._conversations.record(record)
            except StoreUnavailable as error:  # the previous reference still works
                log.warning("conversation reference not saved: %s", error)
        if not (incoming.conversation.is_personal and incoming.user.id):
            return incoming
        return replace(incoming, reply_reference=reference)

    async def _refuse(self, turn_context: TurnContext) -> None:
        """One polite refusal for a message or card action; silence for everything else."""
        activity = turn_context.activity
        log.warning("activity from a tenant that is not allowed type=%s", activity.type)
        if activity.type == ActivityTypes.message:
            await turn_context.send_activity(REFUSAL)
        elif activity.type == ActivityTypes.invoke:
            response = InvokeResponse(status=200, body=_notice_body(activity, REFUSAL))
            await turn_context.send_activity(
                Activity(type=ActivityTypes.invoke_response, value=response)
            )


def trace_attributes(activity: Activity) -> dict[str, str]:
    """What a turn's span says about the activity: ids and closed sets, never its text."""
    conversation = activity.conversation
    attributes = {
        "icebot.conversation.kind": closed(
            conversation.conversation_type if conversation else None, CONVERSATION_KINDS
        ),
        "icebot.invoke.name": closed(activity.name, HANDLED_INVOKES),
    }
    for name, value in (
        ("icebot.tenant.id", tenant_of(activity)),
        ("icebot.activity.id", activity.id),
    ):
        if isinstance(value, str) and value:
            attributes[name] = value
    return attributes


def _dedupe_key(activity: Activity) -> tuple[str, str] | None:
    """Messages and conversation updates are de-duplicated; invokes are idempotent instead."""
    if activity.type not in (ActivityTypes.message, ActivityTypes.conversation_update):
        return None
    conversation_id = activity.conversation.id if activity.conversation else None
    if isinstance(conversation_id, str) and isinstance(activity.id, str) and activity.id:
        return conversation_id, activity.id
    return None


def _only_text(outcome: Outcome) -> bool:
    return (
        outcome.update is None
        and not outcome.private
        and bool(outcome.replies)
        and all(r.card is None for r in outcome.replies)
    )


def _notice_body(activity: Activity, text: str) -> dict[str, Any]:
    """A short notice in the shape the invoke expects (search pane, dialog or card action)."""
    if activity.name == COMPOSE_EXTENSION_QUERY:
        return search_message_body(text)
    if activity.name in DIALOG_INVOKES:
        return message_body(text)
    return invoke_message_body(text)


def _invoke_error(message: str) -> dict[str, Any]:
    return {
        "statusCode": 400,
        "type": "application/vnd.microsoft.error",
        "value": {"code": "BadRequest", "message": message},
    }
