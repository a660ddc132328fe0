"""SlidingWindowLimit arithmetic with an injected clock."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aioqruntime.protocol import SlidingWindowLimit

# --- SlidingWindowLimit: the service's rule, never exceeded ------------------------------------


@given(
    limit=st.integers(min_value=1, max_value=6),
    window=st.floats(min_value=0.5, max_value=60.0),
    gaps=st.lists(st.floats(min_value=0.0, max_value=30.0), min_size=1, max_size=40),
)
def test_sliding_window_never_admits_more_than_the_limit_in_any_window(
    limit: int, window: float, gaps: list[float]
) -> None:
    rule = SlidingWindowLimit(limit, window)
    now = 0.0
    admitted: list[float] = []
    for gap in gaps:
        now += gap
        delay = rule.acquire_delay(now)
        assert delay >= 0
        admitted.append(now + delay)
    # now + delay re-creates the reserved time up to rounding: allow a nanosecond (two waiters
    # reserved the same instant from different `now`s can differ in the last bit).
    # First come, first served.
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(admitted))
    for i, start in enumerate(admitted):
        inside = [t for t in admitted[i:] if t < start + window - 1e-9]
        assert len(inside) <= limit


def test_sliding_window_admits_a_full_burst_at_once_then_waits_for_the_oldest() -> None:
    rule = SlidingWindowLimit.per_minute(5)
    assert [rule.acquire_delay(0.0) for _ in range(5)] == [0.0] * 5
    assert rule.acquire_delay(1.0) == 59.0
    # A token bucket with burst 5 would let a sixth through at 12 s; the window does not.
    assert rule.acquire_delay(12.0) == 48.0


def test_sliding_window_refund_frees_a_cancelled_slot() -> None:
    rule = SlidingWindowLimit(1, 10.0)
    assert rule.acquire_delay(0.0) == 0.0
    waiting = rule.acquire_delay(0.0)
    assert waiting == 10.0
    rule.refund(0.0 + waiting)
    assert rule.acquire_delay(0.0) == 10.0


def test_sliding_window_throttle_counts_a_use() -> None:
    rule = SlidingWindowLimit(1, 10.0)
    rule.throttle(0.0)
    assert rule.acquire_delay(1.0) == 9.0


def test_sliding_window_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="limit"):
        SlidingWindowLimit(0, 1.0)
    with pytest.raises(ValueError, match="window"):
        SlidingWindowLimit(1, 0.0)
    with pytest.raises(ValueError, match="rate"):
        SlidingWindowLimit.per_minute(0)
    assert SlidingWindowLimit.per_minute(0.5) == SlidingWindowLimit(1, 120.0)
