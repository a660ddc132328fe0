"""Suite-wide guards.

Network: pytest-socket (configured in pyproject: ``--allow-hosts=127.0.0.1,::1,localhost``)
refuses any connection that is not to loopback, so a misconfigured client fails instead of
sending traffic out.
"""

from __future__ import annotations

import pytest

_ACCOUNT_VARIABLES = (
    "QISKIT_IBM_TOKEN",
    "QISKIT_IBM_INSTANCE",
    "QISKIT_IBM_URL",
    "QISKIT_IBM_CHANNEL",
    "IAM_URL",
)


@pytest.fixture(autouse=True)
def _no_real_account(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test inherits a real account from the environment of whoever runs the suite."""
    for name in _ACCOUNT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
