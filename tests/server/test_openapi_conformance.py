"""schemathesis against the live loopback server: no 5xx, no response that violates /openapi.json.

aiohttp has no in-process ASGI/WSGI entry point, so schemathesis (synchronous, ``requests``)
runs in a worker thread while the server runs on the test's event loop.
"""

from __future__ import annotations

import anyio
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from aioqruntime.server import LocalRuntimeServer

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _fuzz(server: LocalRuntimeServer, token: str) -> list[str]:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    headers = {"Authorization": f"Bearer {token}", "Service-CRN": server.instance}
    checked: list[str] = []
    with requests.Session() as http:
        for result in schema.get_all_operations():
            operation = result.ok()

            @settings(
                max_examples=12,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def run(case: schemathesis.Case) -> None:
                response = case.call(session=http, headers=headers)
                case.validate_response(response, checks=CHECKS, headers=headers)

            run()
            checked.append(operation.label)
    return checked


async def test_schemathesis_finds_no_violation(server: LocalRuntimeServer) -> None:
    token = server.issue_token()
    checked = await anyio.to_thread.run_sync(_fuzz, server, token)
    assert "POST /api/v1/jobs" in checked
    assert len(checked) >= 18
    assert not [r for r in server.request_log if r.status >= 500]
    assert len(server.request_log) > 100
