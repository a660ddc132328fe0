"""Fixtures for the security tests: a server that simulates in a thread, a raw HTTP helper.

No test here needs a worker process: jobs are held with ``server.pause()`` or are refused before
they run, so every server is cheap to start.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest

from aioqruntime.server import LocalRuntimeServer, ServerConfig
from tests.server.conftest import Api, exchange

OTHER_INSTANCE = "crn:v1:bluemix:public:quantum-computing:us-east:a/other:other::"


@pytest.fixture
def config() -> ServerConfig:
    return ServerConfig(workers=0)


@pytest.fixture
async def server(config: ServerConfig) -> AsyncIterator[LocalRuntimeServer]:
    async with LocalRuntimeServer(config=config) as running:
        yield running


@pytest.fixture
async def api(server: LocalRuntimeServer) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(http, server, await exchange(http, server))


async def raw_request(server: LocalRuntimeServer, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` as is on a fresh connection; ``(status, headers, body)`` of the answer."""
    stream = await anyio.connect_tcp("127.0.0.1", server.port)
    async with stream:
        await stream.send(data)
        received = b""
        with anyio.fail_after(20):
            while not _complete(received):
                try:
                    received += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    break
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return status, headers, body


def _complete(received: bytes) -> bool:
    """Whether ``received`` holds a whole response with a ``Content-Length`` (no need for EOF:
    after an early 413, aiohttp lingers up to 10 s for the body it refused before closing)."""
    head, found, body = received.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def assert_error_container(status: int, body: bytes | str, *, secrets: tuple[str, ...] = ()) -> Any:
    """A 4xx whose body is the service's ``ErrorContainer`` without traceback or secrets."""
    text = body.decode() if isinstance(body, bytes) else body
    assert 400 <= status < 500, (status, text[:300])
    document = json.loads(text)
    assert set(document) == {"errors", "trace"}, document
    assert isinstance(document["trace"], str) and document["trace"]
    (error,) = document["errors"]
    assert set(error) == {"code", "message", "more_info"}, error
    assert all(isinstance(error[k], str) and error[k] for k in error)
    assert "Traceback" not in text and 'File "' not in text
    for secret in secrets:
        assert secret not in text
    return document
