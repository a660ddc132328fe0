"""Parity with qiskit-ibm-runtime 0.51.0, read from the installed official package (issue 10).

Pair by pair, every public member of the official class (and its constructor) must exist on ours
with every official parameter accepted; a method stays a method, a property stays a property.
Ours is a coroutine exactly where ``AWAITED`` says so: there the official does I/O and the port
adds ``await``. ``DEVIATIONS`` is the one list of accepted differences, each with its reason and
what the user writes instead; docs/PORTING.md shows the same table (a test keeps them in step).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from ._parity import PairReport, compare_class, compare_options, format_report


class Deviation(NamedTuple):
    pair: str
    member: str
    reason: str
    instead: str


DEVIATIONS: tuple[Deviation, ...] = (
    Deviation(
        "IBMBackend",
        "run",
        "backend.run() is removed from the service; circuits run through the primitives",
        "await AsyncSampler(mode=backend).run([circuit])",
    ),
    Deviation(
        "IBMBackend",
        "__init__",
        "backends are built by the service from its documents, never by the user",
        "await service.backend(name)",
    ),
    Deviation(
        "RuntimeJobV2",
        "__init__",
        "jobs are built by run() and the service, never by the user",
        "await service.job(job_id)",
    ),
)

#: Where the official does I/O: ours is a coroutine and the port adds ``await``.
AWAITED: dict[str, frozenset[str]] = {
    "QiskitRuntimeService": frozenset(
        {"backend", "backends", "least_busy", "job", "jobs", "delete_job", "usage"}
    ),
    "Session": frozenset({"status", "details", "usage", "close", "cancel", "from_id"}),
    "Batch": frozenset({"status", "details", "usage", "close", "cancel", "from_id"}),
    "RuntimeJobV2": frozenset(
        {
            "result",
            "wait_for_final_state",
            "backend",
            "cancel",
            "logs",
            "metrics",
            "update_tags",
            "usage",
            "properties",
        }
    ),
    "IBMBackend": frozenset({"refresh", "target_history"}),
    "SamplerV2": frozenset({"run"}),
    "EstimatorV2": frozenset({"run"}),
}


def _ours(module: str, name: str) -> Any:
    import importlib

    return getattr(importlib.import_module(module), name, None)


def _class_pairs() -> list[tuple[str, type, Any]]:
    import qiskit_ibm_runtime as official

    return [
        (
            "QiskitRuntimeService",
            official.QiskitRuntimeService,
            _ours("aioqruntime", "AsyncRuntimeService"),
        ),
        ("Session", official.Session, _ours("aioqruntime", "AsyncSession")),
        ("Batch", official.Batch, _ours("aioqruntime", "AsyncBatch")),
        ("RuntimeJobV2", official.RuntimeJobV2, _ours("aioqruntime", "AsyncRuntimeJob")),
        ("IBMBackend", official.IBMBackend, _ours("aioqruntime", "ServiceBackend")),
        ("SamplerV2", official.SamplerV2, _ours("aioqruntime", "AsyncSampler")),
        ("EstimatorV2", official.EstimatorV2, _ours("aioqruntime", "AsyncEstimator")),
    ]


def _options_pairs() -> list[tuple[str, Any, Any]]:
    from qiskit_ibm_runtime.options import EstimatorOptions, SamplerOptions

    pairs = []
    for name, official in (
        ("SamplerOptions", SamplerOptions),
        ("EstimatorOptions", EstimatorOptions),
    ):
        ours_cls = _ours("aioqruntime", name) or _ours("aioqruntime.primitives", name)
        pairs.append((name, official(), ours_cls() if ours_cls is not None else None))
    return pairs


def _allowed(pair: str) -> list[str]:
    return [d.member for d in DEVIATIONS if d.pair == pair]


def all_reports() -> dict[str, list[PairReport]]:
    """Pair name -> its reports (one per options leaf for the options pairs)."""
    reports: dict[str, list[PairReport]] = {}
    for name, official, ours in _class_pairs():
        reports[name] = [
            compare_class(
                name, official, ours, awaited=AWAITED.get(name, ()), allowed=_allowed(name)
            )
        ]
    for name, official, ours in _options_pairs():
        allowed = [f"{d.pair}.{d.member}" for d in DEVIATIONS if d.pair.startswith(name)]
        reports[name] = compare_options(name, official, ours, allowed=allowed)
    return reports


def totals(reports: dict[str, list[PairReport]]) -> tuple[int, int, int]:
    """(members present, members total, members with a mismatch) over every pair."""
    flat = [r for group in reports.values() for r in group]
    return (
        sum(r.present for r in flat),
        sum(r.total for r in flat),
        sum(len(r.mismatched_members) for r in flat),
    )


def _pair_params() -> list[Any]:
    names = [name for name, _, _ in _class_pairs()] + ["SamplerOptions", "EstimatorOptions"]
    return [pytest.param(name, id=name) for name in names]


@pytest.fixture(scope="module")
def reports() -> dict[str, list[PairReport]]:
    return all_reports()


@pytest.mark.parametrize("pair", _pair_params())
def test_pair_has_every_official_member_with_compatible_parameters(
    reports: dict[str, list[PairReport]], pair: str
) -> None:
    group = reports[pair]
    assert all(not r.problems for r in group), "\n" + format_report(group)


def test_overall_parity_reaches_the_target(reports: dict[str, list[PairReport]]) -> None:
    present, total, mismatches = totals(reports)
    assert present / total >= 0.95, f"{present}/{total} members present"
    assert mismatches == 0


class _Official:
    LIMIT = 3

    def __init__(self, name: str, size: int = 1) -> None: ...

    def read(self, key: str, *, strict: bool = False) -> str: ...

    def fetch(self, key: str) -> str: ...

    @property
    def value(self) -> int: ...

    def gone(self) -> None: ...


class _Ours:
    LIMIT = 3

    def __init__(self, size: int = 1, name: str = "") -> None: ...

    async def read(self, key: str, *, strict: bool = False, extra: int = 0) -> str: ...

    async def fetch(self, key: str, required: int) -> str: ...

    def value(self) -> int: ...


def test_the_engine_finds_each_kind_of_mismatch() -> None:
    report = compare_class("toy", _Official, _Ours, awaited={"fetch"})
    problems = {(p.member, p.text) for p in report.problems}
    assert problems == {
        ("__init__", "positional #1 'name': ours has 'size'"),
        ("__init__", "positional #2 'size': ours has 'name'"),
        ("read", "ours is a coroutine where the official is not (no I/O declared)"),
        ("fetch", "ours requires 'required', which the official does not have"),
        ("value", "the official has a property/attribute, ours a method"),
        ("gone", "missing"),
    }
    assert (report.present, report.total) == (5, 6)
    allowed = compare_class("toy", _Official, _Ours, awaited={"fetch", "read"}, allowed=["gone"])
    assert {p.member for p in allowed.problems} == {"__init__", "fetch", "value"}


def test_deviations_name_real_official_members() -> None:
    import qiskit_ibm_runtime as official

    for deviation in DEVIATIONS:
        assert hasattr(getattr(official, deviation.pair), deviation.member), deviation
        assert deviation.reason and deviation.instead


def test_porting_guide_lists_exactly_the_deviations() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "PORTING.md").read_text(encoding="utf-8")
    table = guide.split("<!-- deviations -->")[1].split("<!-- /deviations -->")[0]
    rows = re.findall(r"^\| `(\w+)\.(\w+)` \|", table, flags=re.MULTILINE)
    assert sorted(rows) == sorted((d.pair, d.member) for d in DEVIATIONS)


if __name__ == "__main__":  # pragma: no cover - `python -m tests.official.test_parity`
    found = all_reports()
    for group in found.values():
        print(format_report(group))
    print("present/total/mismatches:", totals(found))
