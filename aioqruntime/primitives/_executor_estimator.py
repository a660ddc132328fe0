"""The executor-based estimator: ``AsyncEstimator`` of :mod:`aioqruntime.executor_estimator`.

The counterpart of the official client-side ``executor_estimator.Estimator``. The pubs become a
``QuantumProgram`` on the client with IBM's ``qiskit-mitigation`` tasks (one samplex item per
pub measuring the observables' bases, twirled as the options say, plus one TREX readout
calibration item when measurement mitigation is on); the executor runs it; the client turns
the bits into expectation values (readout-mitigated with TREX) as qiskit's ``PrimitiveResult``
with ``evs``, ``stds`` and ``ensemble_standard_error``.

Resilience levels 0 (nothing), 1 (measurement twirling + TREX, the default) and 2 (also gate
twirling and zero-noise extrapolation by gate folding) are supported, and PEC and PEA with a
given ``resilience.layer_noise_model`` (see :meth:`AsyncExecutorEstimator.find_unique_layers`).
Preparation and post-processing run in worker threads. The wire is the official one (semantic role
``estimator_v2``, post-processor ``v0.1`` and ``qiskit_mitigation`` passthrough).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
from collections.abc import Iterable, Mapping
from typing import Any, Final

from aioqruntime._exceptions import CodecError, InvalidInputError
from aioqruntime.primitives._executor import (
    Mode,
    ModeMembers,
    QuantumProgram,
    QuantumProgramResult,
    decode_program_result,
    encode_program,
    refuse_dry_run,
    register_post_processor,
    resolve_mode,
    submit_program,
)
from aioqruntime.primitives._executor_options import ExecutorEstimatorOptions, build_options
from aioqruntime.primitives._executor_sampler import check_pub_circuit, twirling_shots
from aioqruntime.primitives._pubs import as_pub_list, coerce_estimator_pubs
from aioqruntime.runtime import AsyncRuntimeJob, ServiceBackend

__all__ = ["AsyncExecutorEstimator", "estimator_postprocess", "finalize_estimator_options"]

SEMANTIC_ROLE: Final = "estimator_v2"
POST_PROCESSOR_VERSION: Final = "v0.1"

#: Gate folding amplifiers: which gates fold when a factor needs only some of them.
_FOLDING_METHODS: Final = {
    "gate_folding": "random",
    "gate_folding_front": "front",
    "gate_folding_back": "back",
}

#: What each resilience level turns on when the options leave it ``None``.
_LEVEL_DEFAULTS: Final = {
    0: (False, False, False, False),
    1: (False, True, True, False),
    2: (True, True, True, True),
}


def finalize_estimator_options(options: ExecutorEstimatorOptions) -> ExecutorEstimatorOptions:
    """Resolve every ``None`` from the resilience level; readout mitigation forces measurement
    twirling, PEC and PEA both gate and measurement twirling."""
    gates, measure, mitigate, zne = _LEVEL_DEFAULTS[options.resilience_level]
    twirling = options.twirling
    resilience = options.resilience
    if resilience.measure_mitigation is not None:
        mitigate = resilience.measure_mitigation
    if resilience.zne_mitigation is not None:
        zne = resilience.zne_mitigation
    if twirling.enable_measure is not None:
        measure = twirling.enable_measure
    if twirling.enable_gates is not None:
        gates = twirling.enable_gates
    if resilience.pec_mitigation or (zne and resilience.zne.amplifier == "pea"):
        gates = measure = True  # noise injection needs twirled layers
    return dataclasses.replace(
        options,
        twirling=dataclasses.replace(
            twirling, enable_gates=gates, enable_measure=bool(measure or mitigate)
        ),
        resilience=dataclasses.replace(resilience, measure_mitigation=mitigate, zne_mitigation=zne),
    )


def _resolve_shots(
    coerced: list[Any], precision: float | None, options: ExecutorEstimatorOptions
) -> tuple[int, float | None]:
    """``(shots, precision)``: one precision for all pubs wins over ``default_shots``."""
    precisions = {pub.precision if pub.precision is not None else precision for pub in coerced}
    if len(precisions) != 1:
        raise InvalidInputError(f"all pubs must have the same precision, got {precisions}")
    resolved = next(iter(precisions))
    if resolved is not None:
        return math.ceil(1.0 / resolved**2), resolved
    if options.default_shots is not None:
        return options.default_shots, None
    return math.ceil(1.0 / options.default_precision**2), None


def _has_projectors(pub: Any) -> bool:
    projectors = set("01rl+-")
    return any(set(term) & projectors for obs in pub.observables.ravel() for term in obs)


def prepare_estimator_program(
    pubs: list[Any],
    options: ExecutorEstimatorOptions,
    precision: float | None,
    backend: ServiceBackend,
) -> QuantumProgram:
    """The pubs as one ``QuantumProgram`` of qiskit-mitigation tasks (worker thread)."""
    from qiskit_mitigation import TREX

    coerced = coerce_estimator_pubs(pubs, precision)
    final = finalize_estimator_options(options)
    shots, resolved_precision = _resolve_shots(coerced, precision, final)
    mitigate = bool(final.resilience.measure_mitigation)
    twirling = final.twirling
    for index, pub in enumerate(coerced):
        check_pub_circuit(index, pub.circuit, backend)
        if mitigate and _has_projectors(pub):
            raise InvalidInputError(
                f"pub {index}: readout mitigation does not support projector observables "
                "(0, 1, +, -, r, l); write them as Pauli sums or use resilience_level 0"
            )
    pec = bool(final.resilience.pec_mitigation)
    if pec and twirling.num_randomizations == twirling.shots_per_randomization == "auto":
        # PEC samples many signed variants: 64 shots each, as many as the shots need.
        randomizations, per = math.ceil(shots / 64), 64
    elif twirling.enable_gates or twirling.enable_measure:
        randomizations, per = twirling_shots(
            shots, twirling.num_randomizations, twirling.shots_per_randomization
        )
    else:
        randomizations, per = 1, shots
    trex = TREX() if mitigate else None
    program = QuantumProgram(shots=per)
    task_class, extra = _task_kind(final, randomizations * per)
    boxing = boxing_options(final, add_tags="none")
    for pub in coerced:
        try:
            task_class().prepare(
                circuit=pub.circuit,
                observables=pub.observables,
                parameters=pub.parameter_values,
                custom_boxing_options=boxing,
                shots_per_randomization=per,
                num_randomizations=randomizations,
                broadcast_obs_and_params=True,
                trex=trex,
                quantum_program=program,
                **extra,
            )
        except ValueError as exc:
            raise InvalidInputError(f"cannot prepare the estimator pub: {exc}") from exc
    if trex is not None:
        learning = final.resilience.measure_noise_learning.num_randomizations
        trex_randomizations = randomizations if learning == "auto" else int(learning)
        trex.prepare(trex_randomizations, program, {"add_tags": "none"})
    passthrough = program.passthrough_data if isinstance(program.passthrough_data, dict) else {}
    passthrough["post_processor"] = {
        "version": POST_PROCESSOR_VERSION,
        "options": _options_record(final),
        "shots": shots,
        "precision": resolved_precision,
        "circuits_metadata": [pub.circuit.metadata for pub in coerced],
        "num_pubs": len(coerced),
    }
    program.passthrough_data = passthrough
    return program


def _options_record(options: ExecutorEstimatorOptions) -> dict[str, Any]:
    """The finalized options for the result metadata (the layer noise model stays out: big)."""
    record = dataclasses.asdict(options)
    record["resilience"].pop("layer_noise_model", None)
    return record


def boxing_options(options: ExecutorEstimatorOptions, *, add_tags: str) -> dict[str, Any]:
    """The samplomatic boxing options of the (finalized) options, for qiskit-mitigation."""
    twirling = options.twirling
    return {
        "enable_gates": bool(twirling.enable_gates or _injects_noise(options)),
        "enable_measures": True,
        "twirling_strategy": twirling.strategy.replace("-", "_"),
        "twirling_group": twirling.group,
        "add_tags": add_tags,
        "measure_annotations": "all" if twirling.enable_measure else "change_basis",
    }


def _injects_noise(options: ExecutorEstimatorOptions) -> bool:
    resilience = options.resilience
    return bool(
        resilience.pec_mitigation
        or (resilience.zne_mitigation and resilience.zne.amplifier == "pea")
    )


def _task_kind(
    options: ExecutorEstimatorOptions, baseline_shots: int
) -> tuple[Any, dict[str, Any]]:
    """The qiskit-mitigation task class for the options, and its extra ``prepare`` arguments."""
    from qiskit_mitigation import PEA, PEC, GateFolding, MitigationTask

    resilience = options.resilience
    if resilience.pec_mitigation:
        overhead = resilience.pec.max_overhead
        return PEC, {
            "noise_maps": layer_noise_maps(resilience.layer_noise_model),
            "noise_gain": resilience.pec.noise_gain,
            # "No limit" still has to keep shots x overhead a finite float.
            "max_sampling_overhead": (
                float(overhead) if overhead is not None else sys.float_info.max / baseline_shots
            ),
        }
    if not resilience.zne_mitigation:
        return MitigationTask, {}
    zne = resilience.zne
    extrapolation = {
        "noise_factors": zne.resolved_noise_factors(),
        "extrapolator": zne.extrapolators(),
        "extrapolated_noise_factors": zne.resolved_extrapolated_factors(),
    }
    if zne.amplifier == "pea":
        return PEA, {"noise_maps": layer_noise_maps(resilience.layer_noise_model), **extrapolation}
    return GateFolding, {"folding_method": _FOLDING_METHODS[zne.amplifier], **extrapolation}


def layer_noise_maps(model: Any) -> dict[str, Any]:
    """``(layer, PauliLindbladMap)`` pairs as the maps by noise-injection reference."""
    from samplomatic.annotations import InjectNoise
    from samplomatic.utils import get_annotation

    maps = {}
    for layer, noise in model or ():
        annotation = get_annotation(layer.operation, InjectNoise)
        if annotation is not None:
            maps[annotation.ref] = noise
    return maps


# --- post-processing (worker thread) ---------------------------------------------------------


def estimator_postprocess(result: QuantumProgramResult) -> Any:
    """An executor result of the ``estimator_v2`` role as qiskit's ``PrimitiveResult``."""
    from qiskit.primitives import PrimitiveResult
    from qiskit.primitives.containers import PubResult
    from qiskit_mitigation import load_tasks_from_result

    passthrough = result.passthrough_data
    block = passthrough.get("post_processor") if isinstance(passthrough, dict) else None
    if not isinstance(block, dict) or block.get("version") != POST_PROCESSOR_VERSION:
        raise CodecError(
            "the result carries no estimator post-processor v0.1 passthrough data",
            path="/passthrough_data/post_processor",
        )
    if len(result) == 0:
        return PrimitiveResult([])
    count = int(block["num_pubs"])
    circuits_metadata = block.get("circuits_metadata") or [None] * count
    try:
        tasks = load_tasks_from_result(result)
    except ValueError as exc:
        raise CodecError(
            f"bad mitigation passthrough data: {exc}", path="/passthrough_data"
        ) from exc
    if len(tasks) != count or len(circuits_metadata) != count:
        raise CodecError(f"expected {count} pubs, got {len(tasks)} tasks", path="/passthrough_data")
    pub_results = []
    for index, task in enumerate(tasks):
        # JSON turned the tuple into a list; the library caches on it, so it must be hashable.
        task.param_shape = tuple(task.param_shape)
        raw = task.postprocess(result)
        metadata = _pub_metadata(result, task, raw)
        if circuits_metadata[index] is not None:
            metadata["circuit_metadata"] = circuits_metadata[index]
        pub_results.append(PubResult(_renamed(raw.data, task), metadata=metadata))
    metadata = {
        "options": block.get("options"),
        "target_precision": block.get("precision"),
        "shots": block.get("shots"),
        "executor": result.metadata,
    }
    return PrimitiveResult(pub_results, metadata=metadata)


def _renamed(data: Any, task: Any) -> Any:
    """The official field names: ``stds`` is the spread over randomizations (the honest error),
    ``ensemble_standard_error`` pools all shots (qiskit-mitigation calls them the other way)."""
    from qiskit.primitives.containers import DataBin
    from qiskit_mitigation import PEA, GateFolding

    if isinstance(task, (GateFolding, PEA)):
        return DataBin(
            evs=data.evs,
            stds=data.stds,
            evs_noise_factors=data.evs_noise_factors,
            stds_noise_factors=data.stds_twirl_noise_factors,
            ensemble_stds_noise_factors=data.stds_noise_factors,
            evs_extrapolated=data.evs_extrapolated,
            stds_extrapolated=data.stds_extrapolated,
            shape=data.evs.shape,
        )
    return DataBin(
        evs=data.evs, stds=data.twirl_stds, ensemble_standard_error=data.stds, shape=data.evs.shape
    )


def _pub_metadata(result: QuantumProgramResult, task: Any, raw: Any) -> dict[str, Any]:
    """Compilation metadata of the pub's items (one per noise factor with ZNE) and, with ZNE,
    the extrapolator chosen for each expectation value."""
    import numpy as np
    from qiskit_mitigation import PEA, GateFolding

    first = int(task._program_item_index)
    count = len(task.noise_factors) if isinstance(task, GateFolding) else 1
    compilations = [
        {k: v for k, v in dataclasses.asdict(result[first + i].metadata).items() if v is not None}
        for i in range(count)
    ]
    # As the official estimator: always there, one per noise factor with ZNE.
    metadata: dict[str, Any] = {"compilation": compilations if count > 1 else compilations[0]}
    if isinstance(task, (GateFolding, PEA)):
        chosen = [
            names[0] if all(name == names[0] for name in names) else "multiple"
            for names in raw.metadata["selected_extrapolators"]
        ]
        shape = np.broadcast_shapes(tuple(task.param_shape), task.observables.shape)
        metadata["resilience"] = {"zne": {"extrapolators": np.asarray(chosen).reshape(shape)}}
    return metadata


def _decode_estimator_result(text: str) -> Any:
    return estimator_postprocess(decode_program_result(text))


def _check_precision(value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidInputError(f"precision must be a finite number > 0, got {value!r}")


class AsyncExecutorEstimator(ModeMembers):
    """Estimator on the ``executor`` program, as the official client-side ``Estimator``.

    ``mode``: a backend, an :class:`AsyncSession`/:class:`AsyncBatch`, or ``None`` inside
    ``async with AsyncSession(...)``. ``options``: :class:`ExecutorEstimatorOptions` or a nested
    dict (``resilience_level``, ``default_precision``, ``twirling``, ``resilience``, ...).
    """

    def __init__(
        self,
        mode: Mode | None = None,
        options: ExecutorEstimatorOptions | Mapping[str, Any] | None = None,
    ) -> None:
        self._mode = resolve_mode(mode)
        self.options: ExecutorEstimatorOptions = build_options(ExecutorEstimatorOptions, options)

    def finalize_options(self) -> ExecutorEstimatorOptions:
        """The options a ``run()`` uses: a copy, with what ``resilience_level`` implies (and
        the ``None`` twirling fields) resolved."""
        return finalize_estimator_options(copy.deepcopy(self.options))

    def find_unique_layers(self, pubs: Iterable[Any], types: str = "gates") -> list[Any]:
        """The distinct boxed layers of ``pubs`` as these options box them (``"gates"`` or
        ``"all"``): the layers a ``resilience.layer_noise_model`` gives noise maps for.

        CPU work, no I/O: from async code, call it with ``anyio.to_thread.run_sync``.
        """
        from qiskit_mitigation import find_combined_unique_layers

        if types not in ("gates", "all"):
            raise InvalidInputError(f"types must be 'gates' or 'all', got {types!r}")
        coerced = coerce_estimator_pubs(as_pub_list(pubs), None)
        # Not build_options: the noise model PEC will need is what these layers are for.
        final = finalize_estimator_options(copy.deepcopy(self.options))
        task_class, _ = _task_kind(final, 1)
        layers: list[Any] = find_combined_unique_layers(
            circuits=[pub.circuit for pub in coerced],
            mitigation_types=[task_class() for _ in coerced],
            custom_boxing_options=boxing_options(final, add_tags="unique_box"),
            box_types=types,
        )
        return layers

    async def run(
        self, pubs: Iterable[Any], *, precision: float | None = None, dry_run: bool = False
    ) -> AsyncRuntimeJob:
        """Submit one executor job for ``pubs`` and return it at once (``await job``)."""
        refuse_dry_run(dry_run)
        if precision is not None:
            _check_precision(precision)
        items = as_pub_list(pubs)
        options = build_options(ExecutorEstimatorOptions, self.options)
        executor_options = options.executor_options(options.execution)

        def prepare(backend: ServiceBackend) -> dict[str, Any]:
            program = prepare_estimator_program(items, options, precision, backend)
            return encode_program(program, executor_options, semantic_role=SEMANTIC_ROLE)

        return await submit_program(
            self._mode, prepare, executor_options.runtime_options(), _decode_estimator_result
        )


# Executor jobs of this role found again by id decode as this primitive's results.
register_post_processor(SEMANTIC_ROLE, estimator_postprocess)
