"""Translate between Bot Framework activities and the bot's plain turn types."""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Mapping
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.schema import Activity, ActivityTypes
from yarl import URL

from bot.turns import (
    Bearer,
    CardAction,
    Conversation,
    ConversationKind,
    FileOffer,
    Incoming,
    Reply,
    User,
)

ADAPTIVE_CARD_ACTION = "adaptiveCard/action"
TASK_FETCH = "task/fetch"
TASK_SUBMIT = "task/submit"
#: The invokes of a Teams dialog (task module): open it, and each Action.Submit inside it.
DIALOG_INVOKES = frozenset({TASK_FETCH, TASK_SUBMIT})
ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
#: A file the user uploaded in a personal chat (stored in their OneDrive).
FILE_DOWNLOAD_INFO = "application/vnd.microsoft.teams.file.download.info"
#: Where the connector serves images pasted into the compose box, under serviceUrl.
_INLINE_IMAGE_PATH = "v3/attachments/"
_MAX_OFFERS = 10
#: The conversation types Teams sends. Only "personal" is a personal chat; any
#: other value, or none, is refused at the HTTP edge (bot/web.py).
CONVERSATION_KINDS: dict[str, ConversationKind] = {
    "personal": "personal",
    "channel": "channel",
    "groupChat": "groupChat",
}
_AT_TAG = re.compile(r"<at[^>]*>.*?</at>", re.IGNORECASE | re.DOTALL)


def tenant_ids(activity: Activity) -> list[object]:
    """Every tenant id the activity carries: `channelData.tenant.id` and `conversation.tenantId`.

    Values are returned as found (a forged one may not be a string), so the
    edge can refuse an activity whose tenant fields disagree instead of
    picking the one that happens to be allowed. botbuilder's model maps
    `tenantID`; Teams sends `tenantId`, which lands in `additional_properties`:
    both are read.
    """
    found: list[object] = []
    channel_data = activity.channel_data if isinstance(activity.channel_data, Mapping) else {}
    tenant = channel_data.get("tenant")
    if isinstance(tenant, Mapping) and tenant.get("id") is not None:
        found.append(tenant["id"])
    conversation = activity.conversation
    if conversation is not None:
        extra = getattr(conversation, "additional_properties", None) or {}
        for value in (conversation.tenant_id, extra.get("tenantId")):
            if value is not None:
                found.append(value)
    return found


def tenant_of(activity: Activity) -> str | None:
    """The one tenant the activity names; None when it names none, or two that disagree."""
    ids = tenant_ids(activity)
    if not ids or any(not isinstance(i, str) or i != ids[0] for i in ids):
        return None
    return str(ids[0])


def strip_mentions(activity: Activity) -> str:
    """The message text without the bot's @mention.

    Unlike `TurnContext.remove_recipient_mention` (trap 4 of the SDK's traps in
    docs/architecture.md) this copes with `text is None`, strips the surrounding
    space and removes the bot's `<at>` tag even when the mention entity is missing
    or differs.
    """
    text = activity.text if isinstance(activity.text, str) else ""
    recipient_id = activity.recipient.id if activity.recipient else None
    for entity in activity.entities or []:
        props = entity.additional_properties if hasattr(entity, "additional_properties") else {}
        mentioned = props.get("mentioned") if isinstance(props, Mapping) else None
        mention_text = props.get("text") if isinstance(props, Mapping) else None
        if (
            getattr(entity, "type", None) == "mention"
            and isinstance(mentioned, Mapping)
            and mentioned.get("id") == recipient_id
            and isinstance(mention_text, str)
        ):
            text = text.replace(mention_text, " ")
    if activity.conversation and activity.conversation.conversation_type in (
        "channel",
        "groupChat",
    ):
        text = _AT_TAG.sub(" ", text)
    return " ".join(text.split())


def _user(activity: Activity) -> User:
    sender = activity.from_property
    if sender is None or not isinstance(sender.id, str):
        return User(id="")
    return User(
        id=sender.id,
        name=sender.name if isinstance(sender.name, str) else "",
        aad_object_id=sender.aad_object_id if isinstance(sender.aad_object_id, str) else None,
    )


def _conversation(activity: Activity) -> Conversation:
    conversation = activity.conversation
    conversation_type = getattr(conversation, "conversation_type", None)
    kind: ConversationKind = (
        CONVERSATION_KINDS.get(conversation_type, "unknown")
        if isinstance(conversation_type, str)
        else "unknown"
    )
    conversation_id = conversation.id if conversation and isinstance(conversation.id, str) else ""
    return Conversation(id=conversation_id, kind=kind, tenant_id=tenant_of(activity))


def card_action(activity: Activity) -> CardAction | None:
    """The card action an activity carries, if any (Execute invoke, dialog invoke or Submit).

    A dialog's invoke carries the Action.Submit's data (merged with the card's
    inputs) in `value.data`, beside Teams' `value.context`. The `msteams` key
    that asked Teams for the dialog is Teams' own and is dropped, as it is from
    a Submit message (a client that could not open the dialog sends that).
    """
    value = activity.value if isinstance(activity.value, Mapping) else None
    if value is None:
        return None
    if activity.type == ActivityTypes.invoke and activity.name in DIALOG_INVOKES:
        data = value.get("data")
        if not isinstance(data, Mapping) or not isinstance(data.get("verb"), str):
            return None
        fields = {k: v for k, v in data.items() if k != "msteams"}
        return CardAction(data["verb"], fields, card_activity_id=activity.reply_to_id, dialog=True)
    if activity.type == ActivityTypes.invoke and activity.name == ADAPTIVE_CARD_ACTION:
        action = value.get("action")
        if not isinstance(action, Mapping):
            return None
        data = action.get("data")
        if not isinstance(data, Mapping):
            data = {}
        verb = action.get("verb") or data.get("verb")
        if not isinstance(verb, str):
            return None
        return CardAction(verb, dict(data), execute=True, card_activity_id=activity.reply_to_id)
    if activity.type == ActivityTypes.message and isinstance(value.get("verb"), str):
        fields = {k: v for k, v in value.items() if k != "msteams"}
        return CardAction(
            value["verb"], fields, execute=False, card_activity_id=activity.reply_to_id
        )
    return None


def file_offers(activity: Activity) -> tuple[FileOffer, ...]:
    """The files a message carries, in the shapes Teams actually sends.

    * A file uploaded with "Attach" (personal chat): content type
      `application/vnd.microsoft.teams.file.download.info`, the attachment's
      `name` (the user's file name) and `content.downloadUrl` (short-lived,
      pre-authenticated, on the user's SharePoint), `content.fileType`,
      `content.uniqueId`.
    * An image pasted into the compose box: content type `image/*` (or
      `image/png`, ...) with `contentUrl` under the activity's serviceUrl
      (`<serviceUrl>v3/attachments/<id>/views/original`), fetched with the
      bot's token. It comes with a `text/html` attachment whose `<img src>`
      points at a URL only the user's browser can open: that one is ignored.

    Anything else (cards, text/html, unknown types) is not a file offer.
    Malformed values become an offer with no URL, which the downloader refuses
    with a clear message, rather than a failed turn.
    """
    offers: list[FileOffer] = []
    for attachment in activity.attachments or []:
        content_type = getattr(attachment, "content_type", None)
        if not isinstance(content_type, str):
            continue
        name = _text(getattr(attachment, "name", None))
        if content_type == FILE_DOWNLOAD_INFO:
            content = getattr(attachment, "content", None)
            content = content if isinstance(content, Mapping) else {}
            offers.append(
                FileOffer(
                    name=name,
                    url=_text(content.get("downloadUrl")),
                    declared_size=_size(content.get("size")),
                    type_hint=_text(content.get("fileType")),
                )
            )
        elif content_type.lower().startswith("image/"):
            url = _text(getattr(attachment, "content_url", None))
            offers.append(
                FileOffer(
                    name=name,
                    url=url,
                    type_hint=content_type,
                    teams_hosted=_on_service_host(url, activity.service_url),
                )
            )
    return tuple(offers[:_MAX_OFFERS])


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _size(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _on_service_host(url: str, service_url: object) -> bool:
    """Whether an inline image is on the connector host this activity came from, over https.

    The serviceUrl is bound to the activity by the Bot Framework token (its
    `serviceurl` claim), and it is where the bot already sends its token for
    every reply; an image anywhere else gets no token.
    """
    if not isinstance(service_url, str):
        return False
    try:
        image, service = URL(url), URL(service_url)
    except (ValueError, TypeError):
        return False
    base = service.path if service.path.endswith("/") else f"{service.path}/"
    return (
        image.scheme == service.scheme == "https"
        and image.raw_host is not None
        and (image.raw_host, image.port) == (service.raw_host, service.port)
        and image.path.startswith(base + _INLINE_IMAGE_PATH)
    )


def bot_token(turn_context: TurnContext) -> Bearer | None:
    """The bot's own Bot Framework token, from the connector client of this turn.

    Only for images pasted into the compose box, which the connector serves
    under the activity's serviceUrl and only to the bot (Teams' documented
    way: "fetch inline images using the bot's access token"). The credentials
    are those the adapter replies with, so the token goes nowhere it does not
    already go on every reply. None when authentication is off (development).
    """
    client = turn_context.turn_state.get(turn_context.adapter.BOT_CONNECTOR_CLIENT_KEY)
    credentials = getattr(getattr(client, "config", None), "credentials", None)
    if credentials is None or not getattr(credentials, "microsoft_app_id", None):
        return None

    async def token() -> str | None:
        return await asyncio.to_thread(credentials.get_access_token)

    return token


def to_incoming(activity: Activity) -> Incoming:
    offers = file_offers(activity) if activity.type == ActivityTypes.message else ()
    return Incoming(
        user=_user(activity),
        conversation=_conversation(activity),
        text=strip_mentions(activity),
        action=card_action(activity),
        activity_id=activity.id if isinstance(activity.id, str) else None,
        attachments=offers,
    )


def card_attachment_activity(reply: Reply) -> Activity:
    """A message activity for one reply; `summary` feeds notifications and screen readers."""
    if reply.card is None:
        return _outgoing(MessageFactory.text(reply.text or ""))
    activity = MessageFactory.attachment(CardFactory.adaptive_card(dict(reply.card)))
    activity.summary = reply.summary
    return _outgoing(activity)


class OutgoingActivity(Activity):
    """An activity we built to send: botbuilder's defensive deep copy can be a shallow one.

    `TurnContext.send_activities` deep-copies every outgoing activity before
    stamping the conversation reference on the copy (about a hundred copy
    calls per activity, and the whole card). It only ever assigns attributes
    on that copy, never changes nested values, and we never touch an activity
    or its card once handed over. (Card content stays a plain dict: msrest
    serialises a dict subclass as its str(), which tests/test_fastjson.py caught.)
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> OutgoingActivity:
        return copy.copy(self)


def _outgoing(activity: Activity) -> OutgoingActivity:
    outgoing = OutgoingActivity()
    outgoing.__dict__.update(activity.__dict__)
    return outgoing


def invoke_card_body(card: Mapping[str, Any]) -> dict[str, Any]:
    """The Universal Actions response that replaces the card in place."""
    return {"statusCode": 200, "type": ADAPTIVE_CARD_CONTENT_TYPE, "value": dict(card)}


def invoke_message_body(text: str) -> dict[str, Any]:
    """The Universal Actions response that shows a short message and leaves the card as is."""
    return {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": text}
