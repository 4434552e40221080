"""The request form as a Teams dialog, over HTTP through the real CloudAdapter.

See docs/decisions.md, D23.

`task/fetch` opens it from "New request"; each step's Action.Submit is a
`task/submit` answered with the next card; Send closes the dialog and posts the
confirmation in the chat, which the outbox worker then updates to sent (a real
SMTP server on loopback). A client that cannot open dialogs sends the same
button as a message and gets the same steps in the chat.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bot.orders.fields import PRACTICE_INPUTS, REFERRER_INPUTS
from bot.store.outbox import OutboxRequest
from tests.support.cards import assert_valid_card, card_text, inputs_of, iter_actions
from tests.support.orders import KCH_US, PATIENT, PATIENT_VALUES
from tests.support.smtp import SmtpTestServer
from tests.support.sqlite_faults import count, database_path, write_lock
from tests.support.teams import BotHarness, Turn, find_action
from tests.support.waiting import until

STEP_1 = ("examination", "priority", "clinical_history", "clinical_question")
STEP_2 = (
    "patient_surname",
    "patient_forenames",
    "patient_dob",
    "nhs_number",
    "patient_sex",
    "address_line1",
    "address_town",
    "postcode",
    "patient_phone",
    "interpreter_needed",
)
STEP_3 = (*REFERRER_INPUTS, *PRACTICE_INPUTS)


def press(card: dict[str, Any], title: str) -> dict[str, Any]:
    """The data of the button with this title (a dialog's buttons are Action.Submit)."""
    for action in iter_actions(card):
        if action.get("title") == title:
            assert action["type"] == "Action.Submit", action
            return dict(action["data"])
    raise AssertionError(f"no button {title!r} in {card_text(card)}")


def fill(card: dict[str, Any], title: str, values: dict[str, str]) -> dict[str, Any]:
    """What Teams submits: the button's data, and the card's inputs as filled in."""
    shown = inputs_of(card)
    return {**press(card, title), **{k: v for k, v in values.items() if k in shown}}


def dialog_card(turn: Turn) -> dict[str, Any]:
    assert turn.status == 200, turn
    card = turn.dialog_card
    assert card is not None, f"expected the dialog's next card, got {turn.body}"
    assert_valid_card(card)
    assert not any(a["type"] == "Action.Execute" for a in iter_actions(card)), "dialogs submit"
    return card


async def open_kch_ultrasound(bot: BotHarness) -> dict[str, Any]:
    """`order kings us`, then New request: the dialog opens at step 1."""
    start = (await bot.say("order kings us")).only_card
    assert_valid_card(start)
    button = next(a for a in iter_actions(start) if a.get("title") == "New request")
    assert button["type"] == "Action.Submit" and button["data"]["msteams"] == {"type": "task/fetch"}
    turn = await bot.open_dialog(button["data"])
    assert turn.body["task"]["value"]["title"] == "Radiology request"
    return dialog_card(turn)


async def through_the_steps(bot: BotHarness, **changes: str) -> dict[str, Any]:
    """Steps 1 to 3 in the dialog with valid values; returns the review card."""
    values = {**PATIENT, **changes}
    step1 = await open_kch_ultrasound(bot)
    step2 = dialog_card(await bot.submit_dialog(fill(step1, "Next", values)))
    step3 = dialog_card(await bot.submit_dialog(fill(step2, "Next", values)))
    return dialog_card(await bot.submit_dialog(fill(step3, "Review request", values)))


def rows(bot: BotHarness) -> Callable[[], Any]:
    return lambda: count(bot, OutboxRequest)


# --- the dialog, step by step -----------------------------------------------------------


async def test_new_request_opens_a_dialog_at_step_one_when_the_route_is_known(
    bot: BotHarness,
) -> None:
    step1 = await open_kch_ultrasound(bot)
    text = card_text(step1)
    assert "Step 1 of 3" in text and KCH_US in text
    assert set(inputs_of(step1)) == set(STEP_1)
    # The hint matches the modality; an ultrasound asks no pregnancy or contrast question.
    assert "ultrasound abdomen" in text
    assert "laterality" not in inputs_of(step1) and "region" not in inputs_of(step1)


async def test_new_request_without_a_route_asks_trust_and_modality_first(
    bot: BotHarness,
) -> None:
    start = (await bot.say("order")).only_card
    choose = dialog_card(await bot.open_dialog(press(start, "New request")))
    assert {"trust", "modality"} <= set(inputs_of(choose))
    step1 = dialog_card(
        await bot.submit_dialog({**press(choose, "Next"), "trust": "gstt", "modality": "ct"})
    )
    assert "Step 1 of 3" in card_text(step1)
    assert {"region", "contrast_allergies"} <= set(inputs_of(step1))


async def test_each_step_validates_before_the_next_and_names_the_error_at_the_top(
    bot: BotHarness,
) -> None:
    step1 = await open_kch_ultrasound(bot)
    step2 = dialog_card(await bot.submit_dialog(fill(step1, "Next", PATIENT)))
    assert "Step 2 of 3" in card_text(step2) and set(STEP_2) <= set(inputs_of(step2))

    wrong = {**PATIENT, "nhs_number": "999 000 0019"}
    again = dialog_card(await bot.submit_dialog(fill(step2, "Next", wrong)))
    text = card_text(again)
    assert "Step 2 of 3" in text
    assert "NHS number: check digit is wrong" in text
    # The field's own message sits directly under its input, and what was typed stays.
    body = json.dumps(again)
    under = body.index("NHS number check digit is wrong")
    assert body.index('"id": "nhs_number"') < under < body.index('"id": "address_line1"')
    assert inputs_of(again)["nhs_number"]["value"] == "999 000 0019"

    step3 = dialog_card(await bot.submit_dialog(fill(again, "Next", PATIENT)))
    assert "Step 3 of 3" in card_text(step3) and set(STEP_3) <= set(inputs_of(step3))


async def test_a_new_user_sends_a_kch_ultrasound_and_the_chat_card_says_sent(
    mail_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    review = await through_the_steps(mail_bot)
    assert KCH_US in card_text(review) and "Review radiology request" in card_text(review)

    turn = await mail_bot.submit_dialog(press(review, "Send"), reply_to_id=None)
    assert turn.dialog_closed, turn.body
    [posted] = [s for s in turn.sent if s.method == "POST" and s.card]
    assert_valid_card(posted.card)
    text = card_text(posted.card)
    assert "DT-" in text and "Queued" in text and "0018" in text
    assert not any(value in json.dumps(posted.card) for value in PATIENT_VALUES[:2])

    await until(lambda: len(smtp.received) == 1)
    assert set(smtp.received[0].rcpt_tos) == {KCH_US, "test.practice@nhs.net"}

    def updated() -> list[Any]:
        return [
            s
            for s in mail_bot.connector.sent
            if s.method == "PUT" and s.activity_id == posted.assigned_id
        ]

    await until(lambda: any("Sent at" in card_text(s.card) for s in updated()))
    # Updated in place: no second confirmation posted by the worker.
    confirmations = [
        s
        for s in mail_bot.connector.sent
        if s.method == "POST" and "DT-" in card_text(s.card or {})
    ]
    assert confirmations == [posted]


async def test_remembered_practice_is_one_line_with_change(
    mail_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    review = await through_the_steps(mail_bot)
    await mail_bot.submit_dialog(press(review, "Send"))
    await until(lambda: len(smtp.received) == 1)

    step1 = await open_kch_ultrasound(mail_bot)
    step2 = dialog_card(await mail_bot.submit_dialog(fill(step1, "Next", PATIENT)))
    step3 = dialog_card(await mail_bot.submit_dialog(fill(step2, "Next", PATIENT)))
    text = card_text(step3)
    assert "Remembered from your last request" in text
    assert "Dr Sam Test (GP, GMC 1234567), Test Medical Practice (G85001)" in text
    assert inputs_of(step3) == {}, "remembered details are not asked again"

    changing = dialog_card(await mail_bot.submit_dialog(press(step3, "Change")))
    assert set(STEP_3) <= set(inputs_of(changing))
    assert inputs_of(changing)["practice_ods"]["value"] == "G85001"

    review = dialog_card(await mail_bot.submit_dialog(press(step3, "Review request")))
    assert "Test Medical Practice" in card_text(review)


async def test_a_replayed_send_queues_nothing_new_and_posts_nothing(
    mail_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    review = await through_the_steps(mail_bot)
    send = press(review, "Send")
    first = await mail_bot.submit_dialog(send)
    assert first.dialog_closed
    replay = await mail_bot.submit_dialog(send)
    # The form is closed: the dialog shows the request as stored, the chat gets nothing.
    closed = dialog_card(replay)
    assert "already used" in card_text(closed)
    assert not [s for s in replay.sent if s.method == "POST"]
    await until(lambda: len(smtp.received) == 1)
    assert await count(mail_bot, OutboxRequest) == 1


async def test_an_error_found_at_send_opens_the_step_that_has_it(bot: BotHarness) -> None:
    review = await through_the_steps(bot)
    tampered = {**press(review, "Send"), "clinical_history": "short"}
    card = dialog_card(await bot.submit_dialog(tampered))
    text = card_text(card)
    assert "Step 1 of 3" in text and "Clinical history: too short" in text
    assert await count(bot, OutboxRequest) == 0


@pytest.mark.usefixtures("short_busy_timeout")
async def test_a_store_fault_at_send_says_nothing_was_sent_and_offers_send_again_at_the_top(
    bot: BotHarness,
) -> None:
    review = await through_the_steps(bot)
    async with write_lock(database_path(bot)):
        turn = await bot.submit_dialog(press(review, "Send"))
    card = dialog_card(turn)
    text = card_text(card)
    # The heading, what to do ("press Send again"), the button, then the request.
    assert text.index("Nothing was sent") < text.index("Send again") < text.index("Send\n")
    assert text.index("Send\n") < text.index("Request")
    assert not turn.sent, "nothing is posted in the chat"
    again = await bot.submit_dialog(press(card, "Send"))  # the one at the top
    assert again.dialog_closed and await count(bot, OutboxRequest) == 1


async def test_another_user_cannot_continue_my_dialog(bot: BotHarness) -> None:
    step1 = await open_kch_ultrasound(bot)
    turn = await bot.submit_dialog(fill(step1, "Next", PATIENT), user_id="29:someone-else")
    assert turn.dialog_message and "Only the person who started" in turn.dialog_message


async def test_new_request_in_a_channel_goes_to_the_personal_chat(bot: BotHarness) -> None:
    start = (await bot.say("order", kind="personal")).only_card
    turn = await bot.open_dialog(press(start, "New request"), kind="channel")
    assert turn.dialog_message and "private message" in turn.dialog_message
    assert not [s for s in turn.sent if s.card and "Step" in card_text(s.card)]


# --- clients that cannot open dialogs -----------------------------------------------------


async def test_without_dialogs_the_same_steps_run_in_the_chat(
    mail_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    start = (await mail_bot.say("order kings us")).only_card
    # A client without dialogs sends the button's Action.Submit as a message.
    turn = await mail_bot.submit("order.start", press(start, "New request"), reply_to_id="start-1")
    [step1] = turn.cards
    assert "Step 1 of 3" in card_text(step1)
    assert not [s for s in turn.sent if s.method == "PUT"], "the card pressed stays as it was"

    values = dict(PATIENT)
    card = step1
    for title in ("Next", "Next", "Review request"):
        action = find_action(card, "order.next")
        assert action["title"] == title and action["type"] == "Action.Execute"
        data = {**action["data"], **{k: v for k, v in values.items() if k in inputs_of(card)}}
        card = (await mail_bot.execute("order.next", data)).only_card
        assert_valid_card(card)
    assert "Review radiology request" in card_text(card)
    confirmation = (
        await mail_bot.execute("order.send", find_action(card, "order.send")["data"])
    ).invoke_card
    assert confirmation is not None and "Queued" in card_text(confirmation)
    await until(lambda: len(smtp.received) == 1)


@pytest.mark.parametrize("verb", ["order.next", "order.step", "order.review", "order.send"])
async def test_every_dialog_step_of_a_used_form_answers_with_the_stored_request(
    mail_bot: BotHarness, smtp: SmtpTestServer, verb: str
) -> None:
    review = await through_the_steps(mail_bot)
    send = press(review, "Send")
    assert (await mail_bot.submit_dialog(send)).dialog_closed
    other = {**send, "verb": verb, "step": "patient", "patient_surname": "Otherperson"}
    closed = dialog_card(await mail_bot.submit_dialog(other))
    assert "already used" in card_text(closed) and "Otherperson" not in json.dumps(closed)
    assert await count(mail_bot, OutboxRequest) == 1


async def test_in_the_chat_fills_the_same_steps_where_no_dialog_opens_at_all(
    bot: BotHarness,
) -> None:
    """The Agents Playground does nothing with a dialog button (it says task/fetch is not
    supported): the `order` card's second button runs the same steps in the chat."""
    start = (await bot.say("order kings us")).only_card
    [(title, verb, data)] = [
        (a["title"], a["verb"], a["data"])
        for a in iter_actions(start)
        if a["type"] == "Action.Execute"
    ]
    assert title == "In the chat" and verb == "order.start"
    turn = await bot.execute(verb, data, reply_to_id="start-1")
    assert turn.invoke_card is None, "the order card stays"
    [step1] = turn.cards
    assert "Step 1 of 3" in card_text(step1) and set(inputs_of(step1)) == set(STEP_1)
