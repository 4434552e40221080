"""A form that has made a request is closed (docs/clinical-safety.md, H12).

The repro: a form is sent (NHS number 999 000 0018, Testpatient); from the same
form (the review card left in the chat by the Submit fallback or a failed card
update) the user reviews and sends other details. The bot used to confirm the
new details under the old reference while the only email held the old ones.
Now Review, Edit and Send on a used form answer with the request as stored, and
a "New request" button (a new form); nothing new is queued, nothing unsent is shown
as sent. Everything runs over HTTP with the real outbox worker and SMTP server.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.application import RUNTIME
from bot.store.db import utcnow
from tests.support.cards import assert_valid_card, input_values
from tests.support.orders import PATIENT, assert_form_closed, outbox_rows, reference_of, review
from tests.support.smtp import SmtpTestServer
from tests.support.teams import BotHarness, Turn, find_action
from tests.support.waiting import until

OTHER_DETAILS = {
    "nhs_number": "999 000 0042",
    "patient_surname": "Otherperson",
    "examination": "Ultrasound pelvis",
}


async def sent_form(bot: BotHarness, smtp: SmtpTestServer | None) -> tuple[dict[str, Any], str]:
    """Send one request; the review card's Send data (the form) and its reference."""
    review_card = (await review(bot)).only_card
    send_data = find_action(review_card, "order.send")["data"]
    turn = await bot.execute("order.send", send_data, reply_to_id="card-7")
    reference = reference_of(turn.only_card)
    if smtp is not None:
        await until(lambda: len(smtp.received) == 1)
        await until(lambda: bot.connector.updates)
    return send_data, reference


async def test_a_sent_form_answers_review_edit_and_send_with_the_request_as_sent(
    mail_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    send_data, reference = await sent_form(mail_bot, smtp)
    changed = {**send_data, **OTHER_DETAILS}
    for verb in ("order.review", "order.edit", "order.send"):
        for press in (mail_bot.execute, mail_bot.submit):
            turn = await press(verb, changed, reply_to_id=f"card-{verb}")
            text = assert_form_closed(turn.only_card, reference, status="Sent at")
            assert "*** *** 0018" in text, (verb, text)  # what was sent, not what was typed
            for typed in ("0042", "Otherperson", "pelvis"):
                assert typed not in str(turn.only_card), (verb, typed)
    assert await outbox_rows(mail_bot)() == 1
    [received] = smtp.received
    body = received.message.get_body(preferencelist=("plain",)).get_content()
    assert "999 000 0018" in body and "Testpatient" in body and "Otherperson" not in body


async def test_an_invalid_resend_of_a_sent_form_still_shows_what_was_sent(
    mail_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    """The check also runs when the new details would not validate: no form to fix comes back."""
    send_data, reference = await sent_form(mail_bot, smtp)
    broken = {**send_data, "nhs_number": "123", "postcode": "nowhere"}
    for verb in ("order.review", "order.send"):
        turn = await mail_bot.execute(verb, broken, reply_to_id=f"card-{verb}")
        assert "*** *** 0018" in assert_form_closed(turn.only_card, reference, status="Sent at")
    assert await outbox_rows(mail_bot)() == 1


async def test_a_queued_form_is_never_shown_as_sent(
    mail_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    smtp.stop()  # the request stays queued
    send_data, reference = await sent_form(mail_bot, None)
    turn = await mail_bot.execute("order.send", {**send_data, **OTHER_DETAILS}, reply_to_id="c2")
    text = assert_form_closed(turn.only_card, reference, status="Queued")
    assert "Sent at" not in text and "Emailed to" not in text and "*** *** 0018" in text
    assert await outbox_rows(mail_bot)() == 1
    smtp.start()
    await until(lambda: len(smtp.received) == 1)


async def test_a_purged_request_says_its_details_are_no_longer_held(
    mail_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    send_data, reference = await sent_form(mail_bot, smtp)
    runtime = mail_bot.client.app[RUNTIME]
    retention = runtime.settings.retention_days
    assert (
        await runtime.services.outbox.purge(utcnow() + timedelta(days=retention + 1), retention)
        == 1
    )
    turn = await mail_bot.execute("order.review", {**send_data, **OTHER_DETAILS}, reply_to_id="c3")
    text = assert_form_closed(turn.only_card, reference, status="Sent at")
    assert f"deleted {retention} days after" in text and "no longer held" in text
    assert "NHS number" not in text and "kch-tr.us.reception_dh@nhs.net" in text


async def test_start_a_new_request_opens_a_fresh_form_for_the_same_route(
    mail_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    send_data, reference = await sent_form(mail_bot, smtp)
    closed = (await mail_bot.execute("order.send", send_data, reply_to_id="c4")).only_card
    start = find_action(closed, "order.start")["data"]
    # New request, pressed where no dialog opens: a fresh form, at step 1 of the same route.
    form = (await mail_bot.submit("order.start", start, reply_to_id="c4")).only_card
    assert_valid_card(form)
    data = find_action(form, "order.next")["data"]
    assert data["form_id"] != send_data["form_id"] and data["owner"] == send_data["owner"]
    assert (data["trust"], data["modality"]) == ("kch", "ultrasound")
    assert input_values(form) == {}
    # ...and that form sends a second request.
    values = {**data, **PATIENT, **OTHER_DETAILS}
    new_review = (await mail_bot.execute("order.review", values)).only_card
    sent = await mail_bot.execute("order.send", find_action(new_review, "order.send")["data"])
    assert reference_of(sent.only_card) != reference
    assert await outbox_rows(mail_bot)() == 2


@pytest.mark.parametrize("verb", ["order.review", "order.edit"])
async def test_a_form_someone_else_used_is_not_shown_to_its_opener(
    mail_bot: BotHarness, smtp: SmtpTestServer, verb: str
) -> None:
    """The stored request belongs to whoever sent it: the opener of the form sees nothing of it."""
    review_card = (await review(mail_bot)).only_card
    data = find_action(review_card, "order.send")["data"]
    await mail_bot.execute("order.send", {**data, "owner": "29:other"}, user_id="29:other")
    turn: Turn = await mail_bot.execute(verb, data)
    assert turn.body["value"].startswith("Only the person who started this request")
    assert "DT-" not in str(turn.body)
