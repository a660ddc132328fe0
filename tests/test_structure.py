"""Structural rules of the package, checked on the source: short functions, no import circles.

Only the standard library (``ast``) is used; the package is parsed, never imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "aioqruntime"
MAX_FUNCTION_LINES = 80

#: Functions still over the limit, owned by other work in progress; the list may only shrink.
LONG_FUNCTIONS_ALLOWED: set[str] = set()

#: Import circles that go through imports inside functions or ``TYPE_CHECKING`` blocks only
#: (none at module level): the list may only shrink.
CIRCLES_ALLOWED = {
    # A backend object keeps its service (typing only): next to break.
    frozenset({"aioqruntime.runtime._backend", "aioqruntime.runtime._service"}),
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, int]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert node.end_lineno is not None
            yield f"{prefix}{node.name}", node.end_lineno - node.lineno + 1
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")


def test_no_function_is_longer_than_80_lines() -> None:
    too_long = {}
    for path in _modules().values():
        rel = path.relative_to(PACKAGE.parent).as_posix()
        for name, lines in _functions(ast.parse(path.read_text(encoding="utf-8"))):
            if lines > MAX_FUNCTION_LINES:
                too_long[f"{rel}::{name}"] = lines
    # Equal, not a subset: a function that got shorter leaves the list (it may only shrink).
    assert set(too_long) == LONG_FUNCTIONS_ALLOWED, too_long


def _imports(name: str, path: Path, modules: dict[str, Path], *, everywhere: bool) -> set[str]:
    """Modules of the package that ``name`` imports (module level, or ``everywhere``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = ast.walk(tree) if everywhere else iter(tree.body)
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            submodules = {f"{base}.{alias.name}" for alias in node.names} & modules.keys()
            # `from pkg import submodule` depends on the submodule, `from pkg import name` on pkg.
            if len(submodules) < len(node.names) and base in modules:
                found.add(base)
            found |= submodules
    found.discard(name)
    return found


def _circles(*, everywhere: bool) -> set[frozenset[str]]:
    modules = _modules()
    graph = {
        name: _imports(name, path, modules, everywhere=everywhere) for name, path in modules.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: set[frozenset[str]] = set()

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = {stack.pop()}
            while node not in group:
                group.add(stack.pop())
            if len(group) > 1:
                circles.add(frozenset(group))

    for name in graph:
        if name not in index:
            visit(name)
    return circles


def test_no_module_level_import_circles() -> None:
    assert _circles(everywhere=False) == set()


def test_import_circles_through_deferred_imports_only_shrink() -> None:
    # Equal, not a subset: a circle that is broken leaves the list (it may only shrink).
    assert _circles(everywhere=True) == CIRCLES_ALLOWED
