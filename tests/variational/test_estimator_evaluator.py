"""EstimatorEvaluator on the local server: coalescing, splitting, bounds, errors, cancellation."""

from __future__ import annotations

import asyncio
import math

import anyio
import numpy as np
import pytest

from aioqruntime import AsyncSession, InvalidInputError, JobFailedError
from aioqruntime.variational import EstimatorEvaluator, EvaluatorClosedError, Expectation

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
    peak_unfinished_jobs,
    points,
    run_all,
    until,
)


def evaluator_tasks() -> list[asyncio.Task[object]]:
    """Tasks started by an evaluator (anyio names them after their function)."""
    return [t for t in asyncio.all_tasks() if "aioqruntime.variational" in t.get_name()]


async def test_concurrent_calls_share_one_job_and_each_gets_its_own_value() -> None:
    async with local_env() as env:
        circuit = isa(env.backend, ansatz())
        observable = HAMILTONIAN.apply_layout(circuit.layout)
        params = points(12)
        async with (
            AsyncSession(env.backend) as session,
            EstimatorEvaluator(session, circuit, observable, precision=PRECISION) as ev,
        ):
            values = await run_all([lambda p=p: ev.evaluate(p) for p in params])
        stats = ev.statistics()
        assert (stats.jobs_submitted, stats.evaluations, stats.mean_batch_size) == (1, 12, 12.0)
        assert job_posts(env.server) == 1
    expected = [exact(ansatz(), p, HAMILTONIAN) for p in params]
    assert all(isinstance(v, Expectation) for v in values)
    assert [v.value for v in values] == pytest.approx(expected, abs=TOLERANCE)
    assert len({round(v.value, 6) for v in values}) == 12  # distinct params, distinct values
    assert all(0 <= v.std_error < 1e-3 for v in values)
    assert float(values[0]) == values[0].value


async def test_several_observables_give_one_row_per_caller() -> None:
    async with local_env() as env:
        circuit = isa(env.backend, ansatz())
        observables = [op.apply_layout(circuit.layout) for op in (HAMILTONIAN, OTHER)]
        params = points(5, seed=1)
        async with EstimatorEvaluator(env.backend, circuit, observables, precision=PRECISION) as ev:
            values = await ev.evaluate_many(params)
        assert ev.statistics().jobs_submitted == 1
    for value, p in zip(values, params, strict=True):
        assert isinstance(value.value, np.ndarray)
        assert value.value.shape == (2,)
        assert value.std_error.shape == (2,)  # type: ignore[union-attr]
        want = [exact(ansatz(), p, HAMILTONIAN), exact(ansatz(), p, OTHER)]
        assert value.value == pytest.approx(want, abs=TOLERANCE)
        with pytest.raises(TypeError):
            float(value)


async def test_max_batch_splits_into_several_jobs() -> None:
    async with local_env() as env:
        circuit = isa(env.backend, ansatz())
        observable = HAMILTONIAN.apply_layout(circuit.layout)
        params = points(10, seed=2)
        async with EstimatorEvaluator(
            env.backend, circuit, observable, precision=PRECISION, max_batch=4
        ) as ev:
            values = await run_all([lambda p=p: ev.evaluate(p) for p in params])
        stats = ev.statistics()
        assert (stats.jobs_submitted, stats.evaluations) == (3, 10)
        assert stats.mean_batch_size == pytest.approx(10 / 3)
        assert job_posts(env.server) == 3
    expected = [exact(ansatz(), p, HAMILTONIAN) for p in params]
    assert [v.value for v in values] == pytest.approx(expected, abs=TOLERANCE)


async def test_jobs_in_flight_are_bounded() -> None:
    async with local_env() as env:
        circuit = isa(env.backend, ansatz())
        observable = HAMILTONIAN.apply_layout(circuit.layout)
        params = points(6, seed=3)
        async with EstimatorEvaluator(
            env.backend,
            circuit,
            observable,
            precision=PRECISION,
            max_batch=1,
            max_jobs_in_flight=2,
        ) as ev:
            values = await run_all([lambda p=p: ev.evaluate(p) for p in params])
        stats = ev.statistics()
        assert stats.jobs_submitted == 6
        assert stats.peak_jobs_in_flight == 2
        assert peak_unfinished_jobs(env.server) <= 2
    expected = [exact(ansatz(), p, HAMILTONIAN) for p in params]
    assert [v.value for v in values] == pytest.approx(expected, abs=TOLERANCE)


async def test_bad_params_fail_only_that_caller_before_sending() -> None:
    async with local_env() as env:
        circuit = isa(env.backend, ansatz())
        observable = HAMILTONIAN.apply_layout(circuit.layout)
        good = points(2, seed=4)
        async with EstimatorEvaluator(env.backend, circuit, observable, precision=PRECISION) as ev:
            out = await run_all(
                [
                    lambda: ev.evaluate(good[0]),
                    lambda: ev.evaluate([0.1, 0.2, 0.3]),  # P = 4
                    lambda: ev.evaluate(np.zeros((1, 4))),
                    lambda: ev.evaluate([0.1, math.nan, 0.0, 0.0]),
                    lambda: ev.evaluate(["a", "b", "c", "d"]),
                    lambda: ev.evaluate(good[1]),
                ]
            )
            # A bad row in evaluate_many fails that call as a whole, sending nothing.
            with pytest.raises(InvalidInputError):
                await ev.evaluate_many([good[0], [1.0]])
        stats = ev.statistics()
        assert (stats.jobs_submitted, stats.evaluations) == (1, 2)
        assert job_posts(env.server) == 1
    for bad in out[1:5]:
        assert isinstance(bad, InvalidInputError)
    assert out[0].value == pytest.approx(exact(ansatz(), good[0], HAMILTONIAN), abs=TOLERANCE)
    assert out[5].value == pytest.approx(exact(ansatz(), good[1], HAMILTONIAN), abs=TOLERANCE)


async def test_failed_job_fails_only_its_batch() -> None:
    async with local_env() as env:
        circuit = isa(env.backend, ansatz())
        observable = HAMILTONIAN.apply_layout(circuit.layout)
        params = points(4, seed=5)
        env.server.fail_next_job(env.backend.name, reason="injected", reason_code=1517)
        async with EstimatorEvaluator(
            env.backend,
            circuit,
            observable,
            precision=PRECISION,
            max_batch=2,
            max_jobs_in_flight=1,
        ) as ev:
            out = await run_all([lambda p=p: ev.evaluate(p) for p in params])
            # The evaluator is still usable after a failed job.
            again = await ev.evaluate(params[0])
        stats = ev.statistics()
        assert (stats.jobs_submitted, stats.jobs_failed) == (3, 1)
    assert isinstance(out[0], JobFailedError)
    assert isinstance(out[1], JobFailedError)
    assert out[0] is out[1]  # the job's one typed error, for exactly its callers
    assert out[0].reason_code == 1517
    for index in (2, 3):
        assert out[index].value == pytest.approx(
            exact(ansatz(), params[index], HAMILTONIAN), abs=TOLERANCE
        )
    assert again.value == pytest.approx(exact(ansatz(), params[0], HAMILTONIAN), abs=TOLERANCE)


async def test_cancelling_a_caller_after_sending_leaves_the_others_intact() -> None:
    async with local_env() as env:
        circuit = isa(env.backend, ansatz())
        observable = HAMILTONIAN.apply_layout(circuit.layout)
        params = points(3, seed=6)
        results: dict[int, float] = {}
        scopes = [anyio.CancelScope() for _ in params]

        async def caller(index: int) -> None:
            with scopes[index]:
                results[index] = (await ev.evaluate(params[index])).value  # type: ignore[assignment]

        env.server.pause()
        async with (
            EstimatorEvaluator(env.backend, circuit, observable, precision=PRECISION) as ev,
            anyio.create_task_group() as tg,
        ):
            for index in range(len(params)):
                tg.start_soon(caller, index)
            await env.server.wait_for_event("job_queued")
            scopes[1].cancel()
            env.server.resume()
        assert sorted(results) == [0, 2]
        assert scopes[1].cancelled_caught
        stats = ev.statistics()
        assert (stats.jobs_submitted, stats.evaluations, stats.dropped) == (1, 3, 0)
    for index in (0, 2):
        want = exact(ansatz(), params[index], HAMILTONIAN)
        assert results[index] == pytest.approx(want, abs=TOLERANCE)


async def test_cancelling_a_caller_before_sending_drops_its_slot() -> None:
    async with local_env() as env:
        circuit = isa(env.backend, ansatz())
        observable = HAMILTONIAN.apply_layout(circuit.layout)
        params = points(4, seed=7)
        # A long window: the batch goes only when full, so the test decides what is in it.
        async with EstimatorEvaluator(
            env.backend, circuit, observable, precision=PRECISION, max_batch=3, window=600.0
        ) as ev:
            async with anyio.create_task_group() as tg:
                tg.start_soon(ev.evaluate, params[0])
                await until(lambda: ev.statistics().queued == 1)
                tg.cancel_scope.cancel()
            assert (ev.statistics().queued, ev.statistics().dropped) == (0, 1)
            values = await ev.evaluate_many(params[1:])
        stats = ev.statistics()
        assert (stats.jobs_submitted, stats.evaluations) == (1, 3)
    expected = [exact(ansatz(), p, HAMILTONIAN) for p in params[1:]]
    assert [v.value for v in values] == pytest.approx(expected, abs=TOLERANCE)


async def test_exit_leaves_no_task_and_refuses_later_calls() -> None:
    async with local_env() as env:
        circuit = isa(env.backend, ansatz())
        observable = HAMILTONIAN.apply_layout(circuit.layout)
        ev = EstimatorEvaluator(env.backend, circuit, observable, precision=PRECISION)
        with pytest.raises(EvaluatorClosedError, match="not open"):
            await ev.evaluate(points(1)[0])
        async with ev:
            assert evaluator_tasks() != []  # the collector
            await ev.evaluate(points(1)[0])
        assert evaluator_tasks() == []
        with pytest.raises(EvaluatorClosedError, match="closed"):
            await ev.evaluate(points(1)[0])
        with pytest.raises(RuntimeError, match="once"):
            async with ev:
                pass


async def test_exit_by_exception_fails_outside_waiters_and_propagates_unwrapped() -> None:
    async with local_env() as env:
        circuit = isa(env.backend, ansatz())
        observable = HAMILTONIAN.apply_layout(circuit.layout)
        ev = EstimatorEvaluator(env.backend, circuit, observable, precision=PRECISION)
        seen: list[BaseException] = []

        async def outside_caller() -> None:
            try:
                await ev.evaluate(points(1)[0])
            except EvaluatorClosedError as exc:
                seen.append(exc)

        env.server.pause()
        async with anyio.create_task_group() as tg:
            with pytest.raises(LookupError, match="boom"):
                async with ev:
                    tg.start_soon(outside_caller)
                    await env.server.wait_for_event("job_queued")
                    raise LookupError("boom")
        env.server.resume()
        assert len(seen) == 1
        assert evaluator_tasks() == []


async def test_normal_exit_flushes_what_is_queued() -> None:
    async with local_env() as env:
        circuit = isa(env.backend, ansatz())
        observable = HAMILTONIAN.apply_layout(circuit.layout)
        got: list[float] = []
        ev = EstimatorEvaluator(
            env.backend, circuit, observable, precision=PRECISION, window=600.0, max_batch=10
        )

        async def outside_caller() -> None:
            got.append(float(await ev.evaluate(points(1)[0])))

        async with anyio.create_task_group() as tg, ev:
            tg.start_soon(outside_caller)
            await until(lambda: ev.statistics().queued == 1)
            # Leaving did not wait out the 600 s window: the queued point was sent and answered.
        assert got == pytest.approx([exact(ansatz(), points(1)[0], HAMILTONIAN)], abs=TOLERANCE)


async def test_invalid_construction_is_refused_early() -> None:
    async with local_env() as env:
        circuit = isa(env.backend, ansatz())
        observable = HAMILTONIAN.apply_layout(circuit.layout)
        for kwargs in (
            {"max_batch": 0},
            {"max_batch": True},
            {"window": -1.0},
            {"window": math.inf},
            {"max_jobs_in_flight": 0},
            {"precision": 0.0},
            {"precision": math.nan},
        ):
            with pytest.raises(InvalidInputError):
                EstimatorEvaluator(env.backend, circuit, observable, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="observables"):
            EstimatorEvaluator(env.backend, circuit, "ZZZZZZZZ")  # wrong number of qubits
        with pytest.raises(InvalidInputError, match="no parameters"):
            EstimatorEvaluator(env.backend, circuit.assign_parameters([0.0] * 4), observable)
        with pytest.raises(InvalidInputError):
            EstimatorEvaluator("not a mode", circuit, observable)
