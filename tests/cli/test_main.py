"""The CLI shell: the README's main command, help, and a missing command."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from aioqruntime.cli import main


def test_demo_runs_against_the_embedded_server() -> None:
    # Exactly the README's main command (after the install step), in a fresh process.
    completed = subprocess.run(
        [sys.executable, "-m", "aioqruntime", "demo"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    counts = re.search(r"Bell counts\s*: \{(.*)\}", out)
    assert counts is not None, out
    outcomes = dict(re.findall(r"'(\d\d)': (\d+)", counts.group(1)))
    assert set(outcomes) <= {"00", "11"}
    assert sum(int(v) for v in outcomes.values()) == 1000
    energy = re.search(r"VQE energy\s*: ([-+.\d]+) Ha \(exact ([-+.\d]+) Ha\)", out)
    assert energy is not None, out
    assert abs(float(energy.group(1)) - float(energy.group(2))) < 0.15
    assert re.search(r"jobs submitted : \d+", out)
    # Not attached to a terminal: no progress bar noise.
    assert "VQE (SPSA) [" not in completed.stderr


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: aioqruntime" in capsys.readouterr().err


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "demo" in out
    assert "serve" in out


@pytest.mark.parametrize("command", ["backends", "jobs", "job", "sessions", "cancel"])
def test_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--url" in out
    assert "--token" in out
    assert "exit status" in out


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("demo", "serve", "backends", "jobs", "job", "sessions", "cancel"):
        assert command in out


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_serve_refuses_a_port_out_of_range_as_a_usage_error(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--port", port])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--port" in err
    assert "Traceback" not in err
