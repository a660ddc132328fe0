"""``/backends`` and ``/instances/usage`` routes."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from aioqruntime.backends import calibration_id_of
from aioqruntime.server._context import CONTEXT
from aioqruntime.server._errors import ApiFailure
from aioqruntime.server._records import isoformat, utcnow
from aioqruntime.server._scheduler import BackendInfo

__all__ = ["routes"]

routes = web.RouteTableDef()


def _is_mock(info: BackendInfo) -> bool:
    return info.list_entry_extra.get("class") == "mock"


@routes.get("/backends")
async def list_backends(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    # As the service: mock (dry-run) devices are listed only when asked for.
    include_mocks = request.query.get("include_mocks", "").strip().lower() == "true"
    devices = []
    for name, info in ctx.backends.items():
        if _is_mock(info) and not include_mocks:
            continue
        entry = dict(info.list_entry_extra)
        entry.update(
            {
                "name": name,
                # A test-paused device still reads "online": pausing only holds its queue.
                "status": {"name": "online", "reason": "available"},
                "queue_length": ctx.scheduler.queue_length(name),
            }
        )
        calibration = calibration_id_of(info.properties, name)
        if calibration is not None:
            entry["calibration_id"] = calibration
        devices.append(entry)
    return web.json_response({"devices": devices})


def _check_calibration(request: web.Request, info: BackendInfo) -> None:
    """``?calibration_id=``: the device's one calibration, else the service's 404."""
    wanted = request.query.get("calibration_id")
    if wanted is not None and wanted != calibration_id_of(info.properties, info.name):
        raise ApiFailure(
            404, f"Calibration {wanted!r} not found for backend {info.name!r}", code="1007"
        )


@routes.get("/backends/{name}/configuration")
async def backend_configuration(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    info = ctx.backend(request.match_info["name"])
    _check_calibration(request, info)
    return web.json_response(dict(info.configuration))


@routes.get("/backends/{name}/properties")
async def backend_properties(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    info = ctx.backend(request.match_info["name"])
    _check_calibration(request, info)
    # A simulator has no calibration: an empty object is the service's "no properties".
    return web.json_response(dict(info.properties or {}))


@routes.get("/backends/{name}/status")
async def backend_status(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    info = ctx.backend(request.match_info["name"])
    return web.json_response(
        {
            "state": True,
            "status": "active",
            "message": "available",
            "length_queue": ctx.scheduler.queue_length(info.name),
            "backend_version": str(info.configuration.get("backend_version", "0.0.0")),
        }
    )


@routes.get("/instances/usage")
async def instance_usage(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    instance = ctx.instance_of(request)
    consumed = sum(j.qpu_seconds for j in ctx.store.jobs.values() if j.instance == instance)
    now = utcnow()
    limit = ctx.config.usage_limit_seconds
    return web.json_response(
        {
            "instance_id": instance,
            "plan_id": "local-plan",
            "usage_consumed_seconds": round(consumed, 6),
            "usage_limit_seconds": limit,
            "usage_allocation_seconds": limit,
            # The local server never stops an instance for usage; the figure is informative.
            "usage_limit_reached": False,
            "usage_period": {
                "start_time": isoformat(now - timedelta(days=28)),
                "end_time": isoformat(now),
            },
        }
    )
