"""Flow 11: the official client sends our server the same requests, in the same order, as it sent
the recording stub (``tests/data/traces/<flow>.jsonl``, whose request sequences are stored with the
tests in ``recorded_sequences.json``).

Each flow is re-enacted call by call as it was recorded (service start-up with the Global Search
and Catalog stand-ins included), and the requests the server logged are compared with the trace
as ``(method, path template, query)``, ids and backend names replaced and consecutive repeats
(polling) folded: only the number of polls may differ, since our jobs take their own time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import Batch, EstimatorV2, SamplerV2, Session
from qiskit_ibm_runtime.exceptions import (
    RuntimeInvalidStateError,
    RuntimeJobFailureError,
    RuntimeJobNotFound,
)

from aioqruntime.server import ServerConfig

from ._circuits import bell, ry_pair
from ._harness import (
    BACKEND,
    RECORDED_FLOWS,
    TRACES,
    ServerThread,
    our_sequence,
    point_client_at,
    recorded_sequence,
    template,
    trace_sequence,
)
from .conftest import ServiceFactory

#: The recordings' second device (``ibm_stub5e``) stands for this one.
OTHER_BACKEND = "ibm_local27"


@pytest.fixture(scope="module")
def server_config() -> ServerConfig:
    # Its own server: the c5 listing must see only this module's few jobs (one page of 20).
    return ServerConfig(device_names=(BACKEND, OTHER_BACKEND))


@dataclass(frozen=True)
class Flow:
    """What a re-enacted flow may use: the server, and ways to start the official client."""

    local: ServerThread
    make_service: ServiceFactory
    monkeypatch: pytest.MonkeyPatch

    def service(self, *, lookup: bool = True) -> Any:
        return self.make_service(lookup=lookup)

    def env_only_service(self) -> Any:
        """Variant B: ``QiskitRuntimeService()`` configured by the environment alone."""
        from qiskit_ibm_runtime import QiskitRuntimeService

        point_client_at(self.monkeypatch, self.local, lookup=True)
        self.monkeypatch.setenv("QISKIT_IBM_TOKEN", self.local.token)
        self.monkeypatch.setenv("QISKIT_IBM_INSTANCE", self.local.instance)
        self.monkeypatch.setenv("QISKIT_IBM_URL", self.local.url + "/experimental/api/v1")
        return QiskitRuntimeService()


def _isa(backend: Any) -> Any:
    return generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell())


def _flow_a(flow: Flow, *, lookup: bool = True) -> None:
    service = flow.service(lookup=lookup)
    assert len(service.backends()) == 2
    backend = service.backend(BACKEND)
    assert backend.num_qubits == 5
    assert backend.target.num_qubits == 5
    assert service.least_busy().name in {BACKEND, OTHER_BACKEND}
    assert backend.status().operational


def _flow_a_skip_lookup(flow: Flow) -> None:
    _flow_a(flow, lookup=False)


def _flow_a_env_only(flow: Flow) -> None:
    service = flow.env_only_service()
    assert len(service.backends()) == 2
    service.least_busy()


def _flow_b(flow: Flow) -> None:
    service = flow.service()
    backend = service.backend(BACKEND)
    isa = _isa(backend)
    with Session(backend=backend) as session:
        job = SamplerV2(mode=session).run([isa], shots=1000)
        job.job_id()
        job.status()
        job.result()[0].data.meas.get_counts()
        job.status()
        session.details()
        session.status()
    assert session.status() == "Closed"


def _flow_c1(flow: Flow) -> None:
    service, local = flow.service(), flow.local
    backend = service.backend(BACKEND)
    isa = _isa(backend)
    session = Session(backend=backend, max_time=600)
    local.pause(BACKEND)
    try:
        sampler = SamplerV2(mode=session)
        sampler.options.environment.job_tags = ["hold"]
        job = sampler.run([isa], shots=100)
        assert job.status() == "QUEUED"
        session.cancel()
        assert job.status() == "CANCELLED"
        with pytest.raises(RuntimeInvalidStateError):
            job.result()
        assert session.status() == "Closed"
    finally:
        local.resume(BACKEND)


def _flow_c2(flow: Flow) -> None:
    service = flow.service()
    backend = service.backend(BACKEND)
    isa = _isa(backend)
    with Batch(backend=backend) as batch:
        sampler = SamplerV2(mode=batch)
        jobs = [sampler.run([isa], shots=100) for _ in range(3)]
        for job in jobs:
            assert sum(job.result()[0].data.meas.get_counts().values()) == 100
        batch.details()


def _flow_c3(flow: Flow) -> None:
    service = flow.service()
    backend = service.backend(BACKEND)
    circuit, _ = ry_pair()
    isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)
    observable = SparsePauliOp.from_list([("ZZ", 1.0), ("XI", 0.5)]).apply_layout(isa.layout)
    values = np.array([[0.1], [0.2], [0.3]])
    job = EstimatorV2(mode=backend).run([(isa, observable, values, 0.01)])
    assert job.result()[0].data.evs.shape == (3,)


def _flow_c4(flow: Flow) -> None:
    service, local = flow.service(), flow.local
    backend = service.backend(BACKEND)
    isa = _isa(backend)
    local.pause(BACKEND)
    try:
        sampler = SamplerV2(mode=backend)
        sampler.options.environment.job_tags = ["hold"]
        job = sampler.run([isa], shots=100)
        assert job.status() == "QUEUED"
        job.cancel()
        assert job.status() == "CANCELLED"
        with pytest.raises(RuntimeInvalidStateError):
            job.result()
    finally:
        local.resume(BACKEND)


def _flow_c5(flow: Flow) -> None:
    service, local = flow.service(), flow.local
    backend = service.backend(BACKEND)
    isa = _isa(backend)
    sampler = SamplerV2(mode=backend)
    jobs = [sampler.run([isa], shots=50) for _ in range(3)]
    retrieved = service.job(jobs[0].job_id())
    retrieved.status()
    retrieved.result()
    assert len(service.jobs(limit=2)) == 2
    service.jobs(limit=10, pending=False)
    assert len(service.jobs(limit=None)) < 20  # one page, as in the recording
    with pytest.raises(RuntimeJobNotFound):
        service.job("dnotexist00000000000")
    for job in jobs:  # on the server side: no request the recording did not make
        local.wait_for_job(job.job_id())


def _flow_c6(flow: Flow) -> None:
    service = flow.service()
    backend = service.backend(BACKEND)
    job = SamplerV2(mode=backend).run([_isa(backend)])
    job.result()
    job.metrics()


def _flow_c7(flow: Flow) -> None:
    service, local = flow.service(), flow.local
    backend = service.backend(BACKEND)
    isa = _isa(backend)
    local.fail_next_job(BACKEND, "Injected failure", 1517)
    job = SamplerV2(mode=backend).run([isa], shots=100)
    with pytest.raises(RuntimeJobFailureError, match="1517"):
        job.result()
    assert "Injected failure" in (job.error_message() or "")


FLOWS: dict[str, Callable[[Flow], None]] = {
    "a_service": _flow_a,
    "a_skip_lookup": _flow_a_skip_lookup,
    "a_env_only": _flow_a_env_only,
    "b_session_sampler": _flow_b,
    "c1_session_cancel": _flow_c1,
    "c2_batch": _flow_c2,
    "c4_job_cancel": _flow_c4,
    "c3_estimator": _flow_c3,
    "c5_job_lookup": _flow_c5,
    "c6_sampler_job_mode": _flow_c6,
    "c7_job_failed": _flow_c7,
}


@pytest.mark.parametrize("flow", list(FLOWS))
def test_request_sequence_matches_the_recording(
    flow: str, local: ServerThread, make_service: ServiceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = local.request_count()
    FLOWS[flow](Flow(local, make_service, monkeypatch))
    assert our_sequence(local.requests_since(start)) == trace_sequence(flow)


def test_every_stored_flow_is_exercised() -> None:
    assert set(FLOWS) | {"e_retry_502"} == set(RECORDED_FLOWS)


@pytest.mark.parametrize("flow", RECORDED_FLOWS)
def test_stored_sequences_are_the_recordings(flow: str) -> None:
    """``recorded_sequences.json`` is exactly what the vendored ``.jsonl`` recordings say."""
    assert trace_sequence(flow) == recorded_sequence(TRACES / f"{flow}.jsonl")


def test_template() -> None:
    assert template("/api/v1/jobs/dabc/results") == "/api/v1/jobs/{job}/results"
    assert template("/experimental/api/v1/sessions/s-1/close") == "/api/v1/sessions/{session}/close"
    assert template("/api/v1/backends/ibm_stub5/status") == "/api/v1/backends/{backend}/status"
    assert template("/api/v1/jobs") == "/api/v1/jobs"
    assert template("/catalog/api/v1/stub-plan-id") == "/catalog/api/v1/{plan}"
    assert template("/identity/token") == "/identity/token"
