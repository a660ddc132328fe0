"""``max_time`` of a session/batch: seconds, or text such as ``"2h 30m 40s"``.

The official client sums every ``<digits><unit>`` token it finds and ignores the rest, so ``"1h
oops"`` silently means one hour. We accept the same token language but refuse anything that is not
made only of tokens, so a typo fails before a session is created:

* units ``d``, ``h``, ``m``, ``s`` (any case), each at most once, largest first: ``"1d 2h"``,
  ``"2h30m"``; ``"30m 2h"`` and ``"1h 1h"`` are refused;
* a bare number is seconds: ``"3600"``;
* whole numbers only (``"1.5h"`` is refused), ASCII digits only, spaces or tabs between tokens;
* the total must be at least 1 s and at most :data:`MAX_TIME_CAP_SECONDS` (8 h, the service's
  session/batch maximum ``max_ttl``; protocol.md §9). Pass ``cap=`` to allow more (a local server).
"""

from __future__ import annotations

import re
from typing import Final

from aioqruntime._exceptions import InvalidInputError

__all__ = ["MAX_TIME_CAP_SECONDS", "format_max_time", "parse_max_time"]

#: Largest ``max_time`` accepted by default: 8 hours, the service maximum for a session or batch.
MAX_TIME_CAP_SECONDS: Final = 8 * 3600

_UNIT_SECONDS: Final = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_UNIT_ORDER: Final = "dhms"
# Twelve digits is far beyond any cap and keeps int() away from pathological inputs.
_TOKEN: Final = re.compile(r"([0-9]{1,12})([dhms])[ \t]*", re.IGNORECASE | re.ASCII)
_BARE_SECONDS: Final = re.compile(r"[ \t]*([0-9]{1,12})[ \t]*", re.ASCII)


def parse_max_time(value: int | str | None, *, cap: int = MAX_TIME_CAP_SECONDS) -> int | None:
    """``max_time`` in whole seconds (``None`` stays ``None``: the server default applies).

    Raises :class:`InvalidInputError` (a ``ValueError``) naming the offending text.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidInputError(
            f"max_time must be seconds (int) or text like '2h 30m', not {type(value).__name__}"
        )
    seconds = value if isinstance(value, int) else _parse_text(value)
    if seconds <= 0:
        raise InvalidInputError(f"max_time must be positive, got {_describe(value)}")
    if seconds > cap:
        raise InvalidInputError(
            f"max_time {_describe(value)} is above the limit of {cap} s ({_describe(seconds)} s)"
        )
    return seconds


def _describe(value: int | str) -> str:
    # repr() of a gigantic int raises ValueError on Python >= 3.11; the message must never fail.
    if isinstance(value, int) and value.bit_length() > 64:
        return f"<{value.bit_length()}-bit int>"
    return repr(value)


def _parse_text(text: str) -> int:
    bare = _BARE_SECONDS.fullmatch(text)
    if bare is not None:
        return int(bare.group(1))
    position = len(text) - len(text.lstrip(" \t"))
    if position == len(text):
        raise InvalidInputError(f"max_time text is empty: {text!r}")
    total = 0
    last_unit_index = -1
    while position < len(text):
        token = _TOKEN.match(text, position)
        if token is None:
            raise InvalidInputError(
                f"max_time {text!r}: cannot read {text[position:]!r} "
                "(expected tokens like '2h', '30m', '40s')"
            )
        unit = token.group(2).lower()
        unit_index = _UNIT_ORDER.index(unit)
        if unit_index <= last_unit_index:
            raise InvalidInputError(
                f"max_time {text!r}: unit {unit!r} repeated or out of order (use d, h, m, s)"
            )
        last_unit_index = unit_index
        total += int(token.group(1)) * _UNIT_SECONDS[unit]
        position = token.end()
    return total


def format_max_time(seconds: int) -> str:
    """The canonical text for ``seconds`` (``9040`` → ``"2h 30m 40s"``); inverse of the parser."""
    if isinstance(seconds, bool) or seconds <= 0:
        raise InvalidInputError(f"seconds must be a positive int, got {seconds!r}")
    parts = []
    remaining = seconds
    for unit in _UNIT_ORDER:
        count, remaining = divmod(remaining, _UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts)
