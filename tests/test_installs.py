"""Where the app is installed, read from the activities Teams sends (bot/teams/installs.py)."""

from __future__ import annotations

from typing import Any

import pytest
from botbuilder.schema import Activity

from bot.teams.adapter import conversation_reference
from bot.teams.installs import (
    conversation_key,
    conversation_record,
    installation_change,
    personal_record,
)
from tests.support.installs import bot_membership, installation_update
from tests.support.teams import activity

URL = "https://smba.trafficmanager.net/uk/"


def parsed(body: dict[str, Any]) -> Activity:
    return Activity().deserialize(body)


@pytest.mark.parametrize(
    ("body", "change"),
    [
        (installation_update(URL, kind="personal", conversation_id="a:1"), "add"),
        (
            installation_update(
                URL, action="add-upgrade", kind="groupChat", conversation_id="19:g"
            ),
            "add",
        ),
        (
            installation_update(URL, action="remove", kind="groupChat", conversation_id="19:g"),
            "remove",
        ),
        (
            installation_update(
                URL, action="remove-upgrade", kind="personal", conversation_id="a:1"
            ),
            None,
        ),
        (bot_membership(URL, kind="personal", conversation_id="a:1"), "add"),
        (
            bot_membership(
                URL, added=False, kind="channel", conversation_id="19:t", team_id="19:t"
            ),
            "remove",
        ),
        ({**activity(URL, text="hi"), "type": "message"}, None),
    ],
)
def test_install_and_removal_events(body: dict[str, Any], change: str | None) -> None:
    assert installation_change(parsed(body)) == change


def test_another_member_joining_is_not_an_install() -> None:
    body = bot_membership(URL, kind="groupChat", conversation_id="19:g")
    body["membersAdded"] = [{"id": "29:someone"}]
    assert installation_change(parsed(body)) is None


def test_a_deleted_team_is_a_removal() -> None:
    body = bot_membership(URL, added=False, kind="channel", conversation_id="19:t", team_id="19:t")
    body.pop("membersRemoved")
    body["channelData"]["eventType"] = "teamDeleted"
    assert installation_change(parsed(body)) == "remove"


def test_a_team_install_posts_to_the_chosen_channel_keyed_by_team() -> None:
    event = parsed(
        installation_update(
            URL,
            kind="channel",
            conversation_id="19:general@thread.tacv2",
            team_id="19:general@thread.tacv2",
            selected_channel="19:ops@thread.tacv2",
        )
    )
    record = conversation_record(event, conversation_reference(event), source="install")
    assert record is not None
    assert record.key == "team:19:general@thread.tacv2" and record.kind == "channel"
    assert record.reference["conversation"]["id"] == "19:ops@thread.tacv2"
    assert conversation_key(event) == record.key


def test_a_message_in_a_thread_records_its_channel_not_the_thread() -> None:
    message = parsed(
        activity(URL, text="hi", kind="channel", conversation_id="19:c@thread.tacv2;messageid=42")
    )
    record = conversation_record(message, conversation_reference(message))
    assert record is not None and record.key == "team:19:team"
    assert record.reference["conversation"]["id"] == "19:c@thread.tacv2"
    assert record.source == "use"


def test_personal_and_group_chats_are_keyed_by_conversation() -> None:
    chat = parsed(activity(URL, text="hi", user_id="29:u"))
    record = conversation_record(chat, conversation_reference(chat))
    assert record is not None and (record.key, record.user_id) == (
        "a:personal-conversation-29:u",
        "29:u",
    )
    group = parsed(activity(URL, text="hi", kind="groupChat", conversation_id="19:g@thread.v2"))
    grouped = conversation_record(group, conversation_reference(group))
    assert grouped is not None and (grouped.key, grouped.user_id) == ("19:g@thread.v2", None)


def test_a_chat_the_bot_opened_names_its_user() -> None:
    opened = Activity().deserialize(
        {"type": "event", "serviceUrl": URL, "conversation": {"id": "a:new"}, "channelData": {}}
    )
    record = personal_record(opened, {"conversation": {"id": "a:new"}}, "29:u", "Sam")
    assert record is not None and record.user_id == "29:u"
    assert record.reference["user"] == {"id": "29:u", "name": "Sam"}
