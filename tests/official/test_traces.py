"""Flow 11: the official client sends our server the same requests, in the same order, as it sent
the recording stub (``shared/traces/<flow>.jsonl``).

Each flow is re-enacted call by call as it was recorded (service start-up with the Global Search
and Catalog stand-ins included), and the requests the server logged are compared with the trace
as ``(method, path template, query)``, ids and backend names replaced and consecutive repeats
(polling) folded: only the number of polls may differ, since our jobs take their own time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import Batch, EstimatorV2, SamplerV2, Session
from qiskit_ibm_runtime.exceptions import RuntimeInvalidStateError, RuntimeJobNotFound

from aioqruntime.server import ServerConfig

from ._circuits import bell, ry_pair
from ._harness import BACKEND, ServerThread, Step, our_sequence, template, trace_sequence
from .conftest import ServiceFactory


@pytest.fixture(scope="module")
def server_config() -> ServerConfig:
    # Its own server: the c5 listing must see only this module's few jobs (one page of 20).
    return ServerConfig(device_names=(BACKEND,))


class Recorder:
    """Runs one flow and holds the request sequence the server saw during it."""

    def __init__(self, local: ServerThread, make_service: ServiceFactory) -> None:
        self.local = local
        self.make_service = make_service
        self.sequence: list[Step] = []

    @contextmanager
    def flow(self) -> Iterator[Any]:
        start = self.local.request_count()
        yield self.make_service(lookup=True)
        self.sequence = our_sequence(self.local.requests_since(start))


@pytest.fixture
def recorder(local: ServerThread, make_service: ServiceFactory) -> Recorder:
    return Recorder(local, make_service)


def _isa(backend: Any) -> Any:
    return generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell())


def _flow_b(service: Any, local: ServerThread) -> None:
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


def _flow_c1(service: Any, local: ServerThread) -> None:
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


def _flow_c2(service: Any, local: ServerThread) -> None:
    backend = service.backend(BACKEND)
    isa = _isa(backend)
    with Batch(backend=backend) as batch:
        sampler = SamplerV2(mode=batch)
        jobs = [sampler.run([isa], shots=100) for _ in range(3)]
        for job in jobs:
            assert sum(job.result()[0].data.meas.get_counts().values()) == 100
        batch.details()


def _flow_c3(service: Any, local: ServerThread) -> None:
    backend = service.backend(BACKEND)
    circuit, _ = ry_pair()
    isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)
    observable = SparsePauliOp.from_list([("ZZ", 1.0), ("XI", 0.5)]).apply_layout(isa.layout)
    values = np.array([[0.1], [0.2], [0.3]])
    job = EstimatorV2(mode=backend).run([(isa, observable, values, 0.01)])
    assert job.result()[0].data.evs.shape == (3,)


def _flow_c5(service: Any, local: ServerThread) -> None:
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


def _flow_c6(service: Any, local: ServerThread) -> None:
    backend = service.backend(BACKEND)
    job = SamplerV2(mode=backend).run([_isa(backend)])
    job.result()
    job.metrics()


FLOWS: dict[str, Callable[[Any, ServerThread], None]] = {
    "b_session_sampler": _flow_b,
    "c1_session_cancel": _flow_c1,
    "c2_batch": _flow_c2,
    "c3_estimator": _flow_c3,
    "c5_job_lookup": _flow_c5,
    "c6_sampler_job_mode": _flow_c6,
}


@pytest.mark.parametrize("flow", list(FLOWS))
def test_request_sequence_matches_the_recording(
    flow: str, local: ServerThread, recorder: Recorder
) -> None:
    with recorder.flow() as service:
        FLOWS[flow](service, local)
    assert recorder.sequence == trace_sequence(flow)


def test_template() -> None:
    assert template("/api/v1/jobs/dabc/results") == "/api/v1/jobs/{job}/results"
    assert template("/experimental/api/v1/sessions/s-1/close") == "/api/v1/sessions/{session}/close"
    assert template("/api/v1/backends/ibm_stub5/status") == "/api/v1/backends/{backend}/status"
    assert template("/api/v1/jobs") == "/api/v1/jobs"
    assert template("/catalog/api/v1/stub-plan-id") == "/catalog/api/v1/{plan}"
    assert template("/identity/token") == "/identity/token"
