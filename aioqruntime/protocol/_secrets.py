"""A wrapper for credentials (API keys, IAM tokens) that never shows its value."""

from __future__ import annotations

from typing import Final, final

__all__ = ["Secret"]

_MASK: Final = "***"


@final
class Secret:
    """Holds a secret string; ``repr``, ``str`` and ``format`` print ``***``, ``get()`` reads it.

    Equality compares the values (so two wrappers of one key are equal) but hashing is by value too,
    so a ``Secret`` can key a cache without exposing the text.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"Secret wraps a str, not {type(value).__name__}")
        self._value = value

    def get(self) -> str:
        """The secret text itself; keep it out of logs and messages."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret({_MASK!r})"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, format_spec: str) -> str:
        return format(_MASK, format_spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return self._value == other._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    # Immutable, so copies may share the instance.
    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Secret:
        return self

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would write the key in clear to wherever the pickle goes.
        raise TypeError("Secret cannot be pickled")
