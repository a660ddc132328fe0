"""The ``executor`` program (``QuantumProgram``, schema ``v2.0``), simulated in a worker.

The wire models are IBM's own (``ibm_quantum_schemas.executor.version_2_0``) and samplex items are
sampled by IBM's ``samplomatic``, so what a program means is decided by the same code the service
and the official client use. What this module adds is the execution: per item, every element of
``item.shape`` runs ``shots`` times on Aer, and each classical register comes back as a boolean
tensor of shape ``item.shape + (shots, creg_size)`` (bit ``i`` of the register at index ``i``),
next to every samplex output but the template's ``parameter_values``.

Only classified measurement (``meas_level: "classified"``) is emulated; scheduler timing and
stretch values are not computed (their metadata fields stay empty).
"""

from __future__ import annotations

import math
import zlib
from base64 import b64decode
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

from aioqruntime.codec import QPY_LOCK
from aioqruntime.server._circuits import active_qubits, backend_options, compact_circuit

__all__ = [
    "ExecutorProgram",
    "ProgramError",
    "ProgramItem",
    "parse_program",
    "run_executor",
]

#: Measurement levels the emulator produces.
EMULATED_MEAS_LEVELS = frozenset({"classified"})

#: A bound angle this close to a multiple of pi/2 is taken as that multiple: samplex
#: ``parameter_values`` are float32, and the drift would keep Clifford circuits off the stabilizer
#: method (far slower) without changing any result measurably.
_CLIFFORD_SNAP = 1e-6


class ProgramError(ValueError):
    """The program is not one the local server can run; the message says what and where."""


class ProgramItem:
    """One decoded item: its circuit, full shape and how to bind it."""

    def __init__(
        self,
        index: int,
        circuit: Any,
        shape: tuple[int, ...],
        *,
        circuit_arguments: np.ndarray | None = None,
        samplex: Any = None,
        samplex_arguments: Any = None,
    ) -> None:
        self.index = index
        self.circuit = circuit
        self.shape = shape
        self.circuit_arguments = circuit_arguments
        self.samplex = samplex
        self.samplex_arguments = samplex_arguments

    @property
    def size(self) -> int:
        return math.prod(self.shape)


class ExecutorProgram:
    """A validated ``executor`` params document, decoded."""

    def __init__(self, model: Any, items: list[ProgramItem]) -> None:
        self.model = model
        self.items = items

    @property
    def shots(self) -> int:
        return int(self.model.quantum_program.shots)

    @property
    def executions(self) -> int:
        """Shots times bound circuits over all items (what the service bills as executions)."""
        return sum(self.shots * item.size for item in self.items)


def _validation_message(exc: Any) -> str:
    """A pydantic ``ValidationError`` as one line per problem, each with its JSON path."""
    lines = []
    for error in exc.errors(include_url=False)[:5]:
        where = "params" + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]
        )
        lines.append(f"{where}: {error['msg']}")
    return "; ".join(lines) or str(exc)


def _check_inflated_size(b64_data: str, limit: int) -> None:
    """Refuse a circuits blob that would inflate past ``limit`` bytes, before decoding it."""
    try:
        compressed = b64decode(b64_data, validate=True)
    except ValueError as exc:
        raise ProgramError("params.quantum_program.circuits.b64_data: not base64") from exc
    inflater = zlib.decompressobj()
    try:
        inflated = inflater.decompress(compressed, limit + 1)
    except zlib.error as exc:
        raise ProgramError(
            f"params.quantum_program.circuits.b64_data: not zlib-compressed QPY ({exc})"
        ) from exc
    if len(inflated) > limit:
        raise ProgramError(
            f"params.quantum_program.circuits: the QPY data inflates to more than {limit} bytes"
        )


def parse_program(params: Any, *, max_inflated_bytes: int | None = None) -> ExecutorProgram:
    """Validate and decode ``params`` (a mapping or its JSON text); :class:`ProgramError` if bad."""
    from ibm_quantum_schemas.executor.version_2_0 import ParamsModel
    from pydantic import ValidationError

    if isinstance(params, dict) and params.get("schema_version") != "v2.0":
        raise ProgramError(
            "params.schema_version: the local server runs executor schema 'v2.0', got "
            f"{params.get('schema_version')!r}"
        )
    if isinstance(params, dict) and max_inflated_bytes is not None:
        # Before the model reads the QPY header: a corrupt or oversized blob stops here.
        program_doc = params.get("quantum_program")
        blob = program_doc.get("circuits") if isinstance(program_doc, dict) else None
        if isinstance(blob, dict) and isinstance(blob.get("b64_data"), str):
            _check_inflated_size(blob["b64_data"], max_inflated_bytes)
    try:
        with QPY_LOCK:  # the model reads the QPY header; validation runs in several threads
            if isinstance(params, (str, bytes)):
                model = ParamsModel.model_validate_json(params)
            else:
                model = ParamsModel.model_validate(params)
    except ValidationError as exc:
        raise ProgramError(_validation_message(exc)) from exc
    except Exception as exc:  # the QPY header check inside the model raises zlib/struct errors
        raise ProgramError(f"params.quantum_program.circuits: cannot be read: {exc}") from exc
    program = model.quantum_program
    if program.meas_level not in EMULATED_MEAS_LEVELS:
        raise ProgramError(
            f"params.quantum_program.meas_level: {program.meas_level!r} is not emulated by the "
            "local server (only 'classified')"
        )
    try:
        with QPY_LOCK:
            circuits = program.circuits.to_python()
    except Exception as exc:  # QPY/QASM decoding raises many types; all mean "bad circuits"
        raise ProgramError(f"params.quantum_program.circuits: cannot be decoded: {exc}") from exc
    items = [
        _decode_item(index, circuit, item)
        for index, (circuit, item) in enumerate(zip(circuits, program.items, strict=True))
    ]
    return ExecutorProgram(model, items)


def _extended_shape(
    where: str, implicit: tuple[int, ...], declared: Sequence[int]
) -> tuple[int, ...]:
    """``declared`` must extend ``implicit`` by broadcasting (as the schema says); the result."""
    try:
        shape = np.broadcast_shapes(implicit, tuple(declared))
    except ValueError:
        raise ProgramError(
            f"{where}.shape: {list(declared)} does not extend the arguments' shape "
            f"{list(implicit)} by broadcasting"
        ) from None
    if 0 in shape:
        raise ProgramError(f"{where}.shape: an item must not have a zero-length axis")
    return tuple(int(n) for n in shape)


def _decode_item(index: int, circuit: Any, model: Any) -> ProgramItem:
    where = f"params.quantum_program.items[{index}]"
    if model.item_type == "circuit":
        arguments = model.circuit_arguments.to_numpy().astype(np.float64, copy=False)
        n_parameters = circuit.num_parameters
        if arguments.ndim == 0 or arguments.shape[-1] != n_parameters:
            raise ProgramError(
                f"{where}.circuit_arguments: the last axis must hold the circuit's "
                f"{n_parameters} parameters, got shape {list(arguments.shape)}"
            )
        shape = _extended_shape(where, arguments.shape[:-1], model.shape)
        return ProgramItem(index, circuit, shape, circuit_arguments=arguments)
    return _decode_samplex_item(index, circuit, model, where)


def _decode_samplex_item(index: int, circuit: Any, model: Any, where: str) -> ProgramItem:
    from ibm_quantum_schemas.common import CompressedTensorModel, PauliLindbladMapModel

    try:
        # Under the QPY lock: samplomatic reads each samplex's parameter-expression table with
        # ``qiskit.qpy.load`` (QPY 15, so Qiskit's Rust reader: ``qpy/interface.py`` line 366, the
        # frame of the SIGSEGV in issue 9), and validation parses samplexes in two threads while
        # another may be in QPY. Before this, executor jobs were the one QPY read left unlocked.
        with QPY_LOCK:
            samplex = model.samplex.to_samplex()
        samplex.finalize()
    except Exception as exc:  # samplomatic raises its own tree and plain errors alike
        raise ProgramError(f"{where}.samplex: cannot be loaded: {exc}") from exc
    arguments = samplex.inputs().make_broadcastable()
    try:
        for name, value in model.samplex_arguments.items():
            if isinstance(value, CompressedTensorModel):
                arguments[name] = value.to_numpy()
            elif isinstance(value, PauliLindbladMapModel):
                arguments[name] = value.to_pauli_lindblad_map()
            else:
                arguments[name] = value
    except Exception as exc:
        raise ProgramError(f"{where}.samplex_arguments: {exc}") from exc
    if not arguments.fully_bound:
        missing = arguments.describe(prefix="", include_bound=False).replace("\n", " ")
        raise ProgramError(f"{where}.samplex_arguments: missing inputs: {missing}")
    outputs = samplex.outputs()
    if "parameter_values" in outputs:
        produced = outputs.get_specs("parameter_values")[0].shape[-1]
        if produced != circuit.num_parameters:
            raise ProgramError(
                f"{where}: the samplex binds {produced} parameters but the circuit has "
                f"{circuit.num_parameters}"
            )
    shape = _extended_shape(where, tuple(arguments.shape), model.shape)
    return ProgramItem(index, circuit, shape, samplex=samplex, samplex_arguments=arguments)


# -- sampling ------------------------------------------------------------------------------------


def _sample_samplex(item: ProgramItem, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Samplex outputs of shape ``item.shape + intrinsic``.

    Axes along which the arguments vary (size > 1 once right-aligned with the item shape) index
    distinct inputs; every other axis of the item shape enumerates randomizations, drawn in one
    ``sample()`` call per distinct input.
    """
    arguments = item.samplex_arguments
    shape = item.shape
    aligned = (1,) * (len(shape) - arguments.ndim) + tuple(arguments.shape)
    varying = [axis for axis, n in enumerate(aligned) if n > 1]
    random_shape = tuple(shape[axis] for axis in range(len(shape)) if axis not in varying)
    outputs: dict[str, np.ndarray] = {}
    for point in np.ndindex(*(shape[axis] for axis in varying)):
        at = dict(zip(varying, point, strict=True))
        offset = len(shape) - arguments.ndim
        argument_index = tuple(at.get(offset + k, 0) for k in range(arguments.ndim))
        drawn = item.samplex.sample(
            arguments[argument_index], num_randomizations=math.prod(random_shape), rng=rng
        )
        target = tuple(at.get(axis, slice(None)) for axis in range(len(shape)))
        for name, value in dict(drawn).items():
            if name not in outputs:
                outputs[name] = np.empty(shape + value.shape[1:], dtype=value.dtype)
            outputs[name][target] = value.reshape(random_shape + value.shape[1:])
    return outputs


def _snap_to_clifford(values: np.ndarray) -> np.ndarray:
    quarter_turns = values / (np.pi / 2)
    nearest = np.round(quarter_turns)
    return np.where(np.abs(quarter_turns - nearest) < _CLIFFORD_SNAP, nearest * (np.pi / 2), values)


def _bound_values(item: ProgramItem, parameter_values: np.ndarray | None) -> np.ndarray:
    """The item's parameter values, ``item.shape + (num_parameters,)``, in ``circuit.parameters``
    order (the order of ``circuit_arguments`` and of a samplex's ``parameter_values``)."""
    n_parameters = item.circuit.num_parameters
    if n_parameters == 0 or parameter_values is None:
        return np.zeros((*item.shape, 0))
    values = np.broadcast_to(parameter_values.astype(np.float64), (*item.shape, n_parameters))
    return _snap_to_clifford(values)


#: Largest sub-circuit a wide noiseless circuit is cut into (a 2^12 statevector is instant).
_PACK_QUBITS = 12


def _independent_parts(circuit: Any) -> list[list[int]] | None:
    """Qubits of the circuit in groups no gate couples, packed into parts of few qubits.

    A twirled ISA circuit dresses every measured qubit of a wide device with parametric gates, so
    it is as wide as the device even when only pairs interact; simulated whole, its statevector
    would not fit in memory. Groups that share no gate evolve independently (the noise models
    are local too) and can be sampled apart. ``None`` when it cannot be cut (control flow, a
    classical bit written from two groups) or there is nothing to gain (one part).
    """
    parent = list(range(circuit.num_qubits))

    def root(qubit: int) -> int:
        while parent[qubit] != qubit:
            parent[qubit] = parent[parent[qubit]]
            qubit = parent[qubit]
        return qubit

    active: set[int] = set()
    writers: dict[int, set[int]] = {}
    for instruction in circuit.data:
        operation = instruction.operation
        if getattr(operation, "blocks", ()):
            return None
        if operation.name == "barrier":
            continue
        qubits = [circuit.find_bit(q).index for q in instruction.qubits]
        active.update(qubits)
        for other in qubits[1:]:
            parent[root(other)] = root(qubits[0])
        for clbit in instruction.clbits:
            writers.setdefault(circuit.find_bit(clbit).index, set()).update(qubits)
    if any(len({root(q) for q in qubits}) > 1 for qubits in writers.values()):
        return None
    groups: dict[int, list[int]] = {}
    for qubit in sorted(active):
        groups.setdefault(root(qubit), []).append(qubit)
    parts: list[list[int]] = []
    for group in sorted(groups.values(), key=len, reverse=True):
        home = next((p for p in parts if len(p) + len(group) <= _PACK_QUBITS), None)
        if home is None:
            parts.append(list(group))
        else:
            home.extend(group)
    return [sorted(part) for part in parts] if len(parts) > 1 else None


def _part_of(circuit: Any, qubits: Sequence[int], *, renumber: bool) -> Any:
    """The instructions of ``circuit`` on ``qubits`` only; all classical bits kept.

    Renumbered onto a small register without noise; with noise the device's qubit numbers stay
    (the noise model is keyed by them) and Aer truncates the idle rest itself.
    """
    from qiskit.circuit import QuantumCircuit, QuantumRegister

    register = QuantumRegister(len(qubits), "q")
    position = {q: i for i, q in enumerate(qubits)}
    if renumber:
        part = QuantumCircuit(register, *circuit.cregs)
    else:
        part = QuantumCircuit(*circuit.qregs, *circuit.cregs)
        loose_qubits = [bit for bit in circuit.qubits if not circuit.find_bit(bit).registers]
        if loose_qubits:
            part.add_bits(loose_qubits)
    loose = [bit for bit in circuit.clbits if not circuit.find_bit(bit).registers]
    if loose:
        part.add_bits(loose)
    wanted = set(qubits)
    for instruction in circuit.data:
        if instruction.operation.name == "barrier":
            continue
        indices = [circuit.find_bit(q).index for q in instruction.qubits]
        if indices[0] not in wanted:
            continue
        mapped = [register[position[q]] for q in indices] if renumber else instruction.qubits
        part.append(instruction.operation, mapped, instruction.clbits, copy=False)
    return part


def _pubs_for(item: ProgramItem, values: np.ndarray, shots: int, noise_model: Any) -> list[Any]:
    """Sampler pubs whose measured bits, OR-ed register by register, are the item's."""
    from qiskit.primitives.containers.bindings_array import BindingsArray
    from qiskit.primitives.containers.sampler_pub import SamplerPub

    circuit = item.circuit
    # Noise is local (per gate and per qubit readout), so independence survives it.
    parts = _independent_parts(circuit)
    if parts is None:
        if noise_model is None:
            circuit = compact_circuit(circuit, active_qubits(circuit))
        pieces = [(circuit, list(range(values.shape[-1])))]
    else:
        order = {parameter: index for index, parameter in enumerate(item.circuit.parameters)}
        pieces = []
        for qubits in parts:
            part = _part_of(item.circuit, qubits, renumber=noise_model is None)
            pieces.append((part, [order[parameter] for parameter in part.parameters]))
    pubs = []
    for piece, columns in pieces:
        if columns:
            bindings = BindingsArray({tuple(piece.parameters): values[..., columns]})
        else:
            bindings = BindingsArray(shape=item.shape)
        pubs.append(SamplerPub(piece, bindings, shots))
    return pubs


# -- running -------------------------------------------------------------------------------------


def _run_item(
    item: ProgramItem, shots: int, sampler: Any, rng: np.random.Generator, noise_model: Any
) -> dict[str, np.ndarray]:
    if item.samplex is not None:
        results = _sample_samplex(item, rng)
        parameter_values = results.pop("parameter_values", None)
    else:
        results, parameter_values = {}, item.circuit_arguments
    values = _bound_values(item, parameter_values)
    pubs = _pubs_for(item, values, shots, noise_model)
    outcome = sampler.run(pubs).result()
    for register in item.circuit.cregs:
        bits = np.zeros((*item.shape, shots, register.size), dtype=bool)
        for pub_result in outcome:
            measured = getattr(pub_result.data, register.name).to_bool_array(order="little")
            bits |= measured.reshape(bits.shape)
        results[register.name] = bits
    return results


def _chunk_span(item: ProgramItem, start: datetime, stop: datetime) -> Any:
    from ibm_quantum_schemas.executor.version_2_0.models import ChunkPart, ChunkSpan

    part = ChunkPart(
        idx_item=item.index,
        size=item.size,
        permutation=list(range(len(item.shape))),
        element_range=(0, item.size, 1),
    )
    return ChunkSpan(start=start, stop=stop, parts=[part])


def _now() -> datetime:
    return datetime.now(timezone.utc)


def run_executor(params_text: str, noise_model: Any) -> tuple[str, int]:
    """Run one ``executor`` job; the ``QuantumProgramResult`` JSON and its execution count."""
    from ibm_quantum_schemas.common import CompressedTensorModel
    from ibm_quantum_schemas.executor.version_2_0.models import (
        ItemMetadataModel,
        MetadataModel,
        QuantumProgramResultItemModel,
        QuantumProgramResultModel,
    )
    from qiskit_aer.primitives import SamplerV2

    program = parse_program(params_text)
    rng = np.random.default_rng()
    sampler = SamplerV2(
        default_shots=program.shots,
        seed=int(rng.integers(2**31)),
        options={"backend_options": backend_options(noise_model)},
    )
    data, spans = [], []
    for item in program.items:
        started = _now()
        results = _run_item(item, program.shots, sampler, rng, noise_model)
        spans.append(_chunk_span(item, started, _now()))
        data.append(
            QuantumProgramResultItemModel(
                results={
                    name: CompressedTensorModel.from_numpy(np.ascontiguousarray(value))
                    for name, value in results.items()
                },
                metadata=ItemMetadataModel(),
            )
        )
    source = program.model.quantum_program
    result = QuantumProgramResultModel(
        data=data,
        metadata=MetadataModel(chunk_timing=spans),
        passthrough_data=source.passthrough_data,
        semantic_role=source.semantic_role,
    )
    return result.model_dump_json(), program.executions


# -- twirling for the V2 primitives --------------------------------------------------------------


def run_twirled(
    circuit: Any,
    bindings: Any,
    *,
    num_randomizations: int,
    shots_per_randomization: int,
    enable_gates: bool,
    enable_measures: bool,
    strategy: str,
    sampler: Any,
    noise_model: Any,
    rng: np.random.Generator,
) -> dict[str, np.ndarray] | None:
    """Sample a sampler pub the way the service twirls it, with samplomatic's boxes and samplex.

    Each of ``num_randomizations`` random Pauli dressings runs ``shots_per_randomization`` shots;
    measured bits are corrected by the drawn measurement flips, and the randomizations are laid
    end to end on the shot axis: per classical register, booleans of shape
    ``bindings.shape + (num_randomizations * shots_per_randomization, size)``. ``None`` when the
    circuit cannot be boxed for twirling (samplomatic refuses it), so the caller runs it plainly.
    """
    from samplomatic import build
    from samplomatic.transpiler import generate_boxing_pass_manager

    try:
        boxing = generate_boxing_pass_manager(
            enable_gates=enable_gates,
            enable_measures=enable_measures,
            twirling_strategy=strategy.replace("-", "_"),
        )
        template, samplex = build(boxing.run(circuit))
    except Exception:  # control flow, mid-circuit measurements...: not twirlable here
        return None
    arguments = samplex.inputs().make_broadcastable()
    if circuit.num_parameters:
        arguments["parameter_values"] = bindings.as_array(circuit.parameters)
    item = ProgramItem(
        0,
        template,
        (num_randomizations, *bindings.shape),
        samplex=samplex,
        samplex_arguments=arguments,
    )
    results = _run_item(item, shots_per_randomization, sampler, rng, noise_model)
    corrected = {}
    for register in circuit.cregs:
        bits = results[register.name]
        flips = results.get(f"measurement_flips.{register.name}")
        if flips is not None:
            bits = bits ^ flips
        # (rand, *shape, shots, size) -> (*shape, rand * shots, size), randomizations outermost.
        bits = np.moveaxis(bits, 0, len(bindings.shape))
        corrected[register.name] = bits.reshape(
            (*bindings.shape, num_randomizations * shots_per_randomization, register.size)
        )
    return corrected


def twirled_gate_bindings(
    circuit: Any,
    bindings: Any,
    *,
    num_randomizations: int,
    strategy: str,
    extra_axes: int,
    rng: np.random.Generator,
) -> tuple[Any, Any] | None:
    """A gate-twirled template of an estimator circuit and its bindings, one row per randomization.

    The bindings have shape ``(num_randomizations,) + (1,) * extra_axes + bindings.shape``: the
    singleton axes keep the pub's observables broadcasting as before, so averaging the estimates
    over the first axis gives the twirled estimate of the pub. ``None`` when samplomatic cannot
    box the circuit.
    """
    from qiskit.primitives.containers.bindings_array import BindingsArray
    from samplomatic import build
    from samplomatic.transpiler import generate_boxing_pass_manager

    try:
        boxing = generate_boxing_pass_manager(
            enable_gates=True, enable_measures=False, twirling_strategy=strategy.replace("-", "_")
        )
        template, samplex = build(boxing.run(circuit))
    except Exception:  # not twirlable here (control flow, ...)
        return None
    arguments = samplex.inputs().make_broadcastable()
    if circuit.num_parameters:
        arguments["parameter_values"] = bindings.as_array(circuit.parameters)
    item = ProgramItem(
        0,
        template,
        (num_randomizations, *bindings.shape),
        samplex=samplex,
        samplex_arguments=arguments,
    )
    values = _bound_values(item, _sample_samplex(item, rng).get("parameter_values"))
    shape = (num_randomizations, *(1,) * extra_axes, *bindings.shape)
    if template.num_parameters == 0:
        return template, BindingsArray(shape=shape)
    values = values.reshape((*shape, template.num_parameters))
    return template, BindingsArray({tuple(template.parameters): values})
