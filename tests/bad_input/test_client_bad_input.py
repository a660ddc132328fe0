"""Every public entry point refuses bad input with a typed error BEFORE any request is sent.

"Before" is proven with the server's ``request_log``: the number of requests is the same after
the refusal as before it. The last group covers the runtime layer itself (``session.run``,
``service.backend``, job handles of a closed service): typed errors, never an ``ExceptionGroup``,
a ``TypeError`` or a bare ``RuntimeError``.
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
    ServiceClosedError,
    SessionClosedError,
)
from aioqruntime.primitives import AsyncEstimator, AsyncSampler, SamplerOptions
from aioqruntime.runtime import (
    AsyncBatch,
    AsyncRuntimeJob,
    AsyncRuntimeService,
    AsyncSession,
    ServiceBackend,
)
from aioqruntime.server import LocalRuntimeServer, ServerConfig
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
            # Options are objects checked at assignment: update() refuses, all or nothing.
            await refused(server, lambda: sampler.options.update(options))
            assert sampler.options == SamplerOptions()
            return
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


# --- the runtime layer: typed errors, not ExceptionGroup/TypeError/RuntimeError ---------------


async def test_unknown_backend_name_is_a_typed_error() -> None:
    async with setup() as (_, service, _):
        with pytest.raises(NotFoundError):
            await service.backend("no_such_backend")
        with pytest.raises(NotFoundError):  # the cache did not keep a failure
            await service.backend("no_such_backend")


async def test_session_on_unknown_backend_is_a_typed_error() -> None:
    async with setup() as (server, service, _):
        for kind in (AsyncSession, AsyncBatch):
            with pytest.raises(NotFoundError):
                async with kind("no_such_backend", service=service):
                    pass
        assert not [r for r in server.request_log if r.path.endswith("/sessions")]


async def test_session_run_inputs_not_a_mapping() -> None:
    async with setup() as (server, _, backend), AsyncBatch(backend) as batch:
        await refused(server, lambda: batch.run("sampler", 5))  # type: ignore[arg-type]


async def test_session_run_log_level_of_the_wrong_type() -> None:
    async with setup() as (server, _, backend), AsyncBatch(backend) as batch:
        await refused(server, lambda: batch.run("sampler", {}, {"log_level": 5}))


async def test_session_run_private_must_be_a_bool() -> None:
    async with setup() as (server, _, backend), AsyncBatch(backend) as batch:
        await refused(server, lambda: batch.run("sampler", {}, {"private": "yes"}))


async def test_session_run_tags_must_be_valid_text() -> None:
    async with setup() as (server, _, backend), AsyncBatch(backend) as batch:
        await refused(server, lambda: batch.run("sampler", {}, {"job_tags": ["\ud800"]}))


async def test_session_run_body_over_50_mb() -> None:
    async with setup() as (server, _, backend), AsyncBatch(backend) as batch:
        await refused(
            server, lambda: batch.run("sampler", {"blob": "x" * 51_000_000}), match="50 MB"
        )


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("sampler", {}, 5), "options must be a dict"),
        (("sampler", {}, {"nope": 1}), "unknown runtime options"),
        (("sampler", {}, {"log_level": "LOUD"}), "log_level"),
        (("sampler", {}, {"job_tags": "abc"}), "job_tags"),
        (("sampler", {}, {"job_tags": ["a"] * 9}), "at most 8"),
        (("sampler", {}, {"job_tags": ["x" * 87]}), "86"),
        (("sampler", {}, {"job_tags": ["new\nline"]}), "control"),
        (("sampler", {}, {"job_tags": ["a"], "tags": ["b"]}), "not both"),
        (("sampler", {}, {"max_execution_time": 0}), "max_execution_time"),
        (("sampler", {}, {"max_execution_time": True}), "max_execution_time"),
        (("sampler", {}, {"private": 1}), "private"),
        (("sampler", {}, {"label": 5}), "label"),
        (("", {}), "program id"),
        ((None, {}), "program id"),
        (("sampler", {1: "x"}), "names must be strings"),
        (("sampler", ["pubs"]), "mapping"),
    ],
)
async def test_session_run_refuses_bad_arguments(args: tuple[Any, ...], match: str) -> None:
    async with setup() as (server, _, backend), AsyncBatch(backend) as batch:
        await refused(server, lambda: batch.run(*args), match=match)


async def test_session_run_sends_good_options() -> None:
    from qiskit.primitives.containers.sampler_pub import SamplerPub

    from aioqruntime.codec import encode_sampler_pubs

    pubs = encode_sampler_pubs([SamplerPub.coerce(x_pattern(1, 1, 5), 3)])
    async with setup() as (server, _, backend), AsyncBatch(backend) as batch:
        job = await batch.run(
            "sampler",
            {"pubs": pubs, "version": 2, "support_qiskit": True},
            {"log_level": "info", "job_tags": ["é", "x"], "private": False},
        )
        assert (await job)[0].data.c.get_counts() == {"1": 3}
        assert {"é", "x", job.client_tag} <= set(server.job(job.job_id()).tags)


async def test_job_of_a_closed_service_gives_typed_errors() -> None:
    async with LocalRuntimeServer(config=ServerConfig(workers=0)) as server:
        async with AsyncRuntimeService(
            token=server.token, instance=server.instance, url=server.api_url
        ) as service:
            backend = await service.backend("ibm_local5")
            server.pause()
            job = await AsyncSampler(backend).run([x_pattern(1, 1, 5)], shots=1)
        await closed_service_refuses(server, service, backend, job)


async def closed_service_refuses(
    server: LocalRuntimeServer,
    service: AsyncRuntimeService,
    backend: ServiceBackend,
    job: AsyncRuntimeJob,
) -> None:
    before = len(server.request_log)
    for call in (job.cancel, job.refresh, job.logs, job.metrics, lambda: job.update_tags(["a"])):
        with pytest.raises(ServiceClosedError, match="closed") as caught:
            await call()
        assert isinstance(caught.value, SessionClosedError)
        assert isinstance(caught.value, RuntimeError)  # what earlier versions raised
    with pytest.raises(ServiceClosedError):
        await service.backend("ibm_local5")
    with pytest.raises(ServiceClosedError):
        await backend.status()
    assert len(server.request_log) == before
