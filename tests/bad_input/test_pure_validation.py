"""Property tests of the local checks (no I/O at all): only ``InvalidInputError`` ever escapes."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aioqruntime import InvalidInputError
from aioqruntime.primitives._options import ESTIMATOR_KEYS, SAMPLER_KEYS, check_tags, split_options
from aioqruntime.protocol import parse_max_time

FAST = settings(max_examples=150, deadline=None, database=None, derandomize=True)

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.binary(max_size=4),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=24), inner, max_size=3)
    ),
    max_leaves=8,
)
_option_names = st.sampled_from(
    [*sorted(ESTIMATOR_KEYS), "nope", "twirling", "simulator", "execution", "environment"]
)
_nested_names = st.sampled_from(
    [
        "enable",
        "enable_gates",
        "num_randomizations",
        "strategy",
        "seed_simulator",
        "coupling_map",
        "init_qubits",
        "rep_delay",
        "meas_type",
        "job_tags",
        "log_level",
        "private",
        "zne",
        "noise_factors",
        "typo",
    ]
)
_options = st.dictionaries(
    _option_names,
    st.one_of(_values, st.dictionaries(_nested_names, _values, max_size=3)),
    max_size=4,
)


@FAST
@given(value=st.one_of(_values, st.integers(), st.text(alphabet="0123456789dhms -", max_size=12)))
def test_max_time_is_parsed_or_refused_with_a_typed_error(value: Any) -> None:
    try:
        seconds = parse_max_time(value)
    except InvalidInputError:
        return
    assert seconds is None or (isinstance(seconds, int) and seconds >= 1)


@FAST
@given(options=_options, estimator=st.booleans())
def test_any_options_dict_is_accepted_or_refused_with_a_typed_error(
    options: dict[str, Any], estimator: bool
) -> None:
    allowed = ESTIMATOR_KEYS if estimator else SAMPLER_KEYS
    try:
        program, extra, runtime = split_options(
            options, allowed=allowed, primitive="estimator" if estimator else "sampler"
        )
    except InvalidInputError:
        return
    # Whatever passes is well-typed: what the server would refuse never gets through.
    shots = program.get("default_shots")
    assert shots is None or (isinstance(shots, int) and not isinstance(shots, bool) and shots >= 1)
    precision = program.get("default_precision")
    assert precision is None or (math.isfinite(precision) and precision > 0)
    for group in ("twirling", "simulator", "execution", "dynamical_decoupling", "resilience"):
        assert group not in program or isinstance(program[group], dict)
    assert isinstance(runtime.private, bool)
    assert runtime.log_level is None or isinstance(runtime.log_level, str)
    assert set(extra) <= {"resilience_level"}


@FAST
@given(
    tags=st.one_of(
        _values,
        st.lists(st.text(max_size=100), max_size=10),
        st.lists(st.text(alphabet=st.characters(exclude_categories=[]), max_size=90), max_size=9),
    )
)
def test_tags_are_checked_like_the_service(tags: Any) -> None:
    try:
        checked = check_tags(tags)
    except InvalidInputError:
        return
    assert len(checked) <= 8
    for tag in checked:
        assert isinstance(tag, str) and 1 <= len(tag) <= 86
        tag.encode("utf-8")  # valid text: never a lone surrogate
        assert all(ord(c) >= 32 and not 0x7F <= ord(c) < 0xA0 for c in tag)


def test_examples_of_refused_options() -> None:
    refused: list[dict[str, Any]] = [
        {"default_shots": -1},
        {"default_shots": 1.5},
        {"default_shots": True},
        {"default_shots": "100"},
        {"simulator": {"seed_simulator": "x"}},
        {"simulator": {"nope": 1}},
        {"simulator": 5},
        {"twirling": {"enable_gate": True}},
        {"twirling": {"enable_gates": "yes"}},
        {"twirling": {"num_randomizations": 0}},
        {"execution": {"init_qubits": 3}},
        {"execution": {"rep_delay": float("nan")}},
        {"dynamical_decoupling": {"sequence_type": "ZZ"}},
        {"environment": {"job_tags": "abc"}},
        {"environment": {"job_tags": ["a"] * 9}},
        {"environment": {"job_tags": ["x" * 87]}},
        {"environment": {"job_tags": ["\ud800"]}},
        {"environment": {"job_tags": ["new\nline"]}},
        {"environment": {"log_level": 5}},
        {"environment": {"log_level": "LOUD"}},
        {"environment": {"private": "yes"}},
        {"environment": {"callback": print}},
        {"max_execution_time": 0},
        {"max_execution_time": 1.5},
    ]
    for options in refused:
        try:
            split_options(options, allowed=SAMPLER_KEYS, primitive="sampler")
        except InvalidInputError:
            continue
        raise AssertionError(f"accepted {options!r}")
    for options in [
        {"default_precision": 0},
        {"default_precision": -0.1},
        {"default_precision": float("inf")},
        {"resilience": {"zne": {"extrapolator": "cubic"}}},
        {"resilience": {"measure_mitigation": 1}},
        {"resilience_level": 3},
        {"seed_estimator": -1},
    ]:
        try:
            split_options(options, allowed=ESTIMATOR_KEYS, primitive="estimator")
        except InvalidInputError:
            continue
        raise AssertionError(f"accepted {options!r}")


def test_examples_of_accepted_options() -> None:
    program, _, runtime = split_options(
        {
            "default_shots": 100,
            "twirling": {"enable_gates": True, "num_randomizations": "auto"},
            "simulator": {"seed_simulator": 7, "coupling_map": [[0, 1]], "basis_gates": ["x"]},
            "environment": {"job_tags": ["é" * 86, "日本語", "emoji 🙂"], "log_level": "info"},
            "experimental": {"anything": {"goes": [1, 2]}},
        },
        allowed=SAMPLER_KEYS,
        primitive="sampler",
    )
    assert program["default_shots"] == 100
    assert runtime.tags == ("é" * 86, "日本語", "emoji 🙂")
