"""Security of the request flow end to end: HTTP in, a real SMTP server out.

Every test drives the real app (CloudAdapter, router, handlers, outbox worker)
over HTTP as Teams would, and counts what reaches the aiosmtpd server on
loopback. Nothing between the two is mocked. What is proved here:

- only the user who opened a form can act on it, and a replayed or rewritten
  card cannot take over someone else's request;
- the steps run only in a personal chat, and a channel never sees patient data;
- the per-user hourly limit on requests;
- CR/LF and control characters cannot add a header or a recipient; HTML is
  escaped in the email; markdown, braces and quotes cannot break the cards;
- patient data never appears in notifications, the subject or the logs;
- random and mutated card data never gives a 5xx or an email from an invalid request.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.application import RUNTIME
from bot.handlers.orders import NOT_YOURS, PERSONAL_ONLY, TOO_MANY
from bot.orders.errors import validate_submission
from bot.orders.fields import FIELD_BY_ID
from bot.orders.model import LONDON, RadiologyRequest
from bot.ratelimit import SlidingWindowLimiter
from bot.store.outbox import OutboxRequest
from bot.teams.bot import REFUSAL
from tests.support import jwt as channel_jwt
from tests.support.cards import assert_valid_card, card_text, iter_actions
from tests.support.hostile import NASTY_STRINGS, json_values
from tests.support.jwt import APP_ID, ChannelKeys
from tests.support.orders import KCH_US, PATIENT, PATIENT_VALUES
from tests.support.smtp import Received, SmtpTestServer, smtp_settings
from tests.support.teams import BotHarness, Turn, activity, find_action
from tests.support.waiting import until

pytestmark = pytest.mark.security

# The PDF library imports numpy (when installed) on first use, in the outbox
# worker's render thread. Hypothesis looks numpy up in sys.modules while it
# draws, on the test's thread, and can catch it half-imported ("partially
# initialized module"). Importing it here first removes that race.
with contextlib.suppress(ImportError):
    import numpy  # noqa: F401

VICTIM = "29:user-1"
ATTACKER = "29:intruder"
PRACTICE_MAIL = PATIENT["practice_email"]
EVIL = "evil@example.com"
BCC = f"\r\nBcc: {EVIL}"
# Every header the composer writes plus the MIME ones the email package adds: nothing else.
EXPECTED_HEADERS = {
    "from",
    "to",
    "cc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "x-ice-downtime-reference",
    "mime-version",
    "content-type",
}
channel_keys_server = channel_jwt.channel_keys_server
channel_keys = channel_jwt.channel_keys
offline_outbound_token = channel_jwt.offline_outbound_token
SINGLE_LINE_MESSAGE = "Use a single line without line breaks or control characters"
Press = Callable[..., Awaitable[Turn]]


# --- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def make_mail_bot(smtp: SmtpTestServer, make_bot) -> Callable[..., Awaitable[BotHarness]]:
    """The real app mailing the SMTP server. The per-user flood limit (30 messages a
    minute, tested in test_security_ratelimit) is lifted: these tests press many
    buttons as one user, and every press must reach the order handlers."""

    async def start(**overrides: Any) -> BotHarness:
        bot = await make_bot(**smtp_settings(smtp, **overrides))
        bot.client.app[RUNTIME].bot.message_limiter = SlidingWindowLimiter(10**9, 60)
        return bot

    return start


@pytest.fixture
async def unthrottled_bot(make_mail_bot) -> BotHarness:
    return await make_mail_bot()


def presses(bot: BotHarness) -> dict[str, Press]:
    """Action.Execute (invoke) and its Action.Submit fallback (message with a value).

    Each press comes from a card of its own, so the worker's background update of
    an earlier confirmation card is never mistaken for this press's answer.
    """

    def from_own_card(press: Press) -> Press:
        async def pressed(verb: str, data: dict[str, Any], **kwargs: Any) -> Turn:
            kwargs.setdefault("reply_to_id", f"card-{uuid.uuid4().hex[:12]}")
            return await press(verb, data, **kwargs)

        return pressed

    return {"execute": from_own_card(bot.execute), "submit": from_own_card(bot.submit)}


def refusal_text(turn: Turn) -> str:
    """The short notice a refused step answers with, whichever way the button was pressed."""
    assert turn.status == 200, turn
    assert turn.invoke_card is None and turn.cards == [], "a refused step must show no card"
    if turn.kind == "invoke":
        assert turn.body["type"] == "application/vnd.microsoft.activity.message", turn.body
        return str(turn.body["value"])
    assert len(turn.texts) == 1, turn
    return turn.texts[0]


def patient_values_in(blob: Any) -> list[str]:
    text = blob if isinstance(blob, str) else json.dumps(blob, ensure_ascii=False)
    return [value for value in PATIENT_VALUES if value in text]


async def choose_card(bot: BotHarness, user_id: str = VICTIM, **kwargs: Any) -> dict[str, Any]:
    """`order`, then New request as a client without dialogs sends it: the choose card."""
    start = (await bot.say("order", user_id=user_id, **kwargs)).only_card
    new_request = find_action(start, "order.start")["data"]
    card = (await bot.submit("order.start", new_request, user_id=user_id, **kwargs)).only_card
    assert_valid_card(card)
    return card


async def form_card(bot: BotHarness, user_id: str = VICTIM) -> dict[str, Any]:
    base = find_action(await choose_card(bot, user_id), "order.choose")["data"]
    data = {**base, "trust": "kch", "modality": "ultrasound"}
    form = (await bot.execute("order.choose", data, user_id=user_id)).only_card
    assert_valid_card(form)
    return form


def review_data(form: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Every value at once, as `order.review` takes them (a whole form from before the steps)."""
    return {**find_action(form, "order.next")["data"], **PATIENT, **changes}


async def review_card(bot: BotHarness, user_id: str = VICTIM, **changes: Any) -> dict[str, Any]:
    form = await form_card(bot, user_id)
    card = (
        await bot.execute("order.review", review_data(form, **changes), user_id=user_id)
    ).only_card
    assert_valid_card(card)
    assert find_action(card, "order.send"), "expected the review card"
    return card


async def send_data(bot: BotHarness, user_id: str = VICTIM, **changes: Any) -> dict[str, Any]:
    return dict(find_action(await review_card(bot, user_id, **changes), "order.send")["data"])


async def delivered(bot: BotHarness, smtp: SmtpTestServer, count: int) -> None:
    """Wait (bounded) for `count` emails at the server and the user told of each.

    Waiting for the "sent" notice too keeps the worker from notifying a connector
    stub that is already shut down when the test ends.
    """

    def notices() -> int:
        return sum(
            1
            for s in bot.connector.sent
            if s.card and re.fullmatch(r"Request DT-\S+ sent", str(s.card.get("fallbackText")))
        )

    await until(lambda: len(smtp.received) >= count and notices() >= count)
    assert len(smtp.received) == count


def reference_of(turn: Turn) -> str:
    card = turn.only_card
    words = [w for w in card_text(card).split() if w.startswith("DT-")]
    assert words, f"no reference on {card_text(card)!r}"
    return words[0]


async def rows(bot: BotHarness) -> list[OutboxRequest]:
    runtime = bot.client.app[RUNTIME]
    async with runtime.db.sessions() as session:
        return list((await session.scalars(select(OutboxRequest))).all())


def header_names(received: Received) -> set[str]:
    return {name.lower() for name in received.message}


def assert_routed_only_to_mailbox_and_practice(received: Received) -> None:
    assert set(received.rcpt_tos) == {KCH_US, PRACTICE_MAIL}, received.rcpt_tos
    message = received.message
    assert header_names(received) == EXPECTED_HEADERS, header_names(received)
    assert message["To"] == KCH_US and message["Cc"] == PRACTICE_MAIL
    assert message["Reply-To"] == PRACTICE_MAIL
    for name, value in message.items():
        assert EVIL not in str(value), (name, value)


def text_part(received: Received) -> str:
    return received.message.get_body(preferencelist=("plain",)).get_content()


def html_part(received: Received) -> str:
    return received.message.get_body(preferencelist=("html",)).get_content()


def error_under(card: dict[str, Any], input_id: str) -> str | None:
    """The error directly under the input `input_id`, as the form template puts it: an
    attention-style container (dark text on red, readable in Teams light and dark)."""

    def walk(node: Any) -> Iterator[list[Any]]:
        if isinstance(node, dict):
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            yield node
            for item in node:
                yield from walk(item)

    for items in walk(card.get("body", [])):
        for index, item in enumerate(items):
            if isinstance(item, dict) and item.get("id") == input_id:
                for following in items[index + 1 : index + 3]:
                    if isinstance(following, dict) and following.get("style") == "attention":
                        return card_text({"body": [following]}).strip()
                return None
    raise AssertionError(f"no input {input_id!r} on the card")


# --- only the form's opener ----------------------------------------------------------------


@pytest.mark.parametrize("how", ["execute", "submit"])
async def test_another_user_is_refused_at_every_step(
    unthrottled_bot: BotHarness, smtp: SmtpTestServer, how: str
) -> None:
    """Every step (choose, next, change, review, back, edit, send) with the victim's card
    data, from another user id."""
    press = presses(unthrottled_bot)[how]
    choose = find_action(await choose_card(unthrottled_bot), "order.choose")["data"]
    form = await form_card(unthrottled_bot)
    review = await review_card(unthrottled_bot)
    steps = [
        ("order.choose", {**choose, "trust": "kch", "modality": "ultrasound"}),
        ("order.next", review_data(form)),
        ("order.change", review_data(form)),
        ("order.review", review_data(form)),
        ("order.step", find_action(review, "order.step")["data"]),
        ("order.edit", find_action(review, "order.step")["data"]),
        ("order.send", find_action(review, "order.send")["data"]),
    ]
    for verb, data in steps:
        turn = await press(verb, data, user_id=ATTACKER)
        assert refusal_text(turn) == NOT_YOURS, verb
        assert patient_values_in([s.body for s in turn.sent]) == [], verb
    assert await rows(unthrottled_bot) == []

    # Control: the same Send data from the form's owner is a valid request.
    turn = await unthrottled_bot.execute("order.send", steps[-1][1])
    reference_of(turn)
    await delivered(unthrottled_bot, smtp, 1)
    assert_routed_only_to_mailbox_and_practice(smtp.received[0])


async def test_victims_send_replayed_under_another_user_id_is_refused(
    unthrottled_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    data = await send_data(unthrottled_bot)
    first = await unthrottled_bot.execute("order.send", data)
    reference = reference_of(first)
    for press in presses(unthrottled_bot).values():
        turn = await press("order.send", data, user_id=ATTACKER)
        assert refusal_text(turn) == NOT_YOURS
        assert reference not in json.dumps([s.body for s in turn.sent] + [turn.body])
    [row] = await rows(unthrottled_bot)
    assert row.user_id == VICTIM and row.reference == reference
    await delivered(unthrottled_bot, smtp, 1)


async def test_rewritten_owner_on_a_queued_form_cannot_take_over_the_request(
    unthrottled_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    """The attacker puts their own id in `owner` of the victim's Send data.

    Found by this test: the repeated Send returned the victim's request (its
    reference and status) to the attacker and re-pointed its confirmation card
    at the attacker's chat, so a delivery failure (with the request's full text
    to email by hand) went to the attacker and the victim was never told.
    """
    smtp.stop()  # keep the victim's request queued while the attacker acts
    data = await send_data(unthrottled_bot)
    reference = reference_of(await unthrottled_bot.execute("order.send", data))

    forged = {**data, "owner": ATTACKER}
    for press in presses(unthrottled_bot).values():
        turn = await press("order.send", forged, user_id=ATTACKER)
        assert refusal_text(turn) == NOT_YOURS
        assert reference not in json.dumps([s.body for s in turn.sent] + [turn.body])
    [row] = await rows(unthrottled_bot)
    assert row.user_id == VICTIM

    smtp.fail_next(550)
    smtp.start()
    await until(lambda: any("could NOT" in (s.text or "") for s in unthrottled_bot.connector.sent))
    told = [s for s in unthrottled_bot.connector.sent if "could NOT" in (s.text or "")]
    assert all(reference in (s.text or "") for s in told)
    assert {s.conversation_id for s in told} == {f"a:personal-conversation-{VICTIM}"}
    attackers = [s for s in unthrottled_bot.connector.sent if ATTACKER in s.conversation_id]
    assert patient_values_in([s.body for s in attackers]) == []


async def test_rewritten_owner_on_an_unsent_form_is_only_the_attackers_own_request(
    unthrottled_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    """Someone who has seen a victim's card data can submit it as their own request.

    That is their request (their row, their limit, their confirmation); the
    victim's later Send of that form is refused visibly, never answered with a
    "Queued" reference for a request that is not theirs.
    """
    data = await send_data(unthrottled_bot)
    stolen = await unthrottled_bot.execute(
        "order.send", {**data, "owner": ATTACKER}, user_id=ATTACKER
    )
    reference = reference_of(stolen)
    [row] = await rows(unthrottled_bot)
    assert row.user_id == ATTACKER and row.reference == reference

    turn = await unthrottled_bot.execute("order.send", data)
    assert refusal_text(turn) == NOT_YOURS
    assert len(await rows(unthrottled_bot)) == 1
    await delivered(unthrottled_bot, smtp, 1)
    runtime = unthrottled_bot.client.app[RUNTIME]
    confirmation = await runtime.services.confirmations.get(reference)
    assert confirmation is not None and confirmation.user_id == ATTACKER


# --- tenants and authentication come first ------------------------------------------------


def _complete_send_data(owner: str = VICTIM) -> dict[str, Any]:
    """A valid Send, built by hand as a client that never saw a card could."""
    base = {"form_id": uuid.uuid4().hex, "owner": owner, "trust": "kch"}
    return {**base, "department": "ultrasound", "modality": "ultrasound", **PATIENT}


async def test_a_foreign_tenant_queues_nothing(
    unthrottled_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    data = _complete_send_data()
    for press in presses(unthrottled_bot).values():
        turn = await press("order.send", data, tenant="tenant-somewhere-else")
        assert refusal_text(turn) == REFUSAL
    assert await rows(unthrottled_bot) == []
    # Control: the same data from the allowed tenant is a request.
    reference_of(await unthrottled_bot.execute("order.send", data))
    await delivered(unthrottled_bot, smtp, 1)


async def test_an_unauthenticated_send_queues_nothing(
    make_mail_bot, smtp: SmtpTestServer, channel_keys: ChannelKeys, offline_outbound_token: str
) -> None:
    bot = await make_mail_bot(dev_mode=False, app_id=APP_ID, app_password="not-a-real-secret")
    value = {"action": {"type": "Action.Execute", "verb": "order.send", "data": {}}}
    value["action"]["data"] = {**_complete_send_data(), "verb": "order.send"}
    body = activity(bot.service_url, type="invoke", name="adaptiveCard/action", value=value)
    body["replyToId"] = "card-authenticated"
    for headers in ({}, {"Authorization": "Bearer garbage"}, {"Authorization": "Basic eDp5"}):
        response = await bot.client.post("/api/messages", json=body, headers=headers)
        assert response.status == 401
    assert await rows(bot) == []
    # Control: with a valid channel token the very same body is queued and emailed.
    response = await bot.client.post(
        "/api/messages", json=body, headers=channel_keys.bearer(bot.service_url)
    )
    assert response.status == 200 and "DT-" in json.dumps(await response.json())
    await delivered(bot, smtp, 1)


# --- personal chat only --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["channel", "groupChat"])
async def test_every_step_is_refused_outside_personal_chat(
    unthrottled_bot: BotHarness, smtp: SmtpTestServer, kind: str
) -> None:
    choose = find_action(await choose_card(unthrottled_bot), "order.choose")["data"]
    review = await review_card(unthrottled_bot)
    back = find_action(review, "order.step")["data"]
    steps = [
        ("order.choose", {**choose, "trust": "kch", "modality": "ultrasound"}),
        ("order.next", back),
        ("order.change", back),
        ("order.review", back),
        ("order.step", back),
        ("order.edit", back),
        ("order.send", find_action(review, "order.send")["data"]),
    ]
    for verb, data in steps:
        for how, press in presses(unthrottled_bot).items():
            turn = await press(verb, data, kind=kind)
            assert refusal_text(turn) == PERSONAL_ONLY, (verb, how)
            assert patient_values_in([s.body for s in turn.sent]) == [], (verb, how)
    assert await rows(unthrottled_bot) == []
    assert smtp.received == []


@pytest.mark.parametrize("kind", ["channel", "groupChat"])
async def test_order_from_a_channel_never_posts_patient_data_there(
    unthrottled_bot: BotHarness, smtp: SmtpTestServer, kind: str
) -> None:
    """A whole order started in a channel: every connector call to that conversation is clean."""
    shared = "19:channel@thread.tacv2;messageid=1" if kind == "channel" else "19:group@thread.v2"
    turn = await unthrottled_bot.say("order", kind=kind, mention=True, conversation_id=shared)
    assert unthrottled_bot.connector.created_conversations, "the form must move to a personal chat"
    [private] = [s.card for s in turn.sent if s.conversation_id != shared and s.card]
    assert_valid_card(private)
    start = find_action(private, "order.start")["data"]  # New request, in the personal chat
    choose = (await unthrottled_bot.submit("order.start", start)).only_card
    base = find_action(choose, "order.choose")["data"]
    form = (
        await unthrottled_bot.execute(
            "order.choose", {**base, "trust": "kch", "modality": "ultrasound"}
        )
    ).only_card
    review = (await unthrottled_bot.execute("order.review", review_data(form))).only_card
    sent = await unthrottled_bot.execute("order.send", find_action(review, "order.send")["data"])
    reference_of(sent)
    await delivered(unthrottled_bot, smtp, 1)

    to_shared = [s for s in unthrottled_bot.connector.sent if s.conversation_id == shared]
    assert to_shared, "the channel gets a pointer to the personal chat"
    for call in to_shared:
        assert call.card is None, call.body
        assert patient_values_in(call.body) == [], call.body
    assert "DT-" not in json.dumps([s.body for s in to_shared])


@pytest.mark.parametrize("kind", ["channel", "groupChat"])
async def test_order_button_pressed_in_a_channel_opens_the_form_privately(
    unthrottled_bot: BotHarness, kind: str
) -> None:
    """The `order.start` button (e.g. on a mailbox card shared in a channel)."""
    shared = "19:shared@thread.v2"
    for how, press in presses(unthrottled_bot).items():
        before = len(unthrottled_bot.connector.sent)
        data = {"trust": "kch", "department": "ultrasound"}
        turn = await press("order.start", data, kind=kind, conversation_id=shared)
        assert turn.status == 200 and turn.invoke_card is None, how
        calls = unthrottled_bot.connector.sent[before:]
        private = [s.card for s in calls if s.conversation_id != shared and s.card]
        assert len(private) == 1, how
        # New request, for the same route, in the personal chat: the form opens there.
        assert find_action(private[0], "order.start")["data"]["department"] == "ultrasound"
        assert all(s.card is None for s in calls if s.conversation_id == shared), how


async def test_a_modality_without_a_route_is_refused_before_any_patient_detail(
    unthrottled_bot: BotHarness,
) -> None:
    """KCH takes no CT by email in downtime: the choose step says so and opens no form."""
    base = find_action(await choose_card(unthrottled_bot), "order.choose")["data"]
    card = (
        await unthrottled_bot.execute("order.choose", {**base, "trust": "kch", "modality": "ct"})
    ).only_card
    assert_valid_card(card)
    assert "no downtime route for CT" in (error_under(card, "modality") or "")
    assert find_action(card, "order.choose") and "patient_surname" not in json.dumps(card)


def _forged(bot: BotHarness, verb: str, data: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """An Action.Execute of `verb` whose envelope is then rewritten as `changes` say."""
    value = {"action": {"type": "Action.Execute", "verb": verb, "data": {**data, "verb": verb}}}
    body = activity(
        bot.service_url, type="invoke", name="adaptiveCard/action", value=value, reply_to_id="c"
    )
    for path, new in changes.items():
        parent = body
        *steps, last = path.split("__")
        for step in steps:
            parent = parent[step]
        if new is None:
            parent.pop(last, None)
        else:
            parent[last] = new
    return body


@pytest.mark.parametrize(
    "forgery",
    [
        {"conversation__conversationType": None},
        {"conversation__conversationType": "Personal"},
        {"conversation__conversationType": "meeting"},
        {"from__id": ""},
        {"from": None},
    ],
    ids=["no-type", "wrong-case-type", "unknown-type", "empty-user-id", "no-from"],
)
async def test_forged_envelopes_get_no_patient_data_and_queue_nothing(
    unthrottled_bot: BotHarness, smtp: SmtpTestServer, forgery: dict[str, Any]
) -> None:
    """A missing conversation type used to be read as a personal chat (the review card,
    patient data and all, went to a forged channel), and an empty user id owned a request
    queued for user "" whose notice then failed forever. Both are refused at the edge."""
    owner = "" if forgery.get("from__id") == "" or "from" in forgery else VICTIM
    data = {**_complete_send_data(owner)}
    for verb in ("order.review", "order.send", "order.edit"):
        turn = await unthrottled_bot.post(_forged(unthrottled_bot, verb, data, **forgery))
        assert turn.status == 400, (verb, turn.body)
        assert turn.sent == [] and patient_values_in(turn.body) == [], verb
    assert await rows(unthrottled_bot) == []
    # Control: the same data in a real personal chat from its owner is a request.
    if owner:
        reference_of(await unthrottled_bot.execute("order.send", data))
        await delivered(unthrottled_bot, smtp, 1)


# --- hourly limit --------------------------------------------------------------------------


async def test_hourly_limit_refuses_the_next_distinct_request_only_for_that_user(
    make_mail_bot, smtp: SmtpTestServer
) -> None:
    bot = await make_mail_bot(max_requests_per_hour=2)
    first = await send_data(bot)
    references = [reference_of(await bot.execute("order.send", first))]
    references.append(reference_of(await bot.execute("order.send", await send_data(bot))))

    over = await send_data(bot)
    for press in presses(bot).values():
        turn = await press("order.send", over)
        assert refusal_text(turn) == TOO_MANY.format(limit=2)
    assert len(await rows(bot)) == 2

    # Pressing Send again on a form already queued is not a new request: not refused.
    again = await bot.execute("order.send", first)
    assert reference_of(again) == references[0]
    assert len(await rows(bot)) == 2

    other = await bot.execute("order.send", await send_data(bot, ATTACKER), user_id=ATTACKER)
    references.append(reference_of(other))
    assert len(await rows(bot)) == 3
    await delivered(bot, smtp, 3)
    sent = {r.message["X-ICE-Downtime-Reference"] for r in smtp.received}
    assert sent == set(references)


# --- injection -----------------------------------------------------------------------------

SINGLE_LINE_INPUTS = [
    "examination",
    "patient_surname",
    "patient_forenames",
    "nhs_number",
    "address_line1",
    "address_line2",
    "address_town",
    "postcode",
    "patient_phone",
    "interpreter_language",
    "referrer_name",
    "referrer_role",
    "referrer_registration",
    "practice_name",
    "practice_ods",
    "practice_email",
    "practice_phone",
]
CONTROL_PAYLOADS = {
    "crlf-bcc": BCC,
    "lf": "\nTo: " + EVIL,
    "cr": "\rCc: " + EVIL,
    "nul": "\x00",
    "vertical-tab": "\x0b",
    "escape": "\x1b[2J",
    "del": "\x7f",
    "nel": "\u0085",
    "line-separator": "\u2028",
    "paragraph-separator": "\u2029",
}


def refusals(input_id: str) -> set[str]:
    """The field's own refusal: control characters, or (for short coded fields) length."""
    label = FIELD_BY_ID[input_id].label
    limits = {20, 30, 60, 100, 120, 200}
    return {SINGLE_LINE_MESSAGE} | {f"{label} is too long: at most {n} characters" for n in limits}


def _inject(value: str, payload: str) -> str:
    """The payload inside the value, where stripping whitespace cannot remove it."""
    middle = max(1, len(value) // 2)
    return value[:middle] + payload + value[middle:]


@pytest.mark.parametrize("payload", list(CONTROL_PAYLOADS.values()), ids=list(CONTROL_PAYLOADS))
async def test_control_characters_in_single_line_fields_are_refused_next_to_the_field(
    unthrottled_bot: BotHarness, payload: str
) -> None:
    form = await form_card(unthrottled_bot)
    good = review_data(
        form, interpreter_needed="yes", interpreter_language="Polish", address_line2="Flat 2"
    )
    for input_id in SINGLE_LINE_INPUTS:
        data = {**good, input_id: _inject(good[input_id], payload)}
        for verb in ("order.review", "order.send") if payload == BCC else ("order.send",):
            card = (await unthrottled_bot.execute(verb, data)).only_card
            assert error_under(card, input_id) in refusals(input_id), (input_id, verb)
            assert not any(a.get("verb") == "order.send" for a in _actions(card)), input_id
    # Dates are parsed strictly; the hidden routing ids are re-checked on the server.
    for input_id, message in (("patient_dob", "Enter a date"), ("trust", "Choose the trust")):
        data = {**good, input_id: _inject(good[input_id], payload)}
        card = (await unthrottled_bot.execute("order.send", data)).only_card
        assert_valid_card(card)
        assert message in (error_under(card, input_id) or ""), input_id
    for input_id in ("department", "modality"):
        data = {**good, input_id: _inject(good[input_id], payload)}
        card = (await unthrottled_bot.execute("order.send", data)).only_card
        assert_valid_card(card)
        assert "order.send" not in json.dumps(card), input_id
    assert await rows(unthrottled_bot) == []


def _actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    return list(iter_actions(card))


SMUGGLING = (
    "Pain for weeks\r\n.\r\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<evil@example.com>\r\n"
    "DATA\r\nSubject: smuggled\r\n\r\nsecond message\r\n.\r\n\n.\n\r.\r"
)


async def test_header_payloads_in_multi_line_fields_land_only_in_the_body(
    unthrottled_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    changes = {
        "clinical_history": "Right upper quadrant pain" + BCC + "\r\nTo: " + EVIL,
        "clinical_question": SMUGGLING,
        "mobility_needs": "Wheelchair\r\nReply-To: " + EVIL + "\r\n\r\n<b>body</b>",
        "reasonable_adjustments": "Quiet room\nX-Priority: 1\nContent-Type: text/html",
    }
    data = await send_data(unthrottled_bot, **changes)
    reference = reference_of(await unthrottled_bot.execute("order.send", data))
    await delivered(unthrottled_bot, smtp, 1)
    [received] = smtp.received
    assert_routed_only_to_mailbox_and_practice(received)
    assert received.message["X-ICE-Downtime-Reference"] == reference
    assert "smuggled" not in str(received.message["Subject"])
    text = text_part(received)
    assert f"Bcc: {EVIL}" in text and f"Reply-To: {EVIL}" in text
    assert "RCPT TO:<evil@example.com>" in text
    # The server saw one message: the smuggled "second message" is only body text.
    assert len(smtp.received) == 1


async def test_recipients_come_only_from_the_directory(
    unthrottled_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    """Card data cannot name a recipient: extra keys are ignored, a forged route is refused."""
    data = {
        **(await send_data(unthrottled_bot)),
        **{key: EVIL for key in ("mailbox", "to", "cc", "bcc", "recipients", "reply_to")},
    }
    for forged in (
        {"department": "xray"},  # a KCH department that does not match the modality
        {"trust": "gstt"},  # another trust's route for a KCH form
        {"practice_email": f"test.practice@nhs.net, {EVIL}"},
        {"practice_email": f"{EVIL}"},
    ):
        card = (await unthrottled_bot.execute("order.send", {**data, **forged})).only_card
        assert "order.send" not in json.dumps(card), forged
    assert await rows(unthrottled_bot) == []
    reference_of(await unthrottled_bot.execute("order.send", data))
    await delivered(unthrottled_bot, smtp, 1)
    assert_routed_only_to_mailbox_and_practice(smtp.received[0])


HTML_PAYLOADS = {
    "clinical_history": "Pain after meals <script>alert(1)</script> for 3 weeks",
    "clinical_question": 'Gallstones? <img src=x onerror="alert(1)">',
    "examination": "Ultrasound <b>abdomen</b> & pelvis",
    "patient_surname": "O'Brien<script>x</script>",
    "practice_name": "Test <a href='javascript:alert(1)'>Practice</a>",
    "referrer_name": 'Dr "Sam" <i>Test</i>',
}


async def test_html_in_free_text_is_escaped_in_html_and_literal_in_text(
    unthrottled_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    data = await send_data(unthrottled_bot, **HTML_PAYLOADS)
    reference_of(await unthrottled_bot.execute("order.send", data))
    await delivered(unthrottled_bot, smtp, 1)
    [received] = smtp.received
    assert_routed_only_to_mailbox_and_practice(received)
    html, text = html_part(received), text_part(received)
    for value in HTML_PAYLOADS.values():
        assert value in text, value
    for tag in ("<script", "<img", "<b>abdomen", "<a href", "<i>"):
        assert tag not in html, tag
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert "&amp; pelvis" in html
    assert "Test &lt;a href=&#39;javascript:alert(1)&#39;&gt;Practice&lt;/a&gt;" in html


CARD_BREAKERS = {
    "examination": "**bold** _it_ [link](javascript:alert(1)) `code` ~~x~~",
    "patient_surname": '"}, {"type": "Action.OpenUrl", "url": "https://evil"',
    "patient_forenames": "}}{{ raw }}{% if %}\\",
    "address_line1": "# 1 > Test | Street",
    "clinical_history": '- not a list\n1. not a list\n> not a quote\n{"type": "AdaptiveCard"}',
    "clinical_question": "<at>ICE Downtime</at> ![img](http://x/y.png) 'single' \"double\"?",
}


async def test_markdown_braces_and_quotes_show_literally_on_the_review_card(
    unthrottled_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    review = await review_card(unthrottled_bot, **CARD_BREAKERS)
    assert_valid_card(review)
    shown = card_text(review)
    for input_id, value in CARD_BREAKERS.items():
        for line in value.splitlines():
            assert line in shown, (input_id, line)
    assert [a["type"] for a in _actions(review)] == ["Action.Execute", "Action.Execute"]
    data = find_action(review, "order.send")["data"]
    assert all(data[key] == value for key, value in CARD_BREAKERS.items())
    reference_of(await unthrottled_bot.execute("order.send", data))
    await delivered(unthrottled_bot, smtp, 1)
    text = text_part(smtp.received[0])
    assert all(line in text for v in CARD_BREAKERS.values() for line in v.splitlines())


# --- patient data stays out of notifications, the subject and the logs ---------------------


def _notification_fields(card: dict[str, Any]) -> dict[str, Any]:
    """What Teams shows outside the chat: fallbackText, speak, and the card's title line."""
    heading = next(
        (b.get("text") for b in card.get("body", []) if b.get("type") == "TextBlock"), None
    )
    return {"fallbackText": card.get("fallbackText"), "speak": card.get("speak"), "title": heading}


async def test_patient_data_never_in_notifications_subject_or_logs(
    unthrottled_bot: BotHarness, smtp: SmtpTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    invoke_cards: list[dict[str, Any]] = []

    async def press(verb: str, data: dict[str, Any], **kwargs: Any) -> Turn:
        turn = await unthrottled_bot.execute(verb, data, **kwargs)
        if turn.invoke_card:
            invoke_cards.append(turn.invoke_card)
        return turn

    # One request with a refused step, a validation error, a temporary failure and a retry...
    smtp.fail_next(451)
    choose = find_action(await choose_card(unthrottled_bot), "order.choose")["data"]
    form = (
        await press("order.choose", {**choose, "trust": "kch", "modality": "ultrasound"})
    ).only_card
    await press("order.review", review_data(form, nhs_number="943 476 5828"))
    review = (await press("order.review", review_data(form))).only_card
    await press("order.send", find_action(review, "order.send")["data"], user_id=ATTACKER)
    await press("order.step", find_action(review, "order.step")["data"])
    await press("order.send", find_action(review, "order.send")["data"], reply_to_id="card-9")
    await until(lambda: len(smtp.received) == 1 and len(unthrottled_bot.connector.updates) == 1)
    # ...and one that fails for good, so the by-hand text is sent too.
    smtp.fail_next(550)
    second = await send_data(unthrottled_bot)
    await press("order.send", second, reply_to_id="card-10")
    await until(lambda: any("could NOT" in (s.text or "") for s in unthrottled_bot.connector.sent))
    await until(lambda: len(unthrottled_bot.connector.updates) == 2)

    cards = invoke_cards + [s.card for s in unthrottled_bot.connector.sent if s.card is not None]
    assert len(cards) >= 8 and any("Sent at" in card_text(c) for c in cards)
    for card in cards:
        assert_valid_card(card)
        fields = _notification_fields(card)
        assert patient_values_in(fields) == [], fields
    for call in unthrottled_bot.connector.sent:
        assert patient_values_in(call.body.get("summary") or "") == [], call.body
    # The by-hand text is the one place patient data is meant to be (personal chat);
    # its first line, which Teams previews in a notification, names only the reference.
    [by_hand] = [s.text for s in unthrottled_bot.connector.sent if "could NOT" in (s.text or "")]
    assert "Testpatient" in by_hand and patient_values_in(by_hand.splitlines()[0]) == []

    [received] = smtp.received
    subject = str(received.message["Subject"])
    assert patient_values_in(subject.lower()) == [] and patient_values_in(subject) == []

    logged = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''}"
        for r in caplog.records
        if not r.name.startswith("mail.log")  # aiosmtpd: the test's SMTP server, not the bot
    )
    assert "request queued" in logged and "refused" in logged
    assert patient_values_in(logged) == [], patient_values_in(logged)
    assert PATIENT["patient_surname"].lower() not in logged.lower()


SMTP_PASSWORD = "S3cret-Passw0rd-for-tests!"


class _RefusingAuthenticator:
    """An SMTP server that offers AUTH and refuses the bot's credentials (535)."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def __call__(self, _server: Any, _session: Any, _envelope: Any, mechanism: str, data: Any):
        from aiosmtpd.smtp import AuthResult

        self.attempts.append(mechanism)
        return AuthResult(success=False, handled=False)


async def test_smtp_credentials_never_reach_the_logs(
    make_bot, caplog: pytest.LogCaptureFixture
) -> None:
    from aiosmtpd.controller import Controller

    from tests.support.smtp import free_port

    caplog.set_level(logging.DEBUG)
    authenticator = _RefusingAuthenticator()
    port = free_port()

    class Handler:
        async def handle_DATA(self, *_args: Any) -> str:
            return "250 OK"

    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
        ready_timeout=5,
    )
    controller.start()
    try:
        bot = await make_bot(
            mail_transport="smtp",
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_starttls=False,
            smtp_username="ice-downtime@nhs.net",
            smtp_password=SMTP_PASSWORD,
            mail_from="ice-downtime@nhs.net",
            mail_retry_base_seconds=0.05,
            mail_retry_max_seconds=0.1,
            outbox_poll_seconds=0.05,
            smtp_timeout_seconds=2,
        )
        reference_of(await bot.execute("order.send", await send_data(bot)))
        await until(lambda: any("could NOT" in (s.text or "") for s in bot.connector.sent))
        told = json.dumps([s.body for s in bot.connector.sent])
    finally:
        controller.stop()
    logged = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''}"
        for r in caplog.records
        if not r.name.startswith("mail.log")  # aiosmtpd: the test's server, not the bot
    )
    assert authenticator.attempts, "the bot must have tried to log in"
    assert "outbox failed" in logged and "535" in logged, "the refused login is logged"
    secrets = (SMTP_PASSWORD, base64.b64encode(SMTP_PASSWORD.encode()).decode())
    assert not any(secret in logged or secret in told for secret in secrets)
    plain = base64.b64encode(f"\0ice-downtime@nhs.net\0{SMTP_PASSWORD}".encode()).decode()
    assert plain not in logged


# --- random and mutated card data ----------------------------------------------------------


class Tally:
    """What the property test expects at the SMTP server, across its examples."""

    def __init__(self) -> None:
        self.valid_forms: set[str] = set()
        self.references: set[str] = set()
        self.invalid_sends = 0


@pytest.fixture
async def fuzz_bot(make_mail_bot, smtp: SmtpTestServer) -> AsyncIterator[tuple[BotHarness, Tally]]:
    bot = await make_mail_bot(max_requests_per_hour=10**6, mail_max_per_minute=10**6)
    tally = Tally()
    yield bot, tally
    # After every example: each valid form gave exactly one email, nothing else did.
    # Controls: the examples included valid requests and refused Sends.
    assert tally.valid_forms and tally.invalid_sends, (len(tally.valid_forms), tally.invalid_sends)
    await delivered(bot, smtp, len(tally.valid_forms))
    assert {r.message["X-ICE-Downtime-Reference"] for r in smtp.received} == tally.references
    for received in smtp.received:
        assert set(received.rcpt_tos) == {KCH_US, received.message["Cc"]}


FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
FIELD_KEYS = sorted(set(PATIENT) | {"form_id", "owner", "trust", "department", "modality"})
mutation = st.one_of(
    json_values,
    st.sampled_from(NASTY_STRINGS),
    st.sampled_from(["", " ", "x" * 20_000, BCC, SMUGGLING, "999 000 0018"]),
    st.builds(lambda s: s + BCC, st.sampled_from(list(PATIENT.values()))),
)


@FUZZ
@given(data=st.data())
async def test_mutated_review_and_send_never_5xx_nor_email_an_invalid_request(
    fuzz_bot: tuple[BotHarness, Tally], data: st.DataObject
) -> None:
    bot, tally = fuzz_bot
    runtime = bot.client.app[RUNTIME]
    base = {
        **PATIENT,
        "form_id": uuid.uuid4().hex,
        "owner": VICTIM,
        "trust": "kch",
        "department": "ultrasound",
        "modality": "ultrasound",
    }
    keys = data.draw(st.lists(st.sampled_from(FIELD_KEYS), max_size=4, unique=True), "keys")
    payload: Any = dict(base)
    for key in keys:
        if data.draw(st.booleans(), f"delete {key}"):
            payload.pop(key)
        else:
            payload[key] = data.draw(mutation, key)
    if data.draw(st.integers(0, 9), "replace all") == 0:
        payload = data.draw(json_values, "whole data")
    verb = data.draw(st.sampled_from(["order.review", "order.send"]), "verb")
    how = data.draw(st.sampled_from(["execute", "submit"]), "how")

    # Every press comes from its own card, so the worker's background "sent" update
    # of an earlier request (a PUT to that card) is never taken for this answer.
    if how == "execute":
        value = {"action": {"type": "Action.Execute", "verb": verb, "data": payload}}
        if isinstance(payload, dict):
            value["action"]["data"] = {**payload, "verb": verb}
        body = activity(
            bot.service_url,
            type="invoke",
            name="adaptiveCard/action",
            value=value,
            reply_to_id=f"card-{uuid.uuid4().hex}",
        )
    else:
        value = {**payload, "verb": verb} if isinstance(payload, dict) else payload
        body = activity(bot.service_url, value=value, reply_to_id=f"card-{uuid.uuid4().hex}")
    rows_before = len(await rows(bot))
    turn = await bot.post(body)
    assert turn.status < 500, (turn.status, turn.body)
    for card in ([turn.invoke_card] if turn.invoke_card else []) + turn.cards:
        assert_valid_card(card)

    # The oracle: the request model itself, with the handler's own inputs.
    today = datetime.now(LONDON).date()
    valid = (
        verb == "order.send"
        and isinstance(payload, dict)
        and payload.get("owner") == VICTIM
        and isinstance(payload.get("form_id"), str)
        and 0 < len(payload["form_id"]) <= 64
        and isinstance(
            validate_submission(payload, directory=runtime.services.directory, today=today),
            RadiologyRequest,
        )
    )
    after = await rows(bot)
    if valid:
        reference = reference_of(turn)
        tally.valid_forms.add(payload["form_id"])
        tally.references.add(reference)
        assert [r.reference for r in after if r.form_id == payload["form_id"]] == [reference]
    else:
        tally.invalid_sends += verb == "order.send"
        assert len(after) == rows_before
        assert all("DT-" not in card_text(c) for c in [*turn.cards, turn.invoke_card or {}])
    assert len(after) == len(tally.valid_forms)
