"""Body limits, hostile payloads through POST /jobs, and credentials kept out of every record."""

from __future__ import annotations

import base64
import builtins
import io
import json
import sys
import zlib
from pathlib import Path

import aiohttp
import anyio
import numpy as np
import pytest

from aioqruntime.server import LocalRuntimeServer, ServerConfig
from aioqruntime.server._config import DEFAULT_MAX_BODY_BYTES
from tests.security.conftest import assert_error_container, raw_request
from tests.server.conftest import Api, exchange, sampler_body


def _database_bytes(folder: Path) -> bytes:
    """The SQLite file and its WAL/SHM companions, as bytes."""
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir()) if p.name.startswith("server"))


def test_default_limits() -> None:
    config = ServerConfig()
    assert config.max_body_bytes == DEFAULT_MAX_BODY_BYTES == 50_000_000
    assert config.max_inflated_bytes == 256 * 1024 * 1024
    assert config.session_idle_timeout == 1800.0
    assert (config.max_tags, config.max_tag_length) == (8, 86)


async def test_declared_oversized_body_is_refused_before_reading(
    api: Api, server: LocalRuntimeServer
) -> None:
    # Only the headers are sent: the 413 comes from the declared length, on the default limit.
    head = (
        "POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {api.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {DEFAULT_MAX_BODY_BYTES + 1}\r\nConnection: close\r\n\r\n"
    ).encode()
    status, _, body = await raw_request(server, head + b"{")
    assert status == 413
    assert_error_container(status, body, secrets=(api.token,))


@pytest.mark.parametrize("config", [ServerConfig(workers=0, max_body_bytes=10_000)])
async def test_chunked_oversized_body_is_refused(api: Api, server: LocalRuntimeServer) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b" " * 1000

    server.pause()
    job_id = await api.submit(sampler_body())  # a real job: its tags route exists
    for path in ("/jobs", "/sessions", f"/jobs/{job_id}/tags"):
        method = "PUT" if path.endswith("tags") else "POST"
        response = await api.request(
            method, path, data=chunks(), headers={"Content-Type": "application/json"}
        )
        assert response.status == 413, path
        assert_error_container(response.status, await response.read())


def _b64(raw: bytes, *, compress: bool = True) -> str:
    return base64.standard_b64encode(zlib.compress(raw) if compress else raw).decode()


def _hostile_params(kind: str) -> dict[str, object]:
    body = sampler_body()
    params = body["params"]
    assert isinstance(params, dict)
    pub = params["pubs"][0]
    if kind == "settings":
        pub[0] = {
            "__type__": "settings",
            "__module__": "aioqruntime_evil_module",
            "__class__": "Boom",
            "__value__": {"args": ["echo pwned"]},
        }
    elif kind == "module in options":
        params["options"] = {
            "simulator": {
                "noise_model": {
                    "__type__": "settings",
                    "__module__": "aioqruntime_evil_module",
                    "__class__": "Boom",
                    "__value__": {},
                }
            }
        }
        pub[0] = {"__type__": "to_json", "__module__": "aioqruntime_evil_module", "__value__": 1}
    elif kind == "pickled npy":
        buff = io.BytesIO()
        np.save(buff, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        pub[1] = {"__type__": "ndarray", "__value__": _b64(buff.getvalue())}
    elif kind == "zlib bomb":
        pub[0] = {"__type__": "QuantumCircuit", "__value__": _b64(b"\0" * 3_000_000)}
    elif kind == "npy bomb header":
        header = np.lib.format.header_data_from_array_1_0(np.zeros(1))
        header["shape"] = (10**12,)
        buff = io.BytesIO()
        np.lib.format.write_array_header_1_0(buff, header)
        pub[1] = {"__type__": "ndarray", "__value__": _b64(buff.getvalue() + b"\0" * 8)}
    return body


@pytest.mark.parametrize("config", [ServerConfig(workers=0, max_inflated_bytes=1_000_000)])
@pytest.mark.parametrize(
    "kind", ["settings", "module in options", "pickled npy", "zlib bomb", "npy bomb header"]
)
async def test_hostile_params_are_400_and_import_nothing(
    api: Api, server: LocalRuntimeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    # A module that would record its own import if anything ever imported it.
    (tmp_path / "aioqruntime_evil_module.py").write_text(
        "import builtins\nbuiltins.AIOQRUNTIME_PWNED = True\nclass Boom: pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    response = await api.request("POST", "/jobs", json=_hostile_params(kind))
    body = await response.read()
    assert response.status == 400, body[:300]
    assert_error_container(400, body)
    assert "aioqruntime_evil_module" not in sys.modules
    # The module sets this on the builtins module when imported (``__builtins__`` is the module
    # only in __main__; in an imported module it is a dict, where hasattr can never be true).
    assert not hasattr(builtins, "AIOQRUNTIME_PWNED")
    assert not {m for m in set(sys.modules) - before if "evil" in m or "pickle" in m}
    assert server.counts() == {}


def test_codec_zlib_bomb_with_the_default_cap_is_a_codec_error() -> None:
    from aioqruntime import CodecError
    from aioqruntime.codec import loads

    bomb = zlib.compress(b"\0" * (256 * 1024 * 1024 + 1))  # ~260 kB that inflate to 256 MiB+1
    with pytest.raises(CodecError, match="inflates past the limit"):
        loads(json.dumps({"__type__": "ndarray", "__value__": _b64(bomb, compress=False)}))


async def test_secrets_stay_out_of_logs_records_bodies_and_the_database(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    db = tmp_path / "server.db"
    api_key = "local-test-api-key-0123456789-abcdefghij"
    bodies: list[bytes] = []
    async with (
        LocalRuntimeServer(token=api_key, db_path=db, config=ServerConfig(workers=0)) as server,
        aiohttp.ClientSession() as http,
    ):
        token = await exchange(http, server)
        api = Api(http, server, token)
        expired = server.issue_token(lifetime=-5)
        session = await api.json("POST", "/sessions", json={"mode": "batch"})
        job_id = await api.submit(sampler_body(session_id=session["id"], shots=10))
        await server.wait_for_job_state(job_id)
        for credential in (
            f"Bearer {token}x",
            f"Bearer {expired}",
            f"apikey {api_key}x",
            f"Basic {api_key}",
            token,
        ):
            response = await http.get(
                server.api_url + f"/jobs/{job_id}", headers={"Authorization": credential}
            )
            assert response.status == 401
            bodies.append(await response.read())
        for path in (f"/jobs/{job_id}", f"/jobs/{job_id}/results", f"/jobs/{job_id}/logs"):
            response = await api.request("GET", path)
            bodies.append(await response.read())
        response = await api.request("POST", "/jobs", data=b"{" + token.encode())
        bodies.append(await response.read())
        records = repr(list(server.request_log)) + repr(server.events)
    data = await anyio.to_thread.run_sync(_database_bytes, tmp_path)
    for secret in (api_key, token, expired, token.split(".")[1], token.split(".")[2]):
        assert secret not in caplog.text
        assert secret not in records
        assert secret.encode() not in data
        assert not [b for b in bodies if secret.encode() in b]
