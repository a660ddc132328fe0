"""schemathesis in NEGATIVE mode (data that violates /openapi.json), with and without credentials.

Whatever it sends, the server answers: never a 5xx, and every 4xx of an API route is an
``ErrorContainer`` without a traceback. (The positive-mode conformance run is in tests/server.)
"""

from __future__ import annotations

import json

import anyio
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from aioqruntime.server import LocalRuntimeServer


def _fuzz(server: LocalRuntimeServer, token: str) -> tuple[int, list[str]]:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    problems: list[str] = []
    calls = 0
    with requests.Session() as http:
        for result in schema.get_all_operations():
            operation = result.ok()
            for headers in (
                {"Authorization": f"Bearer {token}", "Service-CRN": server.instance},
                {"Authorization": "Bearer not.a.jwt"},
            ):

                @settings(
                    max_examples=10,
                    deadline=None,
                    database=None,
                    derandomize=True,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
                def run(case: schemathesis.Case) -> None:
                    nonlocal calls
                    try:
                        response = case.call(session=http, headers=headers)  # noqa: B023 (run now)
                    except ValueError:  # requests refuses to send some generated headers/URLs
                        return
                    calls += 1
                    text = response.text
                    label = f"{case.method} {case.formatted_path} -> {response.status_code}"
                    if response.status_code >= 500 or "Traceback" in text or token in text:
                        problems.append(label + ": " + text[:200])
                    elif response.status_code >= 400 and "/api/v1" in case.path:
                        body = json.loads(text)
                        if set(body) != {"errors", "trace"}:
                            problems.append(label + ": not an ErrorContainer")

                run()
    return calls, problems


async def test_negative_fuzzing_never_breaks_the_server(server: LocalRuntimeServer) -> None:
    token = server.issue_token()
    calls, problems = await anyio.to_thread.run_sync(_fuzz, server, token)
    assert problems == []
    assert calls > 100
    assert not [r for r in server.request_log if r.status >= 500]
