"""``max_time`` parsing: tables plus properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aioqruntime._exceptions import InvalidInputError
from aioqruntime.protocol import MAX_TIME_CAP_SECONDS, format_max_time, parse_max_time

UNITS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        (3600, 3600),
        (1, 1),
        ("2h 30m 40s", 9040),
        ("1h 2m 3s", 3723),
        ("1h", 3600),
        ("45m", 2700),
        ("90s", 90),
        ("2h30m", 9000),
        ("  1H\t5M ", 3900),
        ("3600", 3600),
        ("08h", 28_800),
    ],
)
def test_valid(value: int | str | None, seconds: int | None) -> None:
    assert parse_max_time(value) == seconds


def test_days_allowed_under_a_raised_cap() -> None:
    assert parse_max_time("1d", cap=86_400) == 86_400
    with pytest.raises(InvalidInputError, match="limit"):
        parse_max_time("1d")


@pytest.mark.parametrize(
    "value",
    [
        -5,
        0,
        "",
        "   ",
        "2x",
        "1h 1h",
        "30m 2h",
        "1.5h",
        "3.0",
        "-1h",
        "0h",
        "0",
        "1h,30m",
        "1h and 30m",
        "h",
        "1 h",
        "9h",
        MAX_TIME_CAP_SECONDS + 1,
        pytest.param(10**5000, id="huge-int"),
        "1" * 40 + "s",
        "١h",
        True,
        False,
        1.5,
        [1],
    ],
)
def test_invalid(value: object) -> None:
    with pytest.raises(InvalidInputError):
        parse_max_time(value)  # type: ignore[arg-type]


def test_error_names_the_bad_text() -> None:
    with pytest.raises(InvalidInputError, match="'2x'"):
        parse_max_time("1h 2x")
    assert issubclass(InvalidInputError, ValueError)


@st.composite
def duration_text(draw: st.DrawFn) -> tuple[str, int]:
    units = draw(st.lists(st.sampled_from("dhms"), min_size=1, max_size=4, unique=True))
    units.sort(key="dhms".index)
    counts = [draw(st.integers(0, 50)) for _ in units]
    separator = draw(st.sampled_from(["", " ", "  ", "\t"]))
    text = separator.join(
        f"{count}{unit.upper() if draw(st.booleans()) else unit}"
        for count, unit in zip(counts, units, strict=True)
    )
    return text, sum(count * UNITS[unit] for count, unit in zip(counts, units, strict=True))


@given(duration_text())
def test_valid_text_is_the_sum(case: tuple[str, int]) -> None:
    text, total = case
    if total <= 0:
        with pytest.raises(InvalidInputError):
            parse_max_time(text, cap=10**9)
    else:
        assert parse_max_time(text, cap=10**9) == total


@given(st.text(max_size=30))
def test_any_text_parses_or_raises_invalid_input(text: str) -> None:
    try:
        result = parse_max_time(text)
    except InvalidInputError:
        return
    assert isinstance(result, int)
    assert 0 < result <= MAX_TIME_CAP_SECONDS


@given(st.integers(min_value=1, max_value=10**7))
def test_format_round_trips(seconds: int) -> None:
    assert parse_max_time(format_max_time(seconds), cap=10**9) == seconds


@given(st.integers())
def test_any_int_parses_or_raises_invalid_input(value: int) -> None:
    try:
        assert parse_max_time(value) == value
    except InvalidInputError:
        assert not 0 < value <= MAX_TIME_CAP_SECONDS
