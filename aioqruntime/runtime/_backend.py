"""``ServiceBackend``: a :class:`RuntimeBackend` attached to the service it came from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aioqruntime.backends import RuntimeBackend
from aioqruntime.protocol import BackendStatus, backend_status

if TYPE_CHECKING:
    from aioqruntime.runtime._service import AsyncRuntimeService

__all__ = ["ServiceBackend"]


class ServiceBackend(RuntimeBackend):
    """A device of an open :class:`AsyncRuntimeService`: transpile against it, pass it as a mode.

    Configuration and properties were fetched once (cached by the service); ``await
    backend.status()`` asks the service for the live status.
    """

    def __init__(
        self,
        configuration: Mapping[str, Any],
        properties: Mapping[str, Any] | None,
        *,
        service: AsyncRuntimeService,
        list_entry: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(configuration, properties, list_entry=list_entry)
        self._service = service

    @property
    def service(self) -> AsyncRuntimeService:
        """The service this backend belongs to."""
        return self._service

    async def status(self) -> BackendStatus:
        """``GET /backends/{name}/status``: operational flag, status text, queue length."""
        response = await self._service._core_or_raise().transport.send(backend_status(self.name))
        return BackendStatus.from_json(response.json())
