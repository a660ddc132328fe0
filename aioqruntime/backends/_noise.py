"""Noise models for the local server's optional noisy simulation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qiskit.providers import BackendV2

from aioqruntime.backends._backend import RuntimeBackend
from aioqruntime.backends._devices import Device

if TYPE_CHECKING:
    from qiskit_aer.noise import NoiseModel

__all__ = ["noise_model_for"]


def noise_model_for(device_or_backend: Device | BackendV2) -> NoiseModel:
    """An Aer noise model from a device's calibration: depolarizing gate errors, thermal
    relaxation from T1/T2 and gate lengths, and readout errors.

    A :class:`RuntimeBackend` (or :class:`Device`) without calibration, such as a simulator, gets
    an ideal model over its instruction set.
    """
    from qiskit_aer.noise import NoiseModel  # Aer is heavy; only the server's noisy mode needs it

    backend: Any = (
        device_or_backend.backend() if isinstance(device_or_backend, Device) else device_or_backend
    )
    if isinstance(backend, RuntimeBackend) and backend.properties() is None:
        return NoiseModel(basis_gates=list(backend.operation_names))
    return NoiseModel.from_backend(backend)
