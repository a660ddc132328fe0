"""The short soak: benchmarks/soak.py for about 25 s (both clients, 32 official threads, sessions
closed and cancelled, a latency proxy, the server in its own process under faulthandler; every
second job a twirled executor-sampler job, whose samplex the server parses in its validation
threads)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_short_soak_server_survives_and_loses_nothing() -> None:
    command = [sys.executable, "soak.py", "--duration", "25", "--json", "--audit-bound", "120"]
    done = subprocess.run(
        command,
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
        timeout=540,
        env={**os.environ},
        check=False,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["server_alive"], report
    assert report["server_fatal_errors"] == [], report
    assert report["server_tracebacks"] == 0, report
    assert report["answers_5xx"] == 0, report
    assert report["unanswered"] == 0, report
    assert report["jobs_lost"] == 0, report
    outcomes = report["client_outcomes"]
    assert not [k for k in outcomes if "client stopped" in k or "wrong result" in k], outcomes
    assert outcomes.get("official completed", 0) > 0, outcomes
    assert outcomes.get("ours completed", 0) > 0, outcomes
    assert outcomes.get("official executor completed", 0) > 0, outcomes
    assert outcomes.get("ours executor completed", 0) > 0, outcomes
    # Every job a client was given an id for is final on the server, and all were counted.
    assert sum(report["final_states"].values()) == report["jobs_submitted"] > 0, report
    assert done.returncode == 0, done.stderr[-3000:]
