"""Flow 10b: a job that runs longer than its maximum execution time is cancelled by the server
with reason code 1305, which the official client raises as ``RuntimeJobMaxTimeoutError``."""

from __future__ import annotations

from typing import Any

import pytest
from qiskit_ibm_runtime import SamplerV2
from qiskit_ibm_runtime.exceptions import RuntimeJobMaxTimeoutError

from aioqruntime.server import ServerConfig

from ._circuits import isa_bell
from ._harness import BACKEND, ServerThread


@pytest.fixture(scope="module")
def server_config() -> ServerConfig:
    # Every job here would "run" for a minute; the limits cut it short.
    return ServerConfig(device_names=(BACKEND,), execution_delay=60.0)


def test_job_over_its_max_execution_time(local: ServerThread, service: Any) -> None:
    backend = service.backend(BACKEND)
    sampler = SamplerV2(mode=backend)
    sampler.options.max_execution_time = 1  # sent as the job's "cost"
    job = sampler.run([isa_bell(backend)], shots=10)
    with pytest.raises(RuntimeJobMaxTimeoutError) as caught:
        job.result()
    # The client builds its text from state.reason and state.reason_code.
    assert str(caught.value).strip("'") == "Error code 1305; RAN TOO LONG"
    assert job.status() == "ERROR"
    message = job.error_message()
    assert message is not None
    assert message.startswith(f"Job {job.job_id()} ran longer than maximum execution time.")
    assert "maximum execution time of 1 s" in message  # the server's result text
    record = local.call(local.server.job, job.job_id())
    assert (record.status.value, record.reason_code, record.cost) == ("Cancelled", 1305, 1)
