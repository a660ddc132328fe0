"""The parity engine: compare the public surface of an official class with ours, by introspection.

Rules (issue 10): every public member of the official class (plus its constructor) must exist on
ours; a method must stay a method and a property/attribute must stay one; every parameter the
official accepts must be accepted by ours the same way (a positional parameter at the same
position, a keyword-only one by name); extra parameters of ours must have defaults. Ours is a
coroutine exactly where the pair's ``awaited`` set says so (where the official does I/O: the
port adds ``await``), nowhere else, since a port that adds no ``await`` would get a coroutine.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_MISSING = object()
CONSTRUCTOR = "__init__"


@dataclass(frozen=True)
class Problem:
    member: str
    text: str


@dataclass
class PairReport:
    pair: str
    total: int = 0
    present: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        return [p.member for p in self.problems if p.text == "missing"]

    @property
    def mismatches(self) -> list[Problem]:
        return [p for p in self.problems if p.text != "missing"]

    @property
    def mismatched_members(self) -> list[str]:
        return sorted({p.member for p in self.mismatches})


def public_members(cls: type) -> list[str]:
    return sorted(n for n in dir(cls) if not n.startswith("_"))


def _static(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return _MISSING


def _is_method(static: Any) -> bool:
    if isinstance(static, (staticmethod, classmethod)):
        return True
    return inspect.isfunction(static) or inspect.isbuiltin(static)


def _callable_of(cls: type, name: str, static: Any) -> Any:
    if isinstance(static, staticmethod):
        return static.__func__
    if isinstance(static, classmethod):
        return getattr(cls, name)  # bound: cls is not a parameter
    return static


def _parameters(cls: type, name: str, static: Any) -> list[inspect.Parameter] | None:
    func = _callable_of(cls, name, static)
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return None
    if not isinstance(static, (staticmethod, classmethod)) and params:
        params = params[1:]  # self
    return params


def _is_coroutine(cls: type, name: str, static: Any) -> bool:
    func = _callable_of(cls, name, static)
    return inspect.iscoroutinefunction(getattr(func, "__func__", func))


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def compare_parameters(
    official: list[inspect.Parameter], ours: list[inspect.Parameter]
) -> list[str]:
    """What an official call could pass that ours refuses (empty when compatible)."""
    problems: list[str] = []
    ours_by_name = {p.name: p for p in ours}
    ours_positional = [p for p in ours if p.kind in _POSITIONAL]
    has_var_positional = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in ours)
    has_var_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in ours)
    index = 0
    for param in official:
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            if not has_var_positional:
                problems.append(f"*{param.name} not accepted")
            continue
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            if not has_var_keyword:
                problems.append(f"**{param.name} not accepted")
            continue
        if param.kind in _POSITIONAL:
            mine = ours_positional[index] if index < len(ours_positional) else None
            index += 1
            if mine is None or mine.name != param.name:
                if has_var_positional and param.name in ours_by_name:
                    continue
                got = "nothing" if mine is None else repr(mine.name)
                problems.append(f"positional #{index} {param.name!r}: ours has {got}")
                continue
        else:
            mine = ours_by_name.get(param.name)
            if mine is None or mine.kind in (
                inspect.Parameter.POSITIONAL_ONLY,
                inspect.Parameter.VAR_POSITIONAL,
            ):
                if not has_var_keyword:
                    problems.append(f"keyword {param.name!r} not accepted")
                continue
        if param.default is not inspect.Parameter.empty and mine.default is inspect.Parameter.empty:
            problems.append(f"{param.name!r} is optional in the official, required in ours")
    official_names = {p.name for p in official}
    for mine in ours:
        if (
            mine.name not in official_names
            and mine.default is inspect.Parameter.empty
            and mine.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        ):
            problems.append(f"ours requires {mine.name!r}, which the official does not have")
    return problems


def compare_class(
    pair: str,
    official: type,
    ours: type | None,
    *,
    awaited: Iterable[str] = (),
    allowed: Iterable[str] = (),
) -> PairReport:
    """``allowed``: members whose problems are accepted deviations (counted, not reported)."""
    awaited_set, allowed_set = frozenset(awaited), frozenset(allowed)
    report = PairReport(pair)
    for name in [CONSTRUCTOR, *public_members(official)]:
        report.total += 1
        mine = _MISSING if ours is None else _static(ours, name)
        if mine is _MISSING or (name == CONSTRUCTOR and mine is object.__init__):
            if name not in allowed_set:
                report.problems.append(Problem(name, "missing"))
            else:
                report.present += 1
            continue
        report.present += 1
        assert ours is not None
        theirs = _static(official, name)
        found = _member_problems(official, ours, name, theirs, mine, name in awaited_set)
        if name not in allowed_set:
            report.problems.extend(Problem(name, text) for text in found)
    return report


def _member_problems(
    official: type, ours: type, name: str, theirs: Any, mine: Any, awaited: bool
) -> list[str]:
    theirs_method, mine_method = _is_method(theirs), _is_method(mine)
    if theirs_method != mine_method:
        return [
            "the official has a method, ours a property/attribute"
            if theirs_method
            else "the official has a property/attribute, ours a method"
        ]
    if not theirs_method:
        return []
    problems: list[str] = []
    coroutine = _is_coroutine(ours, name, mine)
    if coroutine and not awaited:
        problems.append("ours is a coroutine where the official is not (no I/O declared)")
    if awaited and not coroutine:
        problems.append("declared awaited, but ours is not a coroutine")
    official_params = _parameters(official, name, theirs)
    ours_params = _parameters(ours, name, mine)
    if official_params is None or ours_params is None:
        return problems
    return problems + compare_parameters(official_params, ours_params)


def compare_options(
    pair: str, official: Any, ours: Any, *, allowed: Iterable[str] = ()
) -> list[PairReport]:
    """An options object and every nested options object (leaf), one report per class.

    Members are the official dataclass fields plus its public methods (``update``); a nested
    options field is compared recursively against our attribute of the same name.
    """
    allowed_set = frozenset(allowed)
    reports = [PairReport(pair)]
    report = reports[0]
    fields = [f.name for f in dataclasses.fields(official) if not f.name.startswith("_")]
    methods = [n for n in public_members(type(official)) if n not in fields]
    for name in fields:
        report.total += 1
        value = getattr(official, name)
        mine = _MISSING if ours is None else getattr(ours, name, _MISSING)
        qualified = f"{pair}.{name}"
        if mine is _MISSING:
            if qualified in allowed_set:
                report.present += 1
            else:
                report.problems.append(Problem(name, "missing"))
            mine = None
        else:
            report.present += 1
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            reports.extend(compare_options(qualified, value, mine, allowed=allowed_set))
    for name in methods:
        sub = compare_class(
            pair,
            type(official),
            None if ours is None else type(ours),
            allowed=[n for n in methods if f"{pair}.{n}" in allowed_set],
        )
        # Only the method itself (the constructor is compared at the top level).
        for problem in sub.problems:
            if problem.member == name:
                report.problems.append(problem)
        report.total += 1
        if not any(p.member == name and p.text == "missing" for p in sub.problems):
            report.present += 1
    return reports


def format_report(reports: list[PairReport]) -> str:
    lines = []
    for r in reports:
        lines.append(
            f"{r.pair}: {r.present}/{r.total} present, "
            f"{len(r.mismatched_members)} members with mismatches"
        )
        lines.extend(f"    {p.member}: {p.text}" for p in r.problems)
    return "\n".join(lines)
