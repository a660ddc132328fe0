"""Backend targets and generated devices (sans-I/O, CPU only).

* :func:`build_target`: a Qiskit ``Target`` from the Runtime's configuration + properties JSON.
* :class:`RuntimeBackend`: a ``BackendV2`` over that target, for transpiling.
* :class:`DeviceSpec`, :func:`generate_device`, :func:`default_devices`: the local server's
  device catalogue, in the exact JSON shapes of IBM's service.
* :func:`noise_model_for`: an Aer noise model from a device's calibration.
"""

from __future__ import annotations

from aioqruntime.backends._backend import RuntimeBackend
from aioqruntime.backends._devices import (
    Device,
    DeviceSpec,
    TwoQubitGate,
    default_devices,
    generate_device,
)
from aioqruntime.backends._noise import noise_model_for
from aioqruntime.backends._target import build_target, is_fractional_gate_name
from aioqruntime.backends._topology import Topology

__all__ = [
    "Device",
    "DeviceSpec",
    "RuntimeBackend",
    "Topology",
    "TwoQubitGate",
    "build_target",
    "default_devices",
    "generate_device",
    "is_fractional_gate_name",
    "noise_model_for",
]
