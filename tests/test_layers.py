"""The layers depend one way (docs/ARCHITECTURE.md): checked on the source, module by module.

Only imports at module level count as dependencies; an import inside a function is how an upper
layer is reached lazily on purpose (``AsyncRuntimeService.local()`` starting the server).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "aioqruntime"

# layer -> top-level names its modules must not import at module level
FORBIDDEN: dict[str, set[str]] = {
    "protocol": {
        "asyncio", "aiohttp", "anyio", "qiskit", "numpy",
        "aioqruntime.codec", "aioqruntime.backends", "aioqruntime.transport",
        "aioqruntime.client", "aioqruntime.runtime", "aioqruntime.primitives",
        "aioqruntime.server", "aioqruntime.variational",
    },
    "codec": {
        "asyncio", "aiohttp", "anyio",
        "aioqruntime.backends", "aioqruntime.transport", "aioqruntime.client",
        "aioqruntime.runtime", "aioqruntime.primitives", "aioqruntime.server",
        "aioqruntime.variational",
    },
    "backends": {
        "asyncio", "aiohttp", "anyio",
        "aioqruntime.transport", "aioqruntime.client", "aioqruntime.runtime",
        "aioqruntime.primitives", "aioqruntime.server", "aioqruntime.variational",
    },
    "transport": {
        "qiskit", "aioqruntime.client", "aioqruntime.runtime", "aioqruntime.primitives",
        "aioqruntime.server", "aioqruntime.variational",
    },
    "client": {
        "aiohttp", "qiskit", "numpy", "aioqruntime.codec", "aioqruntime.backends",
        "aioqruntime.runtime", "aioqruntime.primitives", "aioqruntime.server",
        "aioqruntime.variational",
    },
    "runtime": {
        "aiohttp", "aioqruntime.primitives", "aioqruntime.server", "aioqruntime.variational",
    },
    "primitives": {"aioqruntime.server", "aioqruntime.variational"},
    "variational": {"aioqruntime.server"},
    "server": {
        "aioqruntime.transport", "aioqruntime.client", "aioqruntime.runtime",
        "aioqruntime.primitives", "aioqruntime.variational",
    },
}  # fmt: skip


def _module_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # Only top-level statements: imports under `if TYPE_CHECKING:` are types, not dependencies.
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _violations(layer: str) -> list[str]:
    found = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for name in _module_level_imports(path):
            for banned in FORBIDDEN[layer]:
                if name == banned or name.startswith(banned + "."):
                    found.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_depends_only_downwards(layer: str) -> None:
    assert (PACKAGE / layer).is_dir()
    assert _violations(layer) == []


def test_the_package_never_imports_the_official_client() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            offenders += [
                f"{path.name}: {m}" for m in modules if m.startswith("qiskit_ibm_runtime")
            ]
    assert offenders == []
