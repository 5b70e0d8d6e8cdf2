"""The notebooks in notebooks/ run top to bottom without errors and show what they promise."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

EXPECTED = {
    "quickstart.ipynb": "Receipt for Ada: 7 items, 18.50",
    "foreach_progress.ipynb": "summary: {'count': 200, 'evens': 100, 'sum_of_squares': 2646700}",
    "rx_composition.ipynb": "'Hello, ADA!'",
}


def ensure_python3_kernel() -> None:
    """Install the ipykernel spec for this user when no ``python3`` kernel is known."""
    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        from ipykernel.kernelspec import install

        install(user=True)


def cell_text(cell: nbformat.NotebookNode) -> str:
    """Everything a code cell printed or displayed as text."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def test_every_notebook_is_checked() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ensure_python3_kernel()
    # The kernel imports this checkout of rxflow, installed or not.
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), path])))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")

    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()

    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    errors = [o for cell in code_cells for o in cell.outputs if o.output_type == "error"]
    assert errors == []
    text = "\n".join(cell_text(cell) for cell in code_cells)
    assert EXPECTED[name] in text
