"""The executor-based sampler: ``AsyncSampler`` of :mod:`aioqruntime.executor_sampler`.

The counterpart of the official client-side ``executor_sampler.Sampler``: the pubs become a
``QuantumProgram`` on the client (twirling boxes and a samplex per pub with samplomatic when
twirling is on, plain circuit items otherwise), run as one ``executor`` job; the result is
post-processed on the client (measurement flips undone, randomizations folded into the shots
axis) into qiskit's ``PrimitiveResult`` of ``SamplerPubResult``\\ s with ``BitArray``\\ s.

Preparation and post-processing are CPU work: both run in worker threads, never on the event
loop. The wire is the official one (semantic role ``sampler_v2``, post-processor ``v0.1``
passthrough data), so a job submitted here can be read by the official client and vice versa.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

import numpy as np

from aioqruntime._exceptions import CodecError, InvalidInputError
from aioqruntime.primitives._executor import (
    Mode,
    ModeMembers,
    QuantumProgram,
    QuantumProgramItemResult,
    QuantumProgramResult,
    decode_program_result,
    encode_program,
    refuse_dry_run,
    register_post_processor,
    resolve_mode,
    submit_program,
)
from aioqruntime.primitives._executor_options import (
    ExecutorSamplerOptions,
    TwirlingOptions,
    build_options,
)
from aioqruntime.primitives._isa import check_isa
from aioqruntime.primitives._pubs import as_pub_list, coerce_sampler_pubs
from aioqruntime.runtime import AsyncRuntimeJob, ServiceBackend

__all__ = ["AsyncExecutorSampler", "bit_array_from_bits", "sampler_postprocess", "twirling_shots"]

SEMANTIC_ROLE: Final = "sampler_v2"
POST_PROCESSOR_VERSION: Final = "v0.1"
#: The samplex output holding the bits flipped by measurement twirling, per register.
FLIPS_PREFIX: Final = "measurement_flips."


def twirling_shots(
    shots: int, num_randomizations: int | str, shots_per_randomization: int | str
) -> tuple[int, int]:
    """``(randomizations, shots per randomization)`` for ``shots``, resolving ``"auto"``.

    The documented rule of the twirling options: both automatic gives at least 64 shots per
    randomization and at most about 32 randomizations; one automatic covers ``shots`` with the
    other fixed.
    """
    if num_randomizations == "auto" and shots_per_randomization == "auto":
        per = max(64, math.ceil(shots / 32))
        return math.ceil(shots / per), per
    if num_randomizations == "auto":
        per = int(shots_per_randomization)
        return math.ceil(shots / per), per
    if shots_per_randomization == "auto":
        count = int(num_randomizations)
        return count, math.ceil(shots / count)
    return int(num_randomizations), int(shots_per_randomization)


def finalize_twirling(twirling: TwirlingOptions) -> TwirlingOptions:
    """The sampler twirls nothing unless asked: ``None`` means off."""
    return dataclasses.replace(
        twirling,
        enable_gates=bool(twirling.enable_gates),
        enable_measure=bool(twirling.enable_measure),
    )


def check_pub_circuit(index: int, circuit: Any, backend: ServiceBackend) -> None:
    """ISA check, and no boxes: the primitive places its own twirling boxes."""
    from qiskit.circuit import BoxOp

    check_isa(circuit, backend.target, backend_name=backend.name, index=index)
    for instruction in circuit.data:
        if isinstance(instruction.operation, BoxOp):
            raise InvalidInputError(
                f"pub {index}: the circuit holds a box ({instruction.operation.name!r}); the "
                "executor-based primitives place their own twirling boxes, remove it"
            )


def prepare_sampler_program(
    pubs: list[Any],
    options: ExecutorSamplerOptions,
    shots: int | None,
    backend: ServiceBackend,
) -> QuantumProgram:
    """The pubs as one ``QuantumProgram`` with its post-processing passthrough (worker thread)."""
    from samplomatic.quantum_program import CircuitItem

    coerced = coerce_sampler_pubs(pubs, shots)
    twirling = finalize_twirling(options.twirling)
    default = shots if shots is not None else options.default_shots
    resolved = {pub.shots if pub.shots is not None else default for pub in coerced}
    if None in resolved:
        raise InvalidInputError("shots must be given in the pubs, to run() or as default_shots")
    if len(resolved) != 1:
        raise InvalidInputError(f"all pubs must have the same number of shots, got {resolved}")
    total: int = next(iter(resolved))  # type: ignore[assignment]
    limit = backend.max_shots
    if limit is not None and total > limit:
        raise InvalidInputError(f"{total} shots exceed the maximum of {backend.name} ({limit})")
    for index, pub in enumerate(coerced):
        check_pub_circuit(index, pub.circuit, backend)
        if not pub.circuit.cregs:
            # Its job would run and give an item without data, which no decoder can read.
            raise InvalidInputError(
                f"pub {index}: the circuit has no classical registers, so there is nothing to "
                "sample: add measurements (e.g. circuit.measure_all()) before transpiling"
            )
    twirled = bool(twirling.enable_gates or twirling.enable_measure)
    if twirled:
        randomizations, program_shots = twirling_shots(
            total, twirling.num_randomizations, twirling.shots_per_randomization
        )
        items = _twirled_items(coerced, twirling, randomizations)
    else:
        program_shots = total
        items = []
        for pub in coerced:
            circuit = pub.circuit
            if circuit.metadata:
                # The metadata travels in the passthrough data, not in the QPY.
                circuit = circuit.copy()
                circuit.metadata = {}
            items.append(CircuitItem(circuit, circuit_arguments=_parameter_array(pub)))
    finalized = dataclasses.replace(options, twirling=twirling)
    passthrough = {
        "post_processor": {
            "version": POST_PROCESSOR_VERSION,
            "twirling": twirled,
            "meas_type": options.execution.meas_type,
            "shots": program_shots,
            "circuits_metadata": [pub.circuit.metadata for pub in coerced],
            "options": dataclasses.asdict(finalized),
        }
    }
    return QuantumProgram(
        shots=program_shots,
        items=items,
        passthrough_data=passthrough,
        meas_level=options.execution.meas_type,
    )


def _parameter_array(pub: Any) -> Any:
    """The pub's parameter values, columns in ``circuit.parameters`` order (or ``None``)."""
    if pub.parameter_values.num_parameters == 0:
        return None
    values = pub.parameter_values.as_array(pub.circuit.parameters)
    if not np.isfinite(values).all():
        raise InvalidInputError("parameter values must be finite (got NaN or infinity)")
    return values


def _twirled_items(coerced: list[Any], twirling: TwirlingOptions, randomizations: int) -> list[Any]:
    """One samplex item per pub: boxes placed by samplomatic, ``randomizations`` leading axis."""
    from samplomatic import build
    from samplomatic.quantum_program import SamplexItem
    from samplomatic.transpiler import generate_boxing_pass_manager

    boxing = generate_boxing_pass_manager(
        enable_gates=bool(twirling.enable_gates),
        enable_measures=bool(twirling.enable_measure),
        twirling_strategy=twirling.strategy.replace("-", "_"),
        inject_noise_site="after",
        add_tags="none",
        twirling_group=twirling.group,
    )
    items = []
    for pub in coerced:
        template, samplex = build(boxing.run(pub.circuit))
        values = _parameter_array(pub)
        arguments = {} if values is None else {"parameter_values": values}
        sweep = () if values is None else values.shape[:-1]
        items.append(
            SamplexItem(
                circuit=template,
                samplex=samplex,
                samplex_arguments=arguments,
                shape=(randomizations, *sweep),
            )
        )
    return items


# --- post-processing (worker thread) ---------------------------------------------------------


def sampler_postprocess(result: QuantumProgramResult) -> Any:
    """An executor result of the ``sampler_v2`` role as qiskit's ``PrimitiveResult``."""
    from qiskit.primitives import PrimitiveResult

    block = _post_processor_block(result)
    if len(result) == 0:
        return PrimitiveResult([])
    twirled = bool(block["twirling"])
    meas_type = block["meas_type"]
    metadata_list = block.get("circuits_metadata") or [None] * len(result)
    if len(metadata_list) != len(result):
        raise CodecError(
            f"{len(metadata_list)} circuit metadata for {len(result)} results",
            path="/passthrough_data/post_processor/circuits_metadata",
        )
    pub_results = [
        _pub_result(item, twirled, meas_type, circuit_metadata)
        for item, circuit_metadata in zip(result, metadata_list, strict=True)
    ]
    metadata = {"executor": result.metadata, "options": block["options"], "shots": block["shots"]}
    return PrimitiveResult(pub_results, metadata=metadata)


def _post_processor_block(result: QuantumProgramResult) -> Mapping[str, Any]:
    passthrough = result.passthrough_data
    block = passthrough.get("post_processor") if isinstance(passthrough, dict) else None
    if not isinstance(block, dict) or block.get("version") != POST_PROCESSOR_VERSION:
        raise CodecError(
            "the result carries no sampler post-processor v0.1 passthrough data",
            path="/passthrough_data/post_processor",
        )
    for key in ("twirling", "meas_type", "shots", "options"):
        if block.get(key) is None:
            raise CodecError(f"missing {key!r}", path=f"/passthrough_data/post_processor/{key}")
    return block


def _pub_result(
    item: QuantumProgramItemResult, twirled: bool, meas_type: str, circuit_metadata: Any
) -> Any:
    from qiskit.primitives.containers import DataBin, SamplerPubResult

    registers = _unflipped(item)
    if not registers:
        raise CodecError("a program item came back without data", path="/data")
    first = next(iter(registers.values()))
    # Leading randomization axis (twirled), trailing (shots, bits) or (bits,) when averaged.
    start = 1 if twirled else 0
    stop = first.ndim - (1 if meas_type == "avg_kerneled" else 2)
    shape = first.shape[start:stop]
    randomizations = first.shape[0] if twirled else 0
    arrays: dict[str, Any] = {}
    for name, data in registers.items():
        if twirled:
            data = _fold_randomizations(data, len(shape), averaged=meas_type == "avg_kerneled")
        if meas_type == "classified":
            arrays[name] = bit_array_from_bits(data)
        elif meas_type == "kerneled":
            arrays[name.removesuffix("_iq")] = data
        else:
            arrays[name.removesuffix("_avg_iq")] = data
    metadata: dict[str, Any] = {"circuit_metadata": circuit_metadata or {}}
    if randomizations:
        metadata["num_randomizations"] = randomizations
    compilation = {
        key: value for key, value in dataclasses.asdict(item.metadata).items() if value is not None
    }
    if compilation:
        metadata["compilation"] = compilation
    return SamplerPubResult(DataBin(**arrays, shape=shape), metadata=metadata)


def bit_array_from_bits(bits: Any) -> Any:
    """``BitArray.from_bool_array(bits, order="little")``, one bit column at a time.

    Same bytes, but tens of times faster for the usual few-bit registers: qiskit's version pads
    every shot to whole bytes and packs them row by row (while holding the GIL).
    """
    from qiskit.primitives.containers import BitArray

    num_bits = bits.shape[-1]
    num_bytes = (num_bits + 7) // 8
    packed = np.zeros((*bits.shape[:-1], num_bytes), dtype=np.uint8)
    for bit in range(num_bits):
        # Bit 0 is the least significant: the last byte, lowest position (big-endian bytes).
        packed[..., num_bytes - 1 - bit // 8] |= bits[..., bit].astype(np.uint8) << (bit % 8)
    return BitArray(packed, num_bits=num_bits)


def _unflipped(item: QuantumProgramItemResult) -> dict[str, Any]:
    """The registers with measurement twirling undone (bits XOR their recorded flips)."""
    registers = {name: value for name, value in item.items() if not name.startswith(FLIPS_PREFIX)}
    for name, flips in item.items():
        if not name.startswith(FLIPS_PREFIX):
            continue
        target = name[len(FLIPS_PREFIX) :]
        if target not in registers:
            raise CodecError(f"flips for unknown register {target!r}", path=f"/data/{name}")
        registers[target] = np.logical_xor(registers[target], flips)
    return registers


def _fold_randomizations(data: Any, sweep_ndim: int, *, averaged: bool) -> Any:
    """``(R, *sweep, S, B)`` -> ``(*sweep, R*S, B)`` (the randomizations become shots)."""
    if averaged:
        return data.mean(axis=0)
    moved = np.moveaxis(data, 0, sweep_ndim)  # (*sweep, R, S, B): R next to S
    return moved.reshape(*moved.shape[:sweep_ndim], -1, moved.shape[-1])


def _decode_sampler_result(text: str) -> Any:
    return sampler_postprocess(decode_program_result(text))


class AsyncExecutorSampler(ModeMembers):
    """Sampler on the ``executor`` program, as the official client-side ``Sampler``.

    ``mode``: a backend, an :class:`AsyncSession`/:class:`AsyncBatch`, or ``None`` inside
    ``async with AsyncSession(...)``. ``options``: :class:`ExecutorSamplerOptions` or a nested
    dict of its fields (``default_shots``, ``twirling``, ``execution``, ``environment``, ...).
    """

    def __init__(
        self,
        mode: Mode | None = None,
        options: ExecutorSamplerOptions | Mapping[str, Any] | None = None,
    ) -> None:
        self._mode = resolve_mode(mode)
        self.options: ExecutorSamplerOptions = build_options(ExecutorSamplerOptions, options)

    def finalize_options(self) -> ExecutorSamplerOptions:
        """The options a ``run()`` uses: a copy, with the ``None`` twirling fields resolved."""
        options = build_options(ExecutorSamplerOptions, self.options)
        return dataclasses.replace(options, twirling=finalize_twirling(options.twirling))

    async def run(
        self, pubs: Iterable[Any], *, shots: int | None = None, dry_run: bool = False
    ) -> AsyncRuntimeJob:
        """Submit one executor job for ``pubs`` and return it at once (``await job``)."""
        refuse_dry_run(dry_run)
        if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int)):
            raise InvalidInputError(f"shots must be an int, got {shots!r}")
        if shots is not None and shots < 1:
            raise InvalidInputError(f"shots must be >= 1, got {shots}")
        items = as_pub_list(pubs)
        options = build_options(ExecutorSamplerOptions, self.options)
        executor_options = options.executor_options(options.execution)

        def prepare(backend: ServiceBackend) -> dict[str, Any]:
            program = prepare_sampler_program(items, options, shots, backend)
            return encode_program(program, executor_options, semantic_role=SEMANTIC_ROLE)

        return await submit_program(
            self._mode, prepare, executor_options.runtime_options(), _decode_sampler_result
        )


# Executor jobs of this role found again by id decode as this primitive's results.
register_post_processor(SEMANTIC_ROLE, sampler_postprocess)
