"""The README's quickstart, copied as a new user copies it, runs as a script with no main guard."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _quickstart_code() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quickstart", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert match is not None, "the Quickstart section has no python block"
    return match.group(1)


def test_the_readme_quickstart_runs_as_pasted_without_an_account(tmp_path: Path) -> None:
    script = tmp_path / "first_script.py"
    script.write_text(_quickstart_code(), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QISKIT_IBM_")}
    env["HOME"] = str(tmp_path)  # no saved account either
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (counts_line,) = [line for line in done.stdout.splitlines() if line.startswith("Counts: ")]
    counts = ast.literal_eval(counts_line.removeprefix("Counts: "))
    assert set(counts) <= {"00", "11"} and sum(counts.values()) > 0
    assert done.stderr.count("using the embedded local server") == 1
