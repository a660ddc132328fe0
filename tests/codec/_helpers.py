"""Shared helpers for codec tests: the official client's encoder/decoder (tests only)."""

from __future__ import annotations

import json
import warnings
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from qiskit_ibm_runtime.json import RuntimeDecoder, RuntimeEncoder


def official_dumps(obj: object) -> str:
    return json.dumps(obj, cls=RuntimeEncoder)


def official_loads(text: str) -> Any:
    return json.loads(text, cls=RuntimeDecoder)
