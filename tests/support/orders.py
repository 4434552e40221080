"""The request form driven over HTTP like a Teams user, and what became of the request.

`open_form`, `review` and `send` press the form's buttons on the running app
(tests/support/teams.py); `reference_of`, `record` and `failure_messages` read
the outcome from the confirmation card, the store and the user's chat.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from bot.application import RUNTIME
from bot.store.outbox import OutboxRequest, RequestRecord
from tests.support.cards import assert_valid_card, card_text, iter_actions
from tests.support.teams import BotHarness, Turn, find_action

#: KCH's ultrasound mailbox, where the form's default route (KCH + Ultrasound) goes.
KCH_US = "kch-tr.us.reception_dh@nhs.net"
#: Every value of a valid request, as the form's inputs take them (test-range NHS number).
PATIENT = {
    "examination": "Ultrasound abdomen",
    "laterality": "not_applicable",
    "priority": "urgent",
    "clinical_history": "Right upper quadrant pain for 3 weeks, deranged LFTs.",
    "clinical_question": "Gallstones? Biliary dilatation?",
    "patient_surname": "Testpatient",
    "patient_forenames": "Alexandra",
    "patient_dob": "1980-05-04",
    "nhs_number": "999 000 0018",
    "patient_sex": "female",
    "address_line1": "1 Test Street",
    "address_town": "London",
    "postcode": "se1 7eh",
    "patient_phone": "07400 123456",
    "interpreter_needed": "no",
    "referrer_name": "Dr Sam Test",
    "referrer_role": "GP",
    "referrer_registration": "1234567",
    "practice_name": "Test Medical Practice",
    "practice_ods": "g85001",
    "practice_email": "test.practice@nhs.net",
    "practice_phone": "020 7188 7188",
}
#: `PATIENT`'s patient data in every spelling it may take: none may leave where it belongs.
PATIENT_VALUES = (
    "Testpatient",
    "Alexandra",
    "9990000018",
    "999 000 0018",
    "07400 123456",
    "1 Test Street",
    "SE1 7EH",
    "1980-05-04",
    "04/05/1980",
    "Gallstones",
)
REFERENCE = re.compile(r"DT-\d{8}-\d{4}")


async def choose_card(bot: BotHarness, **kwargs: Any) -> dict[str, Any]:
    """`order`, then New request as a client without dialogs sends it: the choose card."""
    start = (await bot.say("order", **kwargs)).only_card
    assert_valid_card(start)
    new_request = find_action(start, "order.start")
    choose = (await bot.submit("order.start", new_request["data"], **kwargs)).only_card
    assert_valid_card(choose)
    return choose


async def open_form(bot: BotHarness, **kwargs: Any) -> dict[str, Any]:
    """`order`, New request, then KCH + Ultrasound: returns step 1's card."""
    base = find_action(await choose_card(bot, **kwargs), "order.choose")["data"]
    data = {**base, "trust": "kch", "modality": "ultrasound"}
    form = (await bot.execute("order.choose", data, **kwargs)).only_card
    assert_valid_card(form)
    return form


async def review(bot: BotHarness, **changes: Any) -> Turn:
    """Every value at once (`order.review`, as a whole form from before the steps sent it)."""
    form = await open_form(bot)
    data = {**find_action(form, "order.next")["data"], **PATIENT, **changes}
    return await bot.execute("order.review", data)


async def send(bot: BotHarness, reply_to_id: str = "card-7") -> tuple[dict[str, Any], Turn]:
    """A valid request reviewed and sent: the Send button's data, and the Send's turn."""
    review_card = (await review(bot)).only_card
    send_data = find_action(review_card, "order.send")["data"]
    return send_data, await bot.execute("order.send", send_data, reply_to_id=reply_to_id)


def outbox_rows(bot: BotHarness) -> Callable[[], Any]:
    """A coroutine function counting the requests in the app's outbox."""
    runtime = bot.client.app[RUNTIME]

    async def count() -> int:
        async with runtime.db.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(OutboxRequest)))

    return count


def reference_of(card: dict[str, Any]) -> str:
    """The request reference (DT-YYYYMMDD-NNNN) a card shows."""
    found = REFERENCE.search(card_text(card))
    assert found, f"no request reference on {card_text(card)!r}"
    return found.group(0)


def expected_message_id(reference: str, sender: str = "ice-downtime@nhs.net") -> str:
    """The Message-ID a request's email carries, the same on every attempt."""
    return f"<{reference}.ice-downtime@{sender.partition('@')[2]}>"


async def record(bot: BotHarness, reference: str) -> RequestRecord:
    """The request as the app's outbox holds it."""
    found = await bot.client.app[RUNTIME].services.outbox.get(reference)
    assert found is not None
    return found


async def wait_queued_after(bot: BotHarness, reference: str, attempts: int) -> RequestRecord:
    """The request once it has been tried `attempts` times and is queued for another."""
    async with asyncio.timeout(10):
        while True:
            row = await record(bot, reference)
            if row.attempts >= attempts and row.status == "queued":
                return row
            await asyncio.sleep(0.02)


def failure_messages(bot: BotHarness) -> list[str]:
    """The "could NOT be emailed" messages the user was sent (the by-hand instructions)."""
    return [s.text for s in bot.connector.sent if "could NOT be emailed" in (s.text or "")]


def verbs(card: dict[str, Any]) -> list[str]:
    """Every button's verb on a card, in order."""
    return [str((a.get("data") or {}).get("verb") or a.get("verb")) for a in iter_actions(card)]


def assert_form_closed(card: dict[str, Any], reference: str, *, status: str) -> str:
    """The card a used form answers with: the stored request, one way on, nothing to send."""
    assert_valid_card(card)
    text = card_text(card)
    assert reference in text and "nothing new was queued" in text
    assert status in text, text
    # One way on (a new request, named as everywhere else), and "What happens next".
    assert verbs(card) == ["order.start", "info.show"], verbs(card)
    assert "New request" in [a.get("title") for a in iter_actions(card)]
    return text
