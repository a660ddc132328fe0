"""The OpenAPI 3.0 document of the routes the local server implements (hand-written).

Shapes follow IBM's spec (``shared/spec/openapi-ibm-quantum-0.45.3``) with two deliberate
differences, both about what *this* server does: timestamps and reasons that are not set yet are
``null`` (marked ``nullable``), and ``POST /jobs`` documents 400 with code ``1217`` for a session
that is closed or no longer accepts jobs (IBM's spec does not say; we chose 400 because the
service rejects the submission as invalid rather than reporting a conflicting resource state).
``schemathesis`` checks the server against this document in ``tests/server``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    names = {
        400: "Bad request",
        401: "Missing, invalid or expired credentials",
        404: "Not found (or owned by another instance)",
        409: "Conflict with the resource's state",
        413: "Request body too large",
        429: "Too many job submissions (see Retry-After)",
    }
    out = {str(s): _json(_ref("ErrorContainer"), names[s]) for s in statuses}
    if 429 in statuses:
        out["429"]["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    return out


_STR = {"type": "string"}
_NSTR = {"type": "string", "nullable": True}
_TIME = {"type": "string", "format": "date-time"}
_NTIME = {"type": "string", "format": "date-time", "nullable": True}
_ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_NAME_PARAM = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_TAGS = {"type": "array", "maxItems": 8, "items": {"type": "string", "maxLength": 86}}

_SCHEMAS: dict[str, Any] = {
    "ErrorContainer": {
        "type": "object",
        "required": ["errors", "trace"],
        "properties": {
            "trace": _STR,
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": _STR, "message": _STR, "more_info": _STR},
                },
            },
        },
    },
    "Usage": {
        "type": "object",
        "properties": {
            "qpu_charge_time_seconds": {"type": "number", "minimum": 0},
            "status": {"type": "string", "enum": ["pending", "complete"]},
        },
    },
    "Job": {
        "type": "object",
        "required": ["id", "created", "program", "state", "status", "cost"],
        "properties": {
            "id": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
            "backend": _STR,
            "state": {
                "type": "object",
                "required": ["status"],
                "properties": {
                    "status": {
                        "type": "string",
                        "enum": ["Queued", "Running", "Completed", "Cancelled", "Failed"],
                    },
                    "reason": _STR,
                    "reason_code": {"type": "integer", "minimum": 1000, "maximum": 9999},
                },
            },
            "status": {
                "type": "string",
                "enum": [
                    "Queued",
                    "Running",
                    "Completed",
                    "Cancelled",
                    "Cancelled - Ran too long",
                    "Failed",
                ],
            },
            "params": {"type": "object"},
            "program": {"type": "object", "required": ["id"], "properties": {"id": _STR}},
            "created": _TIME,
            "runtime": _STR,
            "cost": {"type": "integer", "minimum": 0, "maximum": 10800},
            "tags": _TAGS,
            "session_id": _STR,
            "user_id": _STR,
            "usage": _ref("Usage"),
            "private": {"type": "boolean"},
            "estimated_running_time_seconds": {"type": "number"},
            "calibration_id": _STR,
        },
    },
    "JobsResponse": {
        "type": "object",
        "required": ["jobs", "count", "limit", "offset"],
        "properties": {
            "jobs": {"type": "array", "items": _ref("Job")},
            "count": {"type": "integer", "minimum": 0},
            "offset": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "minimum": 1, "maximum": 200},
        },
    },
    "JobCreateRequest": {
        "type": "object",
        "required": ["program_id", "backend", "params"],
        "properties": {
            "program_id": {"type": "string", "enum": ["sampler", "estimator"]},
            "backend": _STR,
            "session_id": {"type": "string", "minLength": 1, "maxLength": 36},
            "params": {"type": "object"},
            "tags": _TAGS,
            "log_level": _STR,
            "cost": {"type": "integer", "minimum": 0},
            "private": {"type": "boolean"},
            "runtime": _STR,
            "calibration_id": _STR,
        },
    },
    "JobCreateResponse": {
        "type": "object",
        "required": ["id", "backend"],
        "properties": {
            "id": _STR,
            "backend": _STR,
            "session_id": _STR,
            "private": {"type": "boolean"},
        },
    },
    "JobMetrics": {
        "type": "object",
        "properties": {
            "caller": _STR,
            "timestamps": {
                "type": "object",
                "properties": {"created": _TIME, "running": _TIME, "finished": _TIME},
            },
            "usage": _ref("Usage"),
            "circuits_execution_time_ns": {"type": "number", "minimum": 0},
            "qiskit_version": _STR,
        },
    },
    "TagsRequest": {"type": "object", "required": ["tags"], "properties": {"tags": _TAGS}},
    "Session": {
        "type": "object",
        "required": ["id", "backend_name", "mode", "state", "accepting_jobs"],
        "properties": {
            "id": _STR,
            "backend_name": _NSTR,
            "mode": {"type": "string", "enum": ["batch", "dedicated"]},
            "state": {"type": "string", "enum": ["open", "active", "inactive", "closed"]},
            "state_reason": _NSTR,
            "accepting_jobs": {"type": "boolean"},
            "interactive_ttl": {"type": "integer", "minimum": 1},
            "max_ttl": {"type": "integer", "minimum": 1},
            "active_ttl": {"type": "integer", "minimum": 1},
            "started_at": _NTIME,
            "activated_at": _NTIME,
            "closed_at": _NTIME,
            "last_job_started": _NTIME,
            "last_job_completed": _NTIME,
            "elapsed_time": {"type": "number", "nullable": True},
            "timestamps": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["status", "timestamp"],
                    "properties": {"status": _STR, "timestamp": _TIME},
                },
            },
            "user_id": _STR,
        },
    },
    "CreateSessionRequest": {
        "type": "object",
        "required": ["mode"],
        "properties": {
            "mode": {"type": "string", "enum": ["batch", "dedicated"]},
            "backend": _STR,
            "backend_name": _STR,
            "max_ttl": {"type": "integer", "minimum": 1, "maximum": 2147483647},
        },
    },
    "UpdateSessionRequest": {
        "type": "object",
        "required": ["accepting_jobs"],
        "properties": {"accepting_jobs": {"type": "boolean"}},
    },
    "BackendsResponse": {
        "type": "object",
        "required": ["devices"],
        "properties": {
            "devices": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "status", "queue_length"],
                    "properties": {
                        "name": _STR,
                        "status": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {
                                "name": {"type": "string", "enum": ["online", "paused", "offline"]},
                                "reason": _STR,
                            },
                        },
                        "queue_length": {"type": "integer", "minimum": 0},
                        "qubits": {"type": "integer"},
                        "is_simulator": {"type": "boolean"},
                    },
                },
            }
        },
    },
    "BackendStatus": {
        "type": "object",
        "additionalProperties": False,
        "required": ["length_queue"],
        "properties": {
            "state": {"type": "boolean"},
            "status": _STR,
            "message": _STR,
            "length_queue": {"type": "integer", "minimum": 0},
            "backend_version": _STR,
        },
    },
    "UsageResponse": {
        "type": "object",
        "required": ["instance_id", "plan_id", "usage_consumed_seconds"],
        "properties": {
            "instance_id": _STR,
            "plan_id": _STR,
            "usage_consumed_seconds": {"type": "number"},
            "usage_limit_seconds": {"type": "number"},
            "usage_allocation_seconds": {"type": "number"},
            "usage_limit_reached": {"type": "boolean"},
        },
    },
    "TokenResponse": {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in", "expiration"],
        "properties": {
            "access_token": _STR,
            "refresh_token": _STR,
            "token_type": _STR,
            "expires_in": {"type": "integer"},
            "expiration": {"type": "integer"},
            "scope": _STR,
        },
    },
    "IamError": {
        "type": "object",
        "required": ["errorCode", "errorMessage"],
        "properties": {"errorCode": _STR, "errorMessage": _STR},
    },
}


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": responses, **extra}


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


_NO_CONTENT = {"204": {"description": "Done"}}
_JOB_QUERY = [
    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
    {"name": "offset", "in": "query", "schema": {"type": "integer"}},
    {"name": "pending", "in": "query", "schema": {"type": "boolean"}},
    {"name": "program", "in": "query", "schema": _STR},
    {"name": "backend", "in": "query", "schema": _STR},
    {"name": "session_id", "in": "query", "schema": _STR},
    {"name": "created_after", "in": "query", "schema": _TIME},
    {"name": "created_before", "in": "query", "schema": _TIME},
    {"name": "sort", "in": "query", "schema": {"type": "string", "enum": ["ASC", "DESC"]}},
    {
        "name": "tags",
        "in": "query",
        "schema": {"type": "array", "items": _STR},
        "style": "form",
        "explode": True,
    },
    {"name": "exclude_params", "in": "query", "schema": {"type": "boolean"}},
]

_PATHS: dict[str, Any] = {
    "/api/v1/backends": {
        "get": _op("List backends", {"200": _json(_ref("BackendsResponse")), **_errors(401)})
    },
    "/api/v1/backends/{name}/configuration": {
        "parameters": [_NAME_PARAM],
        "get": _op(
            "Backend configuration", {"200": _json({"type": "object"}), **_errors(401, 404)}
        ),
    },
    "/api/v1/backends/{name}/properties": {
        "parameters": [_NAME_PARAM],
        "get": _op("Backend properties", {"200": _json({"type": "object"}), **_errors(401, 404)}),
    },
    "/api/v1/backends/{name}/status": {
        "parameters": [_NAME_PARAM],
        "get": _op("Backend status", {"200": _json(_ref("BackendStatus")), **_errors(401, 404)}),
    },
    "/api/v1/instances/usage": {
        "get": _op("Instance usage", {"200": _json(_ref("UsageResponse")), **_errors(401)})
    },
    "/api/v1/sessions": {
        "post": _op(
            "Create a session",
            {"200": _json(_ref("Session")), **_errors(400, 401, 413)},
            requestBody=_body("CreateSessionRequest"),
        )
    },
    "/api/v1/sessions/{id}": {
        "parameters": [_ID_PARAM],
        "get": _op("Session details", {"200": _json(_ref("Session")), **_errors(401, 404)}),
        "patch": _op(
            "Stop accepting jobs (close)",
            {**_NO_CONTENT, **_errors(400, 401, 404, 409, 413)},
            requestBody=_body("UpdateSessionRequest"),
        ),
    },
    "/api/v1/sessions/{id}/close": {
        "parameters": [_ID_PARAM],
        "delete": _op("Cancel a session", {**_NO_CONTENT, **_errors(401, 404)}),
    },
    "/api/v1/jobs": {
        "get": _op(
            "List jobs",
            {"200": _json(_ref("JobsResponse")), **_errors(400, 401)},
            parameters=_JOB_QUERY,
        ),
        "post": _op(
            "Run a job (sampler or estimator v2)",
            {"200": _json(_ref("JobCreateResponse")), **_errors(400, 401, 404, 413, 429)},
            requestBody=_body("JobCreateRequest"),
        ),
    },
    "/api/v1/jobs/{id}": {
        "parameters": [_ID_PARAM],
        "get": _op(
            "Job details",
            {"200": _json(_ref("Job")), **_errors(400, 401, 404)},
            parameters=[{"name": "exclude_params", "in": "query", "schema": {"type": "boolean"}}],
        ),
        "delete": _op("Delete a final job", {**_NO_CONTENT, **_errors(401, 404, 409)}),
    },
    "/api/v1/jobs/{id}/cancel": {
        "parameters": [_ID_PARAM],
        "post": _op("Cancel a job", {**_NO_CONTENT, **_errors(401, 404, 409)}),
    },
    "/api/v1/jobs/{id}/results": {
        "parameters": [_ID_PARAM],
        "get": _op(
            "Job results",
            {
                "200": {
                    "description": "The PrimitiveResult JSON, or an error text for failed jobs",
                    "content": {"application/json": {"schema": {}}, "text/plain": {"schema": _STR}},
                },
                "204": {"description": "No final result"},
                **_errors(401, 404),
            },
        ),
    },
    "/api/v1/jobs/{id}/logs": {
        "parameters": [_ID_PARAM],
        "get": _op(
            "Job logs",
            {
                "200": {"description": "Logs", "content": {"text/plain": {"schema": _STR}}},
                **_errors(401, 404),
            },
        ),
    },
    "/api/v1/jobs/{id}/metrics": {
        "parameters": [_ID_PARAM],
        "get": _op("Job metrics", {"200": _json(_ref("JobMetrics")), **_errors(401, 404)}),
    },
    "/api/v1/jobs/{id}/tags": {
        "parameters": [_ID_PARAM],
        "put": _op(
            "Replace job tags",
            {**_NO_CONTENT, **_errors(400, 401, 404, 413)},
            requestBody=_body("TagsRequest"),
        ),
    },
    "/identity/token": {
        "post": _op(
            "IAM API-key exchange (stand-in)",
            {"200": _json(_ref("TokenResponse")), "400": _json(_ref("IamError"), "Bad API key")},
            security=[],
            requestBody={
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["grant_type", "apikey"],
                            "properties": {
                                "grant_type": {
                                    "type": "string",
                                    "enum": ["urn:ibm:params:oauth:grant-type:apikey"],
                                },
                                "apikey": _STR,
                                "response_type": _STR,
                            },
                        }
                    }
                },
            },
        )
    },
}


def openapi_document(origin: str) -> dict[str, Any]:
    """The document, with ``origin`` (``http://127.0.0.1:PORT``) as its server."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "aioqruntime local Qiskit Runtime server",
            "version": "2026-04-15",
            "description": "The subset of the Qiskit Runtime REST API the local server implements. "
            "Every route is also served under /experimental/api/v1.",
        },
        "servers": [{"url": origin}],
        "paths": _PATHS,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
