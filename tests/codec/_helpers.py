"""Shared helpers for codec tests: the official client's encoder/decoder (tests only)."""

from __future__ import annotations

import base64
import json
import warnings
import zlib
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from qiskit_ibm_runtime.json import RuntimeDecoder, RuntimeEncoder


def official_dumps(obj: object) -> str:
    return json.dumps(obj, cls=RuntimeEncoder)


def official_loads(text: str) -> Any:
    return json.loads(text, cls=RuntimeDecoder)


# Tags whose string value is a base64 zlib stream (an ndarray value may also be a plain name).
_DEFLATED_TAGS = frozenset({"ndarray", "QuantumCircuit", "Instruction"})
_EXTRAPOLATOR_PREFIXES = ("linear", "exponential", "double_exponential", "fallback", "polynomial")


def wire_content(doc: str | Any) -> Any:
    """The JSON tree of Runtime text (or of an already parsed tree) with every deflated payload
    replaced by its inflated bytes.

    Our encoder deflates at another level than the official one, so the texts differ; equal
    ``wire_content`` means equal JSON everywhere else and byte-identical NPY/QPY payloads inside,
    hence identical decoded content for any decoder.
    """
    tree = json.loads(doc) if isinstance(doc, (str, bytes)) else doc
    return _inflate_tree(tree)


def _inflate_tree(node: Any) -> Any:
    if isinstance(node, dict):
        value = node.get("__value__")
        if (
            node.get("__type__") in _DEFLATED_TAGS
            and isinstance(value, str)
            and not value.startswith(_EXTRAPOLATOR_PREFIXES)
            and not value.startswith("<str len=")  # shortened by the trace recorder
        ):
            return {**node, "__value__": zlib.decompress(base64.b64decode(value, validate=True))}
        return {key: _inflate_tree(item) for key, item in node.items()}
    if isinstance(node, list):
        return [_inflate_tree(item) for item in node]
    return node
