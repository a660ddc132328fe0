"""Flow 12: a 502 on ``POST /jobs`` (seeded fault injection) is retried by the official client and
the job is created, run and counted exactly once; the requests match the ``e_retry_502`` trace."""

from __future__ import annotations

import random
from typing import Any

import pytest
from qiskit_ibm_runtime import SamplerV2

from aioqruntime.server import ServerConfig, parse_fault_spec

from ._circuits import bell_counts, isa_bell
from ._harness import BACKEND, ServerThread, our_sequence, trace_sequence

PROBABILITY = 0.5


def _seed_for(pattern: list[bool]) -> int:
    """The first seed whose draws inject a 502 exactly where ``pattern`` says (one draw each)."""
    for seed in range(10_000):
        rng = random.Random(seed)
        if all((rng.random() < PROBABILITY) is fault for fault in pattern):
            return seed
    raise AssertionError("no seed found")


#: Two 502s then a success, as in the recording (urllib3 retries at once, then after 1 s).
SEED = _seed_for([True, True, False])


@pytest.fixture(scope="module")
def server_config() -> ServerConfig:
    return ServerConfig(
        device_names=(BACKEND,),
        faults=parse_fault_spec(f"POST /jobs:502={PROBABILITY}"),
        fault_seed=SEED,
    )


def test_502_on_submit_is_retried_and_the_job_runs_once(
    local: ServerThread, make_service: Any
) -> None:
    start = local.request_count()
    service = make_service(lookup=True)
    backend = service.backend(BACKEND)
    job = SamplerV2(mode=backend).run([isa_bell(backend)], shots=100)
    zeros, ones = bell_counts(job.result()[0].data.meas.get_counts())
    assert zeros + ones == 100
    job.metrics()

    seen = local.requests_since(start)
    assert [r.status for r in seen if (r.method, r.path) == ("POST", "/api/v1/jobs")] == [
        502,
        502,
        200,
    ]
    assert local.fault_log() == [("POST", "/jobs", "502"), ("POST", "/jobs", "502")]
    assert local.call(local.server.counts) == {"Completed": 1}
    assert [j.job_id() for j in service.jobs(limit=None)] == [job.job_id()]
    # The recording's flow (its end marker reads flow_c6) is the same, retries included.
    assert our_sequence(seen) == trace_sequence("e_retry_502")
