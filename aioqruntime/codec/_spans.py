"""Execution spans: when, and for which slice of which pub's data, a job's hardware time ran.

The Runtime reports them in ``PrimitiveResult.metadata["execution"]["execution_spans"]``. Qiskit
has no classes for them, so these are ours, with the same meaning as the official client's:
every span has a ``start``/``stop`` datetime and, per pub index, a description of the part of
that pub's data it produced; :meth:`ExecutionSpan.mask` turns it into a boolean array shaped like
the pub's data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar, overload

import numpy as np
import numpy.typing as npt

__all__ = [
    "DoubleSliceSpan",
    "ExecutionSpan",
    "ExecutionSpans",
    "SliceSpan",
    "TwirledSliceSpan",
    "TwirledSliceSpanV2",
]

Shape = tuple[int, ...]


def _pub_set(pub_idx: int | Iterable[int]) -> set[int]:
    return {pub_idx} if isinstance(pub_idx, int) else set(pub_idx)


class ExecutionSpan:
    """Base class: a time interval and per-pub slices of data (``data_slices``)."""

    wire_tag: ClassVar[str] = ""

    def __init__(self, start: datetime, stop: datetime, data_slices: Mapping[int, Any]) -> None:
        self._start = start
        self._stop = stop
        self._data_slices: dict[int, Any] = dict(data_slices)

    @property
    def start(self) -> datetime:
        """When the span started."""
        return self._start

    @property
    def stop(self) -> datetime:
        """When the span stopped."""
        return self._stop

    @property
    def duration(self) -> float:
        """``stop - start`` in seconds."""
        return (self._stop - self._start).total_seconds()

    @property
    def data_slices(self) -> Mapping[int, Any]:
        """Pub index -> slice description (the tuple the wire carries, with ``slice`` objects)."""
        return self._data_slices

    @property
    def pub_idxs(self) -> list[int]:
        """Sorted indices of the pubs that depend on this span."""
        return sorted(self._data_slices)

    @property
    def size(self) -> int:
        """How many data elements (shots, for the sampler) depend on this span, over all pubs."""
        return int(sum(int(self.mask(idx).sum()) for idx in self._data_slices))

    def _sliced_size(self, first: int) -> int:
        # Rows times shots selected by the slices at ``first`` and ``first + 1``; the twirled
        # spans count before cutting to the pub's shots, as the official client does.
        total = 0
        for row in self._data_slices.values():
            shape = row[0]
            rows = len(range(math.prod(shape[:-1]))[row[first]])
            total += rows * len(range(shape[-1])[row[first + 1]])
        return total

    def mask(self, pub_idx: int) -> npt.NDArray[np.bool_]:
        """Boolean array, shaped like the pub's data, true where the data came from this span."""
        raise NotImplementedError

    def contains_pub(self, pub_idx: int | Iterable[int]) -> bool:
        """Whether any of the given pubs depends on this span."""
        return not _pub_set(pub_idx).isdisjoint(self._data_slices)

    def filter_by_pub(self, pub_idx: int | Iterable[int]) -> ExecutionSpan:
        """The same span restricted to the given pubs."""
        keep = _pub_set(pub_idx)
        return self._with_slices({i: v for i, v in self._data_slices.items() if i in keep})

    def _with_slices(self, slices: dict[int, Any]) -> ExecutionSpan:
        return type(self)(self._start, self._stop, slices)

    def _check(self, pub_idx: int) -> Any:
        try:
            return self._data_slices[pub_idx]
        except KeyError:
            raise KeyError(f"pub {pub_idx} is not included in this span") from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExecutionSpan) or type(other) is not type(self):
            return False
        return (self._start, self._stop, self._data_slices) == (
            other._start,
            other._stop,
            other._data_slices,
        )

    __hash__ = None  # type: ignore[assignment]

    def __lt__(self, other: ExecutionSpan) -> bool:
        return (self._start, self._stop) < (other._start, other._stop)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(start={self._start.isoformat()!r}, "
            f"stop={self._stop.isoformat()!r}, pubs={self.pub_idxs})"
        )


class SliceSpan(ExecutionSpan):
    """Slices ``(shape, slice)``: the slice indexes the pub's data flattened over ``shape``.

    On the wire this is the ``ExecutionSpan`` tag.
    """

    wire_tag = "ExecutionSpan"

    def mask(self, pub_idx: int) -> npt.NDArray[np.bool_]:
        shape, flat = self._check(pub_idx)
        mask = np.zeros(math.prod(shape), dtype=np.bool_)
        mask[flat] = True
        shaped: npt.NDArray[np.bool_] = mask.reshape(shape)
        return shaped


class DoubleSliceSpan(ExecutionSpan):
    """Slices ``(shape, arg_slice, shot_slice)`` over the data viewed as ``(-1, shape[-1])``."""

    wire_tag = "DoubleSliceSpan"

    @property
    def size(self) -> int:
        return self._sliced_size(1)

    def mask(self, pub_idx: int) -> npt.NDArray[np.bool_]:
        shape, args, shots = self._check(pub_idx)
        mask = np.zeros(shape, dtype=np.bool_)
        mask.reshape(math.prod(shape[:-1]), shape[-1])[args, shots] = True
        return mask


class TwirledSliceSpan(ExecutionSpan):
    """Slices ``(twirled_shape, at_front, arg_slice, shot_slice)`` of twirled data.

    ``twirled_shape`` includes a randomization axis (first if ``at_front``, else just before the
    last, shots-per-randomization, axis); the mask merges it into the shots axis.
    """

    wire_tag = "TwirledSliceSpan"

    @property
    def size(self) -> int:
        return self._sliced_size(2)

    def mask(self, pub_idx: int) -> npt.NDArray[np.bool_]:
        shape, at_front, args, shots = self._check(pub_idx)[:4]
        shape = tuple(shape)
        mask = np.zeros(shape, dtype=np.bool_)
        mask.reshape(math.prod(shape[:-1]), shape[-1])[args, shots] = True
        if at_front:
            # Move the randomization axis from the front to just before shots.
            ndim = len(shape)
            mask = mask.transpose((*range(1, ndim - 1), 0, ndim - 1))
            shape = (*shape[1:-1], shape[0], shape[-1])
        merged: npt.NDArray[np.bool_] = mask.reshape((*shape[:-2], math.prod(shape[-2:])))
        return merged


class TwirledSliceSpanV2(TwirledSliceSpan):
    """Like :class:`TwirledSliceSpan`, each slice also carrying the pub's shots (5th item).

    The mask's shots axis is cut to that many shots.
    """

    wire_tag = "TwirledSliceSpanV2"

    def mask(self, pub_idx: int) -> npt.NDArray[np.bool_]:
        pub_shots = self._check(pub_idx)[4]
        mask: npt.NDArray[np.bool_] = super().mask(pub_idx)[..., :pub_shots]
        return mask


class ExecutionSpans:
    """An ordered collection of :class:`ExecutionSpan`."""

    def __init__(self, spans: Iterable[ExecutionSpan]) -> None:
        self._spans = list(spans)

    def __len__(self) -> int:
        return len(self._spans)

    def __iter__(self) -> Iterator[ExecutionSpan]:
        return iter(self._spans)

    @overload
    def __getitem__(self, index: int) -> ExecutionSpan: ...
    @overload
    def __getitem__(self, index: slice | list[int]) -> ExecutionSpans: ...
    def __getitem__(self, index: int | slice | list[int]) -> ExecutionSpan | ExecutionSpans:
        if isinstance(index, int):
            return self._spans[index]
        if isinstance(index, slice):
            return ExecutionSpans(self._spans[index])
        return ExecutionSpans(self._spans[i] for i in index)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExecutionSpans) and self._spans == other._spans

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ExecutionSpans({self._spans!r})"

    @property
    def pub_idxs(self) -> list[int]:
        """Sorted indices of the pubs that depend on any span."""
        return sorted({idx for span in self._spans for idx in span.pub_idxs})

    @property
    def start(self) -> datetime:
        """The earliest start."""
        return min(span.start for span in self._spans)

    @property
    def stop(self) -> datetime:
        """The latest stop."""
        return max(span.stop for span in self._spans)

    @property
    def duration(self) -> float:
        """Seconds from the earliest start to the latest stop."""
        return (self.stop - self.start).total_seconds()

    def filter_by_pub(self, pub_idx: int | Iterable[int]) -> ExecutionSpans:
        """Only the spans the given pubs depend on, each restricted to those pubs."""
        keep = _pub_set(pub_idx)
        return ExecutionSpans(
            span.filter_by_pub(keep) for span in self._spans if span.contains_pub(keep)
        )

    def sort(self, *, inplace: bool = True) -> ExecutionSpans:
        """Sort by ``(start, stop)``; in place (returning self) unless ``inplace=False``."""
        target = self if inplace else ExecutionSpans(self._spans)
        target._spans.sort()
        return target
