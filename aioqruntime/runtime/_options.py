"""Runtime options: the top-level (non-``params``) fields of a job body, checked in one place.

``session.run(options={...})`` (flat names) and the primitives (``options["environment"]`` and
``options["max_execution_time"]``) both build a :class:`RuntimeOptions`; its constructor checks
every field, so no job body can carry an option the service would refuse. The job input size
limit (:data:`MAX_JOB_INPUT_BYTES`) and the submission arguments (:func:`check_submission`) live
here too, for the same reason: one rule, one place, used by every ``run()``.

Pure and sync: no I/O, nothing here may block.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from aioqruntime._exceptions import InvalidInputError
from aioqruntime.protocol import MAX_JOB_TAG_LENGTH, MAX_JOB_TAGS

__all__ = [
    "LOG_LEVELS",
    "MAX_JOB_INPUT_BYTES",
    "RuntimeOptions",
    "check_job_size",
    "check_submission",
    "check_tags",
]

#: The service refuses job inputs above 50 MB (protocol.md §9). ``run()`` of a session, a batch
#: or a primitive measures the serialized ``POST /jobs`` body against it before sending.
MAX_JOB_INPUT_BYTES: Final = 50_000_000
#: The values of ``log_level`` (any case; sent upper-cased).
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_FLAT_NAMES: Final = frozenset(
    {"log_level", "job_tags", "tags", "max_execution_time", "private", "image", "label"}
)


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    """The top-level fields of a job body (protocol.md §3.1), checked when constructed.

    Every field is checked by the constructor and an :class:`InvalidInputError` names the first
    bad one: ``log_level`` one of :data:`LOG_LEVELS` (any case, stored upper-cased), ``tags`` at
    most 8 strings of 1 to 86 characters of printable text (:func:`check_tags`),
    ``max_execution_time`` a positive int (seconds), ``private`` a bool, ``image`` and ``label``
    strings. ``label`` is the caller's name for the job (journal and ``job.label``; not sent).
    """

    log_level: str | None = None
    tags: tuple[str, ...] = ()
    max_execution_time: int | None = None
    private: bool = False
    image: str | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        level: object = self.log_level
        if level is not None:
            if not isinstance(level, str) or level.upper() not in LOG_LEVELS:
                raise InvalidInputError(
                    f"log_level must be one of {list(LOG_LEVELS)} (any case), got {level!r:.80}"
                )
            object.__setattr__(self, "log_level", level.upper())
        object.__setattr__(self, "tags", check_tags(self.tags))
        met: object = self.max_execution_time
        if met is not None and (isinstance(met, bool) or not isinstance(met, int) or met <= 0):
            raise InvalidInputError(
                f"max_execution_time must be a positive int (seconds), got {met!r:.80}"
            )
        private: object = self.private
        if not isinstance(private, bool):
            raise InvalidInputError(f"private must be True or False, got {private!r:.80}")
        image: object = self.image
        if image is not None and (not isinstance(image, str) or not image):
            raise InvalidInputError(f"image must be a non-empty string, got {image!r:.80}")
        label: object = self.label
        if label is not None and not isinstance(label, str):
            raise InvalidInputError(f"label must be a string, got {label!r:.80}")

    @classmethod
    def from_mapping(cls, options: object) -> RuntimeOptions:
        """From ``session.run(options=...)``: ``log_level``, ``job_tags`` (or ``tags``),
        ``max_execution_time``, ``private``, ``image``, ``label``; ``None`` means none."""
        if options is None:
            return cls()
        if not isinstance(options, Mapping):
            raise InvalidInputError(f"options must be a dict, got {type(options).__name__}")
        unknown = sorted(set(options) - _FLAT_NAMES, key=str)
        if unknown:
            raise InvalidInputError(
                f"unknown runtime options: {unknown}; known: {sorted(_FLAT_NAMES)}"
            )
        if "job_tags" in options and "tags" in options:
            raise InvalidInputError("give job_tags or tags, not both")
        tags = options.get("job_tags", options.get("tags"))
        return cls(
            log_level=options.get("log_level"),
            tags=() if tags is None else tags,
            max_execution_time=options.get("max_execution_time"),
            private=options.get("private", False),
            image=options.get("image"),
            label=options.get("label"),
        )


def check_tags(tags: object) -> tuple[str, ...]:
    """Job tags as the service takes them: at most 8 strings of 1 to 86 characters of text.

    Refused: a single string (it would become one tag per letter), non-strings, and text that is
    not valid Unicode (lone surrogates cannot be encoded as UTF-8) or holds control characters
    (newlines, NUL...). Length counts characters (code points), as the service does. ``None``
    means no tags.
    """
    if tags is None:
        return ()
    if isinstance(tags, (str, bytes)) or not isinstance(tags, (list, tuple)):
        raise InvalidInputError(f"job_tags must be a list of strings, got {tags!r:.80}")
    if len(tags) > MAX_JOB_TAGS:
        raise InvalidInputError(f"a job takes at most {MAX_JOB_TAGS} tags, got {len(tags)}")
    for tag in tags:
        if not isinstance(tag, str) or not tag:
            raise InvalidInputError(f"job tags must be non-empty strings, got {tag!r:.80}")
        if len(tag) > MAX_JOB_TAG_LENGTH:
            raise InvalidInputError(
                f"job tags are at most {MAX_JOB_TAG_LENGTH} characters, got {len(tag)}: "
                f"{tag[:20]!r}..."
            )
        bad = [c for c in tag if unicodedata.category(c) in ("Cc", "Cs")]
        if bad:
            raise InvalidInputError(
                f"job tag {tag[:20]!r} holds a control character or a lone surrogate ({bad[0]!r})"
            )
    return tuple(tags)


def check_submission(program_id: object, params: object) -> None:
    """``run(program_id, inputs)``: a program name and a mapping of inputs (its ``params``)."""
    if not isinstance(program_id, str) or not program_id:
        raise InvalidInputError(
            f"the program id must be a non-empty string, got {program_id!r:.80}"
        )
    if not isinstance(params, Mapping):
        raise InvalidInputError(
            f"the program inputs must be a mapping (dict), got {type(params).__name__}"
        )
    bad_keys = [key for key in params if not isinstance(key, str)]
    if bad_keys:
        raise InvalidInputError(f"the program inputs' names must be strings, got {bad_keys[0]!r}")


def check_job_size(size: int) -> None:
    """Refuse a ``POST /jobs`` body of ``size`` bytes over :data:`MAX_JOB_INPUT_BYTES`."""
    if size > MAX_JOB_INPUT_BYTES:
        raise InvalidInputError(
            f"the job input takes {size / 1e6:.1f} MB, more than the service's limit of "
            f"{MAX_JOB_INPUT_BYTES / 1e6:g} MB: split the work into several jobs"
        )
