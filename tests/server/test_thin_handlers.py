"""Issue 11: the server's functions stay small (handlers parse, call a service, answer)."""

from __future__ import annotations

import ast
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "aioqruntime" / "server"
MAX_LINES = 80


def test_no_function_of_the_server_is_longer_than_80_lines() -> None:
    too_long = []
    for module in sorted(SERVER.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno is not None
                length = node.end_lineno - node.lineno + 1
                if length > MAX_LINES:
                    too_long.append(f"{module.name}:{node.name} ({length} lines)")
    assert len(list(SERVER.glob("_routes_*.py"))) >= 4  # the glob sees the route modules
    assert too_long == []
