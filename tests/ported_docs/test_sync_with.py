"""A port that forgot 'async' before 'with' is told exactly what to write."""

from __future__ import annotations

import pytest

from aioqruntime import AsyncBatch, AsyncRuntimeService, AsyncSession

SERVICE_HINT = r"use 'async with AsyncRuntimeService\(\.\.\.\) as service:'"


def test_a_service_entered_with_plain_with_says_async_with() -> None:
    with pytest.raises(TypeError, match=SERVICE_HINT), AsyncRuntimeService(channel="local"):
        pass


async def test_a_session_or_batch_entered_with_plain_with_says_async_with() -> None:
    async with AsyncRuntimeService.local() as service:
        backend = await service.backend("ibm_local5")
        for kind in (AsyncSession, AsyncBatch):
            hint = rf"use 'async with {kind.__name__}\(backend=backend\) as session:'"
            with pytest.raises(TypeError, match=hint), kind(backend=backend):
                pass
