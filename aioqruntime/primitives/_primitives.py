"""``AsyncSampler`` and ``AsyncEstimator``: Runtime's V2 primitives, submitting without waiting.

``job = await sampler.run(pubs)`` coerces the pubs (qiskit's ``SamplerPub.coerce`` /
``EstimatorPub.coerce``), checks them against the backend target and encodes them, all in one
worker-thread step (never on the event loop), then submits one job; it returns as soon as the
service has accepted it. ``await job`` gives a qiskit ``PrimitiveResult``. Any number of
``run()`` calls may be in flight at once.

Everything that can be known locally is checked before any request is sent, each failure an
:class:`InvalidInputError`: the options (names and types, nested too), the pubs' shapes (qiskit's
coercion), finite parameter values, shots (positive ints, at most the backend's ``max_shots``),
precision (positive and finite), the ISA check, and the size of the job body against the service's
50 MB job input limit (:data:`~aioqruntime.runtime._options.MAX_JOB_INPUT_BYTES`, measured by the
submission itself, as for ``session.run``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from aioqruntime._exceptions import InvalidInputError
from aioqruntime.primitives._isa import check_isa
from aioqruntime.primitives._options import ESTIMATOR_KEYS, SAMPLER_KEYS, split_options
from aioqruntime.runtime import AsyncBatch, AsyncRuntimeJob, AsyncSession, ServiceBackend
from aioqruntime.runtime._options import RuntimeOptions

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
        if options is not None and not isinstance(options, Mapping):
            raise InvalidInputError(f"options must be a dict, got {type(options).__name__}")
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

    async def _submit(self, items: list[Any], default: Any) -> AsyncRuntimeJob:
        program_options, extra, runtime = split_options(
            self._options, allowed=self._allowed, primitive=self._program_id
        )
        backend = await self._backend()
        mode = self._mode
        service = backend.service if isinstance(mode, ServiceBackend) else mode.service
        core = service._core_or_raise()
        # Coercion, the ISA check and encoding are CPU work: one step in a worker thread. Its
        # errors (InvalidInputError) come back here, before any request is sent.
        encoded = await core.encode(self._prepare, items, default, backend, program_options)
        params: dict[str, Any] = {
            "pubs": encoded,
            "options": program_options,
            "version": 2,
            "support_qiskit": True,
            **extra,
        }
        return await self._dispatch(params, runtime)

    def _prepare(
        self,
        items: list[Any],
        default: Any,
        backend: ServiceBackend,
        options: Mapping[str, Any],
    ) -> list[Any]:
        """Worker thread: coerce the pubs, check them against ``backend``, encode them."""
        coerced = self._coerce(items, default)
        target = backend.target
        for index, pub in enumerate(coerced):
            check_isa(pub.circuit, target, backend_name=backend.name, index=index)
            _check_values(index, pub)
            self._check_pub(index, pub, backend, options)
        return self._encode(coerced)

    def _coerce(self, items: list[Any], default: Any) -> list[Any]:
        """The pubs as qiskit ``SamplerPub``/``EstimatorPub`` (worker thread)."""
        raise NotImplementedError

    def _encode(self, coerced: list[Any]) -> list[Any]:
        """The coerced pubs as JSON-ready lists for ``params.pubs`` (worker thread)."""
        raise NotImplementedError

    def _check_pub(
        self, index: int, pub: Any, backend: ServiceBackend, options: Mapping[str, Any]
    ) -> None:
        """Per-primitive checks of one coerced pub against the backend (no I/O)."""

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
        if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int)):
            raise InvalidInputError(f"shots must be an int, got {shots!r}")
        return await self._submit(_as_list(pubs), shots)

    def _coerce(self, items: list[Any], default: Any) -> list[Any]:
        from qiskit.primitives.containers.sampler_pub import SamplerPub

        coerced = []
        for index, pub in enumerate(items):
            try:
                coerced.append(SamplerPub.coerce(pub, default))
            except _COERCE_ERRORS as exc:
                raise InvalidInputError(f"invalid sampler pub {index}: {exc}") from exc
        return coerced

    def _encode(self, coerced: list[Any]) -> list[Any]:
        from aioqruntime.codec import encode_sampler_pubs

        encoded: list[Any] = encode_sampler_pubs(coerced)
        return encoded

    def _check_pub(
        self, index: int, pub: Any, backend: ServiceBackend, options: Mapping[str, Any]
    ) -> None:
        shots = pub.shots if pub.shots is not None else options.get("default_shots")
        limit = backend.max_shots
        if shots is not None and limit is not None and shots > limit:
            raise InvalidInputError(
                f"pub {index}: {shots} shots exceed the maximum of {backend.name} ({limit})"
            )


class AsyncEstimator(_Primitive):
    """Estimator V2 (program ``estimator``); ``resilience_level`` goes to ``params``."""

    _program_id: ClassVar[str] = "estimator"
    _allowed: ClassVar[frozenset[str]] = ESTIMATOR_KEYS

    async def run(self, pubs: Iterable[Any], *, precision: float | None = None) -> AsyncRuntimeJob:
        """Submit one job for ``pubs`` and return it at once (``await job`` for the result)."""
        if precision is not None:
            _check_precision(precision, "precision")
        return await self._submit(_as_list(pubs), precision)

    def _coerce(self, items: list[Any], default: Any) -> list[Any]:
        from qiskit.primitives.containers.estimator_pub import EstimatorPub

        coerced = []
        for index, pub in enumerate(items):
            try:
                coerced.append(EstimatorPub.coerce(pub, default))
            except _COERCE_ERRORS as exc:
                raise InvalidInputError(f"invalid estimator pub {index}: {exc}") from exc
        for index, pub in enumerate(coerced):
            if pub.precision is not None:
                _check_precision(pub.precision, f"pub {index}: precision")
        return coerced

    def _encode(self, coerced: list[Any]) -> list[Any]:
        from aioqruntime.codec import encode_estimator_pubs

        encoded: list[Any] = encode_estimator_pubs(coerced)
        return encoded


def _as_list(pubs: Iterable[Any]) -> list[Any]:
    from qiskit.circuit import QuantumCircuit

    if isinstance(pubs, QuantumCircuit):
        raise InvalidInputError("run() takes a list of pubs: pass [circuit], not circuit")
    try:
        items = list(pubs)
    except TypeError as exc:
        raise InvalidInputError(f"run() takes a list of pubs, got {type(pubs).__name__}") from exc
    if not items:
        raise InvalidInputError("run() needs at least one pub")
    return items


#: What qiskit's pub coercion raises for input of the wrong shape or type.
_COERCE_ERRORS = (ValueError, TypeError, AttributeError, IndexError, KeyError)


def _check_precision(value: Any, what: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidInputError(f"{what} must be a finite number > 0, got {value!r}")


def _check_values(index: int, pub: Any) -> None:
    """Parameter values must be finite numbers (NaN or infinity cannot be bound)."""
    import numpy as np

    for names, values in pub.parameter_values.data.items():
        array = np.asarray(values)
        if array.dtype.kind not in "biuf":
            raise InvalidInputError(
                f"pub {index}: values of parameters {list(names)[:3]} must be real numbers, "
                f"got dtype {array.dtype}"
            )
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise InvalidInputError(
                f"pub {index}: values of parameters {list(names)[:3]} must be finite "
                "(got NaN or infinity)"
            )
