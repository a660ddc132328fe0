"""The pool <-> worker framing (server/_worker_protocol.py): round trips and cut-off streams."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aioqruntime.server._worker_protocol import read_message, write_message

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
headers = st.dictionaries(st.text(), json_values, max_size=5)


@given(st.lists(st.tuples(headers, st.binary(max_size=300)), max_size=5))
def test_messages_round_trip_in_order(messages: list[tuple[dict[str, Any], bytes]]) -> None:
    stream = io.BytesIO()
    for header, body in messages:
        write_message(stream, header, body)
    stream.seek(0)
    assert [read_message(stream) for _ in messages] == messages
    assert read_message(stream) is None  # a clean end of file after the last message


@given(headers, st.binary(max_size=300), st.data())
def test_a_stream_cut_inside_a_message_is_an_error(
    header: dict[str, Any], body: bytes, data: st.DataObject
) -> None:
    stream = io.BytesIO()
    write_message(stream, header, body)
    whole = stream.getvalue()
    cut = data.draw(st.integers(min_value=1, max_value=len(whole) - 1))
    with pytest.raises(EOFError):
        read_message(io.BytesIO(whole[:cut]))


def test_a_header_that_is_not_an_object_is_refused() -> None:
    stream = io.BytesIO()
    write_message(stream, b"[1, 2]", b"")
    stream.seek(0)
    with pytest.raises(ValueError, match="JSON object"):
        read_message(stream)
