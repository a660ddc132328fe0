"""Every public entry point refuses bad input with a typed error BEFORE any request is sent.

"Before" is proven with the server's ``request_log``: the number of requests is the same after
the refusal as before it. Tests marked ``xfail(strict=True, reason="client: ...")`` document
gaps in ``aioqruntime/runtime`` (owned elsewhere): they pass once the client is fixed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp

from aioqruntime import (
    InvalidInputError,
    NotFoundError,
    QRuntimeError,
    SessionClosedError,
)
from aioqruntime.primitives import AsyncEstimator, AsyncSampler
from aioqruntime.runtime import AsyncBatch, AsyncRuntimeService, AsyncSession, ServiceBackend
from aioqruntime.server import LocalRuntimeServer
from tests.client._helpers import local_service, x_pattern

Setup = tuple[LocalRuntimeServer, AsyncRuntimeService, ServiceBackend]


@asynccontextmanager
async def setup() -> AsyncIterator[Setup]:
    """A fresh local server and a service on it (entered and left in the test's own task)."""
    async with local_service() as (server, service):
        yield server, service, await service.backend("ibm_local5")


async def refused(
    server: LocalRuntimeServer,
    action: Callable[[], Awaitable[Any] | Any],
    error: type[BaseException] = InvalidInputError,
    match: str | None = None,
) -> None:
    """``action()`` raises ``error`` and the server saw no request at all meanwhile."""
    before = len(server.request_log)
    with pytest.raises(error, match=match):
        result = action()
        if isinstance(result, Awaitable):
            await result
    assert len(server.request_log) == before, list(server.request_log)[before:]


def _parametrized(n: int) -> QuantumCircuit:
    circuit = QuantumCircuit(5, 1)
    for i in range(n):
        circuit.rz(Parameter(f"p{i}"), i)
    circuit.measure(0, 0)
    return circuit


def _plain() -> QuantumCircuit:
    circuit = QuantumCircuit(5)
    circuit.x(0)
    return circuit


@pytest.mark.parametrize(
    "max_time", [-1, 0, 1.5, float("nan"), "abc", "", "1h -5m", True, [1], 10**20, "99999h"]
)
async def test_session_and_batch_max_time(max_time: Any) -> None:
    async with setup() as (server, service, backend):
        for kind in (AsyncSession, AsyncBatch):
            await refused(server, lambda kind=kind: kind(backend, max_time))
            await refused(server, lambda kind=kind: kind("ibm_local5", max_time, service=service))


@pytest.mark.parametrize(
    ("pubs", "shots", "match"),
    [
        ([(_parametrized(2), np.zeros((3, 3)))], None, "pub 0"),  # wrong last dimension
        ([(_parametrized(2), np.zeros(5))], None, "pub 0"),
        ([(_parametrized(1), [float("nan")])], None, "finite"),
        ([(_parametrized(1), [float("inf")])], None, "finite"),
        ([(_parametrized(1), ["x"])], None, None),
        ([(_parametrized(1),)], None, "pub 0"),  # parameters without values
        ([(x_pattern(1, 1, 5), None, -5)], None, "shots"),
        ([(x_pattern(1, 1, 5), None, 0)], None, "shots"),
        ([(x_pattern(1, 1, 5), None, 2.5)], None, "shots"),
        ([x_pattern(1, 1, 5)], -1, "shots"),
        ([x_pattern(1, 1, 5)], 0, "shots"),
        ([x_pattern(1, 1, 5)], 10**12, "maximum"),
        ([x_pattern(1, 1, 5)], 1.5, "shots"),
        (["abc"], None, "pub 0"),
        ([5], None, "pub 0"),
        ([None], None, "pub 0"),
        (5, None, "list of pubs"),
        ([], None, "at least one"),
        (x_pattern(1, 1, 5), None, r"\[circuit\]"),
        ([QuantumCircuit(50)], None, "50 qubits"),
    ],
)
async def test_sampler_pubs(pubs: Any, shots: Any, match: str | None) -> None:
    async with setup() as (server, _, backend):
        await refused(server, lambda: AsyncSampler(backend).run(pubs, shots=shots), match=match)


async def test_non_isa_circuits() -> None:
    async with setup() as (server, _, backend):
        circuit = QuantumCircuit(2)
        circuit.h(0)
        circuit.cx(0, 1)
        circuit.measure_all()
        await refused(server, lambda: AsyncSampler(backend).run([circuit]), match="ISA")
        await refused(server, lambda: AsyncEstimator(backend).run([(circuit, "ZZ")]))


@pytest.mark.parametrize(
    ("pub", "precision", "match"),
    [
        ((_plain(), SparsePauliOp("ZZ")), None, "pub 0"),  # observable of the wrong width
        ((_plain(), "ZZZZZZZZZZ"), None, "pub 0"),
        ((_plain(), "QQQQQ"), None, "pub 0"),
        ((_plain(), {"ZIIII": "x"}), None, "pub 0"),
        ((_plain(), "ZIIII"), -0.1, "precision"),
        ((_plain(), "ZIIII"), 0, "precision"),
        ((_plain(), "ZIIII"), float("nan"), "precision"),
        ((_plain(), "ZIIII"), float("inf"), "precision"),
        ((_plain(), "ZIIII"), "x", "precision"),
        ((_plain(), "ZIIII", None, -1.0), None, "precision"),
        ((_plain(), "ZIIII", None, 0.0), None, "precision"),
        (
            (_parametrized(1).remove_final_measurements(inplace=False), "ZIIII", [np.nan]),
            None,
            None,
        ),
    ],
)
async def test_estimator_pubs(pub: Any, precision: Any, match: str | None) -> None:
    async with setup() as (server, _, backend):
        await refused(
            server, lambda: AsyncEstimator(backend).run([pub], precision=precision), match=match
        )


@pytest.mark.parametrize(
    "options",
    [
        {"nope": 1},
        {"default_shots": -1},
        {"default_shots": "x"},
        {"default_shots": 10**12},
        {"simulator": {"seed_simulator": -3}},
        {"twirling": {"enable_gate": True}},
        {"execution": {"meas_type": "raw"}},
        {"environment": {"job_tags": ["a"] * 9}},
        {"environment": {"job_tags": ["x" * 87]}},
        {"environment": {"job_tags": ["ok", "\ud800"]}},
        {"environment": {"job_tags": ["\x00"]}},
        {"environment": {"job_tags": "abc"}},
        {"environment": {"log_level": 5}},
        {"environment": {"private": "yes"}},
        {"max_execution_time": -5},
        "not a dict",
    ],
)
async def test_sampler_options_at_construction_and_after(options: Any) -> None:
    async with setup() as (server, _, backend):
        if options == {"default_shots": 10**12}:
            # Well-typed, refused against the backend's max_shots at run().
            sampler = AsyncSampler(backend, options=options)
        else:
            await refused(server, lambda: AsyncSampler(backend, options=options))
            sampler = AsyncSampler(backend)
            if not isinstance(options, dict):
                return
            sampler.options.update(options)
        await refused(server, lambda: sampler.run([x_pattern(1, 1, 5)]))


async def test_unicode_tags_within_the_limits_are_sent() -> None:
    async with setup() as (_server, _, backend):
        tags = ["é" * 86, "日本語", "emoji 🙂", "a b"]
        sampler = AsyncSampler(backend, options={"environment": {"job_tags": tags}})
        job = await sampler.run([x_pattern(1, 1, 5)], shots=1)
        await job
        assert set(tags) <= set(job.tags)


async def test_payload_over_50_mb_is_refused_before_sending() -> None:
    async with setup() as (server, _, backend):
        values = np.random.default_rng(1).random((7_000_000, 1))  # ~70 MB once encoded
        await refused(
            server,
            lambda: AsyncSampler(backend).run([(_parametrized(1), values)]),
            match="50 MB",
        )


async def test_closed_session_refuses_without_a_request() -> None:
    async with setup() as (server, _, backend):
        async with AsyncSession(backend) as session:
            pass
        await refused(
            server, lambda: AsyncSampler(session).run([x_pattern(1, 1, 5)]), SessionClosedError
        )
        await refused(server, lambda: session.run("sampler", {}), SessionClosedError)
        async with AsyncBatch(backend) as batch:
            await batch.close()
            await refused(
                server, lambda: AsyncSampler(batch).run([x_pattern(1, 1, 5)]), SessionClosedError
            )


async def test_mode_of_the_wrong_type() -> None:
    async with setup() as (server, service, _):
        for mode in ("ibm_local5", service, None, 5):
            await refused(server, lambda mode=mode: AsyncSampler(mode))
            await refused(server, lambda mode=mode: AsyncEstimator(mode))


# --- gaps in aioqruntime/runtime (not owned here): strict xfails ------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="client: AsyncRuntimeService.backend('unknown') raises an ExceptionGroup wrapping "
    "NotFoundError (the two GETs of _fetch_backend run in a task group) instead of NotFoundError",
)
async def test_unknown_backend_name_is_a_typed_error() -> None:
    async with setup() as (_, service, _):
        with pytest.raises(NotFoundError):
            await service.backend("no_such_backend")


@pytest.mark.xfail(
    strict=True,
    reason="client: entering AsyncSession('unknown', service=...) raises an ExceptionGroup "
    "(same _fetch_backend task group) instead of a typed QRuntimeError",
)
async def test_session_on_unknown_backend_is_a_typed_error() -> None:
    async with setup() as (server, service, _):
        with pytest.raises(QRuntimeError):
            async with AsyncSession("no_such_backend", service=service):
                pass
        assert not [r for r in server.request_log if r.method == "POST"]


@pytest.mark.xfail(
    strict=True,
    reason="client: AsyncSession.run(program, inputs=<not a mapping>) raises TypeError from "
    "dict(params) in ServiceCore.submit, not InvalidInputError",
)
async def test_session_run_inputs_not_a_mapping() -> None:
    async with setup() as (server, _, backend), AsyncBatch(backend) as batch:
        await refused(server, lambda: batch.run("sampler", 5))  # type: ignore[arg-type]


@pytest.mark.xfail(
    strict=True,
    reason="client: RuntimeOptions.from_mapping/validate: options={'log_level': 5} raises "
    "AttributeError ('int' has no .upper) instead of InvalidInputError",
)
async def test_session_run_log_level_of_the_wrong_type() -> None:
    async with setup() as (server, _, backend), AsyncBatch(backend) as batch:
        await refused(server, lambda: batch.run("sampler", {}, {"log_level": 5}))


@pytest.mark.xfail(
    strict=True,
    reason="client: RuntimeOptions.from_mapping turns private='yes' into True (bool()) "
    "instead of refusing a non-bool",
)
async def test_session_run_private_must_be_a_bool() -> None:
    async with setup() as (server, _, backend), AsyncBatch(backend) as batch:
        await refused(server, lambda: batch.run("sampler", {}, {"private": "yes"}))


@pytest.mark.xfail(
    strict=True,
    reason="client: RuntimeOptions.validate accepts tags with lone surrogates or control "
    "characters (the primitives refuse them via primitives._options.check_tags)",
)
async def test_session_run_tags_must_be_valid_text() -> None:
    async with setup() as (server, _, backend), AsyncBatch(backend) as batch:
        await refused(server, lambda: batch.run("sampler", {}, {"job_tags": ["\ud800"]}))


@pytest.mark.xfail(
    strict=True,
    reason="client: ServiceCore.submit has no size check: a job body over 50 MB is sent (the "
    "server answers 413) instead of InvalidInputError before sending",
)
async def test_session_run_body_over_50_mb() -> None:
    async with setup() as (server, _, backend), AsyncBatch(backend) as batch:
        await refused(server, lambda: batch.run("sampler", {"blob": "x" * 51_000_000}))


@pytest.mark.xfail(
    strict=True,
    reason="client: a job handle whose service is closed raises a bare RuntimeError('the "
    "transport is closed') from cancel()/refresh()/logs()/metrics(), not a QRuntimeError",
)
async def test_job_of_a_closed_service_gives_typed_errors() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        server.pause()
        job = await AsyncSampler(backend).run([x_pattern(1, 1, 5)], shots=1)
    with pytest.raises(QRuntimeError):
        await job.cancel()
