"""Install and removal events as Teams sends them (installationUpdate, conversationUpdate).

Shapes from the Teams documentation of bot installation events: in a team the
conversation is the team's General channel (its id is the team id), with
`channelData.team`, `channelData.channel` and, when the installer chose one,
`channelData.settings.selectedChannel`.
"""

from __future__ import annotations

import itertools
from typing import Any, Literal

from tests.support.teams import BOT_ID, BOT_NAME, TENANT

Kind = Literal["personal", "groupChat", "channel"]
_ids = itertools.count(1)


def _base(
    service_url: str,
    *,
    type: str,
    kind: Kind,
    conversation_id: str,
    user_id: str,
    tenant: str,
    team_id: str | None,
    selected_channel: str | None,
) -> dict[str, Any]:
    channel_data: dict[str, Any] = {"tenant": {"id": tenant}}
    if kind == "channel":
        channel_data["team"] = {"id": team_id or conversation_id, "name": "Practice team"}
        channel_data["channel"] = {"id": team_id or conversation_id}
        if selected_channel:
            channel_data["settings"] = {"selectedChannel": {"id": selected_channel}}
    return {
        "type": type,
        "id": f"install-{next(_ids)}",
        "timestamp": "2026-12-01T08:00:00.000Z",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": user_id, "name": "Installer", "aadObjectId": f"aad-{user_id}"},
        "recipient": {"id": BOT_ID, "name": BOT_NAME},
        "conversation": {
            "id": conversation_id,
            "conversationType": kind,
            "tenantId": tenant,
            **({"isGroup": True} if kind != "personal" else {}),
        },
        "channelData": channel_data,
        "locale": "en-GB",
    }


def installation_update(
    service_url: str,
    *,
    action: str = "add",
    kind: Kind,
    conversation_id: str,
    user_id: str = "29:installer",
    tenant: str = TENANT,
    team_id: str | None = None,
    selected_channel: str | None = None,
) -> dict[str, Any]:
    body = _base(
        service_url,
        type="installationUpdate",
        kind=kind,
        conversation_id=conversation_id,
        user_id=user_id,
        tenant=tenant,
        team_id=team_id,
        selected_channel=selected_channel,
    )
    body["action"] = action
    return body


def bot_membership(
    service_url: str,
    *,
    added: bool = True,
    kind: Kind,
    conversation_id: str,
    user_id: str = "29:installer",
    tenant: str = TENANT,
    team_id: str | None = None,
) -> dict[str, Any]:
    """A conversationUpdate with the bot in membersAdded (or membersRemoved)."""
    body = _base(
        service_url,
        type="conversationUpdate",
        kind=kind,
        conversation_id=conversation_id,
        user_id=user_id,
        tenant=tenant,
        team_id=team_id,
        selected_channel=None,
    )
    body["membersAdded" if added else "membersRemoved"] = [{"id": BOT_ID}]
    if kind == "channel":
        body["channelData"]["eventType"] = "teamMemberAdded" if added else "teamMemberRemoved"
    return body
