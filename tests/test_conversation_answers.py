"""Every wrong answer seen when a new user tried the bot, over HTTP through the
real CloudAdapter: each one is a test here and gets the BCP's answer now.
"""

from __future__ import annotations

import logging
import re

import pytest

from bot.directory import load_directory
from bot.handlers.guidance import KEEP_PATIENT_DATA_PRIVATE, THANKS
from tests.support.cards import assert_valid_card, buttons, card_text
from tests.support.teams import BotHarness, find_action

DIRECTORY = load_directory()
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
REFERRAL_MAILBOXES = {str(d.mailbox) for t in DIRECTORY.trusts for d in t.departments}
RESULTS_MAILBOXES = {str(r.mailbox) for r in DIRECTORY.results}
SEL_PHONE, BHC_PHONE = "020 8176 5400", "0208 315 8702"
KCH_US = "kch-tr.us.reception_dh@nhs.net"


def emails(card: dict) -> set[str]:
    return set(EMAIL.findall(card_text(card)))


# --- results and rejections never get the referral mailboxes ------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "where do results come from",
        "what do i do about results",
        "urgent results where do they come from",
        "how do we get results while ICE is down",
    ],
)
async def test_results_questions_get_the_results_answer_never_a_referral_mailbox(
    bot: BotHarness, text: str
) -> None:
    card = (await bot.say(text)).only_card
    assert_valid_card(card)
    assert emails(card) == RESULTS_MAILBOXES
    assert not emails(card) & REFERRAL_MAILBOXES
    assert "You should not reply to this mailbox." in card_text(card)


@pytest.mark.parametrize("text", ["what do i do with a rejection", "radiology rejected it"])
async def test_a_rejection_question_gets_the_rejection_answer(bot: BotHarness, text: str) -> None:
    card = (await bot.say(text)).only_card
    assert DIRECTORY.rejections.rejected in card_text(card)
    assert not emails(card), "rejections come back by email to the practice: no mailbox to use"


async def test_what_happens_after_emailing_the_form_is_the_72_hour_epic_entry(
    bot: BotHarness,
) -> None:
    card = (await bot.say("what happens after I email the form?")).only_card
    text = card_text(card)
    assert text.splitlines()[1] == DIRECTORY.after_sending.epic_entry
    assert "72 hours" in text and not emails(card)


@pytest.mark.parametrize(
    "text",
    [
        "patient turned up at kings and they cant find the request",
        "patient walked in and there's no request",
    ],
)
async def test_a_walk_in_gets_the_bcps_walk_in_rule(bot: BotHarness, text: str) -> None:
    card = (await bot.say(text)).only_card
    text = card_text(card)
    assert DIRECTORY.after_sending.walk_in in text
    assert DIRECTORY.after_sending.scheduling in text
    assert not emails(card), "not a mailbox picker"


@pytest.mark.parametrize(
    ("text", "topic"), [("results", "results"), ("rejections", "rejections"), ("next", "next")]
)
async def test_each_topic_answers_itself_in_a_few_lines_with_buttons_to_the_others(
    bot: BotHarness, text: str, topic: str
) -> None:
    card = (await bot.say(text)).only_card
    assert len(card_text(card).splitlines()) <= 14
    others = [t for t in ("next", "rejections", "results") if t != topic]
    assert [data["topic"] for _, verb, data in buttons(card) if verb == "info.show"] == others


# --- boroughs outside the six ------------------------------------------------------------


async def test_a_borough_outside_the_six_is_told_plainly_and_nothing_is_forgotten(
    bot: BotHarness,
) -> None:
    assert SEL_PHONE in card_text((await bot.say("helpdesk southwark")).only_card)
    outside = (await bot.say("helpdesk croydon")).only_card
    text = card_text(outside)
    assert "The BCP covers Bexley, Bromley, Greenwich, Lambeth, Lewisham and Southwark only" in text
    assert SEL_PHONE not in text and BHC_PHONE not in text, "no desk guessed for Croydon"
    again = card_text((await bot.say("helpdesk")).only_card)
    assert "Service desk for Southwark" in again and SEL_PHONE in again


async def test_an_access_problem_outside_the_six_gets_the_rule_but_no_desk(
    bot: BotHarness,
) -> None:
    card = (await bot.say("cant log in to ice, our practice is in croydon")).only_card
    text = card_text(card)
    assert DIRECTORY.procedure.access_rule in text
    assert "no service desk for Croydon" in text
    assert SEL_PHONE not in text and BHC_PHONE not in text


# --- access problems reach the access steps ----------------------------------------------


@pytest.mark.parametrize(
    "text", ["cant log in", "cant log into ice", "my ice password has expired", "locked out"]
)
async def test_access_problems_reach_the_access_steps(bot: BotHarness, text: str) -> None:
    card = (await bot.say(text)).only_card
    text_shown = card_text(card)
    assert DIRECTORY.procedure.access_rule in text_shown
    assert "Log a ticket with the service desk" in text_shown


# --- hospital sites name their trust -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mailbox", "site"),
    [
        (
            "PRUH xray mailbox",
            "kch-tr.xr_reception_dh@nhs.net",
            "Princess Royal University Hospital (PRUH)",
        ),
        ("denmark hill ultrasound", "kch-tr.us.reception_dh@nhs.net", "Denmark Hill"),
        (
            "princess royal fluoro",
            "kch-tr.fl_reception_dh@nhs.net",
            "Princess Royal University Hospital (PRUH)",
        ),
        ("orpington hospital x-ray", "kch-tr.xr_reception_dh@nhs.net", "Orpington Hospital"),
        ("evelina ultrasound mailbox", "gst-tr.radiologyreferrals@nhs.net", "Evelina London"),
        ("guy's ct", "gst-tr.radiologyreferrals@nhs.net", None),
        ("st thomas' mri email", "gst-tr.radiologyreferrals@nhs.net", None),
        ("king's ultrasound", "kch-tr.us.reception_dh@nhs.net", None),
    ],
)
async def test_hospital_sites_name_their_trust_and_the_bcps_mailbox(
    bot: BotHarness, text: str, mailbox: str, site: str | None
) -> None:
    card = (await bot.say(text)).only_card
    assert emails(card) == {mailbox}
    if site:
        assert f"{site}" in card_text(card) and "part of" in card_text(card)


async def test_a_kch_modality_the_bcp_does_not_list_gets_exactly_that(bot: BotHarness) -> None:
    card = (await bot.say("mailbox kings ct")).only_card
    text = card_text(card)
    assert (
        "The BCP lists X-ray, Ultrasound and Fluoroscopy for Kings; "
        "it gives no downtime route for CT." in text
    )
    assert not emails(card) and "ICE when it is back" not in text


# --- courtesy --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["thanks", "thank you!", "cheers", "ok thanks"])
async def test_thanks_gets_a_short_courteous_answer(bot: BotHarness, text: str) -> None:
    turn = await bot.say(text)
    assert turn.texts == [THANKS] and turn.cards == []
    assert "Sorry" not in THANKS


async def test_ice_coming_back_is_acknowledged_not_treated_as_an_outage(bot: BotHarness) -> None:
    turn = await bot.say("ICE is back up")
    assert turn.cards == [] and "working again" in turn.texts[0]


# --- reference cards stay on screen ---------------------------------------------------------


async def test_what_happens_next_on_the_steps_card_arrives_as_a_new_message(
    bot: BotHarness,
) -> None:
    steps = (await bot.say("ICE is down")).only_card
    action = find_action(steps, "info.show")
    turn = await bot.execute("info.show", action["data"], reply_to_id="steps-card")
    assert turn.invoke_card is None, "the steps card (and its mailboxes) must stay"
    assert [s.method for s in turn.sent] == ["POST"]
    assert "72 hours" in card_text(turn.sent[0].card)


async def test_change_borough_on_the_desk_card_arrives_as_a_new_message(bot: BotHarness) -> None:
    desk = (await bot.say("helpdesk bromley")).only_card
    find_action(desk, "helpdesk.pick")
    turn = await bot.execute("helpdesk.pick", reply_to_id="desk-card")
    assert turn.invoke_card is None
    assert [s.method for s in turn.sent] == ["POST"]
    assert "Which borough" in card_text(turn.sent[0].card)
    submitted = await bot.submit("helpdesk.pick", reply_to_id="desk-card")
    assert [s.method for s in submitted.sent] == ["POST"], "the Submit fallback too"


async def test_start_a_request_from_the_steps_card_keeps_the_steps(bot: BotHarness) -> None:
    turn = await bot.execute("order.start", reply_to_id="steps-card")
    assert turn.invoke_card is None
    assert [s.method for s in turn.sent] == ["POST"]
    find_action(turn.sent[0].card, "order.choose")


async def test_the_request_forms_own_cards_still_replace_themselves(bot: BotHarness) -> None:
    choose = (await bot.execute("order.start", reply_to_id="steps-card")).sent[0].card
    data = {**find_action(choose, "order.choose")["data"], "trust": "kch", "modality": "xray"}
    turn = await bot.execute("order.choose", data, reply_to_id="form-card")
    assert turn.invoke_card is not None and turn.sent == []
    find_action(turn.invoke_card, "order.next")


# --- patient data in shared chats -------------------------------------------------------------

NHS_NUMBER = "943 476 5919"  # valid Modulus 11, the DOMAIN example


@pytest.mark.parametrize("kind", ["channel", "groupChat"])
@pytest.mark.parametrize(
    "text",
    [
        f"ICE is down, need an xray for {NHS_NUMBER}",
        "need a kings ultrasound for 9434765919",
        "Mrs Khan DOB 12/03/1961 needs a chest xray, ICE down",
        "John Smith 12.3.61 where do I send this",
    ],
)
async def test_patient_data_in_a_shared_chat_gets_a_reminder_that_quotes_nothing(
    bot: BotHarness, caplog: pytest.LogCaptureFixture, kind: str, text: str
) -> None:
    caplog.set_level(logging.DEBUG)
    turn = await bot.say(text, kind=kind, mention=True)
    assert turn.texts[0] == KEEP_PATIENT_DATA_PRIVATE
    sent = " ".join(str(s.card) + (s.text or "") for s in turn.sent)
    for secret in ("9434765919", NHS_NUMBER, "Khan", "Smith", "1961", "12.3.61"):
        assert secret not in sent
        assert secret not in caplog.text


async def test_a_question_with_patient_data_is_still_answered_after_the_reminder(
    bot: BotHarness,
) -> None:
    turn = await bot.say(f"ICE is down, patient {NHS_NUMBER}", kind="channel", mention=True)
    assert turn.texts == [KEEP_PATIENT_DATA_PRIVATE]
    assert DIRECTORY.procedure.form_step in card_text(turn.only_card)


@pytest.mark.parametrize(
    "text",
    [
        "ICE is down",
        "call the service desk on 020 8176 5400",
        "9434765828 is not a valid number",  # fails the check digit
        "staff meeting 12/03/2026 in room 2",
    ],
)
async def test_no_reminder_without_patient_data(bot: BotHarness, text: str) -> None:
    turn = await bot.say(text, kind="channel", mention=True)
    assert KEEP_PATIENT_DATA_PRIVATE not in turn.texts


async def test_no_reminder_in_the_personal_chat(bot: BotHarness) -> None:
    turn = await bot.say(f"ICE is down, patient {NHS_NUMBER}")
    assert KEEP_PATIENT_DATA_PRIVATE not in turn.texts


async def test_the_mailbox_buttons_walk_from_all_trusts_to_one_mailbox(bot: BotHarness) -> None:
    every = (await bot.execute("mailbox.pick", reply_to_id="mailbox-card")).only_card
    assert emails(every) == REFERRAL_MAILBOXES
    kch = (await bot.execute("mailbox.pick", {"trust": "kch"})).only_card
    assert emails(kch) == REFERRAL_MAILBOXES - {"gst-tr.radiologyreferrals@nhs.net"}
    data = {"trust": "kch", "department": "ultrasound"}
    turn = await bot.execute("mailbox.show", data, reply_to_id="picker-card")
    assert turn.invoke_card is None and emails(turn.only_card) == {KCH_US}
