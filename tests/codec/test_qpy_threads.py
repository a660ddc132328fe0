"""QPY is never entered by two threads at once (codec/_qpy.py ``_QPY_LOCK``), and stays correct
under the official client's kind of pressure: 32 threads encoding and decoding concurrently."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from qiskit import QuantumCircuit, qpy
from qiskit.circuit import Parameter

from aioqruntime.codec import _qpy
from aioqruntime.codec._paths import ROOT


def _circuit(index: int) -> QuantumCircuit:
    circuit = QuantumCircuit(3, name=f"c{index}", metadata={"index": index})
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.rz(Parameter(f"t{index}"), 2)
    circuit.measure_all()
    return circuit


class _Overlap:
    """Wraps a function and records how many threads were inside it at once."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self._function = function
        self._lock = threading.Lock()
        self._inside = 0
        self.most = 0
        self._widen = threading.Event()  # never set: each call lingers a moment inside

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._inside += 1
            self.most = max(self.most, self._inside)
        try:
            self._widen.wait(0.01)  # widens the window in which a second thread could enter
            return self._function(*args, **kwargs)
        finally:
            with self._lock:
                self._inside -= 1


@pytest.fixture
def overlaps(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[_Overlap, _Overlap]]:
    load, dump = _Overlap(qpy.load), _Overlap(qpy.dump)
    monkeypatch.setattr(qpy, "load", load)
    monkeypatch.setattr(qpy, "dump", dump)
    _qpy.clear_qpy_cache()
    yield load, dump
    _qpy.clear_qpy_cache()


def test_qpy_is_entered_by_one_thread_at_a_time(overlaps: tuple[_Overlap, _Overlap]) -> None:
    load, dump = overlaps
    circuits = [_circuit(i) for i in range(64)]

    def round_trip(circuit: QuantumCircuit) -> QuantumCircuit:
        return _qpy.decode_circuit(_qpy.encode_circuit(circuit), ROOT)

    with ThreadPoolExecutor(max_workers=32) as pool:
        decoded = list(pool.map(round_trip, circuits))
    assert decoded == circuits
    assert [c.metadata for c in decoded] == [{"index": i} for i in range(64)]
    assert (load.most, dump.most) == (1, 1)


def test_32_threads_of_qpy_do_not_crash_the_process() -> None:
    # In a child process under faulthandler: a crash fails this test instead of killing pytest.
    script = textwrap.dedent(
        """
        import faulthandler, time
        from concurrent.futures import ThreadPoolExecutor
        from qiskit import QuantumCircuit
        from aioqruntime.codec import _qpy
        from aioqruntime.codec._paths import ROOT

        faulthandler.enable()
        bell = QuantumCircuit(2, metadata={"k": [1, 2]})
        bell.h(0)
        bell.cx(0, 1)
        bell.measure_all()
        text = _qpy.encode_circuit(bell)
        deadline = time.monotonic() + 5

        def work(index):
            done = 0
            while time.monotonic() < deadline:
                if index % 2:
                    assert _qpy.decode_circuit(text, ROOT) == bell
                else:
                    copy = bell.copy(name=f"b{index}-{done}")
                    assert _qpy.decode_circuit(_qpy.encode_circuit(copy), ROOT) == copy
                done += 1
            return done

        with ThreadPoolExecutor(max_workers=32) as pool:
            print("CALLS", sum(pool.map(work, range(32))))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) > 0
