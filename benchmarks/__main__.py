"""``python -m benchmarks``: every benchmark, then the README table (see run_all.py)."""

from __future__ import annotations

import runpy
from pathlib import Path

if __name__ == "__main__":
    runpy.run_path(str(Path(__file__).with_name("run_all.py")), run_name="__main__")
