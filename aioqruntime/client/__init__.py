"""The typed REST client layer, between the transport and the runtime.

:class:`RuntimeClient` groups one resource per collection of the Runtime API (``jobs``,
``sessions``, ``backends``, ``usage``). Each method builds its request with a
:mod:`aioqruntime.protocol` builder, sends it through a :class:`~aioqruntime.transport.Transport`
and parses the answer into a protocol model; nothing else in the package does either. Adding an
endpoint touches ``protocol`` (builder, model), this package, the server and one test file.
"""

from __future__ import annotations

from aioqruntime.client._backends import BackendsResource, UsageResource
from aioqruntime.client._client import RuntimeClient
from aioqruntime.client._jobs import JobsResource
from aioqruntime.client._sessions import SessionsResource

__all__ = ["BackendsResource", "JobsResource", "RuntimeClient", "SessionsResource", "UsageResource"]
