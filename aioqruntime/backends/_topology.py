"""Qubit connectivity of the generated devices, as undirected edge lists ``(a, b)`` with ``a < b``.

Direction is decided later, per two-qubit gate family (see ``_devices``).
"""

from __future__ import annotations

from typing import Literal

__all__ = ["TOPOLOGY_SIZES", "Topology", "undirected_edges"]

Topology = Literal["line", "t", "falcon27", "eagle127", "all_to_all", "none"]
"""``line``: a chain; ``t``: the 5-qubit T of early IBM devices; ``falcon27`` / ``eagle127``: the
heavy-hex layouts of IBM's 27-qubit Falcon and 127-qubit Eagle processors; ``all_to_all``: every
pair; ``none``: no two-qubit connectivity declared at all (simulators)."""

TOPOLOGY_SIZES: dict[str, int] = {"t": 5, "falcon27": 27, "eagle127": 127}
"""Topologies that only exist with one qubit count."""

# Heavy-hex Falcon r5 (27 qubits) as IBM publishes it for its 27-qubit devices.
_FALCON27_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (1, 4), (2, 3), (3, 5), (4, 7), (5, 8), (6, 7), (7, 10), (8, 9), (8, 11),
    (10, 12), (11, 14), (12, 13), (12, 15), (13, 14), (14, 16), (15, 18), (16, 19), (17, 18),
    (18, 21), (19, 20), (19, 22), (21, 23), (22, 25), (23, 24), (24, 25), (25, 26),
)  # fmt: skip


def _eagle127_edges() -> list[tuple[int, int]]:
    """The Eagle r3 heavy-hex: 7 rows of 14/15/15/15/15/15/14 qubits joined by 6 x 4 bridge qubits.

    Qubits are numbered row by row, each row followed by the bridge qubits below it. The first and
    last rows lack one end qubit (the top row its right end, the bottom row its left end), which is
    what brings the count to exactly 127 (144 edges).
    """
    first_columns = (0, 0, 0, 0, 0, 0, 1)
    lengths = (14, 15, 15, 15, 15, 15, 14)
    edges: list[tuple[int, int]] = []
    next_qubit = 0
    pending_bridges: list[tuple[int, int]] = []  # (bridge qubit, column) waiting for the row below
    for row, (first_column, length) in enumerate(zip(first_columns, lengths, strict=True)):
        columns = range(first_column, first_column + length)
        current_row = {column: next_qubit + i for i, column in enumerate(columns)}
        next_qubit += length
        edges.extend((current_row[c], current_row[c] + 1) for c in list(columns)[:-1])
        for bridge, column in pending_bridges:
            edges.append((bridge, current_row[column]))
        pending_bridges = []
        if row < len(lengths) - 1:
            # Bridges alternate between columns 0,4,8,12 and 2,6,10,14 from one row gap to the next.
            bridge_columns = range(0, 13, 4) if row % 2 == 0 else range(2, 15, 4)
            for column in bridge_columns:
                edges.append((current_row[column], next_qubit))
                pending_bridges.append((next_qubit, column))
                next_qubit += 1
    return sorted(edges)


def undirected_edges(topology: Topology, num_qubits: int) -> list[tuple[int, int]]:
    """The sorted undirected edges of ``topology`` on ``num_qubits`` qubits."""
    if topology == "line":
        return [(q, q + 1) for q in range(num_qubits - 1)]
    if topology == "t":
        return [(0, 1), (1, 2), (1, 3), (3, 4)]
    if topology == "falcon27":
        return list(_FALCON27_EDGES)
    if topology == "eagle127":
        return _eagle127_edges()
    if topology == "all_to_all":
        return [(a, b) for a in range(num_qubits) for b in range(a + 1, num_qubits)]
    return []
