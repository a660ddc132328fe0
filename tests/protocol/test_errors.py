"""Error bodies and the status → error class mapping."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
from aioqruntime.protocol import ApiErrorBody, ApiErrorItem, error_for_response


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, PayloadTooLargeError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (524, InternalServerError),
        (418, APIStatusError),
        (422, APIStatusError),
        (302, APIStatusError),
    ],
)
def test_status_mapping(status: int, error_class: type[APIStatusError]) -> None:
    error = error_for_response(status, b"", {})
    assert type(error) is error_class
    assert error.status == status


def test_runtime_error_shape() -> None:
    body = {
        "errors": [{"code": "1291", "message": "Job not found", "more_info": "u"}],
        "trace": "t-1",
    }
    error = error_for_response(
        404, json.dumps(body).encode(), {}, method="get", url="http://h/api/v1/jobs/x"
    )
    assert str(error) == "GET http://h/api/v1/jobs/x: 404 Job not found (code 1291, request id t-1)"
    assert (error.code, error.server_message, error.request_id) == ("1291", "Job not found", "t-1")
    assert (error.method, error.url) == ("get", "http://h/api/v1/jobs/x")


def test_numeric_code_and_legacy_and_iam_shapes() -> None:
    generic = ApiErrorBody.parse('{"errors":[{"code":1202,"message":"slow","solution":"wait"}]}')
    assert generic.code == "1202" and generic.errors[0].solution == "wait"
    legacy = ApiErrorBody.parse('{"error":{"message":"bad","code":"X1"}}')
    assert (legacy.code, legacy.message) == ("X1", "bad")
    iam = ApiErrorBody.parse(
        '{"errorCode":"BXNIM0415E","errorMessage":"Provided API key could not be found.",'
        '"context":{"requestId":"r-9"}}'
    )
    assert (iam.code, iam.message, iam.trace) == (
        "BXNIM0415E",
        "Provided API key could not be found.",
        "r-9",
    )


def test_request_id_from_headers_and_plain_body() -> None:
    error = error_for_response(502, "<html>Bad   gateway</html>", {"X-Request-ID": "h-1"})
    assert error.request_id == "h-1"
    assert "<html>Bad gateway</html>" in str(error)
    traced = error_for_response(500, b"", {"uber-trace-id": "u-1"})
    assert traced.request_id == "u-1" and "(empty body)" in str(traced)


def test_long_body_is_truncated_in_message_but_kept() -> None:
    body = "x" * 5000
    error = error_for_response(500, body, {})
    assert len(str(error)) < 400 and error.body == body


def test_credentials_never_copied() -> None:
    headers = {"Authorization": "Bearer SECRET", "Set-Cookie": "s=SECRET", "Retry-After": "3"}
    error = error_for_response(429, b"{}", headers, url="http://h/x")
    assert "SECRET" not in str(error) and "SECRET" not in repr(error.headers)
    assert isinstance(error, RateLimitError) and error.retry_after == 3.0


def test_url_credentials_never_in_message() -> None:
    error = error_for_response(500, b"", {}, method="GET", url="http://user:pw@h:8/x?a=1")
    assert "pw" not in str(error) and "http://h:8/x?a=1" in str(error)


def test_error_body_round_trip() -> None:
    body = ApiErrorBody(errors=(ApiErrorItem(code="1291", message="nope"),), trace="t")
    assert ApiErrorBody.from_json(body.to_json()) == body


@given(st.integers(100, 599), st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_never_fails_on_any_body(status: int, body: bytes | str) -> None:
    error = error_for_response(status, body, {})
    assert isinstance(error, APIStatusError) and error.status == status


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_error_body_never_fails_on_any_json(data: object) -> None:
    ApiErrorBody.parse(json.dumps(data))
    ApiErrorBody.from_json({"errors": data, "error": data, "errorCode": data, "trace": data})
