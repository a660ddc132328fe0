"""``RuntimeClient``: the typed REST client, one resource per collection of the API."""

from __future__ import annotations

from collections import Counter

from aioqruntime.client._backends import BackendsResource, UsageResource
from aioqruntime.client._jobs import JobsResource
from aioqruntime.client._sessions import SessionsResource
from aioqruntime.protocol import RetryPolicy
from aioqruntime.transport import Timeouts, Transport

__all__ = ["RuntimeClient"]


class RuntimeClient:
    """``client.jobs``, ``client.sessions``, ``client.backends``, ``client.usage``.

    The only code that builds requests (with the ``protocol`` builders) and parses answers into
    ``protocol`` models. It owns no connection: closing is the transport's owner's business.
    """

    def __init__(self, transport: Transport, *, counters: Counter[str] | None = None) -> None:
        self.transport = transport
        self._counters: Counter[str] = counters if counters is not None else Counter()
        self.jobs = JobsResource(transport, self._counters)
        self.sessions = SessionsResource(transport)
        self.backends = BackendsResource(transport)
        self.usage = UsageResource(transport)

    def with_options(
        self, *, retry: RetryPolicy | None = None, timeouts: Timeouts | None = None
    ) -> RuntimeClient:
        """A copy with other retries or timeouts sharing the connection pool and the counters."""
        transport = self.transport.with_options(retry=retry, timeouts=timeouts)
        return RuntimeClient(transport, counters=self._counters)

    def statistics(self) -> dict[str, int]:
        """The transport's counters plus ``ambiguous_submissions``."""
        stats = self.transport.statistics()
        stats["ambiguous_submissions"] = self._counters["ambiguous_submissions"]
        return stats
