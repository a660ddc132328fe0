"""Plain descriptions of HTTP requests and responses, with no I/O.

The transport turns an :class:`HttpRequest` into bytes on the wire and wraps what comes back in an
:class:`HttpResponse`; everything between (paths, queries, bodies, parsing) is pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final
from urllib.parse import quote, urlencode

from aioqruntime._exceptions import InvalidInputError, ProtocolError

__all__ = [
    "IDEMPOTENT_METHODS",
    "HttpRequest",
    "HttpResponse",
    "header_value",
    "json_body",
    "path_segment",
]

#: Methods the service treats as safe to repeat (RFC 9110 §9.2.2): retried after ambiguous failures.
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

# Headers whose values must never appear in a repr, log line or error message.
_SENSITIVE_HEADERS: Final = frozenset(
    {"authorization", "cookie", "set-cookie", "proxy-authorization"}
)


def json_body(obj: object) -> bytes:
    """Compact UTF-8 JSON, NaN/Infinity refused (only codec output for POST /jobs has them)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def path_segment(value: str, *, what: str = "id") -> str:
    """Percent-encode one path segment (``/`` included), refusing empty values."""
    if not value:
        raise InvalidInputError(f"{what} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup (HTTP header names are case-insensitive)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _redacted_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: ("<redacted>" if k.lower() in _SENSITIVE_HEADERS else v) for k, v in headers.items()}


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One request to the runtime API (or to IAM, for :func:`iam_token_request`).

    ``path`` is relative to the API base (``/jobs/abc``) with its segments already percent-encoded;
    ``query`` keeps order and allows repeated keys (``tags=a&tags=b``).
    ``base_url`` is empty in what the builders return; the transport fills it in (the API or the
    IAM base) before the request goes to an :class:`~aioqruntime.transport.HttpTransport`.
    ``timeout`` is a total budget in seconds for this one exchange (``None``: the defaults).
    The repr hides the body and credential headers: a body may hold an API key.
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    base_url: str = ""
    timeout: float | None = None

    @property
    def idempotent(self) -> bool:
        """Whether repeating this request cannot create a second effect (GET/PUT/DELETE)."""
        return self.method.upper() in IDEMPOTENT_METHODS

    @property
    def query_string(self) -> str:
        """The query rendered as ``a=1&b=2`` (empty when there is none)."""
        return urlencode(self.query)

    @property
    def target(self) -> str:
        """Path plus ``?query``, as it goes after the API base."""
        qs = self.query_string
        return f"{self.path}?{qs}" if qs else self.path

    def url(self, base_url: str | None = None) -> str:
        """The absolute URL under ``base_url`` (e.g. ``https://host/api/v1``; default: ours)."""
        return (self.base_url if base_url is None else base_url).rstrip("/") + self.target

    def with_headers(self, extra: Mapping[str, str]) -> HttpRequest:
        """A copy whose headers are ``extra`` merged over ours (case-insensitively)."""
        merged = {k: v for k, v in self.headers.items() if header_value(extra, k) is None}
        merged.update(extra)
        return replace(self, headers=merged)

    def __repr__(self) -> str:
        body = "None" if self.body is None else f"<{len(self.body)} bytes>"
        return (
            f"HttpRequest(method={self.method!r}, path={self.path!r}, query={self.query!r}, "
            f"headers={_redacted_headers(self.headers)!r}, body={body})"
        )


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """What came back: status, headers and the whole body."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)

    def text(self) -> str:
        """The body as text (UTF-8; undecodable bytes replaced rather than failing)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; :class:`ProtocolError` if it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProtocolError(
                f"expected a JSON body (status {self.status}), got {self.body[:80]!r}"
            ) from exc

    def __repr__(self) -> str:
        return (
            f"HttpResponse(status={self.status}, headers={_redacted_headers(self.headers)!r}, "
            f"body=<{len(self.body)} bytes>)"
        )
