"""The guarantees for the bot's own form (docs/clinical-safety.md, H12 and H15), for a
completed form the user attached.

- A sent form is closed: Review, Edit and Send on it answer with the request as
  stored (never what the card carries now) and "Start a new request"; nothing
  new is queued, nothing unsent is shown as sent (tests/test_order_sent_form.py
  for the bot's own form).
- The practice's reply mailbox is never one the BCP names.
- The practice's copy arrives only with radiology's, once, attachment and all
  (tests/test_faults_smtp.py for the bot's own form).

The real app over HTTP, a loopback file server playing SharePoint, the real
outbox worker and aiosmtpd.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.application import RUNTIME
from bot.directory import load_directory
from bot.orders.errors import FormErrors
from bot.orders.forwarded import (
    FORM_ATTACHED,
    AttachedFile,
    attached_description,
    validate_forward,
)
from bot.store.db import utcnow
from bot.store.files import ReceivedFile
from bot.store.outbox import OutboxRequest
from tests.support.cards import assert_valid_card
from tests.support.files import PATIENT_FILE_NAME, PDF, FileServer
from tests.support.forwarding import FORM, PRACTICE, attach, mail_settings, routed, rows
from tests.support.orders import (
    KCH_US,
    assert_form_closed,
    expected_message_id,
    failure_messages,
    reference_of,
)
from tests.support.payloads import bcp_mailboxes
from tests.support.smtp import ScriptedSmtp, SmtpTestServer
from tests.support.teams import BotHarness, find_action
from tests.support.waiting import settle, until

DIRECTORY = load_directory()
#: What a card left in the chat might carry on a second press: another trust, another practice.
OTHER_CHOICE = {
    "trust": "gstt",
    "modality": "",
    "practice_name": "Other Surgery",
    "practice_ods": "G85002",
    "practice_email": "other.surgery@nhs.net",
}


async def sent_form(
    forwarding_bot: BotHarness, sharepoint: FileServer, smtp: SmtpTestServer | None
) -> tuple[dict[str, Any], str]:
    """Attach, route to KCH ultrasound, Send: the Send button's data and the reference."""
    _, review = await routed(forwarding_bot, sharepoint.url("form.pdf"))
    data = find_action(review.only_card, "forward.send")["data"]
    turn = await forwarding_bot.execute("forward.send", data, reply_to_id="card-9")
    reference = reference_of(turn.invoke_card or turn.only_card)
    if smtp is not None:
        await until(lambda: len(smtp.received) == 1)
        await until(lambda: forwarding_bot.connector.updates)
    return data, reference


def assert_closed(card: dict[str, Any], reference: str, *, status: str) -> str:
    """The bot's own form's closed card, saying how to send another completed form."""
    text = assert_form_closed(card, reference, status=status)
    assert "attach it in this chat" in text
    assert PATIENT_FILE_NAME not in str(card)
    return text


async def test_a_sent_form_answers_review_edit_and_send_with_the_request_as_stored(
    forwarding_bot: BotHarness, smtp: SmtpTestServer, sharepoint: FileServer
) -> None:
    """H12's repro, for a forwarded form: the card left in the chat is pressed again
    with another trust and practice. Before, Review and Edit answered with a line of text
    and Send's confirmation was built from what the card carried."""
    data, reference = await sent_form(forwarding_bot, sharepoint, smtp)
    changed = {**data, **OTHER_CHOICE}
    for verb in ("forward.review", "forward.edit", "forward.send"):
        for press in (forwarding_bot.execute, forwarding_bot.submit):
            turn = await press(verb, changed, reply_to_id=f"card-{verb}")
            text = assert_closed(turn.only_card, reference, status="Sent at")
            assert KCH_US in text and "Ultrasound" in text, (verb, text)  # as sent
            assert "PDF" in text
            for typed in ("Other Surgery", "other.surgery", "gst-tr.radiologyreferrals", "G85002"):
                assert typed not in str(turn.only_card), (verb, typed)
    assert len(await rows(forwarding_bot, OutboxRequest)()) == 1
    (received,) = smtp.received
    assert received.message["To"] == KCH_US
    assert set(received.rcpt_tos) == {KCH_US, PRACTICE["practice_email"]}


async def test_a_queued_forwarded_form_is_never_shown_as_sent(
    forwarding_bot: BotHarness, smtp: SmtpTestServer, sharepoint: FileServer
) -> None:
    smtp.stop()  # the request stays queued
    data, reference = await sent_form(forwarding_bot, sharepoint, None)
    turn = await forwarding_bot.execute(
        "forward.review", {**data, **OTHER_CHOICE}, reply_to_id="c2"
    )
    text = assert_closed(turn.only_card, reference, status="Queued")
    assert "Sent at" not in text and "Emailed to" not in text
    assert len(await rows(forwarding_bot, OutboxRequest)()) == 1
    smtp.start()
    await until(lambda: len(smtp.received) == 1)


async def test_a_purged_forwarded_request_says_its_details_are_no_longer_held(
    forwarding_bot: BotHarness, smtp: SmtpTestServer, sharepoint: FileServer
) -> None:
    data, reference = await sent_form(forwarding_bot, sharepoint, smtp)
    runtime = forwarding_bot.client.app[RUNTIME]
    retention = runtime.settings.retention_days
    await until(lambda: forwarding_bot.connector.updates)
    assert (
        await runtime.services.outbox.purge(utcnow() + timedelta(days=retention + 1), retention)
        == 1
    )
    for verb in ("forward.review", "forward.send"):
        turn = await forwarding_bot.execute(verb, data, reply_to_id=f"c-{verb}")
        text = assert_closed(turn.only_card, reference, status="Sent at")
        assert f"deleted {retention} days after" in text and "no longer held" in text
        assert "completed form attached" in text and KCH_US in text and "PDF" not in text


async def test_a_forwarded_form_someone_else_sent_is_not_shown_to_another_user(
    forwarding_bot: BotHarness, smtp: SmtpTestServer, sharepoint: FileServer
) -> None:
    data, _ = await sent_form(forwarding_bot, sharepoint, smtp)
    for verb in ("forward.review", "forward.edit", "forward.send"):
        turn = await forwarding_bot.execute(verb, {**data, "owner": "29:other"}, user_id="29:other")
        assert turn.body["value"].startswith("Only the person who started this request")
        assert "DT-" not in str(turn.body)
    assert len(await rows(forwarding_bot, OutboxRequest)()) == 1


# --- the practice's reply mailbox ---------------------------------------------------


@pytest.mark.parametrize("mailbox", bcp_mailboxes())
def test_the_practice_mailbox_of_a_forwarded_form_cannot_be_one_the_bcp_names(
    mailbox: str,
) -> None:
    """The bot's own form refuses these (H15); the forwarding card asks no less."""
    file = AttachedFile(media_type="application/pdf", extension="pdf", size=9, sha256="0" * 64)
    for spelling in (mailbox, mailbox.upper(), f" {mailbox.lower()} "):
        data = {"trust": "kch", "modality": "ultrasound", **PRACTICE, "practice_email": spelling}
        result = validate_forward(data, directory=DIRECTORY, file=file, priority=None)
        assert isinstance(result, FormErrors), spelling
        assert set(result) == {"practice_email"}, result
        assert "not your practice's" in result["practice_email"]


async def test_a_bcp_mailbox_as_the_practice_is_refused_next_to_the_field_and_not_queued(
    forwarding_bot: BotHarness, smtp: SmtpTestServer, sharepoint: FileServer
) -> None:
    first = (await attach(forwarding_bot, sharepoint.url("form.pdf"), "kings us")).only_card
    data = {**find_action(first, "forward.review")["data"], **PRACTICE}
    data |= {"trust": "kch", "modality": "ultrasound", "practice_email": KCH_US}
    for verb in ("forward.review", "forward.send"):  # Send re-checks: a forged card gains nothing
        card = (await forwarding_bot.execute(verb, data)).only_card
        assert_valid_card(card)
        inputs = [e.get("id") for e in card["body"]]
        error = card["body"][inputs.index("practice_email") + 1]  # right under the field
        assert error["style"] == "attention"
        assert "not your practice's" in error["items"][0]["text"]
        assert find_action(card, "forward.review")  # the routing card again
    assert await rows(forwarding_bot, OutboxRequest)() == []
    (held,) = await rows(forwarding_bot, ReceivedFile)()
    assert held.reference is None


# --- the practice's copy only with radiology's -----------------------------------------


@pytest.fixture
async def scripted_bot(make_bot, scripted: ScriptedSmtp) -> BotHarness:
    return await make_bot(**mail_settings(scripted))


async def test_radiology_refused_for_a_while_copies_the_practice_once_with_the_form(
    scripted_bot: BotHarness, scripted: ScriptedSmtp, sharepoint: FileServer
) -> None:
    """451 twice for radiology's mailbox at RCPT: no copy to anyone until radiology accepts,
    then one message to both, the attached form in it byte for byte."""
    scripted.refuse_recipient(KCH_US, 451, times=2)
    _, reference = await sent_form(scripted_bot, sharepoint, None)
    practice = PRACTICE["practice_email"]
    await until(lambda: scripted.accepted_by(KCH_US), 15)
    await settle()
    assert scripted.rcpt_refusals == [(KCH_US, 451), (KCH_US, 451)]
    assert scripted.accepted_by(KCH_US) == [expected_message_id(reference)]
    assert scripted.accepted_by(practice) == [expected_message_id(reference)]  # once
    (accepted,) = scripted.accepted
    (attached,) = list(accepted.message.iter_attachments())
    assert attached.get_payload(decode=True) == FORM


async def test_radiology_refused_for_good_delivers_the_form_to_nobody(
    make_bot, scripted: ScriptedSmtp, sharepoint: FileServer
) -> None:
    forwarding_bot = await make_bot(**mail_settings(scripted, mail_max_attempts=1))
    scripted.refuse_recipient(KCH_US, 550)
    _, reference = await sent_form(forwarding_bot, sharepoint, None)
    await until(lambda: failure_messages(forwarding_bot), 10)
    await settle()
    assert scripted.attempts == [], "no DATA at all: the practice got no copy"
    record = await forwarding_bot.client.app[RUNTIME].services.outbox.get(reference)
    assert record is not None and record.status == "failed"
    assert len(failure_messages(forwarding_bot)) == 1


def test_the_sample_form_is_a_pdf() -> None:
    """Control: the file these tests send is accepted by content (a PDF)."""
    assert FORM.startswith(PDF)


# --- a stored payload, read leniently -------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        {"file": "form.pdf"},
        {"file": {"extension": "exe", "size": 9}},
        {"file": {"extension": "pdf", "size": "9"}},
        # Unhashable: looking it up among the accepted kinds raised TypeError before.
        {"file": {"extension": ["pdf"], "size": 9}},
        {"file": {"extension": {"pdf": 1}, "size": 9}},
    ],
    ids=repr,
)
def test_a_stored_payload_of_any_shape_still_gets_a_description(payload: Any) -> None:
    """A purged payload, or one an older release wrote, gets a card, never a failed notice."""
    assert attached_description(payload) == FORM_ATTACHED


def test_a_stored_payload_describes_the_kind_and_size_never_the_name() -> None:
    described = attached_description(
        {"file": {"extension": "pdf", "size": 250_000, "name": PATIENT_FILE_NAME}}
    )
    assert described.startswith(f"{FORM_ATTACHED} (PDF, "), described
    assert PATIENT_FILE_NAME not in described
