"""AsyncRuntimeService: account resolution, backends, the embedded server, lifecycle."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import aiohttp
import anyio
import pytest

from aioqruntime import AsyncRuntimeService, AsyncSampler, SessionClosedError
from aioqruntime.runtime._account import resolve_account
from aioqruntime.runtime._core import SubmissionLimiter
from aioqruntime.runtime._for_primitives import replace_submission_limiter
from aioqruntime.server import ServerConfig
from tests.client._helpers import api_requests, local_service, x_pattern


def test_account_from_arguments_then_environment() -> None:
    env = {
        "QISKIT_IBM_TOKEN": "env-key",
        "QISKIT_IBM_INSTANCE": "crn:v1:bluemix:public:quantum-computing:eu-de:a/x:y::",
        "QISKIT_IBM_URL": "https://cloud.ibm.com",
    }
    account = resolve_account(token=None, instance=None, url=None, iam_url=None, environ=env)
    assert account.url == "https://eu-de.quantum.cloud.ibm.com/api/v1"
    assert account.iam_url == "https://iam.cloud.ibm.com"
    assert account.token is not None and account.token.get() == "env-key"
    assert "env-key" not in repr(account)
    local = resolve_account(
        token="k", instance=None, url="http://127.0.0.1:9/api/v1", iam_url=None, environ={}
    )
    assert local.iam_url == "http://127.0.0.1:9"
    default = resolve_account(token=None, instance=None, url=None, iam_url=None, environ={})
    assert default.url == "https://quantum.cloud.ibm.com/api/v1"
    assert default.token is None


async def test_backends_least_busy_and_status() -> None:
    async with local_service() as (server, service):
        everything = await service.backends()
        assert {b.name for b in everything} == set(server.backend_names)
        big = await service.backends(min_num_qubits=100)
        assert [b.name for b in big] == ["ibm_local127"]
        simulators = await service.backends(simulator=True)
        assert [b.name for b in simulators] == ["ibm_local_simulator"]
        backend = await service.least_busy(min_num_qubits=20, simulator=False)
        assert backend.num_qubits >= 20 and not backend.is_simulator
        status = await backend.status()
        assert status.operational is True
        # Configuration and properties are fetched once per backend.
        await service.backend(backend.name)
        assert len(api_requests(server, "GET", f"/backends/{backend.name}/configuration")) == 1


async def test_local_classmethod_runs_the_embedded_server() -> None:
    async with AsyncRuntimeService.local(config=ServerConfig(workers=0)) as service:
        assert service.server is not None
        backend = await service.backend("ibm_local5")
        result = await (await AsyncSampler(backend).run([x_pattern(1, 1, 5)], shots=3))
        assert result[0].data.c.get_counts() == {"1": 3}
    with pytest.raises(RuntimeError, match="closed"):
        await service.backend("ibm_local5")


async def test_user_session_is_not_closed_and_pending_jobs_are_abandoned_at_close() -> None:
    async with aiohttp.ClientSession() as http:
        async with local_service(service_options={"session": http}) as (server, service):
            backend = await service.backend("ibm_local5")
            server.pause()
            job = await AsyncSampler(backend).run([x_pattern(1, 1, 5)])
        assert not http.closed
        # The service stopped watching: awaiting says so instead of hanging.
        with pytest.raises(SessionClosedError):
            await job
        assert not job.done()


async def test_client_side_rate_limit_queues_submissions() -> None:
    async with local_service() as (_server, service):
        backend = await service.backend("ibm_local5")
        # One per 50 ms window: of 4 concurrent submissions, 3 queue (none fails).
        limiter = SubmissionLimiter(1, window=0.05)
        replace_submission_limiter(service, limiter)
        sampler = AsyncSampler(backend)
        jobs = []
        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(lambda: _append(jobs, sampler.run([x_pattern(1, 1, 5)], shots=1)))
        assert len(jobs) == 4
        for job in jobs:
            await job
        assert limiter.waits == 3
        assert service.statistics()["limiter.waits"] == 3


async def _append(into: list[Any], awaitable: Awaitable[Any]) -> None:
    into.append(await awaitable)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765/api/v1"),
        ("http://127.0.0.1:8765/", "http://127.0.0.1:8765/api/v1"),
        ("http://127.0.0.1:8765/api/v1/", "http://127.0.0.1:8765/api/v1"),
        ("http://127.0.0.1:8765/experimental/api/v1", "http://127.0.0.1:8765/experimental/api/v1"),
        ("http://proxy.example/runtime", "http://proxy.example/runtime"),
        ("https://quantum.cloud.ibm.com", "https://quantum.cloud.ibm.com/api/v1"),
    ],
)
def test_account_url_without_a_path_means_its_api_v1(url: str, expected: str) -> None:
    account = resolve_account(token="k", instance=None, url=url, iam_url=None, environ={})
    assert account.url == expected


async def test_service_on_the_url_the_local_server_prints() -> None:
    async with local_service() as (server, _):
        assert server.api_url == f"{server.url}/api/v1"
        async with AsyncRuntimeService(
            token=server.token, instance=server.instance, url=server.url
        ) as service:
            assert service.url == server.api_url
            backend = await service.backend("ibm_local5")
            assert backend.num_qubits == 5
