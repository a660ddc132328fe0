"""Error answers in the service's ``ErrorContainer`` shape.

``{"errors": [{"code", "message", "more_info"}], "trace": "<request id>"}``. The ``code`` values
are IBM's where the protocol notes name one (1291 job not found, 1217 session closed, 1002
validation), otherwise short names of our own; clients must key on the HTTP status.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aiohttp import web

__all__ = ["ApiFailure", "error_body", "error_response"]

MORE_INFO = "https://quantum.cloud.ibm.com/docs/errors"


class ApiFailure(Exception):
    """Raised by a handler to answer with an error status and body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _DEFAULT_CODES.get(status, str(status))
        self.headers = dict(headers or {})


_DEFAULT_CODES = {
    400: "1002",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def error_body(code: str, message: str, trace: str) -> str:
    return json.dumps(
        {"errors": [{"code": code, "message": message, "more_info": MORE_INFO}], "trace": trace}
    )


def error_response(
    status: int,
    message: str,
    *,
    trace: str,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    return web.Response(
        status=status,
        text=error_body(code or _DEFAULT_CODES.get(status, str(status)), message, trace),
        content_type="application/json",
        headers=dict(headers or {}),
    )
