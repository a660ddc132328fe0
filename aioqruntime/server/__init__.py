"""The local Qiskit Runtime server: the real REST API on loopback, running circuits with Aer.

``LocalRuntimeServer`` is the embedded default the README demo, the examples and the test suite
run against; ``aioqruntime serve`` runs it standalone (see ``_cli``).

The public names are resolved on first use: a simulation worker process imports this package
(for ``_worker``) and must not pay for aiohttp and the web application at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aioqruntime.server._config import ServerConfig
    from aioqruntime.server._executor import SimulationPool
    from aioqruntime.server._faults import FaultRule, parse_fault_spec
    from aioqruntime.server._server import DEFAULT_INSTANCE, LocalRuntimeServer

# Public name -> module that defines it; imported on first access.
_LAZY = {
    "DEFAULT_INSTANCE": "aioqruntime.server._server",
    "FaultRule": "aioqruntime.server._faults",
    "LocalRuntimeServer": "aioqruntime.server._server",
    "ServerConfig": "aioqruntime.server._config",
    "SimulationPool": "aioqruntime.server._executor",
    "parse_fault_spec": "aioqruntime.server._faults",
}

__all__ = [
    "DEFAULT_INSTANCE",
    "FaultRule",
    "LocalRuntimeServer",
    "ServerConfig",
    "SimulationPool",
    "parse_fault_spec",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aioqruntime.server' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
