"""The one retry implementation (bot/backoff.py): exponential, jittered or not, capped,
Retry-After as a floor or as asked, a limit; and `retrying`, the one retry loop."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.backoff import STORE_WRITE, Backoff, TryAgain, parse_retry_after, retrying


def policy(**overrides: object) -> Backoff:
    values: dict[str, object] = {"base": 2.0, "cap": 60.0, "max_attempts": 5}
    values.update(overrides)
    return Backoff(**values)  # type: ignore[arg-type]


def test_steps_double_from_the_base_and_stop_at_the_cap() -> None:
    backoff = policy()
    assert [backoff.step(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]


@given(st.integers(min_value=1, max_value=60), st.integers(min_value=0, max_value=2**32))
def test_each_delay_is_between_half_and_all_of_its_step(attempt: int, seed: int) -> None:
    backoff = policy(rng=random.Random(seed))
    step = backoff.step(attempt)
    assert step / 2 <= backoff.delay(attempt) <= step


def test_jitter_spreads_retries_queued_together() -> None:
    backoff = policy(rng=random.Random(7))
    delays = {round(backoff.delay(4), 6) for _ in range(50)}
    assert len(delays) > 40, "fifty retries after one outage must not all wake at once"


def test_a_retry_after_longer_than_the_step_is_obeyed() -> None:
    backoff = policy(rng=random.Random(1))
    assert backoff.delay(1, retry_after=30.0) == 30.0


def test_a_retry_after_shorter_than_the_step_does_not_shorten_it() -> None:
    backoff = policy(rng=random.Random(1))
    assert backoff.delay(5, retry_after=0.5) >= backoff.step(5) / 2


def test_a_bogus_retry_after_is_capped() -> None:
    backoff = policy(retry_after_cap=120.0)
    assert backoff.delay(1, retry_after=7 * 24 * 3600) == 120.0
    assert backoff.delay(1, retry_after=-5) <= backoff.step(1)


def test_attempts_run_out_at_the_limit() -> None:
    backoff = policy(max_attempts=3)
    assert [backoff.exhausted(n) for n in (1, 2, 3, 4)] == [False, False, True, True]


@pytest.mark.parametrize(("base", "cap", "attempts"), [(-1, 2, 3), (1, -1, 1), (1, 2, 0)])
def test_nonsense_policies_are_refused(base: float, cap: float, attempts: int) -> None:
    with pytest.raises(ValueError):
        Backoff(base=base, cap=cap, max_attempts=attempts)


def test_a_zero_base_retries_at_once_and_a_cap_below_the_base_caps_every_step() -> None:
    """CONNECTOR_RETRY_BASE_SECONDS=0 is allowed (retry at once); MAIL_RETRY_MAX_SECONDS below
    its base means every pause is the maximum."""
    assert [policy(base=0.0).delay(n) for n in (1, 2, 3)] == [0.0, 0.0, 0.0]
    assert [policy(base=30.0, cap=10.0).step(n) for n in (1, 2, 3)] == [10.0, 10.0, 10.0]


def test_without_jitter_each_delay_is_its_step() -> None:
    backoff = policy(jitter=False)
    assert [backoff.delay(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]


def test_a_replacing_retry_after_is_waited_as_asked_up_to_its_cap() -> None:
    """The connector's rule: within a turn, "Retry-After: 0" means now, and a long one is cut."""
    backoff = policy(jitter=False, retry_after="replace", retry_after_cap=4.0)
    assert backoff.delay(3, retry_after=0.0) == 0.0
    assert backoff.delay(1, retry_after=120.0) == 4.0
    assert backoff.delay(3) == 8.0


def test_no_attempt_limit_is_never_exhausted() -> None:
    assert not policy(max_attempts=None).exhausted(10**6)


class _Flaky:
    """Fails `failures` times (with `error`), then answers."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


class _Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_retrying_pauses_by_the_backoff_until_the_call_answers() -> None:
    call, sleeps, heard = _Flaky(3, OSError("down")), _Sleeps(), []
    answer = await retrying(
        call,
        STORE_WRITE,
        sleep=sleeps,
        on_retry=lambda error, pause: heard.append((type(error).__name__, pause)),
    )
    assert answer == "done" and call.calls == 4
    assert sleeps.waits == [0.05, 0.1, 0.2]
    assert heard == [("OSError", 0.05), ("OSError", 0.1), ("OSError", 0.2)]


async def test_retrying_raises_the_last_error_when_the_attempts_run_out() -> None:
    call, sleeps = _Flaky(10, OSError("down")), _Sleeps()
    with pytest.raises(OSError):
        await retrying(call, replace(STORE_WRITE, max_attempts=3), sleep=sleeps)
    assert call.calls == 3 and len(sleeps.waits) == 2


async def test_retrying_stops_when_the_next_pause_may_not_be_taken() -> None:
    """A lease or a turn's budget about to run out: the pause is not taken, the error stands."""
    call, sleeps = _Flaky(10, OSError("down")), _Sleeps()
    with pytest.raises(OSError):
        await retrying(call, STORE_WRITE, may_wait=lambda pause: pause < 0.15, sleep=sleeps)
    assert sleeps.waits == [0.05, 0.1] and call.calls == 3


async def test_retrying_lets_other_errors_through_at_once() -> None:
    call, sleeps = _Flaky(1, ValueError("a bug, not a fault")), _Sleeps()
    with pytest.raises(ValueError):
        await retrying(call, STORE_WRITE, retry_on=OSError, sleep=sleeps)
    assert call.calls == 1 and sleeps.waits == []


async def test_retrying_waits_as_a_try_again_asks() -> None:
    call, sleeps = _Flaky(1, TryAgain("HTTP 429", retry_after=7.0)), _Sleeps()
    assert await retrying(call, policy(jitter=False), sleep=sleeps) == "done"
    assert sleeps.waits == [7.0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), ("0", 0.0), ("2.5", 2.5), ("-3", 0.0), ("", None), (None, None), ("soon", None)],
)
def test_retry_after_in_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 12, 1, 8, 0, 0, tzinfo=UTC)
    later = format_datetime(datetime(2026, 12, 1, 8, 0, 40, tzinfo=UTC), usegmt=True)
    earlier = format_datetime(datetime(2026, 12, 1, 7, 0, 0, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == 40.0
    assert parse_retry_after(earlier, now=now.timestamp()) == 0.0


def test_the_smallest_sensible_policies_are_allowed() -> None:
    # One attempt (no retry at all) and a cap equal to the base (a constant delay).
    once = Backoff(base=1.0, cap=1.0, max_attempts=1)
    assert once.exhausted(1)
    assert [once.step(n) for n in (1, 2, 3)] == [1.0, 1.0, 1.0]


def test_the_jitter_covers_the_whole_upper_half_of_the_step() -> None:
    # Equal jitter: half of the step fixed, the other half anywhere from nothing to all of it.
    delays = [policy(rng=random.Random(seed)).delay(3) for seed in range(400)]
    step = policy().step(3)
    assert min(delays) < step / 2 + 0.1 * step
    assert max(delays) > step - 0.1 * step


def test_the_first_retry_waits_about_the_base() -> None:
    backoff = policy(base=2.0, rng=random.Random(3))
    assert 1.0 <= backoff.delay(1) <= 2.0
    assert backoff.step(0) == 2.0, "an attempt number below 1 is treated as the first"


def test_a_negative_retry_after_is_ignored_not_obeyed() -> None:
    for seed in range(20):
        plain = policy(rng=random.Random(seed)).delay(3)
        assert policy(rng=random.Random(seed)).delay(3, retry_after=-30.0) == plain


def test_a_retry_after_is_obeyed_up_to_an_hour_by_default() -> None:
    backoff = policy()
    assert backoff.delay(1, retry_after=3599.0) == 3599.0
    assert backoff.delay(1, retry_after=7 * 24 * 3600) == 3600.0


@pytest.mark.parametrize("value", ["   ", "Tuesday", "Tue, 32 Dec 2026 08:00:00 GMT", "1e", "-"])
def test_a_retry_after_that_is_neither_seconds_nor_a_date_is_ignored(value: str) -> None:
    assert parse_retry_after(value) is None


def test_an_http_date_retry_after_counts_from_now_by_default() -> None:
    in_a_minute = format_datetime(datetime.fromtimestamp(time.time() + 60, UTC), usegmt=True)
    waited = parse_retry_after(in_a_minute)
    assert waited is not None and 55.0 <= waited <= 60.0


def test_a_zero_cap_and_a_cap_below_one_second_are_allowed() -> None:
    """Settings may ask for sub-second pauses (the store write caps at 2 s, a test at 0):
    only a negative base or cap is nonsense."""
    assert Backoff(base=0.0, cap=0.0, max_attempts=2).delay(1) == 0.0
    assert Backoff(base=0.25, cap=0.5, max_attempts=2, jitter=False).delay(3) == 0.5


def test_a_refused_policy_says_what_is_wrong() -> None:
    """The message reaches whoever set the numbers (a start-up error): it names the fault."""
    with pytest.raises(ValueError, match="a base and a cap of zero or more"):
        Backoff(base=1.0, cap=-1.0, max_attempts=3)
    with pytest.raises(ValueError, match="at least one attempt"):
        Backoff(base=1.0, cap=2.0, max_attempts=0)


def test_a_try_again_keeps_its_reason_for_the_log() -> None:
    """When the attempts run out the `TryAgain` itself is raised and logged: its text is
    the server's answer, not empty."""
    error = TryAgain("HTTP 429 from the connector", retry_after=3.0)
    assert str(error) == "HTTP 429 from the connector" and error.retry_after == 3.0


def test_store_writes_retry_from_50_ms_doubling_to_at_most_2_s() -> None:
    """The lease guards a store write for seconds, so its pauses must stay short."""
    assert [STORE_WRITE.delay(n) for n in range(1, 9)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]


def test_a_policy_is_its_numbers_not_its_random_source() -> None:
    """Two policies with the same numbers are the same policy (and hash alike), whichever
    random generator each draws its jitter from."""
    first, second = policy(rng=random.Random(1)), policy(rng=random.Random(2))
    assert first == second and hash(first) == hash(second)
    assert first != policy(cap=61.0)
