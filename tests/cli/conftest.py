"""Every CLI test: no saved account of whoever runs the suite (the service would read it)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _no_saved_account(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    # The service reads ~/.qiskit/qiskit-ibm.json; subprocesses inherit HOME through clean_env.
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home
