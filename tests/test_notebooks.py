"""Notebooks use the public API only and must run top to bottom (at small size)."""

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# a notebook with its own test (a test file naming it, asserting what it shows) is not run twice
_OTHER_TESTS = " ".join(f.read_text() for f in HERE.rglob("test_*.py") if f.name != "test_notebooks.py")
# nor is one that a runnable command of the docs executes (``<!-- test -->`` + ```bash, run by tests/test_docs.py,
# which fails when the notebook shows an error): ``jupyter nbconvert --execute notebooks/quickstart.ipynb``
_RUNNABLE = re.compile(r"<!-- test(?::[^>]*)? -->\s*```bash\n(.*?)```", flags=re.S)
_EXECUTED = re.compile(r"nbconvert\b[^\n]*--execute\s+notebooks/(\S+\.ipynb)")


def _executed_by_the_docs() -> set[str]:
    """Notebooks a runnable command of README.md or docs/ executes, when test_docs can run that page
    (the page needs nbconvert)."""
    if importlib.util.find_spec("nbconvert") is None:
        return set()
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return {name for page in pages for block in _RUNNABLE.findall(page.read_text(encoding="utf-8"))
            for name in _EXECUTED.findall(block)}


NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("*.ipynb")
                   if p.name not in _OTHER_TESTS and p.name not in _executed_by_the_docs())


def test_a_notebook_the_docs_execute_is_checked_there():
    """Not running a notebook here is sound only where the docs' command fails on an error in it: nbconvert
    without --allow-errors exits non-zero, and the page shows the command printing 0 errors (compared by
    test_docs)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    with_output = re.compile(_RUNNABLE.pattern + r"\s*<!-- output -->\s*```text\n(.*?)```", flags=re.S)
    checked = set()
    for page in pages:
        for block, shown in with_output.findall(page.read_text(encoding="utf-8")):
            for name in _EXECUTED.findall(block):
                assert "--allow-errors" not in block, f"{page.name}: {name} is executed with --allow-errors"
                assert "0 error(s)" in shown, f"{page.name}: the command executing {name} must show 0 error(s)"
                checked.add(name)
    assert _executed_by_the_docs() <= checked, _executed_by_the_docs() - checked


if NOTEBOOKS:  # every notebook may be run by another test (then nothing is left to run here, and nothing skips)
    @pytest.mark.slow
    @pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
    def test_notebook_runs(path):
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.output_type == "error"]
        assert not errors
