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
    calibration_id_of,
    default_devices,
    generate_device,
    mock_device,
)
from aioqruntime.backends._documents import BackendConfiguration, BackendProperties
from aioqruntime.backends._noise import noise_model_for
from aioqruntime.backends._target import build_target, is_fractional_gate_name
from aioqruntime.backends._topology import Topology

__all__ = [
    "BackendConfiguration",
    "BackendProperties",
    "Device",
    "DeviceSpec",
    "RuntimeBackend",
    "Topology",
    "TwoQubitGate",
    "build_target",
    "calibration_id_of",
    "default_devices",
    "generate_device",
    "is_fractional_gate_name",
    "mock_device",
    "noise_model_for",
]
