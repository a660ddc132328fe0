"""``client.sessions``: ``/sessions`` requests and their answers."""

from __future__ import annotations

from aioqruntime.protocol import (
    Session,
    cancel_session,
    close_session,
    create_session,
    get_session,
)
from aioqruntime.transport import Transport

__all__ = ["SessionsResource"]


class SessionsResource:
    """Typed ``/sessions`` calls over one :class:`~aioqruntime.transport.Transport`."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def create(
        self,
        mode: str,
        backend: str | None,
        *,
        instance: str | None = None,
        max_ttl: int | None = None,
    ) -> Session:
        """``POST /sessions``; not idempotent (a retry could open a second session): sent once."""
        request = create_session(mode, backend, instance=instance, max_ttl=max_ttl)
        return Session.from_json((await self._transport.send(request)).json())

    async def get(self, session_id: str) -> Session:
        """``GET /sessions/{id}``."""
        return Session.from_json((await self._transport.send(get_session(session_id))).json())

    async def close(self, session_id: str) -> None:
        """Stop accepting jobs (``PATCH accepting_jobs=false``: repeatable, so retried)."""
        await self._transport.send(close_session(session_id), idempotent=True)

    async def cancel(self, session_id: str) -> None:
        """``DELETE /sessions/{id}/close``: queued jobs will not run."""
        await self._transport.send(cancel_session(session_id))
