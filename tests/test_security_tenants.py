"""Tenant isolation: only organisations in ALLOWED_TENANT_IDS reach the router.

Proof that a foreign activity never reached the router is behavioural: the
same message from an allowed tenant changes state (the borough is remembered,
a card is sent), and from a foreign tenant it changes nothing.
"""

from __future__ import annotations

import pytest

from bot.application import RUNTIME
from bot.teams.bot import REFUSAL
from tests.support import jwt as channel_jwt
from tests.support.jwt import APP_ID, ChannelKeys
from tests.support.teams import BOT_ID, BOT_NAME, TENANT, BotHarness, activity

pytestmark = pytest.mark.security

channel_keys_server = channel_jwt.channel_keys_server
channel_keys = channel_jwt.channel_keys
offline_outbound_token = channel_jwt.offline_outbound_token

FOREIGN = "tenant-somewhere-else"
USER = "29:outsider"


async def remembered_borough(harness: BotHarness, user_id: str) -> str | None:
    return await harness.client.server.app[RUNTIME].services.profiles.borough(user_id)


async def saved_reference(harness: BotHarness, user_id: str) -> dict | None:
    return await harness.client.server.app[RUNTIME].conversations.personal_reference(user_id)


async def test_allowed_tenant_reaches_the_router(bot: BotHarness) -> None:
    """The control for the tests below: the same message from our tenant changes state."""
    turn = await bot.say("helpdesk bromley", user_id=USER)
    assert turn.status == 200 and len(turn.cards) == 1
    assert await remembered_borough(bot, USER) == "Bromley"
    assert await saved_reference(bot, USER) is not None


async def test_foreign_message_gets_one_refusal_and_changes_nothing(bot: BotHarness) -> None:
    turn = await bot.say("helpdesk bromley", user_id=USER, tenant=FOREIGN)
    assert turn.status == 200
    assert turn.texts == [REFUSAL]
    assert len(turn.sent) == 1 and turn.cards == []
    assert await remembered_borough(bot, USER) is None
    assert await saved_reference(bot, USER) is None


async def test_message_without_any_tenant_is_refused(bot: BotHarness) -> None:
    turn = await bot.say("helpdesk bromley", user_id=USER, tenant=None)
    assert turn.texts == [REFUSAL] and len(turn.sent) == 1
    assert await remembered_borough(bot, USER) is None


async def test_foreign_tenant_in_a_channel_is_refused(bot: BotHarness) -> None:
    turn = await bot.say(
        "helpdesk bromley", user_id=USER, tenant=FOREIGN, kind="channel", mention=True
    )
    assert turn.texts == [REFUSAL] and len(turn.sent) == 1
    assert await remembered_borough(bot, USER) is None


async def test_foreign_card_action_gets_a_refusal_invoke_body(bot: BotHarness) -> None:
    turn = await bot.execute("access.borough", {"borough": "Bromley"}, user_id=USER, tenant=FOREIGN)
    assert turn.status == 200
    assert turn.body == {
        "statusCode": 200,
        "type": "application/vnd.microsoft.activity.message",
        "value": REFUSAL,
    }
    assert turn.sent == []
    assert await remembered_borough(bot, USER) is None


async def test_foreign_submit_fallback_gets_one_text_refusal(bot: BotHarness) -> None:
    turn = await bot.submit("access.borough", {"borough": "Bromley"}, user_id=USER, tenant=FOREIGN)
    assert turn.texts == [REFUSAL] and len(turn.sent) == 1
    assert await remembered_borough(bot, USER) is None


def _bot_added(service_url: str, tenant: str | None) -> dict:
    return activity(
        service_url,
        type="conversationUpdate",
        user_id=USER,
        tenant=tenant,
        extra={"membersAdded": [{"id": BOT_ID, "name": BOT_NAME}]},
    )


async def test_install_in_an_allowed_tenant_is_welcomed(bot: BotHarness) -> None:
    """Control: the conversationUpdate below does produce a welcome when the tenant is ours."""
    turn = await bot.post(_bot_added(bot.service_url, TENANT))
    assert turn.status == 200 and len(turn.cards) == 1


async def test_foreign_install_gets_silence(bot: BotHarness) -> None:
    turn = await bot.post(_bot_added(bot.service_url, FOREIGN))
    assert turn.status == 200
    assert turn.sent == []


async def test_refusal_is_per_message_not_a_conversation(bot: BotHarness) -> None:
    """Every foreign message, whatever it asks for, gets its own single refusal and no card."""
    first = await bot.say("order", user_id=USER, tenant=FOREIGN)
    second = await bot.say("help", user_id=USER, tenant=FOREIGN)
    assert first.texts == [REFUSAL] and second.texts == [REFUSAL]
    assert first.cards == [] and second.cards == []


async def test_dev_mode_with_empty_allowlist_admits_any_tenant(make_bot) -> None:
    harness = await make_bot(dev_mode=True, allowed_tenant_ids=frozenset())
    turn = await harness.say("helpdesk bromley", user_id=USER, tenant=FOREIGN)
    assert len(turn.cards) == 1 and REFUSAL not in turn.texts
    assert await remembered_borough(harness, USER) == "Bromley"


async def test_production_with_empty_allowlist_refuses_everyone(
    make_bot, channel_keys: ChannelKeys, offline_outbound_token: str
) -> None:
    harness = await make_bot(
        dev_mode=False, app_id=APP_ID, app_password="x", allowed_tenant_ids=frozenset()
    )
    for tenant in (TENANT, FOREIGN, None):
        turn = await harness.post(
            activity(harness.service_url, text="helpdesk bromley", user_id=USER, tenant=tenant),
            headers=channel_keys.bearer(harness.service_url),
        )
        assert turn.status == 200, tenant
        assert turn.texts == [REFUSAL] and turn.cards == [], tenant
    assert await remembered_borough(harness, USER) is None


async def test_production_admits_a_listed_tenant(
    make_bot, channel_keys: ChannelKeys, offline_outbound_token: str
) -> None:
    """Control for the test above: with auth on, a listed tenant is answered."""
    harness = await make_bot(dev_mode=False, app_id=APP_ID, app_password="x")
    turn = await harness.post(
        activity(harness.service_url, text="helpdesk bromley", user_id=USER),
        headers=channel_keys.bearer(harness.service_url),
    )
    assert turn.status == 200 and len(turn.cards) == 1
    assert await remembered_borough(harness, USER) == "Bromley"


@pytest.mark.parametrize(
    ("channel_data_tenant", "conversation_tenant"),
    [(TENANT, FOREIGN), (FOREIGN, TENANT), (TENANT, "")],
    ids=["allowed-in-channel-data", "allowed-in-conversation", "empty-conversation-tenant"],
)
async def test_tenant_fields_that_disagree_are_refused_at_the_edge(
    bot: BotHarness, channel_data_tenant: str, conversation_tenant: str
) -> None:
    """The bot used to believe whichever tenant field was allowed. Now neither is believed."""
    for press in ("message", "invoke"):
        if press == "message":
            body = activity(bot.service_url, text="helpdesk bromley", user_id=USER)
        else:
            value = {"action": {"type": "Action.Execute", "verb": "access.borough"}}
            value["action"]["data"] = {"verb": "access.borough", "borough": "Bromley"}
            body = activity(bot.service_url, type="invoke", name="adaptiveCard/action", value=value)
            body["from"]["id"] = USER
        body["channelData"]["tenant"]["id"] = channel_data_tenant
        body["conversation"]["tenantId"] = conversation_tenant
        turn = await bot.post(body)
        assert turn.status == 400, (press, turn.body)
        assert turn.sent == []
    assert await remembered_borough(bot, USER) is None
    assert await saved_reference(bot, USER) is None
