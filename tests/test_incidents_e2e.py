"""ICE incidents end to end: the real app over HTTP, the connector stub recording every send.

An admin declares an outage from the chat; after a confirmation card, the
announcement reaches every conversation the app is installed in, exactly once,
through restarts and Teams' 429s; removed or refusing conversations drop out;
"is ICE down?" and /status answer with the incident first.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from bot.application import RUNTIME
from bot.store.broadcasts import BroadcastDelivery
from bot.store.conversations import InstalledConversation
from bot.store.incidents import Incident
from tests.support.cards import assert_valid_card, card_text
from tests.support.incidents import (
    ADMIN,
    ADMIN_AAD,
    DECLARED,
    EVERYWHERE,
    NOTE,
    STEPS,
    announcements,
    declare,
    incident_settings,
    install_everywhere,
)
from tests.support.installs import bot_membership, installation_update
from tests.support.teams import BotHarness, activity, find_action
from tests.support.waiting import settle, until


@pytest.fixture
async def incident_bot(make_bot) -> BotHarness:
    return await make_bot(**incident_settings())


async def deliveries(bot: BotHarness) -> list[BroadcastDelivery]:
    return await bot.client.server.app[RUNTIME].broadcasts.queue.rows()


async def rows_of(bot: BotHarness, table: Any) -> list[Any]:
    async with bot.client.server.app[RUNTIME].db.sessions() as session:
        return list(await session.scalars(select(table)))


# --- who may declare -------------------------------------------------------------------


async def test_a_non_admin_cannot_declare_and_nothing_is_sent(incident_bot: BotHarness) -> None:
    await install_everywhere(incident_bot)
    mark = len(incident_bot.connector.sent)
    # Same display name as an admin, another Entra object id: refused.
    turn = await incident_bot.say(f"/outage {NOTE}", user_id="29:user-a", user_name="Admin")
    assert "Only the ICE downtime administrators" in " ".join(turn.texts)
    # A confirmation card's Send, replayed by someone who is not an admin: refused too.
    forged = {"draft_id": "f" * 32, "change": "declare", "note": NOTE}
    pressed = await incident_bot.execute("incident.confirm", forged, user_id="29:user-a")
    assert "Only the ICE downtime administrators" in str(pressed.body)
    await settle()
    assert await rows_of(incident_bot, Incident) == []
    assert await deliveries(incident_bot) == []
    assert announcements(incident_bot) == []
    assert all(s.card is None for s in incident_bot.connector.sent[mark:])


async def test_nobody_is_an_admin_when_the_setting_is_empty(make_bot) -> None:
    bot = await make_bot(**incident_settings(admin_aad_object_ids=frozenset()))
    turn = await bot.say(f"/outage {NOTE}", user_id=ADMIN)
    assert "Only the ICE downtime administrators" in " ".join(turn.texts)


async def test_the_admin_is_known_by_entra_object_id_not_by_teams_id(make_bot) -> None:
    """Another Teams user id (another bot registration) with the admin's object id: allowed."""
    bot = await make_bot(**incident_settings())
    body = activity(bot.service_url, text=f"/outage {NOTE}", user_id="29:other-id-for-admin")
    body["from"]["aadObjectId"] = ADMIN_AAD
    card = (await bot.post(body)).only_card
    assert card_text(card).startswith("Declare an ICE outage?")


# --- the broadcast ----------------------------------------------------------------------


async def test_the_declaration_reaches_every_installed_conversation_exactly_once(
    incident_bot: BotHarness,
) -> None:
    await install_everywhere(incident_bot)
    await incident_bot.say("hello", user_id=ADMIN)  # the admin's own personal chat, by use
    confirm = (await incident_bot.say(f"/outage {NOTE}", user_id=ADMIN)).only_card
    text = card_text(confirm)
    assert "Nothing has been sent yet" in text and "6 conversations" in text
    assert "2 team channels, 1 group chat and 3 personal chats" in text
    await settle()
    assert announcements(incident_bot) == [], "nothing goes out before Send"

    data = find_action(confirm, "incident.confirm")["data"]
    sent = await incident_bot.execute("incident.confirm", data, user_id=ADMIN)
    assert sent.invoke_card is not None and "6 conversations" in card_text(sent.invoke_card)
    await until(lambda: len(announcements(incident_bot)) >= len(EVERYWHERE))
    # The same card confirmed again (a double click, a Teams retry): nothing more.
    await incident_bot.execute("incident.confirm", data, user_id=ADMIN)
    await settle(0.6)

    posted = Counter(s.conversation_id for s in announcements(incident_bot))
    assert posted == Counter(EVERYWHERE), posted
    for sent_card in announcements(incident_bot):
        assert_valid_card(sent_card.card)
        assert NOTE in card_text(sent_card.card)
    rows = await deliveries(incident_bot)
    assert len(rows) == len(EVERYWHERE)
    assert {r.status for r in rows} == {"sent"}
    assert all(r.activity_id for r in rows), "each row records the message Teams accepted"


async def test_declaring_again_updates_the_note_and_announces_the_update(
    incident_bot: BotHarness,
) -> None:
    await install_everywhere(incident_bot)
    await declare(incident_bot)  # the admin's own chat joins the registry with /outage
    await until(lambda: len(announcements(incident_bot)) == 6)
    confirm = (await incident_bot.say("/outage Fix expected by 14:00", user_id=ADMIN)).only_card
    assert card_text(confirm).startswith("Update the ICE outage note?")
    data = find_action(confirm, "incident.confirm")["data"]
    await incident_bot.execute("incident.confirm", data, user_id=ADMIN)
    await until(lambda: len(announcements(incident_bot, "ICE outage: update")) == 6)
    assert all(s.activity_id is None for s in announcements(incident_bot)), "new posts, no replies"
    incidents = await rows_of(incident_bot, Incident)
    assert len(incidents) == 1, "one incident open at a time"
    assert incidents[0].note == "Fix expected by 14:00"


async def test_a_restart_mid_broadcast_and_teams_429s_still_deliver_each_once(
    make_bot,
) -> None:
    slow = incident_settings(broadcast_max_per_second=2)
    first = await make_bot(**slow)
    await install_everywhere(first)
    await first.say("hello", user_id=ADMIN)
    confirm = (await first.say(f"/outage {NOTE}", user_id=ADMIN)).only_card
    # Teams throttles the first sends, asking for a pause each time.
    first.connector.fail_next(429, times=3, headers={"Retry-After": "0.3"})
    data = find_action(confirm, "incident.confirm")["data"]
    await first.execute("incident.confirm", data, user_id=ADMIN)
    await until(lambda: len(announcements(first)) >= 1)
    await first.client.close()  # stops mid-broadcast: a send under way is finished
    delivered = len(announcements(first))
    assert delivered < len(EVERYWHERE), "the test must stop the broadcast half way"
    assert first.connector.pending_faults == 0, "Teams' 429s were met and retried"

    second = await make_bot(**slow)  # same database
    await until(lambda: len(announcements(second)) >= len(EVERYWHERE), 20)
    await settle(0.6)
    posted = Counter(s.conversation_id for s in announcements(second))
    assert posted == Counter(EVERYWHERE), posted
    rows = await deliveries(second)
    assert {r.status for r in rows} == {"sent"}
    assert any(r.attempts > 1 for r in rows), "a 429 counts as an attempt and is retried"


async def test_removed_and_refusing_conversations_are_dropped(incident_bot: BotHarness) -> None:
    await install_everywhere(incident_bot)
    url = incident_bot.service_url
    # Uninstalled from the group chat; the bot removed from the team.
    await incident_bot.post(
        installation_update(
            url, action="remove", kind="groupChat", conversation_id="19:group-1@thread.v2"
        )
    )
    await incident_bot.post(
        bot_membership(
            url,
            added=False,
            kind="channel",
            conversation_id="19:team-1@thread.tacv2",
            team_id="19:team-1@thread.tacv2",
        )
    )
    # This user blocked the bot: Teams answers 403.
    incident_bot.connector.refuse("a:personal-added", 403)
    await declare(incident_bot)
    admins_chat = f"a:personal-conversation-{ADMIN}"  # in the registry from /outage itself
    expected = {"a:personal-installed", "19:used-channel@thread.tacv2", admins_chat}
    await until(lambda: len(announcements(incident_bot)) == len(expected))
    await settle(0.6)
    assert {s.conversation_id for s in announcements(incident_bot)} == expected
    rows = {r.conversation_key: r.status for r in await deliveries(incident_bot)}
    assert rows == {
        "a:personal-installed": "sent",
        "a:personal-added": "dropped",
        "team:19:team-2@thread.tacv2": "sent",
        admins_chat: "sent",
    }
    keys = {c.key for c in await rows_of(incident_bot, InstalledConversation)}
    assert keys == {"a:personal-installed", "team:19:team-2@thread.tacv2", admins_chat}
    # The next announcement no longer tries the conversation that refused.
    mark = len(incident_bot.connector.sent)
    confirm = (await incident_bot.say("/outage Update at 10:00", user_id=ADMIN)).only_card
    await incident_bot.execute(
        "incident.confirm", find_action(confirm, "incident.confirm")["data"], user_id=ADMIN
    )
    await until(lambda: len(announcements(incident_bot, "ICE outage: update")) == 3)
    await settle()
    assert "a:personal-added" not in {s.conversation_id for s in incident_bot.connector.sent[mark:]}


# --- answering "is ICE down?" -----------------------------------------------------------


async def test_is_ice_down_with_no_outage_declared_gives_the_local_steps(
    incident_bot: BotHarness,
) -> None:
    turn = await incident_bot.say("is ICE down?")
    first, second = turn.cards
    assert card_text(first).startswith("No ICE outage has been declared")
    assert card_text(second).startswith("ICE works but you can't get in")


async def test_is_ice_down_and_status_answer_with_the_incident_first(
    incident_bot: BotHarness,
) -> None:
    await declare(incident_bot)
    await until(lambda: len(announcements(incident_bot)) == 1)  # the admin's chat: now quiet
    for question in ("is ICE down?", "/status", "is it just us?", "ICE is down"):
        cards = (await incident_bot.say(question)).cards
        assert len(cards) == 2, (question, [card_text(c)[:40] for c in cards])
        first, second = cards
        text = card_text(first)
        assert text.startswith(DECLARED) and NOTE in text, question
        assert "Declared" in text and "Last updated" in text, question
        assert card_text(second).startswith(STEPS), question


async def test_without_admins_is_ice_down_asks_which_situation(make_bot) -> None:
    bot = await make_bot(**incident_settings(admin_aad_object_ids=frozenset()))
    card = (await bot.say("is ICE down?")).only_card
    assert card_text(card).startswith("Which applies to you?")


# --- the admin's side ---------------------------------------------------------------------


async def test_an_install_from_another_tenant_is_not_recorded(incident_bot: BotHarness) -> None:
    foreign = installation_update(
        incident_bot.service_url,
        kind="groupChat",
        conversation_id="19:foreign@thread.v2",
        tenant="tenant-elsewhere",
    )
    await incident_bot.post(foreign)
    assert await rows_of(incident_bot, InstalledConversation) == []


async def test_a_note_with_patient_details_is_refused_before_anything_goes(
    incident_bot: BotHarness,
) -> None:
    turn = await incident_bot.say(
        "/outage Mrs Jones DOB 01/02/1950 NHS 943 476 5919 could not be booked", user_id=ADMIN
    )
    assert "looks like it holds patient details" in " ".join(turn.texts)
    assert await rows_of(incident_bot, Incident) == []


async def test_restored_with_nothing_open_and_cancel_send_nothing(
    incident_bot: BotHarness,
) -> None:
    turn = await incident_bot.say("/restored", user_id=ADMIN)
    assert "nothing to declare over" in " ".join(turn.texts)
    card = (await incident_bot.say(f"/outage {NOTE}", user_id=ADMIN)).only_card
    cancelled = await incident_bot.execute("incident.cancel", {}, user_id=ADMIN)
    assert cancelled.invoke_card is not None
    assert card_text(cancelled.invoke_card).startswith("Cancelled: nothing was sent.")
    assert find_action(card, "incident.confirm")  # the Send was never pressed
    await settle()
    assert await rows_of(incident_bot, Incident) == [] and await deliveries(incident_bot) == []


async def test_declared_in_a_channel_the_confirmation_goes_to_the_admins_personal_chat(
    incident_bot: BotHarness,
) -> None:
    turn = await incident_bot.say(f"/outage {NOTE}", user_id=ADMIN, kind="channel", mention=True)
    assert incident_bot.connector.created_conversations, "opened the admin's personal chat"
    confirmations = [
        s for s in turn.sent if s.card and "Nothing has been sent yet" in card_text(s.card)
    ]
    assert [s.conversation_id for s in confirmations] == [
        c for c in (s.conversation_id for s in confirmations) if not c.startswith("19:")
    ]
    assert confirmations, "the confirmation card went somewhere"
