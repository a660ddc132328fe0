"""Loading the recorded official-client traces vendored in ``tests/data/traces``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRACES_DIR = Path(__file__).parents[1] / "data" / "traces"
_API_PREFIX = re.compile(r"^(?:/experimental)?/api/v1(?=/)")


@dataclass(frozen=True)
class TracedRequest:
    file: str
    seq: int
    method: str
    #: Path relative to the API base (``/jobs/x``), or as recorded for non-API hosts.
    path: str
    is_api: bool
    query: tuple[tuple[str, str], ...]
    body: Any
    status: int
    resp: Any

    @property
    def label(self) -> str:
        return f"{self.file}#{self.seq} {self.method} {self.path}"


def traced_requests() -> Iterator[TracedRequest]:
    for trace in sorted(TRACES_DIR.glob("*.jsonl")):
        for line in trace.read_text().splitlines():
            record = json.loads(line)
            if "method" not in record:
                continue  # a marker line naming the client call
            path = record["path"]
            relative = _API_PREFIX.sub("", path)
            query = tuple(
                (key, value) for key, values in record["query"].items() for value in values
            )
            yield TracedRequest(
                file=trace.name,
                seq=record["seq"],
                method=record["method"],
                path=relative,
                is_api=relative != path,
                query=query,
                body=record.get("body"),
                status=record["status"],
                resp=record.get("resp"),
            )


def unique_by(requests: list[TracedRequest], key: Any) -> list[TracedRequest]:
    """One request per distinct key (keeps the parametrized test list short)."""
    seen: dict[Any, TracedRequest] = {}
    for request in requests:
        seen.setdefault(key(request), request)
    return list(seen.values())
