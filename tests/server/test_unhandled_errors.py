"""An unexpected exception anywhere in request handling: a logged traceback and a JSON 500."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from aioqruntime.server import LocalRuntimeServer

from .conftest import Api

SECRET_DETAIL = "kaboom-detail-7f3a"


def _boom(*_: Any, **__: Any) -> Any:
    raise RuntimeError(SECRET_DETAIL)


def _assert_json_500(body: Any) -> None:
    assert isinstance(body, dict), body
    assert set(body) == {"errors", "trace"}
    (error,) = body["errors"]
    assert error["code"] == "internal_error"
    assert error["message"] == "Internal server error"
    assert SECRET_DETAIL not in str(body)  # no internals in the answer


def _logged_traceback(caplog: pytest.LogCaptureFixture) -> logging.LogRecord:
    records = [r for r in caplog.records if r.name == "aioqruntime.server" and r.exc_info]
    assert records, [r.getMessage() for r in caplog.records]
    (record,) = records
    assert record.levelno >= logging.ERROR
    assert record.exc_info is not None and SECRET_DETAIL in str(record.exc_info[1])
    return record


async def test_an_exception_in_an_api_handler_is_a_logged_json_500(
    api: Api,
    server: LocalRuntimeServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(type(server._ctx), "instance_of", _boom)
    caplog.set_level(logging.ERROR, logger="aioqruntime.server")
    response = await api.request("GET", "/jobs")
    assert response.status == 500
    assert response.content_type == "application/json"
    _assert_json_500(await response.json())
    record = _logged_traceback(caplog)
    assert "GET /api/v1/jobs" in record.getMessage()


async def test_an_exception_in_an_admin_handler_is_a_logged_json_500(
    api: Api,
    server: LocalRuntimeServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(server._ctx.scheduler, "pause", _boom)
    caplog.set_level(logging.ERROR, logger="aioqruntime.server")
    response = await api.http.post(server.url + "/_local/pause", headers=api.headers())
    assert response.status == 500
    assert response.content_type == "application/json"
    _assert_json_500(await response.json())
    _logged_traceback(caplog)


async def test_an_exception_outside_the_error_middleware_is_a_logged_json_500(
    api: Api,
    server: LocalRuntimeServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The fault injector runs in a middleware outside the one that maps errors: what escapes
    # there reaches aiohttp's connection handler, which must answer in the same shape.
    monkeypatch.setattr(server._ctx.faults, "decide", _boom)
    caplog.set_level(logging.ERROR, logger="aioqruntime.server")
    response = await api.request("GET", "/backends")
    assert response.status == 500
    assert response.content_type == "application/json"
    _assert_json_500(await response.json())
    _logged_traceback(caplog)
    # The server keeps serving once the fault is gone.
    monkeypatch.undo()
    assert (await api.request("GET", "/backends")).status == 200
