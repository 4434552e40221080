"""Per-user rate limits: the limiter itself, and the flood limit at the Teams edge.

Time is a fake clock throughout: nothing here sleeps or measures wall time.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.application import RUNTIME
from bot.ratelimit import MESSAGES_PER_MINUTE, SlidingWindowLimiter, Verdict
from bot.settings import Settings
from bot.teams.bot import SLOW_DOWN
from tests.support.clock import Ticks
from tests.support.teams import BotHarness

pytestmark = pytest.mark.security


# --- the limiter --------------------------------------------------------------------------------


def test_allows_the_limit_then_refuses_and_says_so_once(ticks: Ticks) -> None:
    limiter = SlidingWindowLimiter(3, 60, clock=ticks)
    assert [limiter.hit("a").allowed for _ in range(3)] == [True, True, True]
    first, second, third = limiter.hit("a"), limiter.hit("a"), limiter.hit("a")
    assert first == Verdict(allowed=False, first_refusal=True, retry_after=60)
    assert not second.allowed and not second.first_refusal
    assert not third.allowed and not third.first_refusal


def test_the_window_slides(ticks: Ticks) -> None:
    limiter = SlidingWindowLimiter(2, 60, clock=ticks)
    assert limiter.hit("a").allowed
    ticks.advance(30)
    assert limiter.hit("a").allowed
    ticks.advance(29)
    refused = limiter.hit("a")
    assert not refused.allowed and refused.retry_after == pytest.approx(1)
    ticks.advance(1)  # the first hit is now exactly a window old: it no longer counts
    assert limiter.hit("a").allowed
    assert not limiter.hit("a").allowed  # the second hit (t=30) still counts


def test_refused_attempts_are_not_counted_and_the_notice_rearms(ticks: Ticks) -> None:
    limiter = SlidingWindowLimiter(1, 60, clock=ticks)
    assert limiter.hit("a").allowed
    for _ in range(50):
        ticks.advance(1)
        limiter.hit("a")
    ticks.advance(10)  # 60 s after the only allowed hit, despite 50 refused ones since
    assert limiter.hit("a").allowed
    assert limiter.hit("a").first_refusal, "a new flood is told again"


def test_users_do_not_share_a_budget(ticks: Ticks) -> None:
    limiter = SlidingWindowLimiter(2, 60, clock=ticks)
    for _ in range(10):
        limiter.hit("flooder")
    assert limiter.hit("someone-else").allowed
    assert limiter.hit("someone-else").allowed


def test_check_counts_nothing(ticks: Ticks) -> None:
    limiter = SlidingWindowLimiter(1, 60, clock=ticks)
    assert all(limiter.check("a").allowed for _ in range(5))
    assert limiter.hit("a").allowed
    assert not limiter.check("a").allowed
    assert limiter.check("a").retry_after == 60
    ticks.advance(60)
    assert limiter.check("a").allowed


def test_idle_users_are_forgotten(ticks: Ticks) -> None:
    limiter = SlidingWindowLimiter(5, 60, clock=ticks)
    for user in range(100):
        limiter.hit(f"user-{user}")
    assert len(limiter) == 100
    ticks.advance(61)
    limiter.hit("newcomer")
    assert len(limiter) == 1


def test_memory_is_bounded_even_when_everyone_is_active(ticks: Ticks) -> None:
    limiter = SlidingWindowLimiter(5, 60, clock=ticks, max_keys=50)
    for user in range(10_000):
        assert limiter.hit(f"user-{user}").allowed
        assert len(limiter) <= 50
    assert limiter.hit("user-9999").allowed, "the most recent users are kept"


def test_per_key_memory_is_bounded_by_the_limit(ticks: Ticks) -> None:
    limiter = SlidingWindowLimiter(3, 60, clock=ticks)
    for _ in range(1000):
        limiter.hit("a")
    assert len(limiter._keys["a"].hits) == 3


@pytest.mark.parametrize(
    "args", [(0, 60), (1, 0), (1, -1)], ids=["zero-limit", "zero-window", "negative-window"]
)
def test_nonsense_configuration_is_refused(args: tuple[int, float]) -> None:
    with pytest.raises(ValueError):
        SlidingWindowLimiter(*args)


def test_submissions_per_hour_from_settings(ticks: Ticks) -> None:
    """The order flow's use: MAX_REQUESTS_PER_HOUR submissions per user per hour."""
    settings = Settings(_env_file=None, dev_mode=True, max_requests_per_hour=4)
    submissions = SlidingWindowLimiter(settings.max_requests_per_hour, 3600, clock=ticks)
    for _ in range(4):
        assert submissions.hit("29:gp").allowed
        ticks.advance(600)
    refused = submissions.hit("29:gp")
    assert not refused.allowed and refused.retry_after == pytest.approx(1200)
    ticks.advance(1200)
    assert submissions.hit("29:gp").allowed


# --- the flood limit at the Teams edge ----------------------------------------------------------


def edge_clock(harness: BotHarness) -> Ticks:
    ticks = Ticks()
    limiter = harness.client.server.app[RUNTIME].bot.message_limiter
    assert limiter.limit == MESSAGES_PER_MINUTE and limiter.window == 60
    limiter.clock = ticks
    return ticks


async def test_a_flood_gets_one_slow_down_then_silence(bot: BotHarness) -> None:
    ticks = edge_clock(bot)
    for _ in range(MESSAGES_PER_MINUTE):
        turn = await bot.say("help", user_id="29:flooder")
        assert len(turn.cards) == 1
    told = await bot.say("help", user_id="29:flooder")
    assert told.status == 200 and told.texts == [SLOW_DOWN] and told.cards == []
    for _ in range(20):
        ignored = await bot.say("help", user_id="29:flooder")
        assert ignored.status == 200 and ignored.sent == []
    ticks.advance(60)
    assert len((await bot.say("help", user_id="29:flooder")).cards) == 1


async def test_a_flood_does_not_starve_another_user(bot: BotHarness) -> None:
    edge_clock(bot)
    for _ in range(MESSAGES_PER_MINUTE + 1):
        await bot.say("help", user_id="29:flooder")
    for _ in range(5):
        await bot.say("help", user_id="29:flooder")
        other = await bot.say("help", user_id="29:colleague")
        assert other.status == 200 and len(other.cards) == 1 and SLOW_DOWN not in other.texts


async def test_concurrent_flood_and_another_user(bot: BotHarness) -> None:
    """Sent all at once: the flood is cut at the limit and the other user is answered."""
    ticks = edge_clock(bot)
    # Each user's first message creates their stored profile. Concurrent *first*
    # messages from one user race on that insert (IntegrityError, reported to the
    # store's owner); warm both users up so this test measures the limiter alone.
    await bot.say("hello", user_id="29:flooder")
    await bot.say("hello", user_id="29:colleague")
    ticks.advance(60)
    before = len(bot.connector.sent)
    flood = [bot.say("help", user_id="29:flooder") for _ in range(MESSAGES_PER_MINUTE * 3)]
    turns = await asyncio.gather(*flood, bot.say("help", user_id="29:colleague"))
    assert all(t.status == 200 for t in turns)

    sent = bot.connector.sent[before:]

    def cards_for(user: str) -> int:
        return sum(1 for s in sent if s.card and s.conversation_id.endswith(user))

    assert cards_for("29:flooder") == MESSAGES_PER_MINUTE
    assert [s.text for s in sent if not s.card] == [SLOW_DOWN]
    assert cards_for("29:colleague") == 1


async def test_a_flood_of_card_presses_is_answered_without_work(bot: BotHarness) -> None:
    """An invoke always needs an answer: past the limit it is a short message, no card."""
    edge_clock(bot)
    for _ in range(MESSAGES_PER_MINUTE):
        assert (await bot.execute("ice.down", user_id="29:clicker")).only_card
    for _ in range(3):
        turn = await bot.execute("ice.down", user_id="29:clicker")
        assert turn.status == 200
        assert turn.body == {
            "statusCode": 200,
            "type": "application/vnd.microsoft.activity.message",
            "value": SLOW_DOWN,
        }
        assert turn.sent == []
