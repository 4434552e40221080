"""Outbound connector calls: pooled clients, transient failures retried, others not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from botframework.connector.auth import ConnectorFactory

from bot.teams.connector import ConnectorPool, SharedSession, retry_after
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


async def test_retry_policy_honours_retry_after_and_backs_off_without_it() -> None:
    from bot.teams.connector import RetryPolicy

    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    policy = RetryPolicy(attempts=3, base_delay=0.5, max_delay=4.0, sleep=record)

    class _Answer:
        def __init__(self, status: int, headers: dict[str, str]) -> None:
            self.http_response = type("R", (), {"status_code": status, "headers": headers})()

    class _Next:
        def __init__(self, answers: list[_Answer]) -> None:
            self.answers = answers

        async def send(self, request, **kwargs):
            return self.answers.pop(0)

    policy.next = _Next([_Answer(429, {"Retry-After": "0"}), _Answer(503, {}), _Answer(200, {})])
    result = await policy.send(object())
    assert result.http_response.status_code == 200
    assert waits == [0.0, 1.0]
    policy.next = _Next([_Answer(429, {"Retry-After": "120"}), _Answer(404, {})])
    assert (await policy.send(object())).http_response.status_code == 404
    assert waits[-1] == 4.0  # capped
