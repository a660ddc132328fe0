"""``EstimatorEvaluator``: concurrent ``await ev.evaluate(params)`` calls become one estimator job.

The batch of K points travels as one PUB whose parameter values have shape ``(K, P)``. With
several observables the PUB broadcasts observables of shape ``(1, M)`` against values of shape
``(K, 1, P)``, so one job gives the ``(K, M)`` table and each caller gets its row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aioqruntime._exceptions import InvalidInputError
from aioqruntime.primitives import AsyncEstimator
from aioqruntime.variational._coalescer import CoalescingEvaluator, Points, SubmittedJob
from aioqruntime.variational._packer import EstimatorPacker

__all__ = ["EstimatorEvaluator", "Expectation"]

#: Defaults shared by both evaluators.
DEFAULT_MAX_BATCH = 256
DEFAULT_WINDOW = 0.005
DEFAULT_MAX_JOBS_IN_FLIGHT = 2


@dataclass(frozen=True, eq=False)  # arrays have no truth value: compare fields yourself
class Expectation:
    """One caller's estimate: floats for one observable, ``(M,)`` arrays for M observables."""

    value: float | NDArray[np.float64]
    std_error: float | NDArray[np.float64]

    def __float__(self) -> float:
        # Lets an optimizer treat a single-observable Expectation as its objective value.
        if isinstance(self.value, np.ndarray):
            raise TypeError("an Expectation of several observables is not a single float")
        return self.value


class EstimatorEvaluator(CoalescingEvaluator[Expectation]):
    """Coalesces ``await ev.evaluate(params)`` calls into broadcast estimator jobs.

    ``estimator_or_mode`` is an :class:`AsyncEstimator` (its options apply) or a mode for a new one
    (an ``AsyncSession``, ``AsyncBatch`` or a backend), or an :class:`EstimatorPacker` several
    evaluators share: their PUBs then travel together in multi-PUB jobs. ``circuit`` is an ISA
    circuit with P parameters; ``observables`` is one observable (values are floats) or a list of
    them (values are ``(M,)`` arrays), already laid out for the circuit (``apply_layout``).

    Calls arriving within ``window`` seconds of the oldest waiting one share a job of at most
    ``max_batch`` points; at most ``max_jobs_in_flight`` jobs are submitted and unfinished at once.
    Use it as ``async with EstimatorEvaluator(...) as ev:``.
    """

    def __init__(
        self,
        estimator_or_mode: Any,
        circuit: Any,
        observables: Any,
        *,
        precision: float | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        window: float = DEFAULT_WINDOW,
        max_jobs_in_flight: int = DEFAULT_MAX_JOBS_IN_FLIGHT,
    ) -> None:
        self._packer = estimator_or_mode if isinstance(estimator_or_mode, EstimatorPacker) else None
        if self._packer is not None:
            self._estimator = self._packer.estimator
        elif isinstance(estimator_or_mode, AsyncEstimator):
            self._estimator = estimator_or_mode
        else:
            self._estimator = AsyncEstimator(estimator_or_mode)
        self._circuit = circuit
        self._several = isinstance(observables, (list, tuple))
        self._observables: Any = [list(observables)] if self._several else observables
        if precision is not None and not _positive_real(precision):
            raise InvalidInputError(f"precision must be a finite number > 0, got {precision!r}")
        self._precision = precision
        super().__init__(
            _num_parameters(circuit),
            max_batch=max_batch,
            window=window,
            max_jobs_in_flight=max_jobs_in_flight,
        )
        # Fail on a bad observable or precision here rather than in every caller later.
        self._pub(np.zeros((1, self.num_parameters)), validate=True)

    @property
    def estimator(self) -> AsyncEstimator:
        return self._estimator

    async def evaluate(self, params: Any) -> Expectation:
        """The expectation value(s) at ``params`` (shape ``(P,)``), batched with concurrent calls.

        A wrong shape or a non-finite value raises :class:`InvalidInputError` at once (nothing is
        sent); a failed job raises its ``JobError`` in the callers of that job only.
        """
        return await self._request(params)

    async def evaluate_many(self, many: Any) -> list[Expectation]:
        """One :class:`Expectation` per row of ``many`` (list of vectors or ``(K, P)`` array)."""
        return await self._request_many(many)

    def _pub(self, points: Points, *, validate: bool = False) -> tuple[Any, ...]:
        values = points[:, np.newaxis, :] if self._several else points
        pub = (self._circuit, self._observables, values)
        if validate:
            from qiskit.primitives.containers.estimator_pub import EstimatorPub

            try:
                EstimatorPub.coerce(pub, self._precision)
            except (ValueError, TypeError) as exc:
                raise InvalidInputError(f"invalid circuit or observables: {exc}") from exc
        return pub

    async def _submit(self, points: Points) -> SubmittedJob:
        if self._packer is not None:
            # The precision travels in the PUB: packed PUBs of other evaluators keep theirs.
            return self._packer.submit((*self._pub(points), self._precision))
        return await self._estimator.run([self._pub(points)], precision=self._precision)

    def _split(self, result: Any, count: int) -> Sequence[Expectation]:
        data = result[0].data
        evs = np.asarray(data.evs, dtype=np.float64)
        stds = np.asarray(data.stds, dtype=np.float64)
        if self._several:
            return [Expectation(evs[k].copy(), stds[k].copy()) for k in range(count)]
        return [Expectation(float(evs[k]), float(stds[k])) for k in range(count)]


def _positive_real(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _num_parameters(circuit: Any) -> int:
    try:
        count = int(circuit.num_parameters)
    except AttributeError as exc:
        raise InvalidInputError("circuit must be a qiskit QuantumCircuit") from exc
    if count < 1:
        raise InvalidInputError("the circuit has no parameters to evaluate")
    return count
