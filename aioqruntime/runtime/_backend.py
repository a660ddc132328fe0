"""``ServiceBackend``: a :class:`RuntimeBackend` attached to the service it came from."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aioqruntime.backends import BackendProperties, RuntimeBackend, build_target
from aioqruntime.protocol import (
    BackendListEntry,
)

if TYPE_CHECKING:
    from qiskit.transpiler import Target

    from aioqruntime.runtime._service import AsyncRuntimeService

__all__ = ["BackendStatusInfo", "ServiceBackend"]


@dataclass(frozen=True)
class BackendStatusInfo:
    """A device's status with the official ``BackendStatus`` attributes.

    ``backend.status()`` returns the one read last (at listing, at :meth:`ServiceBackend.refresh`)
    without I/O, so a ``filters=`` callable may call it; ``await backend.status()`` asks the
    service now (``GET /backends/{name}/status``) and returns the fresh one.
    """

    backend_name: str
    backend_version: str
    operational: bool
    pending_jobs: int
    status_msg: str
    _fetch: Callable[[], Awaitable[BackendStatusInfo]] | None = field(
        default=None, repr=False, compare=False
    )

    def __await__(self) -> Generator[Any, None, BackendStatusInfo]:
        if self._fetch is None:
            return self
        return (yield from self._fetch().__await__())

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend_name": self.backend_name,
            "backend_version": self.backend_version,
            "operational": self.operational,
            "pending_jobs": self.pending_jobs,
            "status_msg": self.status_msg,
        }


@dataclass(frozen=True)
class BackendDocuments:
    """What a backend is built from: configuration, properties, list entry, calibration id."""

    configuration: dict[str, Any]
    properties: dict[str, Any] | None
    list_entry: dict[str, Any] | None
    calibration_id: str | None = None


async def fetch_documents(
    service: AsyncRuntimeService,
    name: str,
    entry: BackendListEntry | None,
    calibration_id: str | None,
    updated_before: datetime.datetime | None = None,
) -> BackendDocuments:
    """Configuration and properties of ``name`` (concurrently); simulators have no properties."""
    from aioqruntime.runtime._tasks import run_concurrently

    backends = service._core_or_raise().client.backends
    configuration: dict[str, Any] = {}
    properties: dict[str, Any] | None = None

    async def read_configuration() -> None:
        nonlocal configuration
        configuration = await backends.configuration(name, calibration_id=calibration_id)

    async def read_properties() -> None:
        nonlocal properties
        properties = await backends.properties(
            name, calibration_id=calibration_id, updated_before=updated_before
        )

    await run_concurrently((read_configuration, read_properties))
    if configuration.get("simulator"):
        properties = None
    return BackendDocuments(
        configuration,
        properties,
        dict(entry.raw) if entry is not None else None,
        calibration_id,
    )


class ServiceBackend(RuntimeBackend):
    """A device of an open :class:`AsyncRuntimeService`: transpile against it, pass it as a mode.

    Configuration and properties were fetched once (cached by the service): ``configuration()``,
    ``properties()`` and ``status()`` read them without I/O; ``await backend.refresh()`` reads
    them all again, ``await backend.status()`` just the status.
    """

    def __init__(
        self,
        configuration: Mapping[str, Any],
        properties: Mapping[str, Any] | None,
        *,
        service: AsyncRuntimeService,
        list_entry: Mapping[str, Any] | None = None,
        calibration_id: str | None = None,
        use_fractional_gates: bool | None = False,
    ) -> None:
        super().__init__(
            configuration,
            properties,
            list_entry=list_entry,
            calibration_id=calibration_id,
            include_fractional_gates=use_fractional_gates is not False,
        )
        self._service = service
        self._use_fractional_gates = use_fractional_gates
        self._status = self._status_from_entry(self._list_entry)

    @property
    def service(self) -> AsyncRuntimeService:
        """The service this backend belongs to."""
        return self._service

    @property
    def use_fractional_gates(self) -> bool | None:
        """As asked of ``service.backend()``: ``False`` leaves ``rzz``/``rx`` out of the target."""
        return self._use_fractional_gates

    def _status_from_entry(self, entry: Mapping[str, Any]) -> BackendStatusInfo:
        status = entry.get("status") or {}
        online = status.get("name", "online") == "online"
        return BackendStatusInfo(
            backend_name=self.name,
            backend_version=str(self._configuration.get("backend_version", "0.0.0")),
            operational=online,
            pending_jobs=max(0, int(entry.get("queue_length") or 0)),
            status_msg="active" if online else str(status.get("reason") or status.get("name")),
            _fetch=self._fetch_status,
        )

    def status(self) -> BackendStatusInfo:
        """The status read last (no I/O); ``await backend.status()`` reads it again."""
        return self._status

    async def _fetch_status(self) -> BackendStatusInfo:
        raw = await self._service._core_or_raise().client.backends.status(self.name)
        self._status = BackendStatusInfo(
            backend_name=self.name,
            backend_version=raw.backend_version,
            operational=raw.state,
            pending_jobs=raw.length_queue,
            status_msg=raw.status or "",
            _fetch=self._fetch_status,
        )
        return self._status

    async def refresh(self) -> None:
        """Read configuration, properties and status again, and rebuild the target."""
        service = self._service
        entry = await service._list_entry(self.name)
        documents = await fetch_documents(service, self.name, entry, self._calibration_id)
        core = service._core_or_raise()
        target: Target = await core.offload.run(
            lambda: build_target(
                documents.configuration,
                documents.properties,
                include_fractional_gates=self._include_fractional_gates,
            )
        )
        self._configuration = documents.configuration
        self._properties = documents.properties
        if documents.list_entry is not None:
            self._list_entry = documents.list_entry
        self._target = target
        self._status = self._status_from_entry(self._list_entry)
        await self._fetch_status()

    async def properties_at(self, when: datetime.datetime) -> BackendProperties | None:
        """The calibration in effect at ``when`` (``GET .../properties?updated_before=``)."""
        documents = await fetch_documents(self._service, self.name, None, None, when)
        return BackendProperties(documents.properties) if documents.properties else None

    async def target_history(self, datetime: datetime.datetime | None = None) -> Target:
        """The target built from the calibration in effect at ``datetime`` (now when ``None``)."""
        documents = await fetch_documents(
            self._service, self.name, None, self._calibration_id, datetime
        )
        core = self._service._core_or_raise()
        target: Target = await core.offload.run(
            lambda: build_target(
                documents.configuration,
                documents.properties,
                include_fractional_gates=self._include_fractional_gates,
            )
        )
        return target
