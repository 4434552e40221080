"""The fast activity (de)serialisation must give exactly what msrest gives."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botbuilder.schema import Activity
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.teams.fastjson import FastActivitySerializer, activity_from_json
from tests.support.teams import activity


def _outgoing_activities() -> list:
    """Every shape the bot sends: text, card, update, proactive, with Teams fields set."""
    from datetime import UTC, datetime

    from botbuilder.core import CardFactory, MessageFactory
    from botbuilder.schema import ChannelAccount, ConversationAccount

    from bot.directory import load_directory
    from cards import CardRenderer

    card = CardRenderer().render("downtime_steps", directory=load_directory())
    text = MessageFactory.text('Sorry \u2014 "quotes", <b>, {braces} and \u0141ukasz')
    with_card = MessageFactory.attachment(CardFactory.adaptive_card(card))
    with_card.summary = "ICE downtime steps"
    update = MessageFactory.attachment(CardFactory.adaptive_card(card))
    update.id = "1:activity-7"
    shapes = [text, with_card, update, _as_sent(with_card)]
    for shape in shapes:
        shape.from_property = ChannelAccount(id="28:bot", name="ICE Downtime")
        shape.recipient = ChannelAccount(id="29:user", name="Sam", aad_object_id="aad-1")
        shape.conversation = ConversationAccount(
            id="a:conv", conversation_type="personal", tenant_id="t"
        )
        shape.service_url = "https://smba.trafficmanager.net/emea/"
        shape.channel_id = "msteams"
        shape.locale = "en-GB"
        shape.reply_to_id = "f:123"
        shape.channel_data = {"tenant": {"id": "t"}, "notification": {"alert": True}}
        shape.timestamp = datetime(2026, 11, 29, 10, 32, 5, 123000, tzinfo=UTC)
    return shapes


def _as_sent(activity: Activity) -> Activity:
    """The activity as the bot hands it to botbuilder (bot.teams.activities)."""
    from bot.teams.activities import OutgoingActivity

    outgoing = OutgoingActivity()
    outgoing.__dict__.update(activity.__dict__)
    return outgoing


@pytest.mark.parametrize("index", range(4))
def test_fast_activity_json_equals_msrest(index: int) -> None:
    from botframework.connector import models
    from msrest.serialization import Serializer

    activity = _outgoing_activities()[index]
    msrest = Serializer({k: v for k, v in models.__dict__.items() if isinstance(v, type)})
    fast = FastActivitySerializer(msrest)
    assert fast.body(activity, "Activity") == msrest.body(activity, "Activity")


def _incoming() -> list[dict[str, Any]]:
    url = "https://smba.trafficmanager.net/emea/"
    message = activity(url, text="ICE is down")
    message["entities"] = [{"type": "clientInfo", "locale": "en-GB", "platform": "Web"}]
    channel = activity(url, text="mailbox kings us", kind="channel", mention=True)
    invoke = activity(
        url,
        type="invoke",
        name="adaptiveCard/action",
        value={"action": {"type": "Action.Execute", "verb": "ice.down", "data": {"a": [1, None]}}},
        reply_to_id="1:card",
    )
    submit = activity(url, value={"verb": "order.review", "nhs_number": "999 000 0018"})
    update = activity(
        url,
        type="conversationUpdate",
        extra={"membersAdded": [{"id": "28:bot"}, {"id": "29:u", "name": "U"}], "unknownField": 1},
    )
    return [message, channel, invoke, submit, update]


def _same(fast: Activity, slow: Activity) -> None:
    assert fast.serialize() == slow.serialize()
    assert getattr(fast, "additional_properties", None) == getattr(
        slow, "additional_properties", None
    )
    for left, right in zip(fast.entities or [], slow.entities or [], strict=True):
        assert _fields(left) == _fields(right)
    for left, right in zip(fast.members_added or [], slow.members_added or [], strict=True):
        assert _fields(left) == _fields(right)


def _fields(model: object) -> object:
    return vars(model) if hasattr(model, "__dict__") else model


@pytest.mark.parametrize("index", range(5))
def test_fast_activity_from_json_equals_msrest(index: int) -> None:
    payload = _incoming()[index]
    _same(activity_from_json(json.loads(json.dumps(payload))), Activity().deserialize(payload))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(
    field=st.sampled_from(
        [
            "text",
            "from",
            "conversation",
            "entities",
            "timestamp",
            "value",
            "membersAdded",
            "channelData",
            "id",
            "replyToId",
        ]
    ),
    value=JSON,
)
def test_fast_path_falls_back_to_msrest_for_odd_values(field: str, value: Any) -> None:
    payload = _incoming()[1]
    payload[field] = value
    try:
        slow = Activity().deserialize(payload)
    except Exception as error:  # noqa: BLE001 - whatever msrest raises, the fast path must too
        with pytest.raises(type(error)):
            activity_from_json(payload)
        return
    _same(activity_from_json(payload), slow)
