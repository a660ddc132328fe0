"""SamplerEvaluator, pipelining, SPSA (one job per iteration) and the threaded objective."""

from __future__ import annotations

import anyio
import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from scipy.optimize import minimize

from aioqruntime import InvalidInputError, JobFailedError
from aioqruntime.variational import (
    EstimatorEvaluator,
    SamplerEvaluator,
    gather,
    spsa,
    threaded_objective,
)

from ._helpers import (
    HAMILTONIAN,
    PRECISION,
    TOLERANCE,
    ansatz,
    exact,
    isa,
    local_env,
    peak_unfinished_jobs,
    points,
    run_all,
    until,
)


def flips() -> QuantumCircuit:
    theta = ParameterVector("θ", 2)
    circuit = QuantumCircuit(2)
    circuit.ry(theta[0], 0)
    circuit.ry(theta[1], 1)
    circuit.measure_all()
    return circuit


async def test_sampler_callers_get_their_own_bits_from_one_job() -> None:
    async with local_env() as env:
        circuit = isa(env.backend, flips())
        cases = {"00": (0.0, 0.0), "01": (np.pi, 0.0), "10": (0.0, np.pi), "11": (np.pi, np.pi)}
        async with SamplerEvaluator(env.backend, circuit, shots=50) as ev:
            out = await run_all([lambda p=p: ev.counts(p) for p in cases.values()])
            bits = await ev.sample_many(np.array(list(cases.values())))
        assert ev.statistics().jobs_submitted == 2
    assert out == [{key: 50} for key in cases]
    assert [b.num_shots for b in bits] == [50] * 4
    assert [b.get_counts() for b in bits] == [{key: 50} for key in cases]


async def test_sampler_refuses_a_circuit_without_measurements() -> None:
    async with local_env() as env:
        with pytest.raises(InvalidInputError, match="classical"):
            SamplerEvaluator(env.backend, isa(env.backend, ansatz()))
        with pytest.raises(InvalidInputError, match="shots"):
            SamplerEvaluator(env.backend, isa(env.backend, flips()), shots=1.5)  # type: ignore[arg-type]


async def test_next_batch_is_submitted_while_a_job_runs() -> None:
    async with local_env() as env:
        circuit = isa(env.backend, ansatz())
        observable = HAMILTONIAN.apply_layout(circuit.layout)
        params = points(4, seed=8)

        def queued() -> int:
            return sum(1 for event, _, _ in env.server.events if event == "job_queued")

        env.server.pause()
        async with (
            EstimatorEvaluator(env.backend, circuit, observable, precision=PRECISION) as ev,
            anyio.create_task_group() as tg,
        ):
            for p in params[:2]:
                tg.start_soon(ev.evaluate, p)
            await until(lambda: queued() == 1)
            for p in params[2:]:
                tg.start_soon(ev.evaluate, p)
            await until(lambda: queued() == 2)  # submitted behind the first, still unfinished
            env.server.resume()
        assert peak_unfinished_jobs(env.server) == 2
        assert ev.statistics().jobs_submitted == 2


async def test_spsa_iteration_is_one_job() -> None:
    async with local_env() as env:
        circuit = isa(env.backend, ansatz())
        observable = HAMILTONIAN.apply_layout(circuit.layout)
        seen: list[tuple[int, float]] = []
        async with EstimatorEvaluator(env.backend, circuit, observable, precision=PRECISION) as ev:
            result = await spsa(
                ev.evaluate,
                np.zeros(4),
                maxiter=4,
                resamplings=2,
                seed=1,
                callback=lambda k, x, fx: seen.append((k, fx)),
            )
        stats = ev.statistics()
    # Four iterations of 2 x 2 perturbed points plus the current one, then the final point.
    assert (stats.jobs_submitted, stats.evaluations) == (5, 21)
    assert (result.nit, result.nfev) == (4, 21)
    assert [k for k, _ in seen] == [0, 1, 2, 3]
    assert seen[0][1] == pytest.approx(exact(ansatz(), np.zeros(4), HAMILTONIAN), abs=TOLERANCE)
    assert result.fun == pytest.approx(exact(ansatz(), result.x, HAMILTONIAN), abs=TOLERANCE)


async def test_spsa_minimises_without_a_server() -> None:
    target = np.array([0.5, -1.0, 2.0])
    calls = 0

    async def objective(x: np.ndarray) -> float:
        nonlocal calls
        calls += 1
        await anyio.lowlevel.checkpoint()
        return float(np.sum((x - target) ** 2))

    result = await spsa(objective, np.zeros(3), maxiter=300, learning_rate=0.5, seed=0)
    assert result.x == pytest.approx(target, abs=0.05)
    assert result.fun < 1e-2
    assert calls == result.nfev == 3 * 300 + 1
    assert len(result.history) == 300
    with pytest.raises(InvalidInputError):
        await spsa(objective, np.zeros(3), maxiter=-1)
    with pytest.raises(InvalidInputError):
        await spsa(objective, np.zeros((3, 1)))


async def test_gather_raises_the_first_error_unwrapped() -> None:
    error = JobFailedError("failed", job_id="j", status="Failed")

    async def ok() -> float:
        return 1.0

    async def bad() -> float:
        raise error

    assert await gather([ok, ok]) == [1.0, 1.0]
    with pytest.raises(JobFailedError) as caught:
        await gather([ok, bad, bad])
    assert caught.value is error


async def test_threaded_objective_drives_scipy_from_a_worker_thread() -> None:
    async with local_env() as env:
        circuit = isa(env.backend, ansatz())
        observable = HAMILTONIAN.apply_layout(circuit.layout)
        async with EstimatorEvaluator(env.backend, circuit, observable, precision=PRECISION) as ev:
            objective = threaded_objective(ev)
            result = await anyio.to_thread.run_sync(
                lambda: minimize(objective, np.zeros(4), method="COBYLA", options={"maxiter": 6})
            )
        stats = ev.statistics()
    assert stats.jobs_submitted == result.nfev  # a sequential optimizer: one point per job
    assert result.fun == pytest.approx(exact(ansatz(), result.x, HAMILTONIAN), abs=TOLERANCE)
