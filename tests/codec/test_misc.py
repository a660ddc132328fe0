"""Import isolation and server-shaped documents."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from qiskit.primitives.containers import BitArray, PrimitiveResult

from aioqruntime.codec import DoubleSliceSpan, ExecutionSpans, dumps, loads

from ._helpers import official_loads


def test_import_aioqruntime_does_not_import_codec() -> None:
    code = (
        "import sys, aioqruntime\n"
        "assert 'aioqruntime.codec' not in sys.modules\n"
        "assert 'qiskit' not in sys.modules and 'numpy' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_codec_never_imports_official_client() -> None:
    code = (
        "import sys, aioqruntime.codec as c\n"
        "c.loads(c.dumps({'a': 1j}))\n"
        "assert not any(m.startswith('qiskit_ibm_runtime') for m in sys.modules)\n"
        "assert 'aiohttp' not in sys.modules and 'anyio' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _ndarray(array: np.ndarray) -> dict[str, object]:
    return json.loads(dumps(array))  # type: ignore[no-any-return]


def test_server_shaped_sampler_result() -> None:
    """A result as IBM's PrimitiveResultWrapperModel writes it (with field_types, spans)."""
    array = np.array([[1], [3], [0]], dtype=np.uint8)
    doc = {
        "__type__": "PrimitiveResult",
        "__value__": {
            "pub_results": [
                {
                    "__type__": "SamplerPubResult",
                    "__value__": {
                        "data": {
                            "__type__": "DataBin",
                            "__value__": {
                                "field_names": ["c"],
                                "field_types": ["BitArray"],
                                "shape": [],
                                "fields": {
                                    "c": {
                                        "__type__": "BitArray",
                                        "__value__": {"num_bits": 2, "array": _ndarray(array)},
                                    }
                                },
                            },
                        },
                        "metadata": {"circuit_metadata": {}},
                    },
                }
            ],
            "metadata": {
                "execution": {
                    "execution_spans": {
                        "__type__": "ExecutionSpans",
                        "__value__": {
                            "spans": [
                                {
                                    "__type__": "DoubleSliceSpan",
                                    "__value__": {
                                        "start": {
                                            "__type__": "datetime",
                                            "__value__": "2025-01-01T00:00:00.5Z",
                                        },
                                        "stop": {
                                            "__type__": "datetime",
                                            "__value__": "2025-01-01T00:00:01Z",
                                        },
                                        "data_slices": {"0": [[3], 0, 1, 0, 3]},
                                    },
                                }
                            ]
                        },
                    }
                },
                "version": 2,
            },
        },
    }
    text = json.dumps(doc)
    ours, theirs = loads(text), official_loads(text)
    assert isinstance(ours, PrimitiveResult)
    bits = ours[0].data.c
    assert isinstance(bits, BitArray)
    assert bits == theirs[0].data.c
    assert bits.get_counts() == {"01": 1, "11": 1, "00": 1}
    spans = ours.metadata["execution"]["execution_spans"]
    assert isinstance(spans, ExecutionSpans)
    (span,) = spans
    assert isinstance(span, DoubleSliceSpan)
    assert span.duration == 0.5
    np.testing.assert_array_equal(
        span.mask(0), theirs.metadata["execution"]["execution_spans"][0].mask(0)
    )
    assert span.size == 3
