"""The embedded server works however the user's code is run, and that code runs exactly once.

Each form runs in its own interpreter (a subprocess): a script without a main guard, ``python -c``,
a script piped to ``python -``, and a pytest module. The body (bell_script.py) records every run
of itself in a marker file; a simulation worker that re-imported the user's ``__main__`` would
add a second line (and, before the workers were our own subprocesses, failed the job).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("bell_script.py")
RUN_TIMEOUT = 300


def _run(command: list[str], tmp_path: Path, *, form: str, stdin: str | None = None) -> str:
    marker = tmp_path / "runs.txt"
    env = {**os.environ, "AIOQRUNTIME_TEST_MARKER": str(marker), "AIOQRUNTIME_TEST_FORM": form}
    done = subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    runs = marker.read_text(encoding="utf-8").split()
    assert len(runs) == 1, f"the user's code ran {len(runs)} times: {runs}\n{done.stderr}"
    return done.stdout


def _assert_bell_counts(stdout: str) -> None:
    lines = [line for line in stdout.splitlines() if line.startswith("COUNTS ")]
    assert len(lines) == 1, stdout
    counts = json.loads(lines[0].removeprefix("COUNTS "))
    assert sum(counts.values()) == 200
    # Ideal Bell pair: only 00 and 11, both seen (the chance of missing one is 2**-199).
    assert set(counts) == {"00", "11"}, counts


def test_script_without_main_guard(tmp_path: Path) -> None:
    _assert_bell_counts(_run([sys.executable, str(SCRIPT)], tmp_path, form="script"))


def test_python_dash_c(tmp_path: Path) -> None:
    source = SCRIPT.read_text(encoding="utf-8")
    _assert_bell_counts(_run([sys.executable, "-c", source], tmp_path, form="-c"))


def test_script_from_stdin(tmp_path: Path) -> None:
    source = SCRIPT.read_text(encoding="utf-8")
    _assert_bell_counts(_run([sys.executable, "-"], tmp_path, form="stdin", stdin=source))


def test_pytest_module(tmp_path: Path) -> None:
    (tmp_path / "test_user_bell.py").write_text(SCRIPT.read_text(encoding="utf-8"), "utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"]
    stdout = _run([*command, "test_user_bell.py"], tmp_path, form="pytest")
    assert "1 passed" in stdout, stdout
    _assert_bell_counts(stdout)


def test_workers_are_not_multiprocessing_children(tmp_path: Path) -> None:
    """No resource tracker or spawn child appears: the workers are plain subprocesses."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import asyncio, multiprocessing\n"
        "from aioqruntime.server import SimulationPool\n"
        "async def main():\n"
        "    pool = SimulationPool(workers=2)\n"
        "    try:\n"
        "        await pool.warm_up()\n"
        "        print('CHILDREN', len(multiprocessing.active_children()), len(pool.worker_pids))\n"
        "    finally:\n"
        "        pool.close()\n"
        "asyncio.run(main())\n"
        "open(__import__('os').environ['AIOQRUNTIME_TEST_MARKER'], 'a').write('1\\n')\n",
        encoding="utf-8",
    )
    stdout = _run([sys.executable, str(probe)], tmp_path, form="script")
    assert "CHILDREN 0 2" in stdout, stdout
