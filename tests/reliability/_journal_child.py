"""Child process of the kill/resume test: submit jobs with the journal on, say so, wait to die.

``python -m tests.reliability._journal_child URL API_KEY INSTANCE JOURNAL COUNT``. Prints
``JOURNALED <count>`` once every submission is journaled with its job id, then sleeps until killed.
"""

from __future__ import annotations

import sys

import anyio

from aioqruntime import AsyncSampler, AsyncSession
from aioqruntime.runtime import AsyncRuntimeService, job_label
from tests.client._helpers import FAST_CONFIG, FAST_RETRY, x_pattern


async def main(url: str, key: str, instance: str, journal: str, count: int) -> None:
    async with AsyncRuntimeService(
        token=key,
        instance=instance,
        url=url,
        journal=journal,
        retry=FAST_RETRY,
        transport_config=FAST_CONFIG,
        submissions_per_minute=None,
    ) as service:
        backend = await service.backend("ibm_local5")
        half = count // 2
        async with AsyncSession(backend, label="child-session") as session:
            modes = [AsyncSampler(backend), AsyncSampler(session)]

            async def submit(index: int) -> None:
                with job_label(f"pattern-{index}"):
                    await modes[index >= half].run([x_pattern(index % 32, 5, 5)], shots=3)

            async with anyio.create_task_group() as tg:
                for index in range(count):
                    tg.start_soon(submit, index)
            print(f"JOURNALED {count}", flush=True)
            await anyio.sleep_forever()


if __name__ == "__main__":
    url, key, instance, journal, count = sys.argv[1:6]
    anyio.run(main, url, key, instance, journal, int(count))
