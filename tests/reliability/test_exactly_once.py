"""One ``run()`` gives exactly one job on the service, whatever ``POST /jobs`` meets.

The server's seeded fault injection drops connections and answers 500 before creating the job,
and its latency holds a request past the client's submit timeout (the server read the body first,
so it still creates the job once the latency is over: the client must find it by tag). The case
where the job is created and only the answer is lost also comes from :class:`LossyProxy` in front
of the server.
Exactly-once is checked on the server: the jobs it holds and the client tag each carries.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from aioqruntime import (
    AmbiguousSubmissionError,
    AsyncRuntimeService,
    AsyncSampler,
    InternalServerError,
)
from aioqruntime.protocol import Job, JobCreated, JobList, RetryPolicy
from aioqruntime.runtime._submission import (
    Lookup,
    Post,
    Sleep,
    Submitted,
    lookup_request,
    submission_flow,
)
from aioqruntime.server import FaultRule, LocalRuntimeServer, ServerConfig
from aioqruntime.transport import Timeouts, TransportConfig
from tests.client._helpers import (
    FAST_RETRY,
    api_requests,
    expected_bitstring,
    local_service,
    server_jobs_by_tag,
    x_pattern,
)
from tests.reliability._proxy import LossyProxy

BACKEND = "ibm_local5"


async def _run_all(service: Any, count: int) -> list[tuple[int, Any, Any]]:
    backend = await service.backend(BACKEND)
    sampler = AsyncSampler(backend)
    done: list[tuple[int, Any, Any]] = []

    async def one(index: int) -> None:
        job = await sampler.run([x_pattern(index % 32, 5, 5)], shots=2)
        done.append((index, job, await job))

    async with anyio.create_task_group() as tg:
        for index in range(count):
            tg.start_soon(one, index)
    return done


async def test_seeded_500_and_drops_on_post_give_exactly_one_job_per_run() -> None:
    faults = (FaultRule(path="/jobs", method="POST", statuses=((500, 0.3),), drop=0.2),)
    retry = RetryPolicy(max_attempts=8, initial=0.001, max_delay=0.01, max_retry_after=0.01)
    async with local_service(faults=faults, fault_seed=11, service_options={"retry": retry}) as (
        server,
        service,
    ):
        done = await _run_all(service, 30)
        for index, _job, result in done:
            assert result[0].data.c.get_counts() == {expected_bitstring(index % 32, 5): 2}
        job_ids = [job.job_id() for _, job, _ in done]
        by_tag = server_jobs_by_tag(server, job_ids)
        assert sorted(by_tag) == sorted(job.client_tag for _, job, _ in done)
        assert set(by_tag.values()) == {1}
        faults_seen = server.fault_counts
        assert faults_seen.get("500", 0) > 0 and faults_seen.get("drop", 0) > 0
        stats = service.statistics()
        assert stats["submitted"] == 30
        assert stats["resubmitted"] == faults_seen["500"] + faults_seen["drop"]
        assert stats["reconciled"] == 0  # these faults strike before the job is created


@pytest.mark.parametrize("hold", [None, 1.5], ids=["dropped-answer", "held-past-timeout"])
async def test_lost_answers_are_found_by_tag_not_resubmitted(hold: float | None) -> None:
    # The job is created, its answer lost (dropped, or held past the 1 s submit timeout): the
    # lookup after the grace finds the job by its tag and nothing is sent again. (The grace must
    # cover how long a request the client gave up on may still be processed: the proxy goes on
    # forwarding it, so on a loaded machine that is not instantaneous.)
    config = TransportConfig(timeouts=Timeouts(submit=1.0, submit_grace=1.0))
    async with (
        LocalRuntimeServer(config=ServerConfig(workers=0)) as server,
        LossyProxy(server.url, lose=0.5, hold=hold, seed=3) as proxy,
        AsyncRuntimeService(
            token=server.token,
            instance=server.instance,
            url=proxy.url + "/api/v1",
            retry=FAST_RETRY,
            transport_config=config,
            submissions_per_minute=None,
        ) as service,
    ):
        done = await _run_all(service, 16)
        for index, _job, result in done:
            assert result[0].data.c.get_counts() == {expected_bitstring(index % 32, 5): 2}
        by_tag = server_jobs_by_tag(server, [job.job_id() for _, job, _ in done])
        assert len(by_tag) == 16 and set(by_tag.values()) == {1}
        lost = proxy.counts["answer_lost"]
        assert lost > 0
        assert len(api_requests(server, "POST", "/jobs")) == 16
        stats = service.statistics()
        # A slow answer on a loaded machine may time out too: also reconciled, never resent.
        assert stats["reconciled"] >= lost
        assert stats["resubmitted"] == 0
        assert stats["ambiguous_submissions"] == stats["reconciled"]


async def test_server_latency_past_the_client_timeout_never_duplicates() -> None:
    # The server holds the request (body read) past the client's submit timeout, then creates
    # the job: the client's lookup after the grace finds it by tag instead of posting again.
    faults = (FaultRule(path="/jobs", method="POST", latency=0.3),)
    config = TransportConfig(timeouts=Timeouts(submit=0.1, submit_grace=2.0))
    async with local_service(faults=faults, service_options={"transport_config": config}) as (
        server,
        service,
    ):
        backend = await service.backend(BACKEND)
        job = await AsyncSampler(backend).run([x_pattern(1, 1, 5)], shots=2)
        assert (await job)[0].data.c.get_counts() == {"1": 2}
        assert len(api_requests(server, "POST", "/jobs")) == 1
        assert server_jobs_by_tag(server, [job.job_id()]) == {job.client_tag: 1}
        stats = service.statistics()
        assert (stats["reconciled"], stats["lookups"], stats["resubmitted"]) == (1, 1, 0)
        assert stats["ambiguous_submissions"] == 1


async def test_reconciliation_that_keeps_failing_raises_ambiguous_with_the_tag() -> None:
    faults = (
        FaultRule(path="/jobs", method="POST", statuses=((500, 1.0),)),
        FaultRule(path="/jobs", method="GET", statuses=((503, 1.0),)),
    )
    async with local_service(faults=faults) as (server, service):
        backend = await service.backend(BACKEND)
        with pytest.raises(AmbiguousSubmissionError) as caught:
            await AsyncSampler(backend).run([x_pattern(1, 1, 5)])
        tag = caught.value.job_tag or ""
        assert tag.startswith("aioqruntime:")
        assert tag in str(caught.value)
        assert isinstance(caught.value.__cause__, InternalServerError)  # the last lookup's
        assert len(api_requests(server, "POST", "/jobs")) == 1  # never resubmitted blindly
        assert service.statistics()["ambiguous"] == 1


def _created(job_id: str) -> JobCreated:
    return JobCreated.from_json({"id": job_id, "backend": "b"})


def test_flow_adopts_the_job_found_by_tag_after_an_ambiguous_failure() -> None:
    tag = "aioqruntime:abc"
    ambiguous = AmbiguousSubmissionError("timed out", job_tag=tag)
    flow = submission_flow(tag, FAST_RETRY, request=lookup_request(tag), grace=2.0)
    assert isinstance(next(flow), Post)
    step = flow.send(ambiguous)
    assert step == Sleep(2.0)  # no cause with a final status: wait out the grace first
    step = flow.send(None)
    assert isinstance(step, Lookup)
    assert ("tags", tag) in step.request.query
    found = JobList(jobs=(Job(id="j1", status="Queued", backend="b", tags=(tag,)),), count=1)
    with pytest.raises(StopIteration) as stop:
        flow.send(found)
    assert stop.value.value == Submitted("j1", "b", None, reconciled=True)


def test_flow_submits_again_only_after_a_lookup_found_nothing() -> None:
    tag = "aioqruntime:abc"
    failure = AmbiguousSubmissionError("500", job_tag=tag)
    failure.__cause__ = InternalServerError("500", status=500)
    flow = submission_flow(tag, FAST_RETRY, request=lookup_request(tag), grace=2.0)
    steps: list[object] = [next(flow)]
    steps.append(flow.send(failure))  # a complete 500: look up at once, no grace
    steps.append(flow.send(JobList(jobs=(), count=0)))  # not there: back off
    steps.append(flow.send(None))
    assert [type(s) for s in steps] == [Post, Lookup, Sleep, Post]
    with pytest.raises(StopIteration) as stop:
        flow.send(_created("j2"))
    assert stop.value.value == Submitted("j2", "b", None, reconciled=False)
