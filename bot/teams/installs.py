"""Where the app is installed, read from Teams activities: the key and reference to store.

Teams tells a bot about installs in two ways, and both are handled:

* `installationUpdate` with `action` "add" or "remove" (also "add-upgrade" and
  "remove-upgrade" for a new version: still installed, and still to be kept);
* `conversationUpdate` with the bot in `membersAdded` or `membersRemoved`
  (`channelData.eventType` "teamMemberAdded"/"teamMemberRemoved" in a team),
  and "teamDeleted" when a whole team goes.

What is stored per conversation:

* a personal chat and a group chat are keyed by their conversation id;
* a team is keyed by its team id (`channelData.team.id`): the app is installed
  once per team, and the announcement goes to one channel of it, the channel
  chosen when it was added (`channelData.settings.selectedChannel`, else the
  event's channel, which for a team install is the General channel). Messages
  in other channels of a team do not move it. Their conversation id carries
  `;messageid=...` for the thread; the stored reference is the channel itself,
  so an announcement is a new post, not a reply in someone's thread.

Any message from a conversation also records it, so conversations that used
the bot before these events were stored are reached too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from botbuilder.schema import Activity, ActivityTypes

from bot.store.conversations import ConversationKind, ConversationRecord, Source
from bot.teams.activities import tenant_of

Change = Literal["add", "remove"]
_KINDS: dict[str, ConversationKind] = {
    "personal": "personal",
    "groupChat": "groupChat",
    "channel": "channel",
}
_ADD_ACTIONS = frozenset({"add", "add-upgrade"})
_REMOVE_ACTIONS = frozenset({"remove"})
_TEAM_GONE = frozenset({"teamDeleted", "teamHardDeleted"})


def installation_change(activity: Activity) -> Change | None:
    """ "add" or "remove" when this activity installs or removes the bot here; else None."""
    if activity.type == ActivityTypes.installation_update:
        action = activity.action if isinstance(activity.action, str) else ""
        if action in _ADD_ACTIONS:
            return "add"
        if action in _REMOVE_ACTIONS:
            return "remove"
        return None
    if activity.type != ActivityTypes.conversation_update:
        return None
    bot_id = activity.recipient.id if activity.recipient else None
    if not bot_id:
        return None
    if _channel_data(activity).get("eventType") in _TEAM_GONE:
        return "remove"
    if any(m.id == bot_id for m in activity.members_removed or []):
        return "remove"
    if any(m.id == bot_id for m in activity.members_added or []):
        return "add"
    return None


def conversation_record(
    activity: Activity, reference: dict[str, Any], source: Source = "use"
) -> ConversationRecord | None:
    """The conversation this activity happened in, as the registry stores it (None: unknown)."""
    conversation = activity.conversation
    if conversation is None or not isinstance(conversation.id, str) or not conversation.id:
        return None
    kind = _KINDS.get(conversation.conversation_type or "personal")
    if kind is None:
        return None
    data = _channel_data(activity)
    tenant = tenant_of(activity)
    sender = activity.from_property
    if kind == "personal":
        user_id = sender.id if sender is not None and isinstance(sender.id, str) else None
        if not user_id:
            return None
        return ConversationRecord(conversation.id, kind, tenant, user_id, reference, source)
    if kind == "groupChat":
        return ConversationRecord(conversation.id, kind, tenant, None, reference, source)
    channel = _channel_id(activity, data) if source == "install" else _strip_thread(conversation.id)
    post_to = _with_conversation_id(reference, channel)
    return ConversationRecord(_team_key(data, channel), kind, tenant, None, post_to, source)


def personal_record(
    activity: Activity, reference: dict[str, Any], user_id: str, user_name: str
) -> ConversationRecord | None:
    """A personal chat the bot opened itself (the activity Teams returns names no user)."""
    conversation = activity.conversation
    if conversation is None or not isinstance(conversation.id, str) or not conversation.id:
        return None
    user = {"id": user_id, **({"name": user_name} if user_name else {})}
    return ConversationRecord(
        conversation.id, "personal", tenant_of(activity), user_id, {**reference, "user": user}
    )


def conversation_key(activity: Activity) -> str | None:
    """The registry key for this activity's conversation (for a removal)."""
    conversation = activity.conversation
    if conversation is None or not isinstance(conversation.id, str) or not conversation.id:
        return None
    if conversation.conversation_type == "channel":
        data = _channel_data(activity)
        return _team_key(data, _channel_id(activity, data))
    return conversation.id


def _channel_data(activity: Activity) -> Mapping[str, Any]:
    return activity.channel_data if isinstance(activity.channel_data, Mapping) else {}


def _nested_id(data: Mapping[str, Any], *path: str) -> str | None:
    node: Any = data
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, str) and node else None


def _channel_id(activity: Activity, data: Mapping[str, Any]) -> str:
    """The channel a team install chose, else the event's channel (General for a team)."""
    chosen = _nested_id(data, "settings", "selectedChannel", "id") or _nested_id(
        data, "channel", "id"
    )
    conversation_id = activity.conversation.id if activity.conversation else ""
    return chosen or _strip_thread(conversation_id or "")


def _team_key(data: Mapping[str, Any], channel: str) -> str:
    team = _nested_id(data, "team", "id")
    return f"team:{team or channel}"


def _strip_thread(conversation_id: str) -> str:
    """ "19:abc@thread.tacv2;messageid=123" is a reply thread in channel "19:abc@thread.tacv2"."""
    return conversation_id.split(";", 1)[0]


def _with_conversation_id(reference: dict[str, Any], conversation_id: str) -> dict[str, Any]:
    conversation = dict(reference.get("conversation") or {})
    conversation["id"] = conversation_id
    conversation.setdefault("conversationType", "channel")
    return {**reference, "conversation": conversation}


__all__ = [
    "Change",
    "conversation_key",
    "conversation_record",
    "installation_change",
    "personal_record",
]
