"""The ``aioqruntime`` command line: a thin shell over the package's public API.

``demo`` and ``serve`` run the embedded local server; ``backends``, ``jobs``, ``job``,
``sessions`` and ``cancel`` talk to a server given by ``--url``/``--token``/``--instance`` (else
the account the service resolves: ``QISKIT_IBM_*``, then a saved account). One module per
command; each imports what it needs lazily so that ``--help`` stays fast.
"""

from __future__ import annotations

from aioqruntime.cli._main import main

__all__ = ["main"]
