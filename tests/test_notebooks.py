"""Notebooks use the public API only and must run top to bottom (at small size)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
# a notebook with its own test (a test file naming it, asserting what it shows) is not run twice
_OTHER_TESTS = " ".join(f.read_text() for f in HERE.rglob("test_*.py") if f.name != "test_notebooks.py")
NOTEBOOKS = sorted(p for p in (HERE.parent / "notebooks").glob("*.ipynb") if p.name not in _OTHER_TESTS)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
