"""Configuration of the local runtime server.

Every limit of the real service is OFF unless set (``None``), so the default server is the most
permissive one that still speaks the protocol; tests and the CLI opt into each limit. The tag limits
are the exception: they are part of the OpenAPI schema (``Tags``), so they are validated by default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from aioqruntime.server._faults import FaultRule

__all__ = ["ServerConfig"]


@dataclass(frozen=True)
class ServerConfig:
    """Knobs of :class:`~aioqruntime.server.LocalRuntimeServer` (all times in seconds)."""

    #: Session seconds without a running job before an active session turns inactive (IBM: 60).
    interactive_ttl: float = 60.0
    #: ``max_ttl`` of a session created without one (the OpenAPI default, 8 h).
    default_max_ttl: int = 28800
    #: Extra wall-clock delay added to every job while it is Running (emulates QPU time).
    execution_delay: float = 0.0
    #: How many jobs run at once per backend (a QPU runs one).
    lanes: int = 1
    #: Worker processes for the simulations (``0``: none; simulate in a thread, for debugging).
    workers: int = 1
    #: Simulate with the device's noise model (``noise_model_for``) instead of ideal.
    noise: bool = False
    #: IAM access-token lifetime.
    token_ttl: int = 3600
    #: Job submissions per minute per instance; ``None``: unlimited (IBM: 5).
    rate_limit_per_minute: int | None = None
    #: Largest accepted request body in bytes; ``None``: unlimited (IBM: 50 MB).
    max_body_bytes: int | None = None
    #: At most this many tags of at most this many characters (OpenAPI ``Tags``).
    max_tags: int | None = 8
    max_tag_length: int | None = 86
    #: Server cap on a job's execution seconds (``cost`` is capped by it); ``None``: only ``cost``.
    max_execution_time: float | None = None
    #: Executions per job (shots x circuits after broadcasting); ``None``: unlimited (IBM: 5 M).
    max_executions: int | None = None
    #: Per-route fault injection rules and the seed of their random draws.
    faults: tuple[FaultRule, ...] = ()
    fault_seed: int = 0
    #: Size of ``server.request_log`` (oldest records are dropped).
    request_log_size: int = 10_000
    #: Seconds the server waits for running jobs at shutdown before abandoning them.
    shutdown_grace: float = 5.0
    #: Extra fields a test may want in ``GET /instances/usage``.
    usage_limit_seconds: int = 600
    #: Names of the devices to serve (``None``: every default device).
    device_names: tuple[str, ...] | None = field(default=None)

    def replace(self, **changes: object) -> ServerConfig:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
