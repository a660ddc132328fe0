"""examples/local_quickstart.ipynb runs top to bottom in a real Jupyter kernel (top-level await).

Each cell runs as its own task: the service opens on its first await in one cell, is used by the
next ones and closed by the last.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "local_quickstart.ipynb"


def _stdout(cell: nbformat.NotebookNode) -> str:
    return "".join(
        output.get("text", "") for output in cell.outputs if output.get("name") == "stdout"
    )


def test_quickstart_notebook_executes_in_a_kernel(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError if any cell fails
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = [o for cell in code_cells for o in cell.outputs if o.output_type == "error"]
    assert errors == []
    # Opened, used and closed in different cells (tasks), not in one 'async with' cell.
    assert not any("async with" in cell.source for cell in code_cells)
    assert code_cells[-1].source == "await service.close()"
    lines = "".join(_stdout(cell) for cell in code_cells).splitlines()
    counts = ast.literal_eval(lines[0].removeprefix("counts: "))
    assert set(counts) == {"00", "11"} and sum(counts.values()) == 1000, lines
    finished = lines[1:]
    assert len(finished) == 5, lines
    for line in finished:
        _, status, job_counts = line.split(" ", 2)
        assert status == "DONE", line
        assert sum(ast.literal_eval(job_counts).values()) == 100, line
