"""Codec benchmark: aioqruntime.codec against the official qiskit-ibm-runtime JSON encoder/decoder.

Run with ``python benchmarks/codec.py`` (add ``--quick`` for a smaller, faster run). Same process,
same inputs for both sides; each figure is the best of ``--repeat`` runs (default 3).

(a) encoding sampler params for one 20-qubit, 100-parameter ansatz with fresh parameter values:
    1,000 jobs of one pub each (a variational loop), and one job of 1,000 pubs;
(b) decoding a sampler result of 100 pubs x 10,000 shots x 100 bits;
(c) decoding an estimator result of 100 pubs with evs/stds of shape (100,).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.circuit.library import real_amplitudes
from qiskit.primitives.containers import (
    BitArray,
    DataBin,
    PrimitiveResult,
    PubResult,
    SamplerPubResult,
)
from qiskit.primitives.containers.sampler_pub import SamplerPub

from aioqruntime.codec import clear_qpy_cache, dumps, encode_sampler_pubs, loads

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from qiskit_ibm_runtime.json import RuntimeDecoder, RuntimeEncoder


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _ansatz() -> QuantumCircuit:
    qc = real_amplitudes(20, reps=4).decompose()  # 20 qubits x 5 layers = 100 parameters
    qc.measure_all()
    assert qc.num_parameters == 100
    return qc


def _params(pubs: list[Any]) -> dict[str, Any]:
    return {"pubs": pubs, "options": {}, "version": 2, "support_qiskit": True}


def bench_encode(n: int, repeat: int) -> list[tuple[str, float, float]]:
    qc = _ansatz()
    rng = np.random.default_rng(0)
    pubs = [SamplerPub.coerce((qc, rng.random(qc.num_parameters), 4096)) for _ in range(n)]

    def ours_loop() -> None:
        for pub in pubs:
            dumps(_params(encode_sampler_pubs([pub])))

    def ours_loop_cold() -> None:
        for pub in pubs:
            clear_qpy_cache()
            dumps(_params(encode_sampler_pubs([pub])))

    def official_loop() -> None:
        for pub in pubs:
            json.dumps(_params([pub]), cls=RuntimeEncoder)

    def ours_one_job() -> None:
        dumps(_params(encode_sampler_pubs(pubs)))

    def official_one_job() -> None:
        json.dumps(_params(pubs), cls=RuntimeEncoder)

    # Same bytes on the wire, checked before timing.
    assert dumps(_params(encode_sampler_pubs(pubs[:3]))) == json.dumps(
        _params(pubs[:3]), cls=RuntimeEncoder
    )
    official = _best(official_loop, repeat)
    rows = [
        (f"(a) {n} jobs x 1 pub, encode", _best(ours_loop, repeat), official),
        (f"(a) {n} jobs x 1 pub, encode, QPY cache off", _best(ours_loop_cold, repeat), official),
        (
            f"(a) 1 job x {n} pubs, encode",
            _best(ours_one_job, repeat),
            _best(official_one_job, repeat),
        ),
    ]
    clear_qpy_cache()
    return rows


def bench_sampler_result(pubs: int, shots: int, bits: int, repeat: int) -> tuple[str, float, float]:
    rng = np.random.default_rng(1)
    nbytes = -(-bits // 8)
    results = []
    for i in range(pubs):
        array = rng.integers(0, 256, (shots, nbytes), dtype=np.uint8)
        array[:, 0] &= (1 << (bits % 8 or 8)) - 1
        data = DataBin(meas=BitArray(array, bits))
        results.append(SamplerPubResult(data, metadata={"circuit_metadata": {"i": i}}))
    text = dumps(PrimitiveResult(results, metadata={"version": 2}))
    ours = _best(lambda: loads(text), repeat)
    official = _best(lambda: json.loads(text, cls=RuntimeDecoder), repeat)
    mine, theirs = loads(text), json.loads(text, cls=RuntimeDecoder)
    assert all(a.data.meas == b.data.meas for a, b in zip(mine, theirs, strict=True))  # type: ignore[union-attr]
    label = (
        f"(b) sampler result {pubs} pubs x {shots} shots x {bits} bits ({len(text) / 1e6:.1f} MB)"
    )
    return (label, ours, official)


def bench_estimator_result(pubs: int, size: int, repeat: int) -> tuple[str, float, float]:
    rng = np.random.default_rng(2)
    results = [
        PubResult(
            DataBin(evs=rng.random(size), stds=rng.random(size), shape=(size,)),
            metadata={"shots": 4096, "target_precision": 0.015625, "circuit_metadata": {}},
        )
        for _ in range(pubs)
    ]
    text = dumps(PrimitiveResult(results, metadata={"version": 2}))
    ours = _best(lambda: loads(text), repeat)
    official = _best(lambda: json.loads(text, cls=RuntimeDecoder), repeat)
    return (f"(c) estimator result {pubs} pubs, evs/stds shape ({size},)", ours, official)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller inputs (smoke test)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n, shots = (50, 1000) if args.quick else (1000, 10_000)

    rows = bench_encode(n, args.repeat)
    rows.append(bench_sampler_result(100, shots, 100, args.repeat))
    rows.append(bench_estimator_result(100, 100, args.repeat))

    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  {'ours (s)':>10}  {'official (s)':>12}  {'official/ours':>13}")
    print("-" * (width + 41))
    for label, ours, official in rows:
        print(f"{label:<{width}}  {ours:>10.4f}  {official:>12.4f}  {official / ours:>12.1f}x")


if __name__ == "__main__":
    main()
