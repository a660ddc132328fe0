"""SPSA whose evaluations of one iteration run concurrently, so an evaluator coalesces them.

Each iteration evaluates ``2 * resamplings`` perturbed points (and, with ``track``, the current
point) at once; with an :class:`EstimatorEvaluator` as the objective, that is one job per
iteration instead of one per point. Gains follow Spall's schedule:
``a_k = learning_rate / (k + 1 + stability) ** alpha``, ``c_k = perturbation / (k + 1) ** gamma``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, SupportsFloat

import anyio
import numpy as np
from numpy.typing import ArrayLike, NDArray

from aioqruntime._exceptions import InvalidInputError
from aioqruntime.variational._coalescer import check_count

__all__ = ["SPSAResult", "gather", "spsa"]

Objective = Callable[[NDArray[np.float64]], Awaitable[SupportsFloat]]
#: ``callback(iteration, x, value)``: ``value`` is f(x) if tracked, else the mean of f(x ± c Δ).
Callback = Callable[[int, NDArray[np.float64], float], object]


@dataclass(frozen=True)
class SPSAResult:
    """The outcome of :func:`spsa`: ``fun`` is the objective evaluated at the returned ``x``."""

    x: NDArray[np.float64]
    fun: float
    nfev: int
    nit: int
    #: One value per iteration (see ``Callback``).
    history: tuple[float, ...]


async def gather(calls: Sequence[Callable[[], Awaitable[SupportsFloat]]]) -> list[float]:
    """Run ``calls`` concurrently; their values as floats, in order.

    The first error (in call order) is raised as itself, not inside an ExceptionGroup: the calls of
    one iteration usually share a job, so they fail together with the same error.
    """
    values: list[float] = [0.0] * len(calls)
    errors: list[Exception | None] = [None] * len(calls)

    async def one(index: int) -> None:
        try:
            values[index] = float(await calls[index]())
        except Exception as exc:  # cancellation is not an Exception: it propagates
            errors[index] = exc

    async with anyio.create_task_group() as tg:
        for index in range(len(calls)):
            tg.start_soon(one, index)
    for error in errors:
        if error is not None:
            raise error
    return values


async def spsa(
    objective: Objective,
    x0: ArrayLike,
    *,
    maxiter: int = 100,
    learning_rate: float = 0.2,
    perturbation: float = 0.1,
    alpha: float = 0.602,
    gamma: float = 0.101,
    stability: float | None = None,
    resamplings: int = 1,
    track: bool = True,
    seed: int | np.random.Generator | None = None,
    callback: Callback | None = None,
) -> SPSAResult:
    """Minimise ``await objective(x)`` by SPSA, evaluating each iteration's points concurrently.

    ``resamplings`` perturbations are averaged per iteration (a population of ``2 * resamplings``
    points); ``stability`` (Spall's A) defaults to 10 % of ``maxiter``. The final point is
    evaluated once more for ``fun``. Nothing here blocks the event loop.
    """
    check_count("maxiter", maxiter, minimum=0)
    check_count("resamplings", resamplings, minimum=1)
    if perturbation <= 0:
        raise InvalidInputError(f"perturbation must be > 0, got {perturbation!r}")
    x = np.array(x0, dtype=np.float64)
    if x.ndim != 1:
        raise InvalidInputError(f"x0 must be a vector, got shape {x.shape}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    big_a = 0.1 * maxiter if stability is None else stability
    history: list[float] = []
    nfev = 0
    for k in range(maxiter):
        gain = learning_rate / (k + 1 + big_a) ** alpha
        spread = perturbation / (k + 1) ** gamma
        deltas = rng.choice([-1.0, 1.0], size=(resamplings, x.size))
        points: list[NDArray[np.float64]] = []
        for delta in deltas:
            points += [x + spread * delta, x - spread * delta]
        if track:
            points.append(x.copy())
        values = await gather([_bind(objective, point) for point in points])
        nfev += len(points)
        # points alternate x + cΔ_i, x - cΔ_i; the tracked current point (if any) comes last.
        plus = np.array(values[0 : 2 * resamplings : 2])
        minus = np.array(values[1 : 2 * resamplings : 2])
        gradient = ((plus - minus) / (2 * spread)) @ deltas / resamplings
        current = values[-1] if track else float(np.mean(values))
        history.append(current)
        if callback is not None:
            callback(k, x.copy(), current)
        x = x - gain * gradient
    (fun,) = await gather([_bind(objective, x)])
    return SPSAResult(x=x, fun=fun, nfev=nfev + 1, nit=maxiter, history=tuple(history))


def _bind(objective: Objective, point: NDArray[np.float64]) -> Callable[[], Awaitable[Any]]:
    async def call() -> Any:
        return await objective(point)

    return call
