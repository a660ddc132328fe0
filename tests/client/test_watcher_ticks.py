"""The watcher's steady tick reads only the newest page of finished jobs; the rest is counted.

The finished list is newest *created* first, so a job finishing out of creation order can land
below that page. The page's ``count`` gives it away: the watcher then reads the whole pending
list at once instead of waiting for its periodic reconciliation. Pages of 2 jobs (``page_size``)
make "below the newest page" reachable with four jobs.
"""

from __future__ import annotations

import anyio

from aioqruntime import AsyncSampler
from aioqruntime.protocol import PollSchedule
from tests.client._helpers import local_service, x_pattern

#: Pages of two jobs; no periodic reconciliation during the test.
SMALL_PAGES = PollSchedule(page_size=2, reconcile_every=10_000)


async def test_a_job_finishing_below_the_newest_page_is_found_by_the_count() -> None:
    async with local_service(service_options={"poll_schedule": SMALL_PAGES}) as (server, service):
        small = await service.backend("ibm_local5")
        large = await service.backend("ibm_local27")
        server.pause("ibm_local5")
        oldest = await AsyncSampler(small).run([x_pattern(1, 1, 5)], shots=1)
        newer = [await AsyncSampler(large).run([x_pattern(1, 1, 27)], shots=1) for _ in range(3)]
        for job in newer:
            assert (await job)[0].data.c.get_counts() == {"1": 1}
        watcher = service._watcher
        assert watcher is not None
        await watcher.wait_for_tick()  # its newest page now holds the three newer jobs
        full_reads, ticks = watcher.reconcile_ticks, watcher.ticks
        server.resume("ibm_local5")
        with anyio.fail_after(30):
            result = await oldest
        assert result[0].data.c.get_counts() == {"1": 1}
        # Finished third from the top (below a page of two): found by a full read that the
        # count asked for, not by the periodic one (10,000 ticks away).
        assert watcher.reconcile_ticks > full_reads
        assert watcher.ticks - ticks < 10_000


async def test_steady_ticks_cost_one_request_whatever_the_number_pending() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        server.pause()
        jobs = [await AsyncSampler(backend).run([x_pattern(1, 1, 5)], shots=1) for _ in range(5)]
        watcher = service._watcher
        assert watcher is not None
        await watcher.wait_for_tick()
        full_reads = watcher.reconcile_ticks
        costs = []
        for _ in range(3):
            await watcher.wait_for_tick()
            costs.append(watcher.requests_per_tick[-1])
        # The default reconciles every 10th tick; these three (or all but one) read one page.
        assert sorted(costs)[:2] == [1, 1]
        assert watcher.reconcile_ticks - full_reads <= 1
        server.resume()
        for job in jobs:
            assert (await job)[0].data.c.get_counts() == {"1": 1}
