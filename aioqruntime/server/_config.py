"""Configuration of the local runtime server.

Every *quota* of the real service (submission rate, executions, execution time) is OFF unless
set (``None``), so the default server is the most permissive one that still speaks the protocol;
tests and the CLI opt into each. The exceptions are on by default:

* the tag limits, part of the OpenAPI schema (``Tags``);
* the request body limit, 50 MB like the service's job input limit: a safety limit, so that a
  loopback client cannot make the server buffer gigabytes (``None`` raises it to 1 GiB);
* the 30-minute idle close of sessions (protocol.md §5.5), since real sessions do it too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from aioqruntime.server._faults import FaultRule

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_INFLATED_BYTES", "ServerConfig"]

#: The service's documented job input limit (protocol.md §9), the default body limit.
DEFAULT_MAX_BODY_BYTES = 50_000_000
#: Default inflation budget of one job's params (the codec's own per-payload default; not
#: imported from it so that importing the server does not import numpy).
DEFAULT_MAX_INFLATED_BYTES = 256 * 1024 * 1024


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
    #: Seconds without a job submitted after which a session stops accepting jobs and closes
    #: (once its queued and running jobs are done); ``None``: never (IBM: 30 minutes).
    session_idle_timeout: float | None = 1800.0
    #: IAM access-token lifetime.
    token_ttl: int = 3600
    #: Job submissions per minute per instance; ``None``: unlimited (IBM: 5).
    rate_limit_per_minute: int | None = None
    #: The sliding window of that limit in seconds; shorter than 60 scales time (benchmarks).
    rate_limit_window: float = 60.0
    #: Largest accepted request body in bytes (IBM: 50 MB); ``None``: 1 GiB, the hard ceiling.
    max_body_bytes: int | None = DEFAULT_MAX_BODY_BYTES
    #: The compressed payloads (QPY, NPY) of one job's params may inflate to at most this many
    #: bytes together (a "zlib bomb" is refused with 400 instead of exhausting memory).
    max_inflated_bytes: int = DEFAULT_MAX_INFLATED_BYTES
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
    #: Seconds in-flight requests get to finish at shutdown (once the listening socket is closed)
    #: before their handlers are cancelled, e.g. one held by a long latency fault.
    request_shutdown_grace: float = 1.0
    #: Extra fields a test may want in ``GET /instances/usage``.
    usage_limit_seconds: int = 600
    #: Names of the devices to serve (``None``: every default device).
    device_names: tuple[str, ...] | None = field(default=None)

    def replace(self, **changes: object) -> ServerConfig:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
