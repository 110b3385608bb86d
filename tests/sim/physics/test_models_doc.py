"""docs/models.md lists every variable of every library model with the unit, default and bounds of its spec."""

import pathlib

import pytest

from sim.physics import MODELS
from sim.physics.filler_drive import FILLER_DRIVE
from sim.physics.motor_thermal import MOTOR_THERMAL_LOSSES

DOC = (pathlib.Path(__file__).resolve().parents[3] / "docs" / "models.md").read_text()
LIBRARY = {**MODELS, "motor_thermal_losses": MOTOR_THERMAL_LOSSES, "filler_drive": FILLER_DRIVE}


def _section(name: str) -> str:
    """The text of the model's table section (from its ``### name`` or ``## ...: `name``` heading)."""
    for marker in (f"### {name}\n", f": `{name}`\n"):
        if marker in DOC:
            return DOC.split(marker, 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    raise AssertionError(f"docs/models.md has no section for {name!r}")


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_every_variable_is_documented_as_in_its_spec(name):
    spec = LIBRARY[name].spec
    text = _section(name)
    for kind in ("states", "inputs", "params"):
        for v in getattr(spec, kind):
            row = (f"| `{v.name}` | {v.symbol} | {v.unit} | {v.default:g} | [{v.bounds[0]:g}, {v.bounds[1]:g}] | "
                   f"{v.doc} |")
            assert row in text, f"{name}: {kind[:-1]} row out of date or missing:\n{row}"
    for v in spec.outputs:
        assert f"`{v.name}` [{v.unit}]" in text


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_every_model_says_what_it_leaves_out(name):
    module = LIBRARY[name].rhs.py_func.__module__
    doc = __import__(module, fromlist=["_"]).__doc__
    assert "leaves out" in doc or "leave out" in doc, module
    heading = next(part for part in DOC.split("\n## ") if f"`{name}`" in part.split("\n", 1)[0])
    assert "leaves out" in heading or "leave out" in heading
