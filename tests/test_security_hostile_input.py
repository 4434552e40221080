"""Hostile input at POST /api/messages: nothing a caller sends makes the bot fall over.

Every response is 2xx or 4xx, never 5xx, never a traceback; the turn itself
does not fail (a failed turn is logged "turn failed" and the user gets an
apology, which is graceful but still a bug); and afterwards the same server
still answers a plain "help". Property tests start from valid Teams activities
and break one thing at a time; fixed cases cover what a generator would rarely
hit (100k-deep nesting, invalid UTF-8, oversized bodies).

One app per test function, shared by all of that test's hypothesis examples:
the fixture is function-scoped on purpose (HealthCheck.function_scoped_fixture
is suppressed) because the point is that one running server survives the
whole sequence, and nothing in an example depends on a fresh app.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.application import RUNTIME
from bot.ratelimit import SlidingWindowLimiter
from tests.support.cards import assert_valid_card
from tests.support.hostile import NASTY_STRINGS, json_values
from tests.support.teams import BotHarness, activity

pytestmark = pytest.mark.security

# HOSTILE_EXAMPLES=2000 for a deeper run; the default keeps `make test` quick.
SHARED_APP = settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

HUGE = "x" * 150_000  # under MAX_BODY_BYTES (256 KiB) with the rest of the activity

hostile = st.one_of(
    json_values,
    st.just(HUGE),
    st.integers(min_value=1, max_value=400).map(lambda depth: _nested(depth)),
)


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"a": [value]}
    return value


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key/index path in a JSON value (not the root)."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*prefix, index)
            yield from _paths(child, (*prefix, index))


def _replace(value: Any, path: tuple[Any, ...], new: Any, delete: bool) -> Any:
    value = json.loads(json.dumps(value))
    parent = value
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return value


def _bases(service_url: str) -> list[dict[str, Any]]:
    """Valid Teams activities of every kind the bot handles."""
    execute = {
        "action": {
            "type": "Action.Execute",
            "verb": "access.borough",
            "data": {"verb": "access.borough", "borough": "Bromley"},
        },
        "trigger": "manual",
    }
    return [
        activity(service_url, text="helpdesk bromley"),
        activity(service_url, text="ICE is down", kind="channel", mention=True),
        activity(service_url, text="mailbox kings ultrasound", kind="groupChat"),
        activity(service_url, value={"verb": "mailbox.show", "trust": "kch"}, reply_to_id="c1"),
        activity(
            service_url, type="invoke", name="adaptiveCard/action", value=execute, reply_to_id="c2"
        ),
        activity(
            service_url,
            type="conversationUpdate",
            extra={"membersAdded": [{"id": "28:ice-downtime-bot", "name": "ICE Downtime"}]},
        ),
    ]


class Watch:
    """Posts raw bodies and checks each answer; also counts failed turns in the log."""

    def __init__(self, harness: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
        self.harness = harness
        self.caplog = caplog
        caplog.set_level(logging.ERROR, logger="bot")

    def failed_turns(self) -> list[str]:
        return [
            r.getMessage().splitlines()[0]
            for r in self.caplog.records
            if r.name.startswith("bot") and r.levelno >= logging.ERROR
        ]

    async def post_bytes(
        self, raw: bytes, content_type: str | None = "application/json"
    ) -> tuple[int, bytes]:
        headers = {"Content-Type": content_type} if content_type is not None else {}
        response = await self.harness.client.post(
            "/api/messages", data=raw, headers=headers, skip_auto_headers=["Content-Type"]
        )
        body = await response.read()
        assert response.status < 500, (response.status, body[:300])
        assert response.status >= 200, response.status
        assert b"Traceback" not in body and b'File "' not in body, body[:300]
        return response.status, body

    async def post_json(self, value: Any) -> tuple[int, bytes]:
        return await self.post_bytes(json.dumps(value).encode())

    async def still_answers_help(self) -> None:
        before = len(self.harness.connector.sent)
        turn = await self.harness.say("help")
        assert turn.status == 200
        cards = [s.card for s in self.harness.connector.sent[before:] if s.card]
        assert len(cards) == 1, "after the hostile input, 'help' must still get its card"
        assert_valid_card(cards[0])


@pytest.fixture
def watch(bot: BotHarness, caplog: pytest.LogCaptureFixture) -> Watch:
    # Every example must reach the handlers, so the per-user flood limit (tested in
    # test_security_ratelimit) is lifted for this app: otherwise one user's 31st
    # message would be dropped before anything under test ran.
    runtime = bot.client.server.app[RUNTIME]
    runtime.bot.message_limiter = SlidingWindowLimiter(10**9, 60)
    return Watch(bot, caplog)


# --- property tests ----------------------------------------------------------------------------


@SHARED_APP
@given(data=st.data())
async def test_mutated_envelopes_never_5xx_nor_fail_the_turn(watch: Watch, data) -> None:
    url = watch.harness.service_url
    base = data.draw(st.sampled_from(_bases(url)), label="base")
    # serviceUrl has its own test; card data (`value`) is covered verb by verb below.
    paths = [p for p in _paths(base) if p[0] not in ("serviceUrl", "value")]
    path = data.draw(st.sampled_from(paths), label="path")
    delete = data.draw(st.booleans(), label="delete")
    new = None if delete else data.draw(hostile, label="value")
    mutated = _replace(base, path, new, delete)
    mutated["id"] = data.draw(st.uuids()).hex  # never a de-duplicated retry
    failed_before = len(watch.failed_turns())
    await watch.post_json(mutated)
    assert watch.failed_turns()[failed_before:] == []


@SHARED_APP
@given(service_url=st.one_of(json_values, st.sampled_from(["", "ftp://x/", "http", "x" * 5000])))
async def test_hostile_service_url_is_a_4xx_never_a_5xx(watch: Watch, service_url: Any) -> None:
    body = activity(watch.harness.service_url, text="help")
    body["serviceUrl"] = service_url
    status, _ = await watch.post_json(body)
    if not (isinstance(service_url, str) and service_url.startswith("http")):
        assert status == 400


@SHARED_APP
@given(value=json_values)
async def test_any_json_value_is_answered_without_5xx(watch: Watch, value: Any) -> None:
    status, _ = await watch.post_json(value)
    if not isinstance(value, dict):
        assert status == 400


@SHARED_APP
@given(raw=st.binary(max_size=2000))
async def test_any_bytes_are_answered_without_5xx(watch: Watch, raw: bytes) -> None:
    await watch.post_bytes(raw)


@SHARED_APP
@given(text=st.one_of(st.sampled_from(NASTY_STRINGS), st.text(max_size=300)))
async def test_user_text_never_breaks_a_card(watch: Watch, text: str) -> None:
    for prefix in ("", "helpdesk ", "mailbox "):
        before = len(watch.harness.connector.sent)
        failed_before = len(watch.failed_turns())
        await watch.post_json(activity(watch.harness.service_url, text=prefix + text))
        assert watch.failed_turns()[failed_before:] == []
        for sent in watch.harness.connector.sent[before:]:
            if sent.card is not None:
                assert_valid_card(sent.card)


CARD_DATA_VERBS = {
    # verb -> the card data fields its handler reads (the router passes them as arguments)
    "access.borough": ("borough",),
    "helpdesk.show": ("borough",),
    "ice.access": ("borough",),
    "info.show": ("topic",),
    "mailbox.pick": ("trust", "modality", "department"),
    "mailbox.show": ("trust", "modality", "department"),
}
WRONG_CARD_VALUES = [5, 1.5, True, [], ["Bromley"], {"a": 1}, "", "x" * 5000, "Brom\u0000ley"]


@pytest.mark.parametrize("verb", list(CARD_DATA_VERBS))
async def test_card_data_of_any_type_never_fails_a_turn(watch: Watch, verb: str) -> None:
    """A forged or stale card can carry anything in its data; the handler must cope."""
    failures = []
    for field in CARD_DATA_VERBS[verb]:
        for value in WRONG_CARD_VALUES:
            for press in (watch.harness.execute, watch.harness.submit):
                failed_before = len(watch.failed_turns())
                turn = await press(verb, {field: value})
                assert turn.status < 500, (verb, field, value, turn.status)
                if turn.status != 200 or watch.failed_turns()[failed_before:]:
                    failures.append((field, repr(value)[:20], press.__name__, turn.status))
                for card in ([turn.invoke_card] if turn.invoke_card else []) + turn.cards:
                    assert_valid_card(card)
    assert failures == [], f"{verb}: turns failed for {failures}"


# --- fixed hostile cases ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"[" * 100_000, id="100k-open-brackets"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="100k-deep-array"),
        pytest.param(b'{"a":' * 20_000 + b"1" + b"}" * 20_000, id="20k-deep-object"),
        pytest.param(b'{"type": "message", "text": "\xff\xfe\xc3\x28"}', id="invalid-utf8"),
        pytest.param(b"\xef\xbb\xbf{}", id="utf8-bom"),
        pytest.param(b'{"type": "message", "text": "\\ud800"}', id="lone-surrogate-escape"),
        pytest.param(b"", id="empty"),
        pytest.param(b"null", id="null"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'"message"', id="string"),
        pytest.param(b"1e999", id="huge-number"),
        pytest.param(b"NaN", id="nan"),
        pytest.param(b'{"type": "message"', id="truncated"),
        pytest.param(b'{"type": "message", "type": 1}', id="duplicate-key"),
        pytest.param(b'{"type": ""}', id="empty-type"),
        pytest.param(b'{"type": "message"}', id="no-service-url"),
        pytest.param(b"\x00" * 1000, id="nul-bytes"),
    ],
)
async def test_malformed_bodies_are_400s(watch: Watch, raw: bytes) -> None:
    status, body = await watch.post_bytes(raw)
    assert status == 400, body
    assert json.loads(body)["error"]
    await watch.still_answers_help()


def _with(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    return _replace(body, path, value, delete=False)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        pytest.param(("text",), "\ud800 help", id="unpaired-surrogate-in-text"),
        pytest.param(("from", "name"), "Sam \udfff", id="unpaired-surrogate-in-name"),
        pytest.param(("from", "id"), ["29:a", "29:b"], id="list-as-user-id"),
        pytest.param(("conversation", "id"), {"id": "a:1"}, id="object-as-conversation-id"),
        pytest.param(("conversation",), "a:1", id="string-as-conversation"),
        pytest.param(("text",), 42, id="number-as-text"),
        pytest.param(("conversation", "id"), "a:" + "1" * 5000, id="5000-char-conversation-id"),
        pytest.param(("serviceUrl",), "http://127.0.0.1/" + "a" * 3000, id="3000-char-url"),
        pytest.param(("channelData",), ["tenant"], id="list-as-channel-data"),
        # Forged shapes: never read as a personal chat, a user, or the allowed tenant.
        pytest.param(("conversation", "conversationType"), None, id="no-conversation-type"),
        pytest.param(("conversation", "conversationType"), "", id="empty-conversation-type"),
        pytest.param(("conversation", "conversationType"), "Personal", id="unknown-type"),
        pytest.param(("conversation", "conversationType"), "meeting", id="meeting-type"),
        pytest.param(("from", "id"), "", id="empty-user-id"),
        pytest.param(("from", "id"), "   ", id="blank-user-id"),
        pytest.param(("from",), None, id="no-from"),
        pytest.param(("conversation", "tenantId"), "tenant-elsewhere", id="tenants-disagree"),
        pytest.param(("channelData", "tenant", "id"), 7, id="number-as-tenant-id"),
    ],
)
async def test_activities_that_teams_never_sends_are_400s(
    watch: Watch, path: tuple[str, ...], value: Any
) -> None:
    """Refused at the edge: msrest would coerce them to str() and a turn would fail later."""
    sent_before = len(watch.harness.connector.sent)
    status, answer = await watch.post_json(
        _with(activity(watch.harness.service_url, text="help"), path, value)
    )
    assert status == 400, answer
    assert len(watch.harness.connector.sent) == sent_before
    assert watch.failed_turns() == []


async def test_escaped_emoji_surrogate_pairs_are_fine(watch: Watch) -> None:
    """The surrogate check refuses only unpaired halves: an escaped emoji is ordinary text."""
    raw = json.dumps(activity(watch.harness.service_url, text="help \U0001f600"))
    assert "\\ud83d\\ude00" in raw
    status, _ = await watch.post_bytes(raw.encode())
    assert status == 200


async def test_oversized_body_is_413(watch: Watch) -> None:
    limit = 256 * 1024
    body = activity(watch.harness.service_url, text="x" * (limit + 1))
    status, answer = await watch.post_bytes(json.dumps(body).encode())
    assert status == 413 and json.loads(answer) == {"error": "request body too large"}
    await watch.still_answers_help()


async def test_oversized_body_with_a_lying_content_length_is_refused(watch: Watch) -> None:
    """Chunked upload without Content-Length: the limit still applies while reading."""

    async def chunks():
        chunk = b" " * 65536
        for _ in range(8):
            yield chunk
        yield json.dumps(activity(watch.harness.service_url, text="help")).encode()

    response = await watch.harness.client.post(
        "/api/messages", data=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status == 413
    await watch.still_answers_help()


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonx",
        "json",
    ],
)
async def test_wrong_content_types_are_415(watch: Watch, content_type: str | None) -> None:
    body = json.dumps(activity(watch.harness.service_url, text="help")).encode()
    status, _ = await watch.post_bytes(body, content_type)
    assert status == 415
    await watch.still_answers_help()


async def test_json_with_charset_parameter_is_accepted(watch: Watch) -> None:
    body = json.dumps(activity(watch.harness.service_url, text="help")).encode()
    status, _ = await watch.post_bytes(body, "application/json; charset=utf-8")
    assert status == 200


@pytest.mark.parametrize("name", [None, "", "composeExtension/fetchTask", "task/x", "x" * 300])
async def test_invokes_we_do_not_handle_are_400_not_501(watch: Watch, name: str | None) -> None:
    body = activity(watch.harness.service_url, type="invoke", value={"x": 1})
    if name is not None:
        body["name"] = name
    status, answer = await watch.post_json(body)
    assert status == 400 and json.loads(answer) == {"error": "this invoke is not supported"}
    assert watch.failed_turns() == []


@pytest.mark.parametrize("name", ["task/fetch", "task/submit"])
@pytest.mark.parametrize(
    "value", [{"x": 1}, {"data": None}, {"data": {"verb": 7}}, {"data": ["order.start"]}, [1]]
)
async def test_dialog_invokes_without_a_verb_are_400(watch: Watch, name: str, value: Any) -> None:
    """A dialog invoke (`task/fetch`, `task/submit`) is ours only with our data: anything
    else is a bad caller."""
    body = activity(watch.harness.service_url, type="invoke", name=name, value=value)
    status, _ = await watch.post_json(body)
    assert status == 400
    assert watch.failed_turns() == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_other_methods_are_405(watch: Watch, method: str) -> None:
    response = await watch.harness.client.request(method, "/api/messages")
    assert response.status == 405
