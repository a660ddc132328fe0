"""A first script as a newcomer writes it: no main guard, everything at top level.

Not a test module: tests/embedded/test_forms.py runs it as a script, with ``python -c``, from
stdin and (as a test module) under pytest, each in a subprocess. Every run of this body appends
its process id to the file named by AIOQRUNTIME_TEST_MARKER, so the test can tell how many times
the user's code ran.
"""

import asyncio
import json
import os

from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from aioqruntime import AsyncRuntimeService, AsyncSampler

with open(os.environ["AIOQRUNTIME_TEST_MARKER"], "a", encoding="utf-8") as marker:
    marker.write(f"{os.getpid()}\n")


async def bell_counts() -> dict[str, int]:
    async with AsyncRuntimeService.local() as service:
        backend = await service.backend("ibm_local5")
        bell = QuantumCircuit(2)
        bell.h(0)
        bell.cx(0, 1)
        bell.measure_all()
        isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell)
        sampler = AsyncSampler(mode=backend)
        result = await (await sampler.run([isa], shots=200))
        counts: dict[str, int] = result[0].data.meas.get_counts()
        return counts


def test_bell() -> None:  # collected only when this file is copied in as a pytest module
    print("COUNTS " + json.dumps(asyncio.run(bell_counts())))


if os.environ.get("AIOQRUNTIME_TEST_FORM") != "pytest":
    print("COUNTS " + json.dumps(asyncio.run(bell_counts())))
