"""Frozen configuration of the HTTP transport: timeouts, connection limits, identity."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field, replace

from aioqruntime._version import __version__
from aioqruntime.protocol import CLIENT_APPLICATION

__all__ = ["CLIENT_APPLICATION", "Timeouts", "TransportConfig"]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-request timeouts in seconds (``None``: no limit).

    ``connect`` bounds establishing a connection (so it is always safe to retry); ``read``
    bounds the wait for each chunk of a response; ``submit`` is the total budget of ``POST /jobs``,
    which the official client also gives 900 s (a large job body is validated before the answer).
    """

    connect: float | None = 5.0
    read: float | None = 300.0
    submit: float | None = 900.0
    #: The total budget of one IAM token exchange (the IBM SDK uses 60 s).
    iam: float | None = 60.0
    #: After an ambiguous ``POST /jobs`` failure that may leave the request still being processed
    #: (timeout, dropped connection, gateway 5xx), how long the job may take to appear in
    #: ``GET /jobs?tags=...``: the submission is repeated only if a lookup made after this grace
    #: finds nothing. A complete 500/503 answer from the service needs no grace.
    submit_grace: float | None = 10.0

    def with_changes(self, **changes: float | None) -> Timeouts:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """Everything the transport needs besides the account."""

    timeouts: Timeouts = field(default_factory=Timeouts)
    #: Connection pool bounds (aiohttp ``TCPConnector`` ``limit`` / ``limit_per_host``).
    max_connections: int = 32
    max_connections_per_host: int = 16
    #: ``X-Qx-Client-Application``.
    client_application: str = CLIENT_APPLICATION
    #: ``User-Agent``.
    user_agent: str = f"aioqruntime/{__version__}"
    #: TLS certificate verification: ``True`` (default, the system trust store), an
    #: ``ssl.SSLContext`` of yours, or ``False`` (explicitly insecure: warns and logs).
    verify: bool | ssl.SSLContext = True
