"""Importing the protocol core pulls in no I/O or scientific stack (style rule A1)."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("asyncio", "aiohttp", "anyio", "qiskit", "numpy")


def test_protocol_imports_no_io_or_science() -> None:
    script = (
        "import json, sys\n"
        "import aioqruntime.protocol\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(completed.stdout) == []
