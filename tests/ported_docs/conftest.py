"""The ported examples start exactly as IBM's do, ``AsyncRuntimeService()`` with no arguments:
with no account configured anywhere that is the embedded local server. These fixtures make sure
nothing is configured (no ``QISKIT_IBM_*`` variable, no saved-accounts file in ``HOME``)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def no_account(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("QISKIT_IBM_TOKEN", "QISKIT_IBM_URL", "QISKIT_IBM_INSTANCE", "QISKIT_IBM_CHANNEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path
