"""Hostile or broken documents: always a CodecError with the right path, never an import."""

from __future__ import annotations

import base64
import io
import json
import sys
import zlib

import numpy as np
import pytest
from qiskit.circuit import QuantumCircuit

from aioqruntime import CodecError
from aioqruntime.codec import dumps, loads


def _b64(raw: bytes, *, compress: bool = True) -> str:
    return base64.standard_b64encode(zlib.compress(raw) if compress else raw).decode()


def _npy(array: np.ndarray, *, allow_pickle: bool = False) -> bytes:
    buff = io.BytesIO()
    np.save(buff, array, allow_pickle=allow_pickle)
    return buff.getvalue()


def _in_doc(node: object) -> str:
    # Bury the node in a result-like document so that the path is not trivial.
    return json.dumps({"results": [{"data": node}]})


WHERE = "/results/0/data"


def _error(text: str) -> CodecError:
    with pytest.raises(CodecError) as info:
        loads(text)
    return info.value


@pytest.mark.parametrize(
    ("node", "suffix", "words"),
    [
        ({"__type__": "Nope", "__value__": 1}, "/__type__", "unknown __type__"),
        ({"__type__": 3, "__value__": 1}, "/__type__", "__type__ must be a string"),
        ({"__type__": "ndarray"}, "", "no __value__"),
        ({"__type__": "ndarray", "__value__": "not base64!!"}, "/__value__", "base64"),
        ({"__type__": "ndarray", "__value__": _b64(b"xx", compress=False)}, "/__value__", "zlib"),
        (
            {
                "__type__": "ndarray",
                "__value__": _b64(zlib.compress(b"x" * 100)[:-4], compress=False),
            },
            "/__value__",
            "zlib",
        ),
        ({"__type__": "ndarray", "__value__": _b64(b"not an npy file")}, "/__value__", "NPY"),
        ({"__type__": "ndarray", "__value__": _b64(_npy(np.arange(4))[:-3])}, "/__value__", "NPY"),
        (
            {
                "__type__": "ndarray",
                "__value__": _b64(_npy(np.array([{"a": 1}], dtype=object), allow_pickle=True)),
            },
            "/__value__",
            "NPY",
        ),
        ({"__type__": "ndarray", "__value__": {"x": 1}}, "/__value__", "string or a list"),
        ({"__type__": "ndarray", "__value__": [[1, 2], [3]]}, "/__value__", "ndarray list"),
        (
            {"__type__": "QuantumCircuit", "__value__": _b64(b"QISKIT\x11garbage")},
            "/__value__",
            "QPY",
        ),
        ({"__type__": "QuantumCircuit", "__value__": _b64(b"NOTQPY\x11")}, "/__value__", "magic"),
        ({"__type__": "QuantumCircuit", "__value__": _b64(b"QISKIT\xff")}, "/__value__", "newer"),
        (
            {"__type__": "Parameter", "__value__": _b64(b"\x00", compress=False)},
            "/__value__",
            "short",
        ),
        ({"__type__": "complex", "__value__": [1]}, "/__value__", "two numbers"),
        ({"__type__": "datetime", "__value__": "yesterday"}, "/__value__", "datetime"),
        ({"__type__": "set", "__value__": [[1]]}, "/__value__", "unhashable"),
        ({"__type__": "spmatrix", "__value__": "AAAA"}, "/__type__", "unknown"),
        (
            {"__type__": "BitArray", "__value__": {"array": [1, 2], "num_bits": 3}},
            "/__value__/array",
            "ndarray",
        ),
        (
            {"__type__": "DataBin", "__value__": {"fields": {"__class__": 1}, "shape": []}},
            "/__value__/fields/__class__",
            "field name",
        ),
        (
            {"__type__": "PubResult", "__value__": {"data": {}, "metadata": {}}},
            "/__value__/data",
            "DataBin",
        ),
        (
            {"__type__": "PrimitiveResult", "__value__": {"pub_results": [1]}},
            "/__value__/pub_results/0",
            "PubResult",
        ),
        (
            {"__type__": "ExecutionSpan", "__value__": {"start": 1, "stop": 2, "data_slices": {}}},
            "/__value__/start",
            "datetime",
        ),
        ({"__type__": "ObservablesArray", "__value__": {"QQ": 1}}, "/__value__", "observables"),
        (
            {"__type__": "BindingsArray", "__value__": {"shape": [2], "data": {"a": 1}}},
            "/__value__/data/a",
            "JSON list",
        ),
    ],
)
def test_malformed_nodes(node: dict[str, object], suffix: str, words: str) -> None:
    error = _error(_in_doc(node))
    assert error.path == WHERE + suffix
    assert words in str(error)


def test_bitarray_shape_checked() -> None:
    array = np.zeros((10, 2), dtype=np.uint8)
    doc = dumps({"x": {"__type__": "BitArray", "__value__": {"array": array, "num_bits": 17}}})
    error = _error(doc)
    assert error.path == "/x/__value__/array"
    assert "3" in str(error)
    doc = dumps(
        {"__type__": "BitArray", "__value__": {"array": array.astype(np.int8), "num_bits": 9}}
    )
    assert "uint8" in str(_error(doc))


def test_pickle_npy_never_unpickled(monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    called = []
    monkeypatch.setattr(pickle, "load", lambda *a, **k: called.append(1))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: called.append(1))
    raw = _npy(np.array([object()], dtype=object), allow_pickle=True)
    error = _error(_in_doc({"__type__": "ndarray", "__value__": _b64(raw)}))
    assert "Object arrays cannot be loaded" in str(error)
    assert called == []


def test_npz_payload_refused() -> None:
    buff = io.BytesIO()
    np.savez(buff, a=np.arange(3))
    assert "NPY" in str(
        _error(_in_doc({"__type__": "ndarray", "__value__": _b64(buff.getvalue())}))
    )


@pytest.mark.parametrize(
    ("module", "cls"),
    [
        ("os", "system"),
        ("subprocess", "Popen"),
        ("builtins", "eval"),
        ("qiskit_ibm_runtime.utils", "Something"),
        ("aioqruntime_not_a_module_xyz", "Thing"),
    ],
)
def test_settings_never_imports(module: str, cls: str) -> None:
    node = {
        "__type__": "settings",
        "__module__": module,
        "__class__": cls,
        "__value__": {"args": ["echo pwned"]},
    }
    before = set(sys.modules)
    error = _error(_in_doc(node))
    assert error.path == WHERE
    assert "allow-list" in str(error)
    assert set(sys.modules) == before


def test_other_quantum_info_settings_pass_through_as_dicts() -> None:
    # Like the official decoder for non-operator classes: left as the tagged dict, not built.
    node = {
        "__type__": "settings",
        "__module__": "qiskit.quantum_info.operators.symplectic.sparse_pauli_op",
        "__class__": "Popen",
        "__value__": {"args": ["x"]},
    }
    before = set(sys.modules)
    assert loads(_in_doc(node)) == {"results": [{"data": node}]}
    assert set(sys.modules) == before


def test_json_tag_passes_through_without_import() -> None:
    node = {
        "__type__": "_json",
        "__module__": "subprocess",
        "__class__": "Popen",
        "__value__": {"args": "x"},
    }
    before = set(sys.modules)
    assert loads(_in_doc(node)) == {"results": [{"data": node}]}
    assert set(sys.modules) == before


def test_unknown_tag_no_import() -> None:
    before = set(sys.modules)
    _error(_in_doc({"__type__": "os.system", "__value__": "rm -rf /"}))
    assert set(sys.modules) == before


def test_settings_bad_arguments() -> None:
    node = {
        "__type__": "settings",
        "__module__": "qiskit.quantum_info.operators.symplectic.pauli",
        "__class__": "Pauli",
        "__value__": {"data": "QQ"},
    }
    error = _error(_in_doc(node))
    assert error.path == WHERE + "/__value__"


def test_invalid_json() -> None:
    assert _error("{not json").path == ""
    assert _error(b"\xff\xfe").path == ""


def test_deep_nesting_is_codec_error() -> None:
    text = "[" * 100_000 + "]" * 100_000
    with pytest.raises(CodecError):
        loads(text)


def test_pointer_escaping() -> None:
    error = _error(json.dumps({"a/b": {"c~d": {"__type__": "?", "__value__": 0}}}))
    assert error.path == "/a~1b/c~0d/__type__"


def test_unencodable_is_codec_error() -> None:
    with pytest.raises(CodecError):
        dumps({"x": object()})


def test_bytes_input_accepted() -> None:
    qc = QuantumCircuit(1)
    assert loads(dumps(qc).encode()) == qc
