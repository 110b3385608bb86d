"""sim/ and calibration/ are plain libraries: no Hydra, OmegaConf or MLflow (imports point one way)."""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FORBIDDEN = {"hydra", "omegaconf", "mlflow", "scenarios"}


@pytest.mark.parametrize("package,forbidden", [("sim", FORBIDDEN | {"calibration"}), ("calibration", FORBIDDEN)])
def test_engine_packages_do_not_import_the_application_layer(package, forbidden):
    offenders = []
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names
                          if n.split(".")[0] in forbidden]
    assert not offenders, offenders


def test_importing_the_engine_loads_no_hydra_or_mlflow():
    code = ("import sys, sim, sim.physics, sim.telemetry, sim.processes, sim.clock, calibration; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'hydra', 'omegaconf', 'mlflow'}); "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("module", ["sim", "sim.physics", "sim.telemetry", "sim.processes", "calibration"])
def test_public_api_is_explicit(module):
    mod = __import__(module, fromlist=["__all__"])
    assert sorted(mod.__all__) == sorted(set(mod.__all__))
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.__all__ names {name} but the module has no such attribute"
