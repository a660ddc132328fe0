"""Noise models for the local server's optional noisy simulation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qiskit.providers import BackendV2

from aioqruntime.backends._devices import Device

if TYPE_CHECKING:
    from qiskit_aer.noise import NoiseModel

__all__ = ["noise_model_for"]


def noise_model_for(device_or_backend: Device | BackendV2) -> NoiseModel:
    """An Aer noise model from a device's calibration: depolarizing gate errors, thermal
    relaxation from T1/T2 and gate lengths, and readout errors.

    A device without calibration (a simulator) gets an empty, ideal model.
    """
    from qiskit_aer.noise import NoiseModel

    backend: Any = (
        device_or_backend.backend() if isinstance(device_or_backend, Device) else device_or_backend
    )
    if getattr(backend, "properties", None) is None and isinstance(device_or_backend, Device):
        return NoiseModel(basis_gates=list(backend.operation_names))
    return NoiseModel.from_backend(backend)
