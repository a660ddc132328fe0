"""The HTTP transport: the only client-side code that imports aiohttp.

:class:`HttpTransport` is the two-method interface (``send``, ``aclose``) with two
implementations, :class:`AiohttpTransport` and :class:`MockTransport` (for tests).
:class:`Transport` sits on top: IAM auth, the protocol headers, status errors and retries, in one
place. It knows nothing of endpoints (that is :mod:`aioqruntime.client`).
"""

from __future__ import annotations

from aioqruntime.protocol import CLIENT_APPLICATION
from aioqruntime.transport._aiohttp import AiohttpTransport
from aioqruntime.transport._auth import IamAuth
from aioqruntime.transport._base import HttpTransport, MockHandler, MockTransport
from aioqruntime.transport._client import Transport, warn_insecure
from aioqruntime.transport._config import Timeouts, TransportConfig

__all__ = [
    "CLIENT_APPLICATION",
    "AiohttpTransport",
    "HttpTransport",
    "IamAuth",
    "MockHandler",
    "MockTransport",
    "Timeouts",
    "Transport",
    "TransportConfig",
    "warn_insecure",
]
