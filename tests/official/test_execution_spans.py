"""IBM's execution-spans example (``result.metadata["execution"]["execution_spans"]``) run by the
official client against the local server: its own classes, masks shaped like the data."""

from __future__ import annotations

from typing import Any

import numpy as np
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import SamplerV2
from qiskit_ibm_runtime.execution_span import (
    DoubleSliceSpan,
    ExecutionSpans,
    TwirledSliceSpanV2,
)

from ._circuits import isa_bell, ry_pair
from ._harness import BACKEND


def _sweep(backend: Any) -> Any:
    circuit, _ = ry_pair()
    circuit.measure_all()
    return generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)


def test_sampler_execution_spans_through_the_official_client(service: Any) -> None:
    backend = service.backend(BACKEND)
    sampler = SamplerV2(mode=backend)
    job = sampler.run([(_sweep(backend), np.linspace(0, 1, 3)), isa_bell(backend)], shots=150)
    result = job.result()
    spans = result.metadata["execution"]["execution_spans"]
    assert isinstance(spans, ExecutionSpans)
    assert all(isinstance(span, DoubleSliceSpan) for span in spans)
    assert spans.pub_idxs == [0, 1]
    assert spans.filter_by_pub(1).pub_idxs == [1]
    assert spans[0].mask(0).shape == (3, 150) and spans[0].mask(0).all()
    assert spans[1].mask(1).shape == (150,) and spans[1].mask(1).all()
    assert spans.start <= spans.stop
    assert spans[0].size + spans[1].size == 3 * 150 + 150


def test_twirled_sampler_execution_spans_through_the_official_client(service: Any) -> None:
    backend = service.backend(BACKEND)
    sampler = SamplerV2(mode=backend)
    sampler.options.twirling.enable_measure = True
    sampler.options.twirling.num_randomizations = 4
    sampler.options.twirling.shots_per_randomization = 30
    result = sampler.run([(_sweep(backend), np.linspace(0, 1, 3))]).result()
    (span,) = result.metadata["execution"]["execution_spans"]
    assert isinstance(span, TwirledSliceSpanV2)
    assert result[0].data.meas.num_shots == 120
    mask = span.mask(0)
    assert mask.shape == (3, 120) and mask.all()
