"""``protocol.job_body``: the SDK's names become the wire's, unset fields stay out."""

from __future__ import annotations

from aioqruntime.protocol import job_body


def test_the_wire_names_of_a_job_body() -> None:
    body = job_body(
        program_id="sampler",
        backend="ibm_x",
        params={"pubs": []},
        tags=["a", "aioqruntime:t"],
        session_id="s1",
        log_level="INFO",
        image="ibm/runtime:1",
        max_execution_time=300,
        private=True,
    )
    assert body == {
        "program_id": "sampler",
        "backend": "ibm_x",
        "session_id": "s1",
        "log_level": "INFO",
        "runtime": "ibm/runtime:1",
        "cost": 300,
        "private": True,
        "tags": ["a", "aioqruntime:t"],
        "params": {"pubs": []},
    }


def test_unset_optional_fields_are_left_out() -> None:
    body = job_body(program_id="estimator", backend="ibm_x", params={})
    assert body == {"program_id": "estimator", "backend": "ibm_x", "tags": [], "params": {}}
