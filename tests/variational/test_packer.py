"""EstimatorPacker on the local server: K evaluators' PUBs share multi-PUB jobs."""

from __future__ import annotations

import anyio
import pytest
from qiskit.circuit.library import real_amplitudes
from qiskit.quantum_info import SparsePauliOp

from aioqruntime import AsyncSession, InvalidInputError, JobFailedError
from aioqruntime.variational import (
    EstimatorEvaluator,
    EstimatorPacker,
    EvaluatorClosedError,
    spsa,
)

from ._helpers import (
    HAMILTONIAN,
    OTHER,
    PRECISION,
    TOLERANCE,
    ansatz,
    exact,
    isa,
    job_posts,
    local_env,
    points,
)


async def test_k_evaluators_share_one_job_per_round_and_each_gets_its_own_values() -> None:
    async with local_env() as env:
        circuit = isa(env.backend, ansatz())
        observables = [HAMILTONIAN.apply_layout(circuit.layout), OTHER.apply_layout(circuit.layout)]
        starts = [points(3, seed=k) for k in range(4)]
        results: dict[int, list[float]] = {}
        async with (
            AsyncSession(env.backend) as session,
            EstimatorPacker(session, window=0.05) as packer,
        ):
            evaluators = [
                EstimatorEvaluator(packer, circuit, observables[k % 2], precision=PRECISION)
                for k in range(4)
            ]

            async def optimizer(k: int) -> None:
                async with evaluators[k] as ev:
                    values = await ev.evaluate_many(starts[k])
                results[k] = [v.value for v in values]

            async with anyio.create_task_group() as tg:
                for k in range(4):
                    tg.start_soon(optimizer, k)
        # Four evaluators of 3 points each: one job of four PUBs.
        assert job_posts(env.server) == 1
        assert packer.statistics().jobs_submitted == 1
        assert packer.statistics().mean_pubs_per_job == 4
    for k in range(4):
        operator = (HAMILTONIAN, OTHER)[k % 2]
        want = [exact(ansatz(), p, operator) for p in starts[k]]
        assert results[k] == pytest.approx(want, abs=TOLERANCE)


async def test_concurrent_spsa_runs_take_about_one_job_per_iteration() -> None:
    iterations, runs = 4, 3
    async with local_env() as env:
        circuit = isa(env.backend, ansatz())
        observable = HAMILTONIAN.apply_layout(circuit.layout)
        async with (
            AsyncSession(env.backend) as session,
            EstimatorPacker(session, window=0.05) as packer,
        ):

            async def optimizer(seed: int) -> None:
                async with EstimatorEvaluator(
                    packer, circuit, observable, precision=PRECISION
                ) as ev:
                    await spsa(ev.evaluate, points(1, seed=seed)[0], maxiter=iterations, seed=seed)

            async with anyio.create_task_group() as tg:
                for seed in range(runs):
                    tg.start_soon(optimizer, seed)
        # Without the packer: runs x (iterations + final point) jobs.
        assert job_posts(env.server) < runs * (iterations + 1)
        assert packer.statistics().jobs_submitted == job_posts(env.server)
        assert packer.statistics().mean_pubs_per_job > 1.5


async def test_a_failed_job_fails_only_its_pubs() -> None:
    async with local_env() as env:
        circuit = isa(env.backend, ansatz())
        observable = HAMILTONIAN.apply_layout(circuit.layout)
        env.server.fail_next_job(env.backend.name, reason="injected", reason_code=1517)
        async with (
            EstimatorPacker(env.backend, window=0.05) as packer,
            EstimatorEvaluator(packer, circuit, observable, precision=PRECISION) as a,
            EstimatorEvaluator(packer, circuit, observable, precision=PRECISION) as b,
        ):
            first = [None, None]

            async def call(index: int, ev: EstimatorEvaluator) -> None:
                try:
                    first[index] = await ev.evaluate(points(1)[0])  # type: ignore[call-overload]
                except JobFailedError as exc:
                    first[index] = exc  # type: ignore[call-overload]

            async with anyio.create_task_group() as tg:
                tg.start_soon(call, 0, a)
                tg.start_soon(call, 1, b)
            assert all(isinstance(x, JobFailedError) for x in first)
            # Both evaluators (and the packer) still work after the failed job.
            again = await a.evaluate(points(1)[0])
        assert again.value == pytest.approx(
            exact(ansatz(), points(1)[0], HAMILTONIAN), abs=TOLERANCE
        )


async def test_packer_must_be_open_and_checks_its_arguments() -> None:
    async with local_env() as env:
        packer = EstimatorPacker(env.backend)
        with pytest.raises(EvaluatorClosedError):
            packer.submit((real_amplitudes(2), SparsePauliOp("ZZ"), [0.0] * 8))
        for bad in ({"window": -1.0}, {"window": float("nan")}, {"max_pubs": 0}):
            with pytest.raises(InvalidInputError):
                EstimatorPacker(env.backend, **bad)  # type: ignore[arg-type]
