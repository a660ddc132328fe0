"""Primitive options (mirrors ``qiskit_ibm_runtime.options``): ``SamplerOptions``,
``EstimatorOptions`` and their nested groups, checked on every assignment.

``sampler.options.default_shots = 1000``, ``estimator.options.resilience.zne_mitigation = True``
and ``options.update(twirling={"enable_gates": True})`` work as with the official client; a typo is
an :class:`UnknownOptionError` (a ``ValueError`` and an ``AttributeError``) and a bad value an
:class:`~aioqruntime.InvalidInputError` (a ``ValueError``), raised at assignment.
"""

from __future__ import annotations

from aioqruntime.primitives._option_classes import (
    DynamicalDecouplingOptions,
    EnvironmentOptions,
    EstimatorOptions,
    ExecutionOptionsV2,
    LayerNoiseLearningOptions,
    MeasureNoiseLearningOptions,
    PecOptions,
    PrimitiveOptions,
    ResilienceOptionsV2,
    SamplerExecutionOptionsV2,
    SamplerOptions,
    SimulatorOptions,
    TwirlingOptions,
    UnknownOptionError,
    Unset,
    UnsetType,
    ZneOptions,
)

#: The official name of the options base class of both primitives.
OptionsV2 = PrimitiveOptions

__all__ = [
    "DynamicalDecouplingOptions",
    "EnvironmentOptions",
    "EstimatorOptions",
    "ExecutionOptionsV2",
    "LayerNoiseLearningOptions",
    "MeasureNoiseLearningOptions",
    "OptionsV2",
    "PecOptions",
    "PrimitiveOptions",
    "ResilienceOptionsV2",
    "SamplerExecutionOptionsV2",
    "SamplerOptions",
    "SimulatorOptions",
    "TwirlingOptions",
    "UnknownOptionError",
    "Unset",
    "UnsetType",
    "ZneOptions",
]
