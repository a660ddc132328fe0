"""Large array payloads cut out before parsing and decoded in a thread pool (codec._parallel):
the same objects and the same errors as parsing the whole text, whatever the text holds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from aioqruntime import CodecError
from aioqruntime.codec import _parallel, decode_tree, dumps, loads
from aioqruntime.codec._binary import encode_ndarray, inflate_limit


def _plain(text: str) -> Any:
    """What loads gives without the split: the whole text parsed, then decoded."""
    return decode_tree(json.loads(text))


@pytest.fixture
def small_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any payload of 8+ characters is cut, in any document with two of them."""
    monkeypatch.setattr(_parallel, "MIN_PAYLOAD_CHARS", 8)
    monkeypatch.setattr(_parallel, "MIN_TOTAL_CHARS", 16)


@pytest.fixture
def decoded_ahead(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The payload texts the pool decoded (to show the split path was taken)."""
    seen: list[str] = []
    original = _parallel._decode

    def spy(cut: Any, max_bytes: int) -> None:
        seen.append(cut.text)
        original(cut, max_bytes)

    monkeypatch.setattr(_parallel, "_decode", spy)
    yield seen


def _same_tree(a: Any, b: Any) -> None:
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
        assert a.flags.writeable and b.flags.writeable
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for key in a:
            _same_tree(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same_tree(x, y)
    else:
        assert a == b


def _big_document(count: int = 4, size: int = 200_000) -> tuple[str, list[np.ndarray]]:
    rng = np.random.default_rng(7)
    arrays = [rng.integers(0, 256, size, dtype=np.uint8) for _ in range(count)]
    return dumps({"pubs": [{"meas": a, "i": i} for i, a in enumerate(arrays)]}), arrays


def test_a_large_document_is_split_and_decodes_to_the_same_arrays(
    decoded_ahead: list[str],
) -> None:
    text, arrays = _big_document()
    decoded = loads(text)
    assert len(decoded_ahead) == len(arrays)  # every payload went through the pool
    assert isinstance(decoded, dict)
    for pub, array in zip(decoded["pubs"], arrays, strict=True):
        np.testing.assert_array_equal(pub["meas"], array)
        assert pub["meas"].flags.writeable
    _same_tree(decoded, _plain(text))


def test_a_small_document_is_parsed_whole(decoded_ahead: list[str]) -> None:
    text = dumps({"a": np.arange(10), "b": np.arange(5)})
    _same_tree(loads(text), _plain(text))
    assert decoded_ahead == []


def test_compact_separators_are_split_too(decoded_ahead: list[str]) -> None:
    text, _ = _big_document()
    compact = json.dumps(json.loads(text), separators=(",", ":"))
    _same_tree(loads(compact), _plain(compact))
    assert len(decoded_ahead) == 4


def test_a_key_that_only_looks_like_a_tag_falls_back_to_the_whole_parse(
    small_thresholds: None,
) -> None:
    payload = encode_ndarray(np.arange(100))
    # The first dict's key is '"__type__' (with a quote): the pattern matches, the tag is not one.
    text = (
        '[{"\\"__type__": "ndarray", "__value__": "' + payload + '"}, '
        '{"__type__": "ndarray", "__value__": "' + payload + '"}]'
    )
    decoded = loads(text)
    assert isinstance(decoded, list)
    assert decoded[0] == {'"__type__': "ndarray", "__value__": payload}  # left a plain string
    np.testing.assert_array_equal(decoded[1], np.arange(100))


def test_a_payload_with_an_escape_stays_in_the_text(
    small_thresholds: None, decoded_ahead: list[str]
) -> None:
    payload = encode_ndarray(np.arange(300))
    escaped = payload.replace("/", "\\/")  # a JSON encoder may escape the solidus
    assert escaped != payload
    text = json.dumps([{"__type__": "ndarray", "__value__": payload}] * 3)
    text = text.replace(payload, escaped, 1)
    decoded = loads(text)
    assert isinstance(decoded, list)
    for array in decoded:
        np.testing.assert_array_equal(array, np.arange(300))
    assert len(decoded_ahead) == 2  # the escaped one was parsed with the rest


def test_a_corrupt_payload_raises_with_its_path(decoded_ahead: list[str]) -> None:
    text, _ = _big_document()
    document = json.loads(text)
    value = document["pubs"][2]["meas"]["__value__"]
    document["pubs"][2]["meas"]["__value__"] = value[:1000] + "AAAA" + value[1004:]
    broken = json.dumps(document)
    with pytest.raises(CodecError) as split:
        loads(broken)
    assert len(decoded_ahead) == 4
    with pytest.raises(CodecError) as whole:
        _plain(broken)
    assert split.value.path == whole.value.path == "/pubs/2/meas/__value__"
    assert str(split.value) == str(whole.value)


def test_invalid_json_raises_as_before() -> None:
    text, _ = _big_document()
    with pytest.raises(CodecError, match="invalid JSON"):
        loads(text[:-1])


def test_the_per_payload_limit_holds_in_the_workers(decoded_ahead: list[str]) -> None:
    text, _ = _big_document(size=200_000)
    with inflate_limit(100_000), pytest.raises(CodecError, match="limit of 100000 bytes"):
        loads(text)
    assert len(decoded_ahead) == 4


def test_a_whole_document_limit_keeps_the_sequential_path(decoded_ahead: list[str]) -> None:
    text, _ = _big_document(size=200_000)
    with (
        inflate_limit(300_000, total=500_000),
        pytest.raises(CodecError, match="for the whole document"),
    ):
        loads(text)
    assert decoded_ahead == []


def test_one_core_decodes_the_cut_payloads_in_place(
    monkeypatch: pytest.MonkeyPatch, decoded_ahead: list[str]
) -> None:
    monkeypatch.setattr(_parallel, "_executor", lambda: None)
    text, arrays = _big_document()
    decoded = loads(text)
    assert isinstance(decoded, dict)
    for pub, array in zip(decoded["pubs"], arrays, strict=True):
        np.testing.assert_array_equal(pub["meas"], array)
    assert len(decoded_ahead) == 4


def test_a_document_spelling_a_placeholder_is_not_confused(small_thresholds: None) -> None:
    payload = encode_ndarray(np.arange(50))
    lookalike = "\u0000aioqruntime:0000000000000000:0"
    text = json.dumps(
        [{"__type__": "ndarray", "__value__": payload}] * 2 + [lookalike, {"k": lookalike}]
    )
    _same_tree(loads(text), _plain(text))


_ARRAYS = hnp.arrays(
    st.sampled_from([np.dtype("uint8"), np.dtype("<f8"), np.dtype("int16"), np.dtype("bool")]),
    hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=6),
)
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.text(alphabet='ab"\\/_:{}[], \u0000', max_size=12),
    _ARRAYS,
)
_TREES = st.recursive(
    _LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(alphabet='ab"_\\:', max_size=10), children, max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(_TREES, st.booleans())
def test_any_document_decodes_as_the_whole_parse_does(tree: Any, compact: bool) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_parallel, "MIN_PAYLOAD_CHARS", 1)
        patch.setattr(_parallel, "MIN_TOTAL_CHARS", 1)
        text = dumps(tree)
        if compact:
            text = json.dumps(json.loads(text), separators=(",", ":"))
        _same_tree(loads(text), _plain(text))


def _decode_in_child(text: str, queue: Any) -> None:
    decoded = loads(text)
    assert isinstance(decoded, dict)
    queue.put(int(sum(int(pub["meas"].sum()) for pub in decoded["pubs"])))


def test_a_forked_child_decodes_with_its_own_pool(decoded_ahead: list[str]) -> None:
    import multiprocessing

    text, arrays = _big_document()
    loads(text)  # the parent's pool exists now
    assert decoded_ahead  # (and was used)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_decode_in_child, args=(text, queue))
    child.start()
    try:
        total = queue.get(timeout=60)  # an inherited, thread-less pool would never answer
    finally:
        child.join(timeout=60)
        if child.is_alive():
            child.kill()
    assert total == sum(int(a.sum()) for a in arrays)
    assert child.exitcode == 0


def test_the_calling_thread_decodes_what_no_worker_has_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    busy = ThreadPoolExecutor(1)
    release = threading.Event()
    busy.submit(release.wait)  # the only worker is taken: nothing queued behind it starts
    monkeypatch.setattr(_parallel, "_executor", lambda: busy)
    text, arrays = _big_document()
    outcome: list[Any] = []
    caller = threading.Thread(target=lambda: outcome.append(loads(text)))
    caller.start()
    caller.join(timeout=60)
    try:
        assert not caller.is_alive()  # it did not wait for the blocked pool
        (decoded,) = outcome
        for pub, array in zip(decoded["pubs"], arrays, strict=True):
            np.testing.assert_array_equal(pub["meas"], array)
    finally:
        release.set()
        caller.join(timeout=60)
        busy.shutdown()
