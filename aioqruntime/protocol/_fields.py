"""Tolerant, typed reading of JSON objects for the wire models.

Unknown keys are ignored and missing optional keys read as ``None``; a missing required key or a
value of the wrong JSON type raises :class:`ProtocolError` naming the field path
(``Job.state.status``), so a server bug surfaces where it happened rather than as a ``KeyError``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import field
from datetime import datetime, timezone
from typing import Any, Final

from aioqruntime._exceptions import ProtocolError

__all__ = [
    "FieldReader",
    "format_timestamp",
    "optional_timestamp",
    "parse_timestamp",
    "raw_field",
]


def raw_field() -> Any:
    """The ``raw`` field of a model: the parsed mapping, kept out of ``==`` and ``repr``."""
    return field(default_factory=dict, compare=False, repr=False)


# fromisoformat() on 3.10 wants exactly 3 or 6 fraction digits and no "Z"; servers send 0-9 and "Z".
_FRACTION: Final = re.compile(r"\.(\d+)")


def parse_timestamp(text: str) -> datetime:
    """An ISO-8601 timestamp as an aware datetime (naive input is taken as UTC)."""
    normalized = text.strip()
    if normalized.endswith(("Z", "z")):
        normalized = normalized[:-1] + "+00:00"
    normalized = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], normalized, count=1)
    parsed = datetime.fromisoformat(normalized)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def format_timestamp(moment: datetime) -> str:
    """UTC with microseconds and a ``Z``, the way the service writes timestamps."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def optional_timestamp(moment: datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)


class FieldReader:
    """Reads fields of one JSON object, naming ``where`` in every error."""

    __slots__ = ("data", "where")

    def __init__(self, where: str, data: object) -> None:
        if not isinstance(data, Mapping):
            raise ProtocolError(f"{where}: expected a JSON object, got {type(data).__name__}")
        self.where = where
        self.data: Mapping[str, Any] = data

    def _fail(self, key: str, expected: str, value: object) -> ProtocolError:
        return ProtocolError(
            f"{self.where}.{key}: expected {expected}, got {type(value).__name__} {value!r:.60}"
        )

    def require(self, key: str) -> object:
        if self.data.get(key) is None:
            raise ProtocolError(f"{self.where}: missing required field {key!r}")
        return self.data[key]

    def required_text(self, key: str) -> str:
        value = self.require(key)
        if not isinstance(value, str):
            raise self._fail(key, "a string", value)
        return value

    def required_integer(self, key: str) -> int:
        self.require(key)
        value = self.integer(key)
        assert value is not None  # require() guarantees presence
        return value

    def text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None or isinstance(value, str):
            return value
        raise self._fail(key, "a string", value)

    def integer(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool):
            raise self._fail(key, "an integer", value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            # Some services quote numeric codes ("1305"); accept them, they are unambiguous.
            return int(value.strip())
        raise self._fail(key, "an integer", value)

    def number(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._fail(key, "a number", value)
        return float(value)

    def flag(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None or isinstance(value, bool):
            return value
        raise self._fail(key, "a boolean", value)

    def timestamp(self, key: str) -> datetime | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self._fail(key, "an ISO-8601 timestamp", value)
        try:
            return parse_timestamp(value)
        except ValueError as exc:
            raise self._fail(key, "an ISO-8601 timestamp", value) from exc

    def child(self, key: str) -> FieldReader | None:
        value = self.data.get(key)
        return None if value is None else FieldReader(f"{self.where}.{key}", value)

    def required_child(self, key: str) -> FieldReader:
        return FieldReader(f"{self.where}.{key}", self.require(key))

    def items(self, key: str) -> Sequence[object]:
        value = self.data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self._fail(key, "a list", value)
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        items = self.items(key)
        for index, item in enumerate(items):
            if not isinstance(item, str):
                raise self._fail(f"{key}[{index}]", "a string", item)
        return tuple(str(item) for item in items)

    def mapping(self, key: str) -> Mapping[str, Any] | None:
        value = self.data.get(key)
        if value is None or isinstance(value, Mapping):
            return value
        raise self._fail(key, "a JSON object", value)
