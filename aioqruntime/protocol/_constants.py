"""Wire constants named once: page size, identity strings, the client-tag prefix, IBM codes.

Sans-I/O and dependency-free, so every layer (the CLI and the server too) can import it.
"""

from __future__ import annotations

from typing import Final

from aioqruntime._version import __version__

__all__ = [
    "API_VERSION",
    "CLIENT_APPLICATION",
    "CLIENT_TAG_PREFIX",
    "MAX_JOBS_PAGE",
    "RAN_TOO_LONG_REASON_CODE",
    "SESSION_CLOSED_CODE",
    "client_application",
]

#: ``IBM-API-Version`` the official client 0.48-0.51 sends (protocol.md §1.7).
API_VERSION: Final = "2026-04-15"
#: Largest ``limit`` of ``GET /jobs`` the service honours (its page size).
MAX_JOBS_PAGE: Final = 200
#: Every submission carries ``aioqruntime:<uuid4 hex>``: finds the job after an ambiguous failure.
CLIENT_TAG_PREFIX: Final = "aioqruntime:"
#: IBM error code of a job submitted to a closed (or expired) session (``errors[].code``).
SESSION_CLOSED_CODE: Final = "1217"
#: ``reason_code`` of a job cancelled because it ran past its ``max_execution_time``.
RAN_TOO_LONG_REASON_CODE: Final = 1305


def client_application(name: str = "aioqruntime", version: str = __version__) -> str:
    """``X-Qx-Client-Application``: the official ``qiskit-version-2/<packages>/<caller>`` layout.

    The server derives a job's ``caller`` metric from it, so we keep the layout and name ourselves.
    """
    return f"qiskit-version-2/{name}-{version}/{name}"


#: Our ``X-Qx-Client-Application``.
CLIENT_APPLICATION: Final = client_application()
