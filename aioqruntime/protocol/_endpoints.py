"""Request builders for every endpoint the runtime client uses (protocol.md §2.1).

Each returns an :class:`HttpRequest` whose path is relative to the API base (``…/api/v1``), except
:func:`iam_token_request`, whose path is relative to the IAM host. Queries render exactly as the
official client renders them (``include_mocks=True``, ``pending=false``, repeated ``tags``), so the
local server and recorded traces agree with both clients. Auth headers are not added here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, Final
from urllib.parse import urlencode

from aioqruntime._exceptions import InvalidInputError
from aioqruntime.protocol._constants import API_VERSION, MAX_JOBS_PAGE, client_application
from aioqruntime.protocol._http import HttpRequest, json_body, path_segment
from aioqruntime.protocol._secrets import Secret

__all__ = [
    "MAX_JOB_TAGS",
    "MAX_JOB_TAG_LENGTH",
    "backend_configuration",
    "backend_properties",
    "backend_status",
    "cancel_job",
    "cancel_session",
    "close_session",
    "create_job",
    "create_session",
    "default_headers",
    "delete_job",
    "get_job",
    "get_session",
    "iam_token_request",
    "instance_usage",
    "job_body",
    "job_logs",
    "job_metrics",
    "job_results",
    "list_backends",
    "list_jobs",
    "update_job_tags",
]

MAX_JOB_TAGS: Final = 8
MAX_JOB_TAG_LENGTH: Final = 86

IAM_APIKEY_GRANT: Final = "urn:ibm:params:oauth:grant-type:apikey"
_JSON: Final = "application/json"
_ACCEPT_JSON: Final = {"Accept": _JSON}
_SEND_JSON: Final = {"Accept": _JSON, "Content-Type": _JSON}


def default_headers(
    api_version: str = API_VERSION, client_app: str | None = None
) -> dict[str, str]:
    """Headers sent on every runtime API request (auth and ``Service-CRN`` are the transport's)."""
    return {
        "IBM-API-Version": api_version,
        "X-Qx-Client-Application": client_app or client_application(),
        "Accept": _JSON,
    }


def _is_int(value: object) -> bool:
    # Checked at runtime because bool is an int and callers are not all type-checked.
    return isinstance(value, int) and not isinstance(value, bool)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _utc_iso(moment: datetime | str) -> str:
    """ISO-8601 in UTC with offset; naive datetimes are local time, as in the official client."""
    if isinstance(moment, str):
        return moment
    return moment.astimezone(timezone.utc).isoformat()


# --- backends ---------------------------------------------------------------------------------


def list_backends(*, include_mocks: bool = False) -> HttpRequest:
    """``GET /backends`` (B1); ``include_mocks=True`` rendered as Python renders ``True``."""
    query = (("include_mocks", "True"),) if include_mocks else ()
    return HttpRequest("GET", "/backends", query, _ACCEPT_JSON)


def backend_configuration(name: str, *, calibration_id: str | None = None) -> HttpRequest:
    """``GET /backends/{name}/configuration`` (B2)."""
    query = (("calibration_id", calibration_id),) if calibration_id else ()
    path = f"/backends/{path_segment(name, what='backend name')}/configuration"
    return HttpRequest("GET", path, query, _ACCEPT_JSON)


def backend_properties(
    name: str,
    *,
    updated_before: datetime | str | None = None,
    calibration_id: str | None = None,
) -> HttpRequest:
    """``GET /backends/{name}/properties`` (B3)."""
    query: list[tuple[str, str]] = []
    if updated_before is not None:
        query.append(("updated_before", _utc_iso(updated_before)))
    if calibration_id:
        query.append(("calibration_id", calibration_id))
    path = f"/backends/{path_segment(name, what='backend name')}/properties"
    return HttpRequest("GET", path, tuple(query), _ACCEPT_JSON)


def backend_status(name: str) -> HttpRequest:
    """``GET /backends/{name}/status`` (B4)."""
    path = f"/backends/{path_segment(name, what='backend name')}/status"
    return HttpRequest("GET", path, (), _ACCEPT_JSON)


# --- sessions ---------------------------------------------------------------------------------


def create_session(
    mode: str,
    backend: str | None,
    *,
    instance: str | None = None,
    max_ttl: int | None = None,
) -> HttpRequest:
    """``POST /sessions`` (S1): ``{"mode","backend","instance","max_ttl"}``, each only if truthy."""
    if mode not in ("dedicated", "batch"):
        raise InvalidInputError(f"session mode must be 'dedicated' or 'batch', got {mode!r}")
    candidates = {"mode": mode, "backend": backend, "instance": instance, "max_ttl": max_ttl}
    body = {key: value for key, value in candidates.items() if value}
    return HttpRequest("POST", "/sessions", (), _SEND_JSON, json_body(body))


def get_session(session_id: str) -> HttpRequest:
    """``GET /sessions/{id}`` (S2)."""
    return HttpRequest(
        "GET", f"/sessions/{path_segment(session_id, what='session id')}", (), _ACCEPT_JSON
    )


def close_session(session_id: str) -> HttpRequest:
    """``PATCH /sessions/{id}`` ``{"accepting_jobs": false}`` (S3): queued jobs still run."""
    path = f"/sessions/{path_segment(session_id, what='session id')}"
    return HttpRequest("PATCH", path, (), _SEND_JSON, json_body({"accepting_jobs": False}))


def cancel_session(session_id: str) -> HttpRequest:
    """``DELETE /sessions/{id}/close`` (S4): queued jobs will not run."""
    path = f"/sessions/{path_segment(session_id, what='session id')}/close"
    return HttpRequest("DELETE", path, (), _ACCEPT_JSON)


# --- jobs -------------------------------------------------------------------------------------


def job_body(
    *,
    program_id: str,
    backend: str,
    params: Mapping[str, Any],
    tags: Iterable[str] = (),
    session_id: str | None = None,
    log_level: str | None = None,
    image: str | None = None,
    max_execution_time: int | None = None,
    private: bool = False,
) -> dict[str, Any]:
    """The ``POST /jobs`` body (protocol.md §3.1) from the SDK's names.

    The wire renames two of them: ``image`` travels as ``runtime`` and ``max_execution_time`` as
    ``cost``; unset optional fields are left out, as the official client does.
    """
    body: dict[str, Any] = {"program_id": program_id, "backend": backend}
    if session_id:
        body["session_id"] = session_id
    if log_level:
        body["log_level"] = log_level
    if image:
        body["runtime"] = image
    if max_execution_time:
        body["cost"] = max_execution_time
    if private:
        body["private"] = True
    body["tags"] = list(tags)
    body["params"] = dict(params)
    return body


def create_job(body_json: str | bytes) -> HttpRequest:
    """``POST /jobs`` (J1) with a body already serialized (its params are codec output).

    Not idempotent: see :mod:`._retry` for what may be repeated.
    """
    body = body_json.encode() if isinstance(body_json, str) else bytes(body_json)
    if not body.strip():
        raise InvalidInputError("job body is empty")
    return HttpRequest("POST", "/jobs", (), _SEND_JSON, body)


def get_job(job_id: str, *, exclude_params: bool = True) -> HttpRequest:
    """``GET /jobs/{id}`` (J2); ``exclude_params=true`` for every status poll."""
    query = (("exclude_params", "true"),) if exclude_params else ()
    return HttpRequest("GET", f"/jobs/{path_segment(job_id, what='job id')}", query, _ACCEPT_JSON)


def list_jobs(
    *,
    limit: int | None = None,
    offset: int = 0,
    backend: str | None = None,
    pending: bool | None = None,
    program: str | None = None,
    tags: Iterable[str] = (),
    session_id: str | None = None,
    created_after: datetime | str | None = None,
    created_before: datetime | str | None = None,
    descending: bool = True,
    include_mocks: bool = False,
    exclude_params: bool = True,
) -> HttpRequest:
    """``GET /jobs`` (J3), keys in the official client's order.

    ``tags`` matches jobs carrying all of them. ``limit`` is 1..200 (the service's page cap).
    """
    if limit is not None and not (_is_int(limit) and 1 <= limit <= MAX_JOBS_PAGE):
        raise InvalidInputError(f"limit must be between 1 and {MAX_JOBS_PAGE}, got {limit!r}")
    if not _is_int(offset) or offset < 0:
        raise InvalidInputError(f"offset must be a non-negative int, got {offset!r}")
    if isinstance(tags, str):
        raise InvalidInputError("tags must be a collection of strings, not one string")
    query: list[tuple[str, str]] = []
    if exclude_params:
        query.append(("exclude_params", "true"))
    if limit is not None:
        query.append(("limit", str(limit)))
    if offset:
        query.append(("offset", str(offset)))
    if backend:
        query.append(("backend", backend))
    if pending is not None:
        query.append(("pending", _bool(pending)))
    if program:
        query.append(("program", program))
    query.extend(("tags", tag) for tag in tags)
    if session_id:
        query.append(("session_id", session_id))
    if created_after is not None:
        query.append(("created_after", _utc_iso(created_after)))
    if created_before is not None:
        query.append(("created_before", _utc_iso(created_before)))
    if not descending:
        query.append(("sort", "ASC"))
    if include_mocks:
        query.append(("include_mocks", "True"))
    return HttpRequest("GET", "/jobs", tuple(query), _ACCEPT_JSON)


def _job_path(job_id: str, suffix: str = "") -> str:
    return f"/jobs/{path_segment(job_id, what='job id')}{suffix}"


def cancel_job(job_id: str) -> HttpRequest:
    """``POST /jobs/{id}/cancel`` (J4), no body; 409 when the job is already final."""
    return HttpRequest("POST", _job_path(job_id, "/cancel"), (), _ACCEPT_JSON)


def delete_job(job_id: str) -> HttpRequest:
    """``DELETE /jobs/{id}`` (J5); the job must be final."""
    return HttpRequest("DELETE", _job_path(job_id), (), _ACCEPT_JSON)


def job_results(job_id: str) -> HttpRequest:
    """``GET /jobs/{id}/results`` (J6): raw text for the codec (sent without Accept)."""
    return HttpRequest("GET", _job_path(job_id, "/results"))


def job_logs(job_id: str) -> HttpRequest:
    """``GET /jobs/{id}/logs`` (J7): plain text."""
    return HttpRequest("GET", _job_path(job_id, "/logs"))


def job_metrics(job_id: str) -> HttpRequest:
    """``GET /jobs/{id}/metrics`` (J8)."""
    return HttpRequest("GET", _job_path(job_id, "/metrics"), (), _ACCEPT_JSON)


def update_job_tags(job_id: str, tags: Iterable[str]) -> HttpRequest:
    """``PUT /jobs/{id}/tags`` ``{"tags": [...]}`` (J9), de-duplicated in order; success is 204."""
    if isinstance(tags, str):
        raise InvalidInputError("tags must be a collection of strings, not one string")
    unique: list[object] = list(dict.fromkeys(tags))
    for tag in unique:
        if not isinstance(tag, str) or not tag or len(tag) > MAX_JOB_TAG_LENGTH:
            raise InvalidInputError(
                f"each tag must be a string of 1..{MAX_JOB_TAG_LENGTH} characters, got {tag!r}"
            )
    if len(unique) > MAX_JOB_TAGS:
        raise InvalidInputError(f"a job takes at most {MAX_JOB_TAGS} tags, got {len(unique)}")
    return HttpRequest(
        "PUT", _job_path(job_id, "/tags"), (), _SEND_JSON, json_body({"tags": unique})
    )


# --- instance and IAM -------------------------------------------------------------------------


def instance_usage() -> HttpRequest:
    """``GET /instances/usage`` (U1)."""
    return HttpRequest("GET", "/instances/usage", (), _ACCEPT_JSON)


def iam_token_request(api_key: str | Secret) -> HttpRequest:
    """``POST /identity/token`` exchanging an API key for a bearer token (path relative to IAM).

    The body carries the key: ``HttpRequest``'s repr hides bodies, keep it out of logs too.
    """
    key = api_key.get() if isinstance(api_key, Secret) else api_key
    if not key:
        raise InvalidInputError("the API key is empty")
    form = urlencode(
        (("grant_type", IAM_APIKEY_GRANT), ("apikey", key), ("response_type", "cloud_iam"))
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": _JSON}
    return HttpRequest("POST", "/identity/token", (), headers, form.encode())
