"""The calibration notebook runs top to bottom at small size and shows the diagnosis it promises."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

PATH = Path(__file__).resolve().parents[1] / "notebooks" / "calibration.ipynb"


@pytest.mark.slow
def test_calibration_notebook_runs_and_diagnoses_the_fouling():
    nb = nbformat.read(PATH, as_version=4)
    assert "SMALL = True" in nb.cells[1].source, "the notebook must stay small by default (the suite executes it)"
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(PATH.parent)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    text = "\n".join(o.get("text", "") for c in code for o in c.get("outputs", []) if o.output_type == "stream")
    assert "Best explanation: strainer_fouling" in text
    images = [o for c in code for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # fit and residuals, intervals and correlation, residuals per hypothesis
