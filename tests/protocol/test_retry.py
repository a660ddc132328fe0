"""Retry decisions and delays."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aioqruntime.protocol import (
    DEFAULT_RETRY_STATUSES,
    RetryPolicy,
    backoff_ceiling,
    parse_retry_after,
    retry_delay,
    should_retry,
)

POLICY = RetryPolicy()


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"idempotent": True, "status": 502}, True),
        ({"idempotent": True, "status": 524}, True),
        ({"idempotent": False, "status": 502}, False),
        ({"idempotent": False, "status": 502, "retry_ambiguous": True}, True),
        ({"idempotent": True, "status": 429}, True),
        ({"idempotent": False, "status": 429}, True),
        ({"idempotent": True, "status": 404}, False),
        ({"idempotent": True, "status": 501}, False),
        ({"idempotent": True, "status": 400}, False),
        ({"idempotent": True, "timeout": True}, True),
        ({"idempotent": False, "timeout": True}, False),
        ({"idempotent": False, "timeout": True, "retry_ambiguous": True}, True),
        ({"idempotent": False, "connection_error": True, "request_sent": False}, True),
        ({"idempotent": False, "connection_error": True}, False),
        ({"idempotent": True, "connection_error": True}, True),
        ({"idempotent": True}, False),
    ],
)
def test_should_retry_table(kwargs: dict[str, object], expected: bool) -> None:
    assert should_retry(POLICY, 1, **kwargs) is expected  # type: ignore[arg-type]


def test_attempts_are_bounded() -> None:
    assert should_retry(POLICY, 5, idempotent=True, status=502)
    assert not should_retry(POLICY, 6, idempotent=True, status=502)
    assert not should_retry(RetryPolicy.never(), 1, idempotent=True, status=502)
    assert {500, 502, 503, 504, 520, 521, 522, 524} == DEFAULT_RETRY_STATUSES


def test_backoff_without_jitter_is_the_official_sequence() -> None:
    policy = RetryPolicy(jitter=False)
    assert [retry_delay(policy, n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert backoff_ceiling(policy, 10**9) == 8.0


@given(st.integers(1, 10**6), st.integers(0, 2**32))
def test_jittered_delay_envelope(attempt: int, seed: int) -> None:
    delay = retry_delay(POLICY, attempt, None, random.Random(seed))
    assert 0.0 <= delay <= backoff_ceiling(POLICY, attempt) <= POLICY.max_delay


@given(st.integers(1, 100), st.integers(1, 100))
def test_ceiling_is_monotone(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert backoff_ceiling(POLICY, low) <= backoff_ceiling(POLICY, high)


def test_retry_after_wins_and_is_capped() -> None:
    assert retry_delay(POLICY, 1, "3") == 3.0
    assert retry_delay(POLICY, 1, "3600") == POLICY.max_retry_after
    assert retry_delay(RetryPolicy(jitter=False), 2, "garbage") == 1.0
    now = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
    date = format_datetime(datetime(2026, 1, 1, 0, 0, 7, tzinfo=timezone.utc), usegmt=True)
    assert retry_delay(POLICY, 1, date, now=now) == 7.0
    # Without a clock a date cannot be read: fall back to the backoff.
    assert retry_delay(RetryPolicy(jitter=False), 1, date) == 0.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("5", 5.0),
        (" 1.5 ", 1.5),
        ("-1", None),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("Thu, 01 Jan 2026 00:00:10 GMT", 10.0),
        ("Wed, 31 Dec 2025 23:59:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
    assert parse_retry_after(value, now) == expected


@given(st.text(max_size=40))
def test_parse_retry_after_never_raises(value: str) -> None:
    result = parse_retry_after(value, 0.0)
    assert result is None or result >= 0


@pytest.mark.parametrize(
    "kwargs", [{"max_attempts": 0}, {"initial": -1}, {"multiplier": 0.5}, {"max_retry_after": -1}]
)
def test_policy_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
