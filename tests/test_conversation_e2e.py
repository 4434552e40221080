"""Every conversational path (README.md's command table), end to end over HTTP through the
real CloudAdapter."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from bot.application import RUNTIME
from bot.directory import load_directory
from tests.support.cards import assert_valid_card, card_text, iter_actions
from tests.support.teams import BotHarness, activity, find_action

DIRECTORY = load_directory()
KCH_US = "kch-tr.us.reception_dh@nhs.net"
GSTT = "gst-tr.radiologyreferrals@nhs.net"


async def test_ice_is_down_shows_the_steps_at_once(bot: BotHarness) -> None:
    """An outage said plainly needs no question first; the other two cases get one line each."""
    turn = await bot.say("ICE is down")
    assert turn.status == 200
    card = turn.only_card
    assert_valid_card(card)
    text = card_text(card)
    assert DIRECTORY.procedure.form_step in text and GSTT in text and KCH_US in text
    assert "Only you can't get in?" in text and "At a PCN or Federation?" in text
    for verb in ("ice.access", "ice.pcn", "order.start"):
        find_action(card, verb)


@pytest.mark.parametrize("text", ["ICE???", "problem with ICE", "is ICE down?", "ice help"])
async def test_an_unclear_message_about_ice_asks_which_situation_applies(
    bot: BotHarness, text: str
) -> None:
    card = (await bot.say(text)).only_card
    assert card_text(card).startswith("Which applies to you?")
    for verb in ("ice.down", "ice.access", "ice.pcn"):
        find_action(card, verb)


async def test_down_for_everyone_shows_forms_and_mailboxes_then_start_request(
    bot: BotHarness,
) -> None:
    steps = (await bot.execute("ice.down")).only_card
    text = card_text(steps)
    assert "Radiology - referrals" in text and "General imaging" in text
    for department in DIRECTORY.trust("kch").departments:
        assert department.mailbox in text
    assert GSTT in text
    find_action(steps, "order.start")


async def test_two_clicks_from_ice_down_to_the_helpdesk(bot: BotHarness) -> None:
    """Access path: steps -> 'can't get in' -> pick borough shows the desk (two clicks)."""
    await bot.say("ICE is down")
    access = (await bot.execute("ice.access")).only_card
    assert "only while" in card_text(access)
    find_action(access, "access.borough")
    with_desk = (await bot.execute("access.borough", {"borough": "Bromley"})).only_card
    text = card_text(with_desk)
    assert "0208 315 8702" in text and "BHC.ITHelpdesk@nhs.net" in text


async def test_access_phrase_skips_the_question_and_remembers_borough(bot: BotHarness) -> None:
    await bot.say("helpdesk lewisham")
    card = (await bot.say("I can't log in to ICE")).only_card
    text = card_text(card)
    assert "020 8176 5400" in text and "ICT@selondonics.nhs.uk" in text
    assert "only while" in text


async def test_pcn_phrase_says_the_procedure_does_not_apply(bot: BotHarness) -> None:
    card = (await bot.say("we're a PCN, ICE is down")).only_card
    assert "PCNs and Federations" in card_text(card)
    with pytest.raises(AssertionError):
        find_action(card, "order.start")


@pytest.mark.parametrize(
    ("borough", "phone"),
    [
        ("Bexley", "020 8176 5400"),
        ("Greenwich", "020 8176 5400"),
        ("Lambeth", "020 8176 5400"),
        ("Lewisham", "020 8176 5400"),
        ("Southwark", "020 8176 5400"),
        ("Bromley", "0208 315 8702"),
    ],
)
async def test_helpdesk_for_each_borough(bot: BotHarness, borough: str, phone: str) -> None:
    card = (await bot.say(f"helpdesk {borough.lower()}")).only_card
    assert phone in card_text(card)


async def test_helpdesk_without_borough_offers_picker_then_remembers(bot: BotHarness) -> None:
    picker = (await bot.say("helpdesk")).only_card
    find_action(picker, "helpdesk.show")
    chosen = (await bot.execute("helpdesk.show", {"borough": "Greenwich"})).only_card
    assert "https://nhssel.haloitsm.com/portal/home" in str(chosen)
    again = (await bot.say("IT helpdesk number please")).only_card
    assert "020 8176 5400" in card_text(again)


async def test_remembered_borough_survives_a_restart(make_bot) -> None:
    first = await make_bot()
    await first.say("helpdesk bromley")
    second = await make_bot()  # a new app on the same database file
    card = (await second.say("helpdesk")).only_card
    assert "0208 315 8702" in card_text(card)


@pytest.mark.parametrize(
    ("text", "mailbox"),
    [
        ("mailbox kings ultrasound", KCH_US),
        ("/mailbox kch xray", "kch-tr.xr_reception_dh@nhs.net"),
        ("Mailbox King's College x-ray", "kch-tr.xr_reception_dh@nhs.net"),
        ("mailbox kch fluoro", "kch-tr.fl_reception_dh@nhs.net"),
        ("mailbox kings sonography", KCH_US),
        ("mailbox kings us", KCH_US),
        ("mailbox guys", GSTT),
        ("mailbox st thomas ct", GSTT),
        ("mailbox gstt", GSTT),
    ],
)
async def test_mailbox_lookups(bot: BotHarness, text: str, mailbox: str) -> None:
    card = (await bot.say(text)).only_card
    assert_valid_card(card)
    assert mailbox in card_text(card)


async def test_mailbox_kings_without_modality_offers_the_three(bot: BotHarness) -> None:
    card = (await bot.say("mailbox kings")).only_card
    departments = {
        a["data"]["department"] for a in iter_actions(card) if a.get("verb") == "mailbox.show"
    }
    assert departments == {"xray", "ultrasound", "fluoroscopy"}


@pytest.mark.parametrize("modality", ["ct", "mri", "nuclear medicine", "dexa"])
async def test_kch_modality_without_route_never_guesses(bot: BotHarness, modality: str) -> None:
    card = (await bot.say(f"mailbox kings {modality}")).only_card
    text = card_text(card)
    assert "no" in text.lower()
    addresses = {w.strip(".,()") for w in text.split() if "@" in w}
    kch = {d.mailbox for d in DIRECTORY.trust("kch").departments}
    assert addresses <= kch


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("results", "gst-tr.ICEdowntimeradiologyresults@nhs.net"),
        ("how will I get results", "gst-tr.radiologysecretaries@nhs.net"),
        ("what if they reject it", "rejects the order after vetting"),
        ("what happens next", "72 hours"),
    ],
)
async def test_after_sending_information(bot: BotHarness, text: str, expected: str) -> None:
    card = (await bot.say(text)).only_card
    assert expected in card_text(card)


async def test_results_card_says_do_not_reply(bot: BotHarness) -> None:
    text = card_text((await bot.say("results")).only_card).lower()
    assert "not reply" in text or "do not reply" in text


async def test_unknown_text_gets_help_without_echoing_it(bot: BotHarness) -> None:
    secret = "Jane Doe 9990000018 needs a knee scan"
    card = (await bot.say(f"zzkj {secret}")).only_card
    assert "9990000018" not in str(card) and "Jane" not in str(card)
    find_action(card, "ice.down")


async def test_help_lists_commands(bot: BotHarness) -> None:
    card = (await bot.say("help")).only_card
    text = card_text(card)
    for command in ("helpdesk", "mailbox", "results"):
        assert command in text


async def test_order_is_honest_until_the_form_lands(bot: BotHarness) -> None:
    card = (await bot.execute("order.start")).only_card
    assert "mailbox" in card_text(card).lower()


async def test_channel_mention_is_stripped_and_answered(bot: BotHarness) -> None:
    turn = await bot.say("mailbox kings ultrasound", kind="channel", mention=True)
    assert KCH_US in card_text(turn.only_card)
    assert turn.sent[0].conversation_id.startswith("19:channel")


async def test_group_chat_mention(bot: BotHarness) -> None:
    turn = await bot.say("ICE not working", kind="groupChat", mention=True)
    find_action(turn.only_card, "ice.access")


async def test_action_submit_fallback_answers_with_a_new_message(bot: BotHarness) -> None:
    """The card the button was on stays: its follow-up is posted, never put over it."""
    turn = await bot.submit("ice.down", reply_to_id="card-42")
    assert turn.status == 200
    assert [s.method for s in turn.sent] == ["POST"]
    assert GSTT in card_text(turn.sent[0].card)


async def test_execute_on_a_reference_card_leaves_it_and_posts_the_answer(
    bot: BotHarness,
) -> None:
    turn = await bot.execute("ice.pcn")
    assert turn.status == 200
    assert turn.body["statusCode"] == 200
    assert turn.body["type"] == "application/vnd.microsoft.activity.message"
    assert turn.invoke_card is None
    assert [s.method for s in turn.sent] == ["POST"]
    assert "PCNs and Federations" in card_text(turn.sent[0].card)


async def test_stale_verb_is_answered_not_failed(bot: BotHarness) -> None:
    turn = await bot.execute("no.such.verb")
    assert turn.status == 200
    assert "no longer available" in turn.body["value"]
    submitted = await bot.submit("no.such.verb")
    assert any("no longer available" in t for t in submitted.texts)


async def test_retried_activity_is_answered_once(bot: BotHarness) -> None:
    body = activity(bot.service_url, text="ICE is down", activity_id="retry-me")
    first = await bot.post(body)
    second = await bot.post(body)
    assert first.status == second.status == 200
    assert len(first.sent) == 1 and second.sent == []


async def test_foreign_tenant_gets_one_polite_refusal(bot: BotHarness) -> None:
    turn = await bot.say("ICE is down", tenant="tenant-elsewhere")
    assert len(turn.sent) == 1
    assert turn.sent[0].card is None and "not enabled" in turn.sent[0].text


async def test_foreign_tenant_card_action_is_refused(bot: BotHarness) -> None:
    turn = await bot.execute("ice.down", tenant="tenant-elsewhere")
    assert turn.status == 200
    assert "not enabled" in turn.body["value"]
    assert turn.sent == []


async def test_welcome_on_install(bot: BotHarness) -> None:
    body = activity(
        bot.service_url,
        type="conversationUpdate",
        extra={"membersAdded": [{"id": "28:ice-downtime-bot"}]},
    )
    turn = await bot.post(body)
    card = turn.only_card
    assert_valid_card(card)
    find_action(card, "ice.down")


async def test_member_added_who_is_not_the_bot_gets_no_welcome(bot: BotHarness) -> None:
    body = activity(
        bot.service_url, type="conversationUpdate", extra={"membersAdded": [{"id": "29:other"}]}
    )
    turn = await bot.post(body)
    assert turn.status == 200 and turn.sent == []


async def test_simultaneous_first_messages_from_one_user_all_answered(bot: BotHarness) -> None:
    """The first profile write is an upsert: no race between a new user's first messages."""
    turns = await asyncio.gather(*(bot.say(f"helpdesk bromley {i}") for i in range(25)))
    assert all(t.status == 200 for t in turns)
    sent = bot.connector.sent  # turns overlap, so count what reached the connector
    assert len(sent) == 25
    assert all(s.card is not None and "0208 315 8702" in str(s.card) for s in sent)


async def test_a_failing_card_action_answers_the_invoke_not_the_chat(bot: BotHarness) -> None:
    """Store gone mid-flight: the button's invoke gets the apology (not 'Unable to reach app')."""
    runtime = bot.client.app[RUNTIME]
    async with runtime.db.engine.begin() as connection:
        await connection.execute(text("DROP TABLE user_profiles"))
    turn = await bot.execute("helpdesk.show", {"borough": "Bromley"})
    assert turn.status == 200
    assert "went wrong" in turn.body["value"]
    assert turn.sent == []
