"""A result whose download keeps failing is fetched again later, never turned into an error."""

from __future__ import annotations

from aioqruntime import AsyncSampler
from aioqruntime.protocol import RetryPolicy
from aioqruntime.server import FaultRule
from tests.client._helpers import api_requests, expected_bitstring, local_service, x_pattern


async def test_failed_result_fetches_are_retried_until_delivered_once() -> None:
    # 60 % of results downloads fail; with 2 attempts per fetch many fetches fail outright.
    faults = (FaultRule(path="/jobs/*/results", method="GET", statuses=((503, 0.6),)),)
    retry = RetryPolicy(max_attempts=2, initial=0.001, max_delay=0.01, max_retry_after=0.001)
    async with local_service(faults=faults, fault_seed=4, service_options={"retry": retry}) as (
        server,
        service,
    ):
        backend = await service.backend("ibm_local5")
        sampler = AsyncSampler(backend)
        jobs = [await sampler.run([x_pattern(i, 5, 5)], shots=2) for i in range(12)]
        for index, job in enumerate(jobs):
            assert (await job)[0].data.c.get_counts() == {expected_bitstring(index, 5): 2}
        stats = service.statistics()
        assert stats["watcher.fetch_failures"] > 0
        # Delivered once: awaiting again returns the kept result without any request.
        before = len(api_requests(server, "GET", "/results"))
        for job in jobs:
            assert job.result_nowait() is await job
        assert len(api_requests(server, "GET", "/results")) == before
        # Every download attempt: one per fetch, plus the transport's retries of it.
        assert before == stats["watcher.result_requests"] + stats["retries.503"]
