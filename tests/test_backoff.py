"""The one retry policy (bot/backoff.py): exponential, jittered, capped, Retry-After, a limit."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.backoff import Backoff, parse_retry_after


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


@pytest.mark.parametrize(("base", "cap", "attempts"), [(0, 1, 1), (2, 1, 1), (1, 2, 0), (-1, 2, 3)])
def test_nonsense_policies_are_refused(base: float, cap: float, attempts: int) -> None:
    with pytest.raises(ValueError):
        Backoff(base=base, cap=cap, max_attempts=attempts)


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
