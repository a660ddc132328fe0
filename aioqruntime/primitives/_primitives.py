"""``AsyncSampler`` and ``AsyncEstimator``: Runtime's V2 primitives, submitting without waiting.

``job = await sampler.run(pubs)`` coerces the pubs (qiskit's ``SamplerPub.coerce`` /
``EstimatorPub.coerce``), checks them against the backend target, encodes them in a worker thread
and submits one job; it returns as soon as the service has accepted it. ``await job`` gives a
qiskit ``PrimitiveResult``. Any number of ``run()`` calls may be in flight at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from aioqruntime._exceptions import InvalidInputError
from aioqruntime.primitives._isa import check_isa
from aioqruntime.primitives._options import ESTIMATOR_KEYS, SAMPLER_KEYS, split_options
from aioqruntime.runtime import AsyncBatch, AsyncRuntimeJob, AsyncSession, ServiceBackend
from aioqruntime.runtime._core import RuntimeOptions

__all__ = ["AsyncEstimator", "AsyncSampler"]

Mode = AsyncSession | AsyncBatch | ServiceBackend


class _Primitive:
    _program_id: ClassVar[str]
    _allowed: ClassVar[frozenset[str]]

    def __init__(self, mode: Mode, options: Mapping[str, Any] | None = None) -> None:
        if not isinstance(mode, (AsyncSession, ServiceBackend)):
            raise InvalidInputError(
                "mode must be an AsyncSession, an AsyncBatch or a backend from service.backend()"
            )
        self._mode = mode
        self._options: dict[str, Any] = dict(options or {})
        # Fail on a bad option now rather than at the first run().
        split_options(self._options, allowed=self._allowed, primitive=self._program_id)

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def options(self) -> dict[str, Any]:
        """The options dict; changes apply to later ``run()`` calls."""
        return self._options

    async def _backend(self) -> ServiceBackend:
        if isinstance(self._mode, AsyncSession):
            return await self._mode.target_backend()
        return self._mode

    async def _submit(self, coerced: list[Any], encoder: Any) -> AsyncRuntimeJob:
        program_options, extra, runtime = split_options(
            self._options, allowed=self._allowed, primitive=self._program_id
        )
        backend = await self._backend()
        target = backend.target
        for index, pub in enumerate(coerced):
            check_isa(pub.circuit, target, backend_name=backend.name, index=index)
        mode = self._mode
        service = backend.service if isinstance(mode, ServiceBackend) else mode.service
        core = service._core_or_raise()
        encoded = await core.encode(encoder, coerced)
        params: dict[str, Any] = {
            "pubs": encoded,
            "options": program_options,
            "version": 2,
            "support_qiskit": True,
            **extra,
        }
        return await self._dispatch(params, runtime)

    async def _dispatch(self, params: dict[str, Any], runtime: RuntimeOptions) -> AsyncRuntimeJob:
        mode = self._mode
        if isinstance(mode, AsyncSession):
            return await mode._submit(self._program_id, params, runtime)
        service = mode.service
        return await service._core_or_raise().submit(
            program_id=self._program_id,
            backend_name=mode.name,
            params=params,
            session_id=None,
            options=runtime,
            watcher=service._watcher_or_raise(),
        )


class AsyncSampler(_Primitive):
    """Sampler V2 (program ``sampler``). ``options``: a nested dict (protocol.md §3.3 keys)."""

    _program_id: ClassVar[str] = "sampler"
    _allowed: ClassVar[frozenset[str]] = SAMPLER_KEYS

    async def run(self, pubs: Iterable[Any], *, shots: int | None = None) -> AsyncRuntimeJob:
        """Submit one job for ``pubs`` and return it at once (``await job`` for the result)."""
        from qiskit.primitives.containers.sampler_pub import SamplerPub

        from aioqruntime.codec import encode_sampler_pubs

        if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int)):
            raise InvalidInputError(f"shots must be an int, got {shots!r}")
        try:
            coerced = [SamplerPub.coerce(pub, shots) for pub in _as_list(pubs)]
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(f"invalid sampler pub: {exc}") from exc
        return await self._submit(coerced, encode_sampler_pubs)


class AsyncEstimator(_Primitive):
    """Estimator V2 (program ``estimator``); ``resilience_level`` goes to ``params``."""

    _program_id: ClassVar[str] = "estimator"
    _allowed: ClassVar[frozenset[str]] = ESTIMATOR_KEYS

    async def run(self, pubs: Iterable[Any], *, precision: float | None = None) -> AsyncRuntimeJob:
        """Submit one job for ``pubs`` and return it at once (``await job`` for the result)."""
        from qiskit.primitives.containers.estimator_pub import EstimatorPub

        from aioqruntime.codec import encode_estimator_pubs

        try:
            coerced = [EstimatorPub.coerce(pub, precision) for pub in _as_list(pubs)]
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(f"invalid estimator pub: {exc}") from exc
        return await self._submit(coerced, encode_estimator_pubs)


def _as_list(pubs: Iterable[Any]) -> list[Any]:
    from qiskit.circuit import QuantumCircuit

    if isinstance(pubs, QuantumCircuit):
        raise InvalidInputError("run() takes a list of pubs: pass [circuit], not circuit")
    items = list(pubs)
    if not items:
        raise InvalidInputError("run() needs at least one pub")
    return items
