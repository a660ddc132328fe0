"""Variational loops: evaluators that coalesce concurrent evaluations into broadcast jobs.

``async with EstimatorEvaluator(session, circuit, observable) as ev:`` then any number of
concurrent ``await ev.evaluate(params)`` calls (from an optimizer, a gradient, a population)
travel as one job whose PUB carries all their parameter points; each caller gets its own value.
:func:`spsa` evaluates each iteration's points concurrently, so one iteration is one job.
Evaluators built on one :class:`EstimatorPacker` (K concurrent optimizers in a session) share
multi-PUB jobs: about one job per iteration whatever K.
"""

from __future__ import annotations

from aioqruntime.variational._coalescer import EvaluatorClosedError, EvaluatorStatistics
from aioqruntime.variational._estimator import EstimatorEvaluator, Expectation
from aioqruntime.variational._packer import EstimatorPacker, PackerStatistics
from aioqruntime.variational._sampler import SamplerEvaluator
from aioqruntime.variational._spsa import SPSAResult, gather, spsa
from aioqruntime.variational._threaded import threaded_objective

__all__ = [
    "EstimatorEvaluator",
    "EstimatorPacker",
    "EvaluatorClosedError",
    "EvaluatorStatistics",
    "Expectation",
    "PackerStatistics",
    "SPSAResult",
    "SamplerEvaluator",
    "gather",
    "spsa",
    "threaded_objective",
]
