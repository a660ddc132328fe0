"""What every request handler reaches: the server's state, shared through the aiohttp app."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiohttp import web

from aioqruntime.server._auth import Authenticator
from aioqruntime.server._config import ServerConfig
from aioqruntime.server._errors import ApiFailure
from aioqruntime.server._faults import FaultInjector
from aioqruntime.server._limits import SubmissionRateLimiter
from aioqruntime.server._scheduler import BackendInfo, Scheduler
from aioqruntime.server._store import Store
from aioqruntime.server._tasks import InFlight

__all__ = [
    "API_PREFIXES",
    "CONTEXT",
    "MAX_INSTANCE_LENGTH",
    "RequestRecord",
    "ServerContext",
    "api_path",
    "read_json",
]

#: The API is served under both: ``/experimental`` lets the official client use our URL verbatim.
API_PREFIXES = ("/api/v1", "/experimental/api/v1")
#: Longest accepted ``Service-CRN`` (IBM CRNs are well under 200 characters).
MAX_INSTANCE_LENGTH = 512


class RequestRecord(NamedTuple):
    """One entry of ``server.request_log``."""

    method: str
    path: str
    query: str
    status: int
    instance: str | None


@dataclass
class ServerContext:
    config: ServerConfig
    store: Store
    scheduler: Scheduler
    backends: Mapping[str, BackendInfo]
    auth: Authenticator
    faults: FaultInjector
    instance: str
    limiter: SubmissionRateLimiter | None
    request_log: deque[RequestRecord] = field(default_factory=deque)
    #: The request handlers running now (cancelled at shutdown) and latency holds, for tests.
    inflight: InFlight = field(default_factory=InFlight)

    def instance_of(self, request: web.Request) -> str:
        """The caller's instance: its ``Service-CRN`` (any printable text), else the server's own.

        The value scopes every job and session and is stored, so it must be text: a header that
        is not valid UTF-8 (aiohttp decodes such bytes to lone surrogates), holds control
        characters or is longer than :data:`MAX_INSTANCE_LENGTH` is refused with 400.
        """
        value = request.headers.get("Service-CRN", "").strip()
        if not value:
            return self.instance
        if len(value) > MAX_INSTANCE_LENGTH or not _printable_utf8(value):
            raise ApiFailure(
                400,
                f"Service-CRN: must be printable UTF-8 text of at most {MAX_INSTANCE_LENGTH} "
                "characters",
                code="invalid_instance",
            )
        return value

    def backend(self, name: str) -> BackendInfo:
        info = self.backends.get(name)
        if info is None:
            raise ApiFailure(404, f"Backend {name!r} not found", code="1007")
        return info


def _printable_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return text.isprintable()


CONTEXT = web.AppKey("aioqruntime_server_context", ServerContext)


def api_path(path: str) -> str | None:
    """The path relative to the API base, or ``None`` for a root route."""
    for prefix in API_PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix) :] or "/"
    return None


async def read_json(request: web.Request) -> Any:
    """The JSON body (NaN/Infinity allowed, as the official client may send them), or 400."""
    raw = await request.read()
    if not raw:
        raise ApiFailure(400, "A JSON request body is required")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ApiFailure(400, f"The request body is not valid JSON: {exc}") from exc
