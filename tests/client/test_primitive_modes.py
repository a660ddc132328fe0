"""The primitives as the official SamplerV2/EstimatorV2 are built and run, on the local server.

Modes (``mode=``, ``session=``, ``backend=``, none inside a session block), options objects and
dicts on the wire, and ``dry_run=True`` going to the mock counterpart of the backend.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from qiskit.quantum_info import SparsePauliOp

from aioqruntime import InvalidInputError
from aioqruntime.options import EstimatorOptions, SamplerOptions
from aioqruntime.primitives import AsyncEstimator, AsyncSampler
from aioqruntime.runtime import AsyncBatch, AsyncSession, ServiceBackend
from aioqruntime.runtime._context import mode_scope
from tests.client._helpers import api_requests, local_service, x_pattern


def _params(server: Any, job_id: str) -> dict[str, Any]:
    params: dict[str, Any] = json.loads(server.job(job_id).params_text)
    return params


async def test_options_object_assignment_and_update_reach_the_wire() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        sampler = AsyncSampler(mode=backend, options=SamplerOptions(default_shots=7))
        sampler.options.default_shots = 3
        sampler.options.update(twirling={"enable_gates": False}, environment={"job_tags": ["t"]})
        job = await sampler.run([x_pattern(1, 1, 5)])
        result = await job
        assert result[0].data.c.num_shots == 3
        assert _params(server, job.job_id())["options"] == {
            "default_shots": 3,
            "twirling": {"enable_gates": False},
        }
        assert "t" in job.tags
        # Unset options are not sent at all.
        plain = await AsyncSampler(backend).run([x_pattern(1, 1, 5)], shots=2)
        await plain
        assert _params(server, plain.job_id())["options"] == {}


async def test_dict_options_still_work_and_are_copied_into_an_object() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        given = {"resilience_level": 0, "default_precision": 0.05}
        estimator = AsyncEstimator(backend=backend, options=given)
        assert isinstance(estimator.options, EstimatorOptions)
        assert estimator.options.resilience_level == 0
        circuit = x_pattern(1, 1, 5).remove_final_measurements(inplace=False)
        job = await estimator.run([(circuit, SparsePauliOp("IIIIZ"))])
        await job
        params = _params(server, job.job_id())
        assert params["resilience_level"] == 0
        assert params["options"] == {"default_precision": 0.05}
        with pytest.raises(InvalidInputError, match="a dict or a EstimatorOptions"):
            AsyncEstimator(backend, options=SamplerOptions())


async def test_official_members_in_job_mode() -> None:
    async with local_service() as (_server, service):
        backend = await service.backend("ibm_local5")
        sampler = AsyncSampler(backend)
        assert sampler.mode is None  # job mode, as the official
        assert sampler.backend() is backend
        assert AsyncSampler.version == AsyncEstimator.version == 2


async def test_session_keyword_and_mode_none_inside_a_session_block() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        async with AsyncSession(backend=backend) as session:
            by_keyword = AsyncSampler(session=session)
            assert by_keyword.mode is session
            assert by_keyword.backend() is backend
            # What AsyncSession/AsyncBatch do while their block runs: mode=None means them.
            with mode_scope(session):
                ambient = AsyncSampler()
                from_backend = AsyncSampler(backend)
            assert ambient.mode is session
            assert from_backend.mode is session  # as the official: a backend in a session block
            job = await ambient.run([x_pattern(1, 1, 5)], shots=1)
            await job
            assert job.session_id == session.session_id is not None
        async with AsyncBatch(backend=backend) as batch, AsyncSession(backend=backend) as other:
            with mode_scope(batch):
                assert AsyncEstimator().mode is batch
            with pytest.raises(InvalidInputError, match="one execution mode"):
                AsyncSampler(mode=batch, session=other)
        assert len(api_requests(server, "POST", "/jobs")) == 1


async def test_a_missing_or_conflicting_mode_is_a_typed_error() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        with pytest.raises(InvalidInputError, match="needs an execution mode: pass mode=backend"):
            AsyncSampler()
        with pytest.raises(InvalidInputError, match="mode must be an AsyncSession"):
            AsyncEstimator(mode="ibm_local5")  # type: ignore[arg-type]
        other = await service.backend("ibm_local27")
        session = AsyncSession(backend=backend)
        with (
            mode_scope(session),
            pytest.raises(InvalidInputError, match="differs from the backend"),
        ):
            AsyncSampler(other)
        assert api_requests(server, "POST", "/jobs") == []


async def test_dry_run_asks_the_service_for_the_mock_device_and_runs_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        stand_in = await service.backend("ibm_local27")
        asked: list[str] = []
        real_lookup = service.backend

        async def lookup(name: str) -> ServiceBackend:
            asked.append(name)
            # Any device may stand in for the mock one: the lookup is what is tested here.
            return stand_in if name == "mock_local5" else await real_lookup(name)

        monkeypatch.setattr(service, "backend", lookup)
        async with AsyncSession(backend=backend) as session:
            sampler = AsyncSampler(mode=session)
            job = await sampler.run([x_pattern(1, 1, 5)], shots=1, dry_run=True)
            await job
        assert asked == ["mock_local5"]
        assert job.session_id is None  # a dry run is a job-mode job on the mock device
        assert server.job(job.job_id()).backend == "ibm_local27"


async def test_dry_run_without_a_mock_device_is_a_typed_error_and_sends_no_job(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        real_lookup = service.backend

        async def lookup(name: str) -> ServiceBackend:
            # A service without mock devices: the server's own 404 for the mock name.
            return await real_lookup(f"absent_{name}" if name.startswith("mock_") else name)

        monkeypatch.setattr(service, "backend", lookup)
        with pytest.raises(InvalidInputError, match="mock device 'mock_local5'"):
            await AsyncSampler(backend).run([x_pattern(1, 1, 5)], dry_run=True)
        circuit = x_pattern(1, 1, 5).remove_final_measurements(inplace=False)
        with pytest.raises(InvalidInputError, match="dry_run must be True or False"):
            await AsyncEstimator(backend).run(
                [(circuit, SparsePauliOp("IIIIZ"))],
                dry_run="yes",  # type: ignore[arg-type]
            )
        assert api_requests(server, "POST", "/jobs") == []


async def test_simulator_set_backend_sends_the_noise_model_as_the_official_encoder() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        sampler = AsyncSampler(backend)
        sampler.options.simulator.set_backend(backend)
        assert set(sampler.options.simulator.basis_gates) >= {"cz", "measure"}  # type: ignore[arg-type]
        job = await sampler.run([x_pattern(1, 1, 5)], shots=4)
        await job
        simulator = _params(server, job.job_id())["options"]["simulator"]
        assert simulator["noise_model"]["__type__"] == "NoiseModel"
        assert simulator["noise_model"]["__value__"]["errors"]
        assert [0, 1] in simulator["coupling_map"] or [1, 0] in simulator["coupling_map"]


async def test_dry_run_end_to_end_on_the_servers_mock_device() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        job = await AsyncSampler(backend).run([x_pattern(0b11, 2, 5)], shots=8, dry_run=True)
        result = await job
        assert server.job(job.job_id()).backend == "mock_local5"
        assert result[0].data.c.num_shots == 8
        assert result[0].data.c.num_bits == 2


async def test_pec_on_a_simulator_needs_a_coupling_map_as_the_official_says() -> None:
    async with local_service() as (server, service):
        simulator = await service.backend("ibm_local_simulator")
        circuit = x_pattern(1, 1, 5).remove_final_measurements(inplace=False)
        estimator = AsyncEstimator(simulator, options={"resilience": {"pec_mitigation": True}})
        with pytest.raises(InvalidInputError, match=r"set options\.simulator\.coupling_map"):
            await estimator.run([(circuit, SparsePauliOp("IIIIZ"))])
        assert api_requests(server, "POST", "/jobs") == []
        estimator.options.simulator.coupling_map = [[0, 1], [1, 0]]
        job = await estimator.run([(circuit, SparsePauliOp("IIIIZ"))])
        await job
        assert _params(server, job.job_id())["options"]["resilience"] == {"pec_mitigation": True}
