"""ICE incidents on the running app: an admin, the app installed everywhere, an outage declared."""

from __future__ import annotations

from typing import Any

from tests.support.cards import assert_valid_card, card_text
from tests.support.installs import bot_membership, installation_update
from tests.support.teams import BotHarness, Turn, activity, find_action

ADMIN = "29:admin"
ADMIN_AAD = f"aad-{ADMIN}"
NOTE = "ICE is down for all practices since 08:10, supplier investigating"
DECLARED = "ICE outage declared"
STEPS = "ICE is down: the downtime procedure"

# Where each installed conversation's announcement must arrive (the connector's
# conversation id): the team's post goes to the channel chosen at install, with no
# thread id; a channel only used gets the channel it was used in.
EVERYWHERE = {
    "a:personal-installed",
    "a:personal-added",
    "19:group-1@thread.v2",
    "19:ops-channel@thread.tacv2",
    "19:used-channel@thread.tacv2",
    f"a:personal-conversation-{ADMIN}",
}


def incident_settings(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "admin_aad_object_ids": frozenset({ADMIN_AAD}),
        "broadcast_retry_base_seconds": 0.05,
        "broadcast_retry_max_seconds": 0.3,
        "outbox_poll_seconds": 0.05,
        # Every connector fault reaches the broadcast worker: its own retries are tested.
        "connector_retry_attempts": 1,
    }
    values.update(overrides)
    return values


async def install_everywhere(bot: BotHarness) -> None:
    """The app in two personal chats, a group chat and a team; used in another team's channel."""
    url = bot.service_url
    for body in (
        installation_update(
            url, kind="personal", conversation_id="a:personal-installed", user_id="29:user-a"
        ),
        bot_membership(
            url, kind="personal", conversation_id="a:personal-added", user_id="29:user-b"
        ),
        installation_update(url, kind="groupChat", conversation_id="19:group-1@thread.v2"),
        installation_update(
            url,
            kind="channel",
            conversation_id="19:team-1@thread.tacv2",
            team_id="19:team-1@thread.tacv2",
            selected_channel="19:ops-channel@thread.tacv2",
        ),
    ):
        assert (await bot.post(body)).status == 200
    used = activity(
        url,
        text="mailbox kings ultrasound",
        kind="channel",
        mention=True,
        conversation_id="19:used-channel@thread.tacv2;messageid=1717",
        extra={
            "channelData": {
                "tenant": {"id": "tenant-sel"},
                "team": {"id": "19:team-2@thread.tacv2"},
                "channel": {"id": "19:used-channel@thread.tacv2"},
            }
        },
    )
    assert (await bot.post(used)).status == 200


def announcements(bot: BotHarness, headline: str = DECLARED) -> list[Any]:
    return [
        s
        for s in bot.connector.sent
        if s.method == "POST" and s.card and card_text(s.card).startswith(headline)
    ]


async def declare(bot: BotHarness, note: str = NOTE) -> Turn:
    """/outage, then Send on the confirmation card; returns the Send's turn."""
    card = (await bot.say(f"/outage {note}", user_id=ADMIN)).only_card
    assert_valid_card(card)
    data = find_action(card, "incident.confirm")["data"]
    return await bot.execute("incident.confirm", data, user_id=ADMIN)
