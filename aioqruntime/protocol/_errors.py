"""Non-2xx responses → the typed error tree, in one pure function (style rule E3)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from typing_extensions import Self

from aioqruntime._exceptions import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
)
from aioqruntime.protocol._fields import raw_field
from aioqruntime.protocol._http import header_value

__all__ = [
    "ApiErrorBody",
    "ApiErrorItem",
    "error_class_for_status",
    "error_for_response",
    "request_id_from",
]

_STATUS_CLASSES: Final[Mapping[int, type[APIStatusError]]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    429: RateLimitError,
}
# Response headers never copied onto an error (they would end up in logs and tracebacks).
_DROPPED_HEADERS: Final = frozenset(
    {"authorization", "set-cookie", "cookie", "proxy-authorization"}
)
_REQUEST_ID_HEADERS: Final = ("x-request-id", "x-correlation-id", "uber-trace-id")
_MAX_BODY_IN_MESSAGE: Final = 300


@dataclass(frozen=True, slots=True)
class ApiErrorItem:
    """One entry of ``errors[]``; ``code`` is text (the service sends both "1291" and 1291)."""

    code: str | None = None
    message: str | None = None
    more_info: str | None = None
    solution: str | None = None

    def to_json(self) -> dict[str, Any]:
        body = {"code": self.code, "message": self.message}
        if self.more_info is not None:
            body["more_info"] = self.more_info
        if self.solution is not None:
            body["solution"] = self.solution
        return body


@dataclass(frozen=True, slots=True)
class ApiErrorBody:
    """An error body in any of the three shapes the service family uses.

    * runtime API ``{"errors": [{"code", "message", "more_info"}], "trace": "<request id>"}``;
    * legacy ``{"error": {"message", "code"}}``;
    * IAM ``{"errorCode", "errorMessage", "context": {"requestId"}}``.

    Reading never fails: anything else gives an empty body.
    """

    errors: tuple[ApiErrorItem, ...] = ()
    trace: str | None = None
    raw: Mapping[str, Any] = raw_field()

    @classmethod
    def from_json(cls, data: object) -> Self:
        if not isinstance(data, Mapping):
            return cls()
        trace = _text(data.get("trace"))
        items: list[ApiErrorItem] = []
        errors = data.get("errors")
        if isinstance(errors, list):
            items.extend(_item(entry) for entry in errors if isinstance(entry, Mapping))
        legacy = data.get("error")
        if isinstance(legacy, Mapping):
            items.append(_item(legacy))
        elif isinstance(legacy, str) and not items:
            items.append(ApiErrorItem(message=legacy))
        if "errorCode" in data or "errorMessage" in data:
            items.append(
                ApiErrorItem(
                    code=_text(data.get("errorCode")), message=_text(data.get("errorMessage"))
                )
            )
            context = data.get("context")
            if trace is None and isinstance(context, Mapping):
                trace = _text(context.get("requestId"))
        return cls(errors=tuple(items), trace=trace, raw=data)

    @classmethod
    def parse(cls, body: bytes | str) -> Self:
        """From raw body bytes/text; a body that is not JSON gives an empty result."""
        try:
            return cls.from_json(json.loads(body))
        except (ValueError, UnicodeDecodeError, RecursionError):
            return cls()

    @property
    def code(self) -> str | None:
        return self.errors[0].code if self.errors else None

    @property
    def message(self) -> str | None:
        messages = [item.message for item in self.errors if item.message]
        return "; ".join(messages) if messages else None

    def to_json(self) -> dict[str, Any]:
        """The runtime API ``ErrorContainer`` shape."""
        body: dict[str, Any] = {"errors": [item.to_json() for item in self.errors]}
        if self.trace is not None:
            body["trace"] = self.trace
        return body


def _text(value: object) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def _item(entry: Mapping[str, Any]) -> ApiErrorItem:
    return ApiErrorItem(
        code=_text(entry.get("code")),
        message=_text(entry.get("message")),
        more_info=_text(entry.get("more_info")),
        solution=_text(entry.get("solution")),
    )


def error_class_for_status(status: int) -> type[APIStatusError]:
    """The :class:`APIStatusError` subclass for an HTTP status."""
    if status >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status, APIStatusError)


def request_id_from(body: ApiErrorBody, headers: Mapping[str, str]) -> str | None:
    """The request id: the body's ``trace``, else a request-id/trace header."""
    if body.trace:
        return body.trace
    for name in _REQUEST_ID_HEADERS:
        value = header_value(headers, name)
        if value:
            return value
    return None


def _without_userinfo(url: str) -> str:
    """The URL minus any ``user:password@`` part, which must not reach a message."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def error_for_response(
    status: int,
    body: bytes | str,
    headers: Mapping[str, str] | None = None,
    *,
    method: str = "",
    url: str = "",
) -> APIStatusError:
    """Build (not raise) the typed error for a non-2xx response.

    The message reads ``"GET /api/v1/jobs/x: 404 Job not found (code 1291, request id t-1)"``.
    Credential headers are dropped from the error; the body is kept whole on ``.body`` but only a
    bounded excerpt goes into the message.
    """
    headers = headers or {}
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    parsed = ApiErrorBody.parse(text)
    request_id = request_id_from(parsed, headers)
    server_message = parsed.message
    if server_message is None and text.strip():
        excerpt = " ".join(text.split())
        if len(excerpt) > _MAX_BODY_IN_MESSAGE:
            excerpt = excerpt[:_MAX_BODY_IN_MESSAGE] + "…"
        detail = excerpt
    else:
        detail = server_message or "(empty body)"
    extras = []
    if parsed.code is not None:
        extras.append(f"code {parsed.code}")
    if request_id is not None:
        extras.append(f"request id {request_id}")
    where = " ".join(part for part in (method.upper(), _without_userinfo(url)) if part)
    message = f"{where + ': ' if where else ''}{status} {detail}"
    if extras:
        message += f" ({', '.join(extras)})"
    safe_headers = {k: v for k, v in headers.items() if k.lower() not in _DROPPED_HEADERS}
    return error_class_for_status(status)(
        message,
        status=status,
        code=parsed.code,
        server_message=server_message,
        body=text,
        request_id=request_id,
        headers=safe_headers,
        method=method,
        url=url,
    )
