"""``SamplerEvaluator``: concurrent ``await ev.sample(params)`` calls become one sampler job.

The batch of K points travels as one PUB with parameter values of shape ``(K, P)``; each caller
gets its own ``BitArray`` (all classical registers joined, as ``SamplerPubResult.join_data``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aioqruntime._exceptions import InvalidInputError
from aioqruntime.primitives import AsyncSampler
from aioqruntime.runtime import AsyncRuntimeJob
from aioqruntime.variational._coalescer import CoalescingEvaluator, Points
from aioqruntime.variational._estimator import (
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_JOBS_IN_FLIGHT,
    DEFAULT_WINDOW,
    _num_parameters,
)

__all__ = ["SamplerEvaluator"]


class SamplerEvaluator(CoalescingEvaluator[Any]):
    """Coalesces ``await ev.sample(params)`` calls into broadcast sampler jobs.

    ``sampler_or_mode`` is an :class:`AsyncSampler` or a mode for a new one; ``circuit`` an ISA
    circuit with P parameters and measurements; ``shots`` per point (the sampler's default if
    ``None``). Batching and bounds as for :class:`EstimatorEvaluator`.
    """

    def __init__(
        self,
        sampler_or_mode: Any,
        circuit: Any,
        *,
        shots: int | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        window: float = DEFAULT_WINDOW,
        max_jobs_in_flight: int = DEFAULT_MAX_JOBS_IN_FLIGHT,
    ) -> None:
        self._sampler = (
            sampler_or_mode
            if isinstance(sampler_or_mode, AsyncSampler)
            else AsyncSampler(sampler_or_mode)
        )
        if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int)):
            raise InvalidInputError(f"shots must be an int, got {shots!r}")
        self._circuit = circuit
        self._shots = shots
        super().__init__(
            _num_parameters(circuit),
            max_batch=max_batch,
            window=window,
            max_jobs_in_flight=max_jobs_in_flight,
        )
        if circuit.num_clbits == 0:
            raise InvalidInputError("the circuit has no classical bits to sample")

    @property
    def sampler(self) -> AsyncSampler:
        return self._sampler

    async def sample(self, params: Any) -> Any:
        """The ``BitArray`` of shots at ``params`` (shape ``(P,)``), batched with other calls."""
        return await self._request(params)

    async def sample_many(self, many: Any) -> list[Any]:
        """One ``BitArray`` per row of ``many`` (a list of vectors or a ``(K, P)`` array)."""
        return await self._request_many(many)

    async def counts(self, params: Any) -> dict[str, int]:
        """``sample(params)`` as a bitstring -> count dict."""
        bits = await self.sample(params)
        counts: dict[str, int] = bits.get_counts()
        return counts

    async def _submit(self, points: Points) -> AsyncRuntimeJob:
        return await self._sampler.run([(self._circuit, points)], shots=self._shots)

    def _split(self, result: Any, count: int) -> Sequence[Any]:
        joined = result[0].join_data()
        return [joined[k] for k in range(count)]
