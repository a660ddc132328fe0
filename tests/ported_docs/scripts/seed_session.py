# The Session example of IBM's Session class page (the user's seed), ported by adding await /
# async with only: a first script as a new user writes it, with no account configured (so the
# embedded local server is used) and no `if __name__ == "__main__":` guard.
import asyncio

from qiskit.circuit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager

from aioqruntime import AsyncRuntimeService as QiskitRuntimeService
from aioqruntime import AsyncSampler as Sampler
from aioqruntime import AsyncSession as Session

print("script body runs")


async def main():
    async with QiskitRuntimeService() as service:
        backend = await service.least_busy(operational=True, simulator=False)

        # Bell Circuit
        qr = QuantumRegister(2, name="qr")
        cr = ClassicalRegister(2, name="cr")
        qc = QuantumCircuit(qr, cr, name="bell")
        qc.h(qr[0])
        qc.cx(qr[0], qr[1])
        qc.measure(qr, cr)

        pm = generate_preset_pass_manager(backend=backend, optimization_level=1)
        isa_circuit = pm.run(qc)

        async with Session(backend=backend) as session:
            sampler = Sampler(session=session)
            job = await sampler.run([isa_circuit])
            pub_result = (await job.result())[0]
            print(f"Sampler job ID: {job.job_id()}")
            print(f"Counts: {pub_result.data.cr.get_counts()}")


asyncio.run(main())
