"""PollSchedule: fast after a submission, backing off, bounded, within the request budget."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aioqruntime.protocol import PollSchedule

SCHEDULE = PollSchedule()
since = st.one_of(st.none(), st.floats(0, 10**6, allow_nan=False))
pending = st.integers(1, 100_000)
idle = st.integers(0, 10**6)


def test_paces() -> None:
    # One pending job costs 2 requests a tick (pending list + newest finished page): at the
    # default 10 requests/s, ticks are at least 0.2 s apart.
    assert SCHEDULE.next_delay(since_submission=0.0, pending=1, session_active=False) == 0.2
    assert SCHEDULE.next_delay(since_submission=None, pending=1, session_active=True) == 0.2
    assert SCHEDULE.next_delay(since_submission=None, pending=1, session_active=False) == 0.5
    fast = PollSchedule(max_requests_per_second=40)
    assert fast.next_delay(since_submission=0.0, pending=1, session_active=False) == 0.05
    assert fast.next_delay(since_submission=None, pending=1, session_active=True) == 0.1
    slow = SCHEDULE.next_delay(
        since_submission=None, pending=1, session_active=False, idle_ticks=99
    )
    assert slow == SCHEDULE.max_interval
    in_session = SCHEDULE.next_delay(
        since_submission=None, pending=1, session_active=True, idle_ticks=99
    )
    assert in_session == SCHEDULE.session_ceiling
    assert SCHEDULE.next_delay(since_submission=None, pending=0, session_active=True) == 5.0


def test_request_budget() -> None:
    assert [SCHEDULE.requests_per_tick(n) for n in (0, 1, 200, 201, 1000)] == [0, 2, 2, 3, 6]
    # 5000 pending jobs: the watcher reads at most 10 pending pages + 1 finished page per tick;
    # at 10 requests/s ticks are 1.1 s apart.
    assert SCHEDULE.requests_per_tick(5000) == 11
    assert SCHEDULE.next_delay(
        since_submission=0.0, pending=5000, session_active=True
    ) == pytest.approx(1.1)


@given(since, pending, st.booleans(), idle)
def test_bounded(since_submission: float | None, n: int, active: bool, ticks: int) -> None:
    delay = SCHEDULE.next_delay(
        since_submission=since_submission, pending=n, session_active=active, idle_ticks=ticks
    )
    assert SCHEDULE.fast_interval <= delay <= max(SCHEDULE.max_interval, SCHEDULE.budget_floor(n))
    # Requests per second never exceed the budget.
    assert SCHEDULE.requests_per_tick(n) / delay <= SCHEDULE.max_requests_per_second + 1e-9


@given(since, pending, st.booleans(), idle, idle)
def test_monotone_in_idle_ticks(
    since_submission: float | None, n: int, active: bool, a: int, b: int
) -> None:
    low, high = sorted((a, b))
    kwargs = {"since_submission": since_submission, "pending": n, "session_active": active}
    assert SCHEDULE.next_delay(idle_ticks=low, **kwargs) <= SCHEDULE.next_delay(  # type: ignore[arg-type]
        idle_ticks=high,
        **kwargs,  # type: ignore[arg-type]
    )


@given(st.floats(0, 10**6), st.floats(0, 10**6), pending, st.booleans(), idle)
def test_monotone_in_time_since_submission(
    a: float, b: float, n: int, active: bool, ticks: int
) -> None:
    low, high = sorted((a, b))
    kwargs = {"pending": n, "session_active": active, "idle_ticks": ticks}
    assert SCHEDULE.next_delay(since_submission=low, **kwargs) <= SCHEDULE.next_delay(  # type: ignore[arg-type]
        since_submission=high,
        **kwargs,  # type: ignore[arg-type]
    )


@given(since, pending, pending, st.booleans(), idle)
def test_monotone_in_pending(
    since_submission: float | None, a: int, b: int, active: bool, ticks: int
) -> None:
    low, high = sorted((a, b))
    kwargs = {"since_submission": since_submission, "session_active": active, "idle_ticks": ticks}
    assert SCHEDULE.next_delay(pending=low, **kwargs) <= SCHEDULE.next_delay(  # type: ignore[arg-type]
        pending=high,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fast_interval": 0},
        {"session_interval": 0.01},
        {"job_interval": 10},
        {"session_ceiling": 9},
        {"backoff": 0.5},
        {"max_requests_per_second": 0},
        {"page_size": 201},
        {"max_pages_per_tick": 0},
    ],
)
def test_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        PollSchedule(**kwargs)  # type: ignore[arg-type]
