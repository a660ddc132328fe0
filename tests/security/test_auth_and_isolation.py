"""Authentication on every route, token expiry, and instance scoping of jobs and sessions."""

from __future__ import annotations

import base64
import json
import time

import aiohttp
import pytest

from aioqruntime.protocol._jwt import encode_jwt
from aioqruntime.server import LocalRuntimeServer, ServerConfig
from tests.security.conftest import OTHER_INSTANCE, assert_error_container
from tests.server.conftest import Api, exchange, sampler_body

_LOCAL_ROUTES = [
    ("POST", "/_local/pause"),
    ("POST", "/_local/resume"),
    ("POST", "/_local/fail_next_job"),
    ("GET", "/_local/jobs/x/wait"),
    ("GET", "/_local/sessions/x/wait"),
    ("GET", "/_local/events"),
    ("GET", "/_local/requests"),
    ("GET", "/_local/faults"),
    ("PUT", "/_local/faults"),
    ("POST", "/v3/resources/search"),
]


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _bad_credentials(server: LocalRuntimeServer) -> dict[str, str | None]:
    now = int(time.time())
    claims = {"iam_id": "x", "iat": now, "exp": now + 3600}
    return {
        "missing": None,
        "empty": "",
        "bearer without token": "Bearer",
        "garbage bearer": "Bearer garbage",
        "three garbage parts": "Bearer a.b.c",
        "other key": "Bearer " + encode_jwt(claims, b"another-secret-key-of-32-bytes!!"),
        "alg none": f"Bearer {_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "alg none signed": "Bearer "
        + _b64({"alg": "none", "typ": "JWT"})
        + "."
        + _b64(claims)
        + "."
        + server.issue_token().rsplit(".", 1)[1],
        "expired": "Bearer " + server.issue_token(lifetime=-10),
        "wrong apikey": "apikey not-the-key",
        "apikey empty": "apikey ",
        "basic": "Basic " + base64.b64encode(b"user:" + server.token.encode()).decode(),
        "raw api key": server.token,
        "unicode": "Bearer \u00e9\u00e9\u00e9",
    }


async def _routes(http: aiohttp.ClientSession, server: LocalRuntimeServer) -> list[tuple[str, str]]:
    async with http.get(server.url + "/openapi.json") as response:
        document = await response.json()
    routes = []
    for path, item in document["paths"].items():
        if path == "/identity/token":
            continue
        concrete = path.replace("{id}", "x").replace("{name}", "ibm_local5")
        for method in item:
            if method in {"get", "post", "put", "patch", "delete"}:
                routes.append((method.upper(), concrete))
                routes.append((method.upper(), concrete.replace("/api/v1", "/experimental/api/v1")))
    return routes


async def test_every_route_refuses_bad_or_missing_credentials(server: LocalRuntimeServer) -> None:
    async with aiohttp.ClientSession() as http:
        routes = await _routes(http, server) + _LOCAL_ROUTES
        assert len(routes) >= 40
        for label, credential in _bad_credentials(server).items():
            headers = {} if credential is None else {"Authorization": credential}
            for method, path in routes:
                async with http.request(
                    method, server.url + path, headers=headers, json={"mode": "batch"}
                ) as response:
                    body = await response.read()
                assert response.status == 401, (label, method, path, body[:200])
                assert_error_container(401, body, secrets=(server.token,))
    # Nothing was created, paused or read by any of them.
    assert server.events == []


async def test_a_valid_token_or_api_key_is_accepted(api: Api, server: LocalRuntimeServer) -> None:
    for credential in (f"Bearer {api.token}", f"apikey {server.token}", f"bearer  {api.token} "):
        response = await api.http.get(
            server.api_url + "/backends", headers={"Authorization": credential}
        )
        assert response.status == 200


@pytest.mark.parametrize("config", [ServerConfig(workers=0, token_ttl=2)])
async def test_tokens_expire_after_token_ttl(server: LocalRuntimeServer) -> None:
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            server.url + "/identity/token",
            data={"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": server.token},
        )
        document = await response.json()
        assert document["expires_in"] == 2
        token = document["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with http.get(server.api_url + "/backends", headers=headers) as ok:
            assert ok.status == 200
        # Move the server's clock past the lifetime instead of sleeping.
        auth = server._ctx.auth
        real_clock = auth._clock
        auth._clock = lambda: real_clock() + 3
        async with http.get(server.api_url + "/backends", headers=headers) as late:
            body = await late.read()
        assert late.status == 401
        assert "expired" in assert_error_container(401, body)["errors"][0]["message"]


async def test_instances_cannot_touch_each_others_jobs_and_sessions(
    api: Api, server: LocalRuntimeServer
) -> None:
    server.pause()
    session = await api.json("POST", "/sessions", json={"mode": "dedicated"})
    job_id = await api.submit(sampler_body(session_id=session["id"]))
    queued_id = await api.submit(sampler_body(tags=["mine"]))
    await api.json("POST", f"/jobs/{queued_id}/cancel", status=204)  # final, deletable

    def other(method: str, path: str, **kwargs: object) -> object:
        return api.request(method, path, instance=OTHER_INSTANCE, **kwargs)

    for job in (job_id, queued_id):
        for method, path, body in [
            ("GET", f"/jobs/{job}", None),
            ("POST", f"/jobs/{job}/cancel", None),
            ("DELETE", f"/jobs/{job}", None),
            ("PUT", f"/jobs/{job}/tags", {"tags": ["stolen"]}),
            ("GET", f"/jobs/{job}/results", None),
            ("GET", f"/jobs/{job}/logs", None),
            ("GET", f"/jobs/{job}/metrics", None),
        ]:
            response = await other(method, path, json=body)  # type: ignore[misc]
            assert response.status == 404, (method, path)
            assert_error_container(404, await response.read())
    for method, path, body in [
        ("GET", f"/sessions/{session['id']}", None),
        ("PATCH", f"/sessions/{session['id']}", {"accepting_jobs": False}),
        ("DELETE", f"/sessions/{session['id']}/close", None),
    ]:
        response = await other(method, path, json=body)  # type: ignore[misc]
        assert response.status == 404, (method, path)
    # Submitting into another instance's session is refused and creates nothing.
    response = await other("POST", "/jobs", json=sampler_body(session_id=session["id"]))
    assert response.status == 400
    listing = await api.json("GET", "/jobs", headers={"Service-CRN": OTHER_INSTANCE})
    assert listing["count"] == 0
    listing = await api.json(
        "GET", f"/jobs?session_id={session['id']}", headers={"Service-CRN": OTHER_INSTANCE}
    )
    assert listing["count"] == 0
    # The owner still sees everything unchanged.
    mine = await api.json("GET", "/jobs")
    assert mine["count"] == 2
    assert (await api.json("GET", f"/jobs/{queued_id}"))["tags"] == ["mine"]
    assert (await api.json("GET", f"/jobs/{job_id}"))["status"] == "Queued"
    details = await api.json("GET", f"/sessions/{session['id']}")
    assert details["accepting_jobs"] is True
    server.resume()


async def test_default_bind_address_is_loopback() -> None:
    from aioqruntime.server._cli import add_serve_arguments

    async with LocalRuntimeServer(config=ServerConfig(workers=0)) as server:
        assert server.host == "127.0.0.1"
        assert server.url.startswith("http://127.0.0.1:")
    import argparse

    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    assert parser.parse_args([]).host == "127.0.0.1"


async def test_exchange_refuses_wrong_keys_without_echoing_them(server: LocalRuntimeServer) -> None:
    async with aiohttp.ClientSession() as http:
        for key in ["wrong", server.token + "x", server.token[:-1], ""]:
            response = await http.post(
                server.url + "/identity/token",
                data={"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": key},
            )
            text = await response.text()
            assert response.status == 400
            assert server.token not in text
            assert (key not in text) if len(key) > 3 else True
        assert await exchange(http, server)
