"""``client.backends`` and ``client.usage``: device and instance reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aioqruntime._exceptions import NotFoundError
from aioqruntime.protocol import (
    BackendList,
    BackendStatus,
    Usage,
    backend_configuration,
    backend_properties,
    backend_status,
    instance_usage,
    list_backends,
)
from aioqruntime.transport import Transport

__all__ = ["BackendsResource", "UsageResource"]


class BackendsResource:
    """Typed ``/backends`` calls over one :class:`~aioqruntime.transport.Transport`."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def list(self, *, include_mocks: bool = False) -> BackendList:
        """``GET /backends``."""
        request = list_backends(include_mocks=include_mocks)
        return BackendList.from_json((await self._transport.send(request)).json())

    async def configuration(
        self, name: str, *, calibration_id: str | None = None
    ) -> dict[str, Any]:
        """The configuration document (the backends layer builds the ``Target`` from it)."""
        request = backend_configuration(name, calibration_id=calibration_id)
        return dict((await self._transport.send(request)).json())

    async def properties(
        self,
        name: str,
        *,
        calibration_id: str | None = None,
        updated_before: datetime | str | None = None,
    ) -> dict[str, Any] | None:
        """The properties document, or ``None`` (simulators have none: 404 or an empty body)."""
        request = backend_properties(
            name, calibration_id=calibration_id, updated_before=updated_before
        )
        try:
            response = await self._transport.send(request)
        except NotFoundError:
            return None
        data = response.json() if response.body.strip() else None
        return dict(data) if isinstance(data, dict) and data else None

    async def status(self, name: str) -> BackendStatus:
        """``GET /backends/{name}/status``."""
        return BackendStatus.from_json((await self._transport.send(backend_status(name))).json())


class UsageResource:
    """``GET /instances/usage``."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def get(self) -> Usage:
        return Usage.from_json((await self._transport.send(instance_usage())).json())
