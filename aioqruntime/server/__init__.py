"""The local Qiskit Runtime server: the real REST API on loopback, running circuits with Aer.

``LocalRuntimeServer`` is the embedded default the README demo, the examples and the test suite
run against; ``aioqruntime serve`` runs it standalone (see ``_cli``).
"""

from __future__ import annotations

from aioqruntime.server._config import ServerConfig
from aioqruntime.server._executor import SimulationPool
from aioqruntime.server._faults import FaultRule, parse_fault_spec
from aioqruntime.server._server import DEFAULT_INSTANCE, LocalRuntimeServer

__all__ = [
    "DEFAULT_INSTANCE",
    "FaultRule",
    "LocalRuntimeServer",
    "ServerConfig",
    "SimulationPool",
    "parse_fault_spec",
]
