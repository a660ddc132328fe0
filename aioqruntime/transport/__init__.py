"""The HTTP transport: the only client-side code that imports aiohttp.

:class:`Transport` sends :class:`~aioqruntime.protocol.HttpRequest` descriptions and returns
:class:`~aioqruntime.protocol.HttpResponse` (2xx only), adding IAM auth and the protocol headers,
mapping failures to the typed error tree and retrying what is safe to retry.
"""

from __future__ import annotations

from aioqruntime.transport._auth import IamAuth
from aioqruntime.transport._client import Transport
from aioqruntime.transport._config import CLIENT_APPLICATION, Timeouts, TransportConfig

__all__ = ["CLIENT_APPLICATION", "IamAuth", "Timeouts", "Transport", "TransportConfig"]
