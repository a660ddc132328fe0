"""A session's or batch's ``poll_schedule`` reaches its watcher (default: the service's)."""

from __future__ import annotations

import pytest

from aioqruntime import AsyncBatch, AsyncSampler, AsyncSession
from aioqruntime.protocol import PollSchedule
from aioqruntime.runtime._for_primitives import session_poll_schedule
from tests.client._helpers import local_service, x_pattern

SLOW_SESSION = PollSchedule(session_interval=0.2, session_ceiling=2.0, max_requests_per_second=5)


async def test_a_session_watcher_follows_its_own_schedule() -> None:
    async with local_service() as (_server, service):
        backend = await service.backend("ibm_local5")
        async with AsyncSession(backend, poll_schedule=SLOW_SESSION) as session:
            # The session's own watcher follows the schedule that was passed.
            assert session_poll_schedule(session) is SLOW_SESSION
            job = await AsyncSampler(session).run([x_pattern(1, 1, 5)], shots=1)
            assert (await job)[0].data.c.get_counts() == {"1": 1}
        async with AsyncBatch(backend) as batch:
            assert session_poll_schedule(batch) == PollSchedule()  # the service's default


def test_the_pace_is_the_delay_before_the_budget_and_reconcile_every_is_checked() -> None:
    schedule = PollSchedule()
    for pending in (1, 200, 2_000):
        pace = schedule.pace(since_submission=0.0, pending=pending, session_active=True)
        delay = schedule.next_delay(since_submission=0.0, pending=pending, session_active=True)
        # The watcher applies the budget from the requests it sent (one page when steady), so
        # its pace does not grow with N; a full tick's delay does.
        assert pace == schedule.fast_interval
        assert delay == max(pace, schedule.budget_floor(pending))
    with pytest.raises(ValueError, match="reconcile_every"):
        PollSchedule(reconcile_every=0)
