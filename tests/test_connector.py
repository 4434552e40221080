"""Outbound connector calls: pooled clients, transient failures retried, others not."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import partial

import aiohttp
import pytest
from aiohttp import web
from botbuilder.schema import Activity
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import ConnectorFactory, MicrosoftAppCredentials

from bot.teams.connector import ConnectorPool, RetryPolicy, SharedSession, retry_after
from tests.support.clock import Ticks
from tests.support.teams import BotHarness


@pytest.mark.parametrize("status", [429, 502, 503, 504, 412])
async def test_transient_connector_failure_is_retried(bot: BotHarness, status: int) -> None:
    bot.connector.fail_next(status, headers={"Retry-After": "0"})
    turn = await bot.say("mailbox guys")
    assert turn.status == 200
    assert len(turn.sent) == 1 and turn.sent[0].card is not None


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_permanent_connector_failure_is_not_retried(bot: BotHarness, status: int) -> None:
    bot.connector.fail_next(status)
    turn = await bot.say("mailbox guys")
    assert turn.status == 200  # the turn ends; Teams must not retry it
    # The refused card was not sent again; the user got the apology instead.
    assert [s.card for s in turn.sent] == [None]
    assert "went wrong" in turn.sent[0].text
    again = await bot.say("mailbox guys")
    assert len(again.sent) == 1 and again.sent[0].card is not None


async def test_retries_are_bounded(bot: BotHarness) -> None:
    bot.connector.fail_next(503, times=8, headers={"Retry-After": "0"})
    turn = await bot.say("help")
    assert turn.status == 200
    # 4 attempts for the card and 4 for the apology: all refused, none recorded, then it stops.
    assert turn.sent == []
    assert bot.connector.pending_faults == 0
    after = await bot.say("help")
    assert len(after.sent) == 1


class _CountingFactory(ConnectorFactory):
    """The SDK's real factory, counted: how many clients does a turn cost?"""

    def __init__(self, inner: ConnectorFactory) -> None:
        self.inner = inner
        self.created = 0

    async def create(self, service_url: str, audience: str = None):  # noqa: RUF013
        self.created += 1
        return await self.inner.create(service_url, audience)


async def test_pool_reuses_one_client_per_service_url() -> None:
    from botbuilder.integration.aiohttp import ConfigurationServiceClientCredentialFactory
    from botframework.connector.auth._connector_factory_impl import _ConnectorFactoryImpl

    class _Config:
        APP_ID = ""
        APP_PASSWORD = ""

    real = _ConnectorFactoryImpl(
        "",
        "https://api.botframework.com",
        "https://login.microsoftonline.com/botframework.com",
        True,
        ConfigurationServiceClientCredentialFactory(_Config()),
    )
    counting = _CountingFactory(real)
    session = SharedSession()
    pool = ConnectorPool(session)
    first = await pool.connector(counting, "https://smba.example/emea/", None)
    second = await pool.connector(counting, "https://smba.example/emea/", None)
    other = await pool.connector(counting, "https://smba.example/amer/", None)
    assert first is second and first is not other
    assert counting.created == 2
    await session.close()


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after({"Retry-After": "3"}) == 3.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after({"Retry-After": later}) <= 30
    assert retry_after({}) is None
    assert retry_after({"Retry-After": "soon"}) is None


class _Answer:
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.http_response = type("R", (), {"status_code": status, "headers": headers or {}})()


class _Next:
    """The rest of the pipeline, scripted: each call takes the next answer (or raises it)."""

    def __init__(self, answers: list[_Answer | Exception]) -> None:
        self.answers = answers
        self.timeouts: list[float] = []

    async def send(self, request, **kwargs):
        self.timeouts.append(kwargs["connector_timeout"])
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_retry_policy_honours_retry_after_and_backs_off_without_it() -> None:
    clock = Ticks(100.0)
    policy = RetryPolicy(attempts=3, base_delay=0.5, max_delay=4.0, sleep=clock.sleep, clock=clock)
    policy.next = _Next([_Answer(429, {"Retry-After": "0"}), _Answer(503), _Answer(200)])
    result = await policy.send(object())
    assert result.http_response.status_code == 200
    assert clock.sleeps == [0.0, 1.0]
    policy.next = _Next([_Answer(429, {"Retry-After": "120"}), _Answer(404)])
    assert (await policy.send(object())).http_response.status_code == 404
    assert clock.sleeps[-1] == 4.0  # capped


async def test_retry_policy_stops_when_the_next_pause_would_pass_the_budget() -> None:
    """A turn must answer before Teams sends it again (~15 s): the budget bounds the retries."""
    clock = Ticks(100.0)
    policy = RetryPolicy(
        attempts=4, base_delay=0.5, max_delay=10.0, budget=5.0, sleep=clock.sleep, clock=clock
    )
    policy.next = scripted = _Next(
        [_Answer(429, {"Retry-After": "3"}), _Answer(429, {"Retry-After": "3"}), _Answer(200)]
    )
    result = await policy.send(object())
    assert result.http_response.status_code == 429  # the answer stands; the caller falls back
    assert clock.sleeps == [3.0]
    assert scripted.timeouts == [5.0, 2.0]  # each try gets only what is left
    assert len(scripted.answers) == 1  # the third try was never made


async def test_retry_policy_raises_an_unreachable_connector_once_out_of_budget() -> None:
    clock = Ticks(100.0)
    policy = RetryPolicy(
        attempts=4, base_delay=2.0, max_delay=10.0, budget=3.0, sleep=clock.sleep, clock=clock
    )
    policy.next = scripted = _Next(
        [aiohttp.ClientConnectionError("refused"), TimeoutError(), _Answer(200)]
    )
    with pytest.raises(TimeoutError):
        await policy.send(object())
    assert clock.sleeps == [2.0]  # the 4 s pause after the second failure would not fit
    assert len(scripted.answers) == 1


class _Credentials(MicrosoftAppCredentials):
    """Credentials whose token names its audience; MSAL's cloud cannot run here."""

    def __init__(self, audience: str) -> None:
        super().__init__("app-id", "secret")
        self.audience = audience

    def get_access_token(self, force_refresh: bool = False) -> str:
        return f"token-for-{self.audience}"


class _ClientFactory(ConnectorFactory):
    async def create(self, service_url: str, audience: str = None):  # noqa: RUF013
        return ConnectorClient(_Credentials(audience), base_url=service_url)


@pytest.fixture
async def recording_connector(aiohttp_server):
    """A local connector that records each call's Authorization header, or never answers."""
    seen: list[str] = []
    hang = asyncio.Event()

    async def activities(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        if request.match_info["conversation"] == "hangs":
            await hang.wait()
        return web.json_response({"id": "1"})

    app = web.Application()
    app.router.add_post("/v3/conversations/{conversation}/activities", activities)
    server = await aiohttp_server(app)
    yield str(server.make_url("/")), seen
    hang.set()


async def test_each_pooled_client_sends_with_its_own_token(recording_connector) -> None:
    """msrest links a policy to the next one of its pipeline; a shared retry policy
    once sent every client's calls through the last client's token."""
    url, seen = recording_connector
    session = SharedSession()
    pool = ConnectorPool(session, retry=RetryPolicy)
    try:
        first = await pool.connector(_ClientFactory(), url, "audience-a")
        await pool.connector(_ClientFactory(), url, "audience-b")
        await first.conversations.send_to_conversation("c1", Activity(type="message", text="x"))
        assert seen == ["Bearer token-for-audience-a"]
    finally:
        await session.close()


async def test_a_connector_that_never_answers_costs_one_budget_not_the_session_timeout(
    recording_connector,
) -> None:
    url, seen = recording_connector
    session = SharedSession(timeout_seconds=60)
    pool = ConnectorPool(session, retry=partial(RetryPolicy, budget=0.5))
    try:
        client = await pool.connector(_ClientFactory(), url, "audience-a")
        call = asyncio.ensure_future(
            client.conversations.send_to_conversation("hangs", Activity(type="message"))
        )
        done, _ = await asyncio.wait({call}, timeout=20)
        assert done, "the call outlived its 0.5 s budget"
        assert isinstance(call.exception(), TimeoutError)  # the try's own timeout, given up
        assert len(seen) == 1  # one try: no time was left for another
    finally:
        await session.close()
