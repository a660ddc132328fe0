"""The seed's Session example as a script run by a fresh interpreter, as a new user runs it.

No ``if __name__ == "__main__":`` guard, no account anywhere: the embedded local server starts,
says so once on stderr, and its spawned simulation workers do not re-run the script.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parent / "scripts" / "seed_session.py"
_WARNING = "no IBM Quantum account is configured"


def _run(script: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QISKIT_IBM_")}
    env["HOME"] = str(home)
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=home,
        timeout=600,
        check=False,
    )


def _check(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines.count("script body runs") == 1  # the workers never re-ran the script
    assert done.stderr.count(_WARNING) == 1
    (counts_line,) = [line for line in lines if line.startswith("Counts: ")]
    counts = ast.literal_eval(counts_line.removeprefix("Counts: "))
    assert set(counts) <= {"00", "11"} and sum(counts.values()) > 0
    assert any(line.startswith("Sampler job ID: ") for line in lines)


def test_the_seed_script_runs_unchanged(tmp_path: Path) -> None:
    _check(_run(SCRIPT, tmp_path))


def test_the_seed_script_runs_without_a_main_guard_with_mode_session(tmp_path: Path) -> None:
    # The same script with the current spelling of the primitive's mode.
    text = SCRIPT.read_text(encoding="utf-8")
    assert text.count("Sampler(session=session)") == 1
    script = tmp_path / "seed_mode.py"
    script.write_text(text.replace("Sampler(session=session)", "Sampler(mode=session)"))
    _check(_run(script, tmp_path))
