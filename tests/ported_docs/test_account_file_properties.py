"""Property tests of the two parsers a porting user feeds: the official client's saved-accounts
file and the calibration document (units)."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aioqruntime import InvalidInputError
from aioqruntime.backends import BackendProperties
from aioqruntime.runtime._account import AccountChoice, choose_account

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
account_fields = st.fixed_dictionaries(
    {},
    optional={
        "channel": st.sampled_from(["ibm_cloud", "ibm_quantum_platform", "ibm_quantum"])
        | json_values,
        "token": st.text(max_size=8) | json_values,
        "url": st.sampled_from(["http://127.0.0.1:1", "https://cloud.ibm.com"]) | json_values,
        "instance": st.text(max_size=8) | json_values,
        "verify": json_values,
        "is_default_account": json_values,
    },
)
files = (
    st.dictionaries(
        st.sampled_from(["default-ibm-quantum-platform", "default-ibm-cloud", "mine"]),
        account_fields | json_values,
        max_size=3,
    )
    | json_values
)


@settings(max_examples=200, deadline=None)
@given(files, st.sampled_from([None, "mine"]))
def test_any_saved_accounts_file_gives_an_account_or_a_clear_error(
    content: Any, name: str | None
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "accounts.json"
        path.write_text(json.dumps(content), encoding="utf-8")
        try:
            choice = choose_account(
                channel=None,
                token=None,
                url=None,
                instance=None,
                filename=str(path),
                name=name,
                environ={},
            )
        except InvalidInputError:
            return
    assert isinstance(choice, AccountChoice) and not choice.local
    assert choice.channel in ("ibm_cloud", "ibm_quantum_platform")
    assert all(isinstance(v, (str, type(None))) for v in (choice.url, choice.instance))


@settings(max_examples=150, deadline=None)
@given(
    st.floats(min_value=1e-3, max_value=1e4),
    st.sampled_from([("us", 1e-6), ("µs", 1e-6), ("ns", 1e-9), ("ms", 1e-3), ("s", 1.0)]),
    st.floats(min_value=1e-3, max_value=10.0),
)
def test_calibration_values_come_back_in_si_units(
    value: float, unit: tuple[str, float], ghz: float
) -> None:
    name, factor = unit
    record = {"date": "2026-01-01T00:00:00Z", "name": "T1", "unit": name, "value": value}
    frequency = {"date": "2026-01-01T00:00:00Z", "name": "frequency", "unit": "GHz", "value": ghz}
    gate = {"gate": "sx", "qubits": [0], "parameters": [{**record, "name": "gate_length"}]}
    properties = BackendProperties({"qubits": [[record, frequency]], "gates": [gate]})
    assert math.isclose(properties.t1(0), value * factor, rel_tol=1e-12)
    assert math.isclose(properties.gate_length("sx", [0]), value * factor, rel_tol=1e-12)
    assert math.isclose(properties.frequency(0), ghz * 1e9, rel_tol=1e-12)
    assert properties.last_update_date is None  # the document has none
