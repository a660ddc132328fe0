"""The codec's fast paths (pybase64, zlib-ng at level 1, cached NPY headers) against the official
encoder/decoder, both ways: the bytes differ (deflate level), the content never does."""

from __future__ import annotations

import base64
import io
import json
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from aioqruntime import CodecError
from aioqruntime.codec import dumps, loads
from aioqruntime.codec._binary import decode_ndarray, encode_ndarray
from aioqruntime.codec._paths import ROOT

from ._helpers import official_dumps, official_loads, wire_content

DTYPES = st.one_of(
    hnp.integer_dtypes(),
    hnp.unsigned_integer_dtypes(),
    hnp.floating_dtypes(),
    hnp.complex_number_dtypes(),
    hnp.boolean_dtypes(),
    st.just(np.dtype("<U3")),
    st.just(np.dtype([("a", "<i2"), ("b", ">f8")])),
)
ARRAYS = hnp.arrays(
    DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5), unique=False
)


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype
    assert a.shape == b.shape
    # Exact, NaN and -0.0 included (array equality says NaN != NaN).
    assert a.tobytes() == b.tobytes()


@settings(max_examples=150, deadline=None)
@given(ARRAYS, st.booleans())
def test_arrays_both_ways(array: np.ndarray, fortran: bool) -> None:
    if fortran:
        array = np.asfortranarray(array)
    ours, theirs = dumps(array), official_dumps(array)
    # Same NPY bytes inside; only the deflate stream differs.
    assert wire_content(ours) == wire_content(theirs)
    for text in (ours, theirs):
        for decoded in (loads(text), official_loads(text)):
            _same(decoded, array)
    back = loads(theirs)
    assert back.flags.writeable and back.flags.owndata
    assert back.flags.f_contiguous == official_loads(theirs).flags.f_contiguous


def test_deflate_is_a_standard_zlib_stream_at_level_1() -> None:
    raw = np.arange(1000.0).tobytes()
    text = json.loads(dumps(np.arange(1000.0)))["__value__"]
    data = base64.b64decode(text, validate=True)
    assert data[:2] == b"\x78\x01"  # zlib header: deflate, fastest level
    assert zlib.decompress(data).endswith(raw)


def test_cached_header_still_checks_each_payload() -> None:
    # Two payloads with one header (the cache hit) and different data lengths.
    good = encode_ndarray(np.arange(6.0))
    assert decode_ndarray(good, ROOT).tolist() == list(range(6))
    npy = zlib.decompress(base64.b64decode(good))
    short = base64.b64encode(zlib.compress(npy[:-8])).decode()
    with pytest.raises(CodecError, match="declares shape"):
        decode_ndarray(short, ROOT)
    longer = base64.b64encode(zlib.compress(npy + b"\0" * 8)).decode()
    # Trailing bytes are ignored, as np.load ignores them.
    assert decode_ndarray(longer, ROOT).tolist() == list(range(6))


@pytest.mark.parametrize(
    "npy",
    [
        b"\x93NUMPY\x01\x00\x10\x00{'descr': '|O', 'fortran_order': False, 'shape': (1,), }",
        b"\x93NUMPY\x01\x00\x05\x00{bad}",
        b"\x93NUMPY",
        b"\x93NUMPX\x01\x00\x00\x00",
        b"\x93NUMPY\x01\x00\xff\xff{",
    ],
    ids=["object dtype", "bad header", "no version", "bad magic", "header longer than file"],
)
def test_malformed_npy_is_a_codec_error(npy: bytes) -> None:
    text = base64.b64encode(zlib.compress(npy)).decode()
    with pytest.raises(CodecError, match="invalid NPY array"):
        decode_ndarray(text, ROOT)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([b"\x01\x00", b"\x02\x00"]), st.binary(max_size=120), st.binary(max_size=64))
def test_arbitrary_npy_reads_like_numpy(version: bytes, header: bytes, data: bytes) -> None:
    # Differential: whatever numpy's own reader makes of the bytes, ours makes the same array,
    # and where numpy refuses them ours raises CodecError (never anything else).
    size = len(header).to_bytes(2 if version == b"\x01\x00" else 4, "little")
    npy = b"\x93NUMPY" + version + size + header + data
    try:
        expected = np.lib.format.read_array(io.BytesIO(npy), allow_pickle=False)
    except Exception:
        expected = None
    text = base64.b64encode(zlib.compress(npy)).decode()
    if expected is None:
        with pytest.raises(CodecError):
            decode_ndarray(text, ROOT)
    else:
        _same(decode_ndarray(text, ROOT), expected)


@pytest.mark.parametrize("shape", [(3,), (2, 3), (0,), ()])
@pytest.mark.parametrize("dtype", ["<f8", ">i4", "|u1", "<c16"])
def test_wellformed_headers_read_like_numpy(shape: tuple[int, ...], dtype: str) -> None:
    array = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    buff = io.BytesIO()
    np.save(buff, array, allow_pickle=False)
    text = base64.b64encode(zlib.compress(buff.getvalue())).decode()
    _same(decode_ndarray(text, ROOT), array)
