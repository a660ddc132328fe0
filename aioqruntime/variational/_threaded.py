"""A blocking objective for optimizers that want a plain function (``scipy.optimize.minimize``).

Run the optimizer in a worker thread (``await anyio.to_thread.run_sync(minimize, f, x0, ...)``);
each call of ``f`` hops back to the event loop and awaits the evaluator there, so the loop never
blocks. A sequential optimizer submits one point at a time, so it gains nothing from coalescing
unless several threads or tasks share the evaluator; :func:`spsa` is the concurrent alternative.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio.from_thread
import numpy as np
from numpy.typing import NDArray

from aioqruntime.variational._estimator import EstimatorEvaluator

__all__ = ["threaded_objective"]


def threaded_objective(evaluator: EstimatorEvaluator) -> Callable[[NDArray[np.float64]], float]:
    """``f(x) -> float`` for a worker thread started by ``anyio.to_thread.run_sync``."""

    def objective(x: NDArray[np.float64]) -> float:
        result: Any = anyio.from_thread.run(evaluator.evaluate, np.asarray(x, dtype=np.float64))
        return float(result)

    return objective
