"""Circuits, instructions and parameters as QPY, with a cache for unchanged circuits.

A variational loop submits the same circuit object many times with new parameter values. QPY
serialization is the expensive part of encoding such a pub, so the base64 text is cached per
circuit object and reused only while a structural fingerprint of the circuit is unchanged.

The fingerprint must change whenever the QPY bytes would. It covers the name, global phase,
metadata (as its JSON text), bits, registers, layout and, per instruction, the name, parameters,
qubits, clbits and label. Only instructions whose whole state is visible there are fingerprinted:
standard gates and ``measure``/``reset``/``barrier``/``delay``. A circuit holding anything else
(custom gates whose definition could be mutated in place, control flow, variables, stretches...)
is never cached and is serialized every time, which is slow but never stale.
"""

from __future__ import annotations

import io
import json
import math
import struct
import threading
import uuid
import weakref
from collections import OrderedDict
from itertools import chain
from typing import Any

from qiskit import qpy
from qiskit.circuit import (
    Barrier,
    Delay,
    Instruction,
    Measure,
    Parameter,
    ParameterExpression,
    ParameterVectorElement,
    QuantumCircuit,
    QuantumRegister,
    Reset,
)

from aioqruntime._exceptions import CodecError
from aioqruntime.codec._binary import b64_decode, b64_encode, inflate
from aioqruntime.codec._paths import Path, fail

__all__ = [
    "QPY_ENCODE_VERSION",
    "clear_qpy_cache",
    "decode_circuit",
    "decode_instruction",
    "decode_parameter",
    "encode_circuit",
    "encode_circuit_with_names",
    "encode_instruction",
    "encode_parameter",
    "qpy_cache_info",
    "use_metadata_serializer",
]

# The service accepts QPY up to 17 for sampler/estimator params (protocol.md §6.4).
QPY_ENCODE_VERSION = min(17, qpy.QPY_VERSION)
_QPY_MAGIC = b"QISKIT"
_CACHE_SIZE = 128

# Parameter types whose ``==`` is exact enough (expressions also contribute their text).
_SIMPLE_PARAM_TYPES: frozenset[type] = frozenset({float, int, Parameter, ParameterVectorElement})
# Operation types (besides standard gates) whose complete state the fingerprint sees.
_DESCRIBED_TYPES: frozenset[type] = frozenset(
    {Measure, type(Measure()), Reset, type(Reset()), Barrier, Delay}
)


#: Every QPY read and write in the process goes through this lock (client and server alike).
#:
#: Evidence: the local server died with SIGSEGV under the official client's 32 threads (issue 9:
#: 3 of about 11 runs of 200 Bell jobs), the fatal frame in ``qiskit/qpy/interface.py``
#: ``_qpy.load`` (Qiskit's Rust QPY reader, used from QPY 13 on; the Rust writer from 17, the
#: version both clients send), reached from ``_load_qpy`` in an anyio worker thread while other
#: threads could be in QPY too (validation runs two at once; an embedding process may encode at
#: the same time). The Rust code holds the GIL except where it calls back into Python (file reads,
#: metadata (de)serializers, gate classes), which is where a second thread can enter it, and
#: Qiskit documents no thread-safety for QPY. Not reproduced on our 2-core machine (150, 150, 120
#: and 120 s of benchmarks/soak.py without this lock, 3 same-process throughput runs, 20 s of 8-32
#: threads of raw load/dump with the GC forced on every allocation), so this is isolation, not a
#: proven fix. It costs nothing measurable: QPY holds the GIL for its work anyway (2 and 32 threads
#: decoding and encoding Bell pubs ran as many calls per second with the lock as without).
#: Reentrant: a metadata serializer may itself encode a circuit (the wire encoder).
_QPY_LOCK = threading.RLock()
#: The same lock, for QPY calls made outside this module (IBM's wire models read and write the
#: executor program's QPY blob): hold it around them.
QPY_LOCK = _QPY_LOCK


#: The JSON encoder QPY writes circuit metadata with: the wire encoder, which registers itself
#: (:func:`use_metadata_serializer`) because it encodes circuits with this module; importing the
#: ``aioqruntime.codec`` package (done before any of its modules) imports it.
_metadata_serializer_class: type[json.JSONEncoder] | None = None


def use_metadata_serializer(serializer: type[json.JSONEncoder]) -> None:
    """Make ``serializer`` the encoder of circuit metadata (the wire encoder, set once)."""
    global _metadata_serializer_class
    _metadata_serializer_class = serializer


def _metadata_serializer() -> type[json.JSONEncoder]:
    if _metadata_serializer_class is None:  # pragma: no cover - the package import sets it
        raise CodecError("internal: the wire encoder is not registered (import aioqruntime.codec)")
    return _metadata_serializer_class


def _dump_circuit(circuit: QuantumCircuit) -> str:
    buff = io.BytesIO()
    serializer = _metadata_serializer()
    with _QPY_LOCK:
        qpy.dump(circuit, buff, metadata_serializer=serializer, version=QPY_ENCODE_VERSION)
    return b64_encode(buff.getvalue(), compress=True)


def _exact_params(params: list[Any]) -> tuple[Any, ...]:
    """Extra key material that ``==`` on the parameters misses.

    ``0.0 == -0.0`` but their QPY bytes differ, and symbolic equality of two expressions does not
    promise identical QPY, so expressions also contribute their canonical text. (NaN is never
    equal to itself, so a NaN parameter always misses: safe.)
    """
    # Types too: ``1 == 1.0`` (and a vector element may equal a plain parameter in future).
    extra: tuple[Any, ...] = tuple(map(type, params))
    # Compare floats only: ``0.0 in params`` would call Parameter.__eq__ for every parameter.
    if 0.0 in [p for p in params if type(p) is float]:
        extra += tuple(math.copysign(1.0, p) if type(p) is float else 0.0 for p in params)
    if not _SIMPLE_PARAM_TYPES.issuperset(map(type, params)):
        extra += tuple(
            str(p)
            for p in params
            if isinstance(p, ParameterExpression) and not isinstance(p, Parameter)
        )
    return extra


def _layout_fingerprint(circuit: QuantumCircuit) -> object:
    layout = circuit._layout
    if layout is None:
        return None
    initial = layout.initial_layout
    final = layout.final_layout
    mapping = layout.input_qubit_mapping
    outputs = layout._output_qubit_list
    return (
        None if initial is None else tuple(initial.get_physical_bits().items()),
        None if mapping is None else tuple(mapping.items()),
        None if final is None else tuple(final.get_physical_bits().items()),
        layout._input_qubit_count,
        None if outputs is None else tuple(outputs),
    )


def circuit_fingerprint(circuit: QuantumCircuit) -> tuple[Any, ...] | None:
    """A value equal for two states of ``circuit`` only if their QPY is; ``None`` if unsure.

    Costs about a microsecond per instruction (mostly Qiskit building the parameter objects),
    against a few for QPY itself.
    """
    if circuit.num_vars or circuit.num_stretches:
        return None
    data = circuit._data
    rows = [(i.name, i.params, i.qubits, i.clbits, i.label, i.is_standard_gate()) for i in data]
    units: list[tuple[int, object]] = []
    for index, row in enumerate(rows):
        if not row[5]:
            op = data[index].operation
            if type(op) not in _DESCRIBED_TYPES:
                return None
            units.append((index, getattr(op, "unit", None)))
    params = list(chain.from_iterable(row[1] for row in rows))
    phase = circuit.global_phase
    params.append(phase)
    return (
        circuit.name,
        phase,
        _exact_params(params),
        _metadata_text(circuit.metadata),
        tuple(circuit.qubits),
        tuple(circuit.clbits),
        tuple(circuit.qregs),
        tuple(circuit.cregs),
        _layout_fingerprint(circuit),
        tuple(units),
        rows,
    )


def _metadata_text(metadata: object) -> str:
    return json.dumps(metadata, cls=_metadata_serializer(), separators=(",", ":"))


class _Entry:
    __slots__ = ("fingerprint", "names", "ref", "value")

    def __init__(
        self,
        ref: weakref.ref[QuantumCircuit],
        fingerprint: tuple[Any, ...] | None,
        value: str,
        names: tuple[str, ...],
    ) -> None:
        self.ref = ref
        self.fingerprint = fingerprint
        self.value = value
        self.names = names


class _QpyCache:
    """LRU of circuit id -> (weak reference, fingerprint, base64 QPY).

    Keyed by ``id`` because circuits are unhashable; the weak reference tells a live entry from
    one whose circuit died and whose id was reused. No weakref callbacks: a dead entry just ages
    out, which avoids running cleanup code from inside the garbage collector.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.uncacheable = 0

    def encode(self, circuit: QuantumCircuit) -> tuple[str, tuple[str, ...] | None]:
        """The QPY text and, when the fingerprint vouches for them, the parameter names.

        A circuit seen for the first time is only remembered (no fingerprint): the fingerprint
        costs most of a QPY dump, and distinct circuits would pay it for nothing. From the
        second sighting on it is fingerprinted and cached.
        """
        key = id(circuit)
        with self._lock:
            entry = self._entries.get(key)
            seen = entry is not None and entry.ref() is circuit
            if not seen:
                self.misses += 1
                self._remember(key, _Entry(weakref.ref(circuit), None, "", ()))
        if not seen:
            return _dump_circuit(circuit), None
        fingerprint = circuit_fingerprint(circuit)
        if fingerprint is None:
            with self._lock:
                self.uncacheable += 1
            return _dump_circuit(circuit), None
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.ref() is circuit and entry.fingerprint == fingerprint:
                self._entries.move_to_end(key)
                self.hits += 1
                return entry.value, entry.names
            self.misses += 1
        value = _dump_circuit(circuit)
        names = tuple(p.name for p in circuit.parameters)
        with self._lock:
            self._remember(key, _Entry(weakref.ref(circuit), fingerprint, value, names))
        return value, names

    def _remember(self, key: int, entry: _Entry) -> None:
        # Called with the lock held.
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = self.uncacheable = 0

    def info(self) -> dict[str, int]:
        with self._lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "uncacheable": self.uncacheable,
                "size": len(self._entries),
                "maxsize": self._size,
            }


_CACHE = _QpyCache(_CACHE_SIZE)


def encode_circuit(circuit: QuantumCircuit) -> str:
    """Base64 of zlib-compressed QPY (version :data:`QPY_ENCODE_VERSION`), cached when safe."""
    return encode_circuit_with_names(circuit)[0]


def encode_circuit_with_names(circuit: QuantumCircuit) -> tuple[str, tuple[str, ...] | None]:
    """:func:`encode_circuit`, plus ``circuit.parameters`` names when known for free (cached).

    Raises:
        CodecError: QPY cannot serialize the circuit (or its metadata).
    """
    try:
        return _CACHE.encode(circuit)
    except CodecError:
        raise
    except Exception as exc:  # QPY and json raise a variety of errors
        raise CodecError(
            f"cannot serialize circuit {circuit.name!r} ({type(exc).__name__}: {exc})"
        ) from exc


def qpy_cache_info() -> dict[str, int]:
    """Counters of the QPY cache: ``hits``, ``misses``, ``uncacheable``, ``size``, ``maxsize``."""
    return _CACHE.info()


def clear_qpy_cache() -> None:
    """Forget every cached circuit and reset the counters."""
    _CACHE.clear()


def _load_qpy(text: object, path: Path) -> list[Any]:
    raw = inflate(b64_decode(text, path), path)
    if len(raw) < 7 or raw[:6] != _QPY_MAGIC:
        raise fail("not a QPY file (bad magic)", path)
    version = raw[6]
    if version > qpy.QPY_VERSION:
        raise fail(
            f"QPY version {version} is newer than the installed Qiskit reads ({qpy.QPY_VERSION})",
            path,
        )
    try:
        # No metadata_deserializer: circuit metadata stays plain JSON, as the official decoder
        # leaves it. QPY resolves instruction names only within Qiskit's own circuit library.
        with _QPY_LOCK:
            programs = qpy.load(io.BytesIO(raw))
    except Exception as exc:  # QPY raises anything from struct.error to QpyError
        raise fail(f"malformed QPY ({type(exc).__name__}: {exc})", path) from exc
    if not programs:
        raise fail("QPY file holds no circuit", path)
    return list(programs)


def decode_circuit(text: object, path: Path) -> QuantumCircuit:
    """The first circuit of a ``QuantumCircuit`` tag value."""
    circuit = _load_qpy(text, path)[0]
    if not isinstance(circuit, QuantumCircuit):
        raise fail("QPY payload is not a circuit", path)
    return circuit


def encode_instruction(instruction: Instruction) -> str:
    """QPY of a circuit holding just ``instruction`` on fresh qubits (no metadata serializer)."""
    qreg = QuantumRegister(instruction.num_qubits)
    circuit = QuantumCircuit(qreg)
    circuit.append(instruction, qreg)
    buff = io.BytesIO()
    with _QPY_LOCK:
        qpy.dump(circuit, buff, version=QPY_ENCODE_VERSION)
    return b64_encode(buff.getvalue(), compress=True)


def decode_instruction(text: object, path: Path) -> Instruction:
    """The operation of the first instruction of an ``Instruction`` tag's circuit."""
    circuit = decode_circuit(text, path)
    if not circuit.data:
        raise fail("Instruction payload holds an empty circuit", path)
    operation = circuit.data[0].operation
    if not isinstance(operation, Instruction):
        raise fail("Instruction payload holds no instruction", path)
    return operation


# QPY PARAMETER record: big-endian uint16 name length, 16-byte UUID, then the UTF-8 name.
_PARAMETER = struct.Struct("!H16s")


def encode_parameter(parameter: Parameter) -> str:
    """A ``Parameter`` tag value: the QPY parameter record, base64, not compressed."""
    name = parameter.name.encode("utf-8")
    record = _PARAMETER.pack(len(name), parameter.uuid.bytes) + name
    return b64_encode(record, compress=False)


def decode_parameter(text: object, path: Path) -> Parameter:
    """Inverse of :func:`encode_parameter`."""
    raw = b64_decode(text, path)
    if len(raw) < _PARAMETER.size:
        raise fail("Parameter record too short", path)
    size, uuid_bytes = _PARAMETER.unpack_from(raw)
    name_bytes = raw[_PARAMETER.size :]
    if len(name_bytes) != size:
        raise fail("Parameter record has the wrong name length", path)
    try:
        name = name_bytes.decode("utf-8")
        return Parameter(name, uuid=uuid.UUID(bytes=uuid_bytes))
    except (UnicodeDecodeError, ValueError) as exc:
        raise fail(f"invalid Parameter record ({exc})", path) from exc
