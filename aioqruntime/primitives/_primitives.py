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

Built as the official ``SamplerV2``/``EstimatorV2``: ``mode`` is a backend (job mode), a session or
a batch (``session=``/``backend=`` are accepted as its other names); ``mode=None`` inside an
``async with`` session or batch block means that one, and a backend given there runs in it too.
``options`` is a dict or an options object (:mod:`aioqruntime.options`), kept as an object.
``run(..., dry_run=True)`` sends the job to the backend's ``mock_`` counterpart, in job mode.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Generic, TypeVar

from aioqruntime._exceptions import InvalidInputError, NotFoundError
from aioqruntime.primitives._isa import check_isa
from aioqruntime.primitives._option_classes import (
    EstimatorOptions,
    PrimitiveOptions,
    SamplerOptions,
)
from aioqruntime.primitives._options import ESTIMATOR_KEYS, SAMPLER_KEYS, split_options
from aioqruntime.primitives._pub_checks import (
    bad_mode_error,
    check_classical_registers,
    check_dd_with_dynamic,
    check_observables,
    check_rzz_angles,
)
from aioqruntime.primitives._pubs import as_pub_list, coerce_estimator_pubs, coerce_sampler_pubs
from aioqruntime.runtime import (
    AsyncBatch,
    AsyncRuntimeJob,
    AsyncRuntimeService,
    AsyncSession,
    ServiceBackend,
    run_off_loop,
    submit_in_job_mode,
)
from aioqruntime.runtime._context import current_mode
from aioqruntime.runtime._options import RuntimeOptions

__all__ = ["AsyncEstimator", "AsyncSampler"]

logger = logging.getLogger("aioqruntime.primitives")

Mode = AsyncSession | AsyncBatch | ServiceBackend
OptionsT = TypeVar("OptionsT", bound=PrimitiveOptions)


class _Primitive(Generic[OptionsT]):
    _program_id: ClassVar[str]
    _allowed: ClassVar[frozenset[str]]
    _options_class: ClassVar[type[PrimitiveOptions]]
    #: The primitive interface version (the official ``SamplerV2.version``).
    version: ClassVar[int] = 2

    def __init__(
        self,
        mode: Mode | None = None,
        options: OptionsT | dict[str, Any] | None = None,
        *,
        session: AsyncSession | None = None,
        backend: ServiceBackend | None = None,
    ) -> None:
        """``mode``: a backend (job mode), an :class:`AsyncSession` or an :class:`AsyncBatch`;
        ``None`` inside an ``async with`` session or batch block means that one.
        ``session=`` and ``backend=`` are other names for ``mode`` (as IBM's documentation
        writes ``Sampler(session=session)``). ``options``: a dict or an options object."""
        self._mode: AsyncSession | ServiceBackend = _resolve_mode(
            type(self).__name__, mode=mode, session=session, backend=backend
        )
        self._options: OptionsT = self._options_class._coerce(options)  # type: ignore[assignment]

    @property
    def mode(self) -> AsyncSession | None:
        """The session or batch the jobs run in; ``None`` in job mode."""
        return self._mode if isinstance(self._mode, AsyncSession) else None

    @property
    def options(self) -> OptionsT:
        """The options object; changes apply to later ``run()`` calls."""
        return self._options

    def backend(self) -> ServiceBackend:
        """The backend the jobs run on (no I/O)."""
        if isinstance(self._mode, ServiceBackend):
            return self._mode
        known = self._mode._backend  # the session's backend object, once given or fetched
        if known is None:
            raise InvalidInputError(
                f"the backend of this {type(self._mode).__name__} is not fetched yet: "
                "enter the session (async with) or await session.target_backend() first"
            )
        return known

    async def _target(self) -> ServiceBackend:
        if isinstance(self._mode, AsyncSession):
            return await self._mode.target_backend()
        return self._mode

    async def _submit(self, items: list[Any], default: Any, dry_run: bool) -> AsyncRuntimeJob:
        if not isinstance(dry_run, bool):
            raise InvalidInputError(f"dry_run must be True or False, got {dry_run!r:.80}")
        self._options._validate_tree()
        program_options, extra, runtime = split_options(
            self._options._set_values(), allowed=self._allowed, primitive=self._program_id
        )
        service = self._mode.service
        backend = await self._target()
        if dry_run:
            backend = await _mock_counterpart(service, backend)
        self._check_run(backend, program_options)
        # Coercion, the ISA check and encoding are CPU work: one step in a worker thread. Its
        # errors (InvalidInputError) come back here, before any request is sent.
        encoded = await run_off_loop(
            service, self._prepare, items, default, backend, program_options
        )
        params: dict[str, Any] = {
            "pubs": encoded,
            "options": program_options,
            "version": 2,
            "support_qiskit": True,
            **extra,
        }
        if dry_run:
            # The mock device takes no session: a dry run is a job-mode job on it.
            return await self._submit_to(service, backend, params, runtime)
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
            if not backend.is_simulator:
                check_rzz_angles(index, pub)
            check_isa(pub.circuit, target, backend_name=backend.name, index=index)
            _check_values(index, pub)
            check_dd_with_dynamic(index, pub.circuit, options)
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

    def _check_run(self, backend: ServiceBackend, options: Mapping[str, Any]) -> None:
        """Per-primitive checks of the options against the backend (no I/O)."""

    async def _dispatch(self, params: dict[str, Any], runtime: RuntimeOptions) -> AsyncRuntimeJob:
        mode = self._mode
        if isinstance(mode, AsyncSession):
            return await mode._submit(self._program_id, params, runtime)
        return await self._submit_to(mode.service, mode, params, runtime)

    async def _submit_to(
        self,
        service: AsyncRuntimeService,
        backend: ServiceBackend,
        params: dict[str, Any],
        runtime: RuntimeOptions,
    ) -> AsyncRuntimeJob:
        """Job mode: one job on ``backend``, watched by the service."""
        return await submit_in_job_mode(
            service,
            program_id=self._program_id,
            backend_name=backend.name,
            params=params,
            options=runtime,
        )


def _resolve_mode(
    primitive: str,
    *,
    mode: object,
    session: object,
    backend: object,
) -> AsyncSession | ServiceBackend:
    """The execution mode from ``mode=``/``session=``/``backend=`` and the ambient session."""
    given = {
        name: value
        for name, value in (("mode", mode), ("session", session), ("backend", backend))
        if value is not None
    }
    if len({id(value) for value in given.values()}) > 1:
        raise InvalidInputError(
            f"{primitive}() takes one execution mode: give one of {sorted(given)}, not several"
        )
    chosen = next(iter(given.values()), None)
    ambient = current_mode()
    if chosen is None:
        if isinstance(ambient, AsyncSession):
            return ambient
        raise InvalidInputError(
            f"{primitive}() needs an execution mode: pass mode=backend (job mode), "
            "mode=session or mode=batch, or build it inside an `async with AsyncSession(...)` "
            "or `async with AsyncBatch(...)` block"
        )
    if isinstance(chosen, AsyncSession):
        return chosen
    if not isinstance(chosen, ServiceBackend):
        raise bad_mode_error(chosen)
    if isinstance(ambient, AsyncSession):
        # As the official primitives: a backend given inside a session block runs in that block.
        if ambient.backend() != chosen.name:
            raise InvalidInputError(
                f"the backend {chosen.name!r} differs from the backend of the open "
                f"{type(ambient).__name__} ({ambient.backend()!r}): leave mode empty to use "
                "the session's backend"
            )
        logger.warning(
            "a backend was passed as the mode inside an open %s block: its jobs run in it",
            type(ambient).__name__,
        )
        return ambient
    return chosen


async def _mock_counterpart(
    service: AsyncRuntimeService, backend: ServiceBackend
) -> ServiceBackend:
    """The mock device a dry run goes to, named as the official client names it."""
    if backend.name.startswith("mock_"):
        return backend
    mock_name = re.sub(r"^[^_]+", "mock", backend.name)
    try:
        return await service.backend(mock_name)
    except NotFoundError as exc:
        raise InvalidInputError(
            f"dry_run=True runs on the mock device {mock_name!r}, which the service does not "
            f"offer; run on {backend.name!r} without dry_run"
        ) from exc


class AsyncSampler(_Primitive[SamplerOptions]):
    """Sampler V2 (program ``sampler``); ``options``: :class:`SamplerOptions` or a dict."""

    _program_id: ClassVar[str] = "sampler"
    _allowed: ClassVar[frozenset[str]] = SAMPLER_KEYS
    _options_class: ClassVar[type[PrimitiveOptions]] = SamplerOptions

    async def run(
        self, pubs: Iterable[Any], *, shots: int | None = None, dry_run: bool = False
    ) -> AsyncRuntimeJob:
        """Submit one job for ``pubs`` and return it at once (``await job`` for the result).

        ``dry_run=True`` runs it on the backend's mock counterpart (``ibm_x`` -> ``mock_x``),
        which returns random data of the right shape, in job mode.
        """
        if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int)):
            raise InvalidInputError(f"shots must be an int, got {shots!r}")
        return await self._submit(as_pub_list(pubs), shots, dry_run)

    def _coerce(self, items: list[Any], default: Any) -> list[Any]:
        return coerce_sampler_pubs(items, default)

    def _encode(self, coerced: list[Any]) -> list[Any]:
        from aioqruntime.codec import encode_sampler_pubs

        encoded: list[Any] = encode_sampler_pubs(coerced)
        return encoded

    def _check_pub(
        self, index: int, pub: Any, backend: ServiceBackend, options: Mapping[str, Any]
    ) -> None:
        check_classical_registers(index, pub.circuit)
        shots = pub.shots if pub.shots is not None else options.get("default_shots")
        limit = backend.max_shots
        if shots is not None and limit is not None and shots > limit:
            raise InvalidInputError(
                f"pub {index}: {shots} shots exceed the maximum of {backend.name} ({limit})"
            )


class AsyncEstimator(_Primitive[EstimatorOptions]):
    """Estimator V2 (program ``estimator``); ``options``: :class:`EstimatorOptions` or a dict.

    ``resilience_level`` goes to ``params``."""

    _program_id: ClassVar[str] = "estimator"
    _allowed: ClassVar[frozenset[str]] = ESTIMATOR_KEYS
    _options_class: ClassVar[type[PrimitiveOptions]] = EstimatorOptions

    async def run(
        self, pubs: Iterable[Any], *, precision: float | None = None, dry_run: bool = False
    ) -> AsyncRuntimeJob:
        """Submit one job for ``pubs`` and return it at once (``await job`` for the result).

        ``dry_run=True`` runs it on the backend's mock counterpart, in job mode.
        """
        if precision is not None:
            _check_precision(precision, "precision")
        return await self._submit(as_pub_list(pubs), precision, dry_run)

    def _check_run(self, backend: ServiceBackend, options: Mapping[str, Any]) -> None:
        resilience = options.get("resilience") or {}
        simulator = options.get("simulator") or {}
        # The official EstimatorV2's rule: PEC on a simulator needs a coupling map to learn on.
        if (
            backend.is_simulator
            and resilience.get("pec_mitigation") is True
            and not simulator.get("coupling_map")
        ):
            raise InvalidInputError(
                f"{backend.name} is a simulator: with resilience.pec_mitigation=True, set "
                "options.simulator.coupling_map too"
            )

    def _coerce(self, items: list[Any], default: Any) -> list[Any]:
        coerced = coerce_estimator_pubs(items, default)
        for index, pub in enumerate(coerced):
            if pub.precision is not None:
                _check_precision(pub.precision, f"pub {index}: precision")
            check_observables(index, pub)
        return coerced

    def _encode(self, coerced: list[Any]) -> list[Any]:
        from aioqruntime.codec import encode_estimator_pubs

        encoded: list[Any] = encode_estimator_pubs(coerced)
        return encoded


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
