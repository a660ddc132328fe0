"""Fold RZZ angles into the range IBM calibrates, [0, π/2].

A target that declares angle bounds for ``rzz`` needs a rule, registered with Qiskit's
``WrapAngles`` pass, that rewrites an out-of-range ``rzz(θ)`` with native gates. The identities,
with ``RZZ(θ) = exp(-iθ/2 Z⊗Z)``:

* ``RZZ(θ + 2π) = -RZZ(θ)``, so θ is first wrapped into (-π, π];
* ``X₀ RZZ(θ) X₀ = RZZ(-θ)``, which handles [-π/2, 0);
* ``RZZ(±π) = ∓i Z⊗Z`` and ``Z = e^{iπ/2} RZ(π)``, which shift (π/2, π] and (-π, -π/2) by ∓π.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["fold_rzz_angle", "register_rzz_angle_folding"]

_registered = False


def fold_rzz_angle(angles: list[float], qubits: list[Any]) -> Any:
    """A ``DAGCircuit`` equal to ``rzz(angles[0])`` on ``qubits`` using only ``rzz`` in [0, π/2],
    ``x`` and ``rz``."""
    from qiskit.circuit import QuantumCircuit, Qubit
    from qiskit.converters import circuit_to_dag

    angle = float(angles[0])
    wrapped = math.remainder(angle, 2 * math.pi)  # in [-π, π]
    if wrapped == -math.pi:
        wrapped = math.pi
    windings = round((angle - wrapped) / (2 * math.pi))

    circuit = QuantumCircuit([Qubit(), Qubit()])
    if windings % 2:
        circuit.global_phase += math.pi
    if 0 <= wrapped <= math.pi / 2:
        circuit.rzz(wrapped, 0, 1)
    elif -math.pi / 2 <= wrapped < 0:
        _rzz_negated(circuit, -wrapped)
    elif wrapped > math.pi / 2:
        # RZZ(w) = RZZ(π) RZZ(w - π) = i RZ(π)⊗RZ(π) · X₀ RZZ(π - w) X₀
        _rzz_negated(circuit, math.pi - wrapped)
        circuit.rz(math.pi, 0)
        circuit.rz(math.pi, 1)
        circuit.global_phase += math.pi / 2
    else:
        # RZZ(w) = RZZ(-π) RZZ(w + π) = -i RZ(π)⊗RZ(π) · RZZ(w + π)
        circuit.rzz(wrapped + math.pi, 0, 1)
        circuit.rz(math.pi, 0)
        circuit.rz(math.pi, 1)
        circuit.global_phase -= math.pi / 2
    del qubits  # the pass maps the returned DAG onto the original qubits itself
    return circuit_to_dag(circuit)


def _rzz_negated(circuit: Any, angle: float) -> None:
    """Append ``RZZ(-angle)`` as ``X₀ RZZ(angle) X₀``."""
    circuit.x(0)
    circuit.rzz(angle, 0, 1)
    circuit.x(0)


def register_rzz_angle_folding() -> bool:
    """Make the transpiler able to honour RZZ angle bounds; False if this Qiskit has no bounds."""
    global _registered
    try:
        from qiskit.transpiler.passes import WrapAngles
    except ImportError:  # Qiskit < 2.2
        return False
    if not _registered:
        WrapAngles.DEFAULT_REGISTRY.add_wrapper("rzz", fold_rzz_angle)
        _registered = True
    return True
