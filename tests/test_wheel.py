"""The ``pip install`` path next to ``make``: a built wheel holds every module and data file the packages need
(configs, the live page, the bundled telemetry, C sources), declares its extras and console scripts, and works
when installed on its own, away from the source tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sim", "calibration", "scenarios", "conf", "hydra_plugins")
DATA = (".py", ".yaml", ".csv", ".json", ".html", ".js", ".css", ".c", ".h")  # pyproject's package-data, and code

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # build isolation: setuptools and wheel come from the index, as for a user's `pip install .`
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
                           check=False, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    (whl,) = out.glob("twinbench-*.whl")
    return whl


def _tracked() -> set[str]:
    files = subprocess.run(["git", "ls-files", *PACKAGES], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    return {f for f in files if f.endswith(DATA)}


def test_the_wheel_holds_every_tracked_module_and_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(_tracked() - names)
    assert not missing, f"the wheel lacks {missing[:20]} ({len(missing)} files): fix pyproject's package-data/find"
    assert not [n for n in names if n.startswith("tests/")], "tests are not shipped"


def test_the_wheel_declares_its_extras_and_commands(wheel):
    with zipfile.ZipFile(wheel) as z:
        meta_name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(z.read(meta_name).decode())
        entry = z.read(meta_name.replace("METADATA", "entry_points.txt")).decode()
    assert {"ray", "notebooks", "docs", "test"} <= set(meta.get_all("Provides-Extra"))
    notebooks = [r for r in meta.get_all("Requires-Dist") if "extra == \"notebooks\"" in r]
    assert any(r.startswith("jupyterlab") for r in notebooks) and any(r.startswith("nbconvert") for r in notebooks)
    for script in ("twinbench = scenarios.cli:main", "twinbench-telemetry = sim.telemetry.cli:main",
                   "twinbench-sweep = scenarios.sweeps.cli:main"):
        assert script in entry


# One fresh interpreter with only the installed copy on its path runs each command as ``python -m`` would
# (runpy.run_module as __main__), one after the other, and reports each exit status and output: the same check as one
# process per command, without paying the start-up of hydra and numba five times.
_DRIVER = r"""
import contextlib, importlib.resources as r, io, json, runpy, sys

import scenarios, sim, calibration, conf

report = {"scenarios": scenarios.__file__,
          "page": (r.files("scenarios.live") / "page" / "index.html").is_file(),
          "data": (r.files("scenarios.reference") / "data" / "living_telemetry.csv").is_file(), "runs": []}
for module, *args in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    sys.argv = [module, *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        status = 0
    except SystemExit as exit_:
        status = 0 if exit_.code is None else exit_.code if isinstance(exit_.code, int) else 1
    except BaseException as crash:  # a crash is a failed command, reported with the others
        err.write(f"{type(crash).__name__}: {crash}")
        status = 1
    report["runs"].append({"status": status, "stdout": out.getvalue(), "stderr": err.getvalue()[-2000:]})
report["modules"] = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())
                     if name.split(".")[0] in ("scenarios", "sim", "calibration", "conf")
                     or name.startswith("hydra_plugins.twinbench")}
print("REPORT " + json.dumps(report))
"""


def test_the_installed_wheel_runs_away_from_the_source_tree(wheel, tmp_path):
    target = tmp_path / "site"
    inst = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target),
                           str(wheel)], check=False, capture_output=True, text=True, timeout=300)
    assert inst.returncode == 0, inst.stderr[-3000:]
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}  # the installed copy first, not the checkout
    commands = ((["scenarios.cli", "--cfg", "job"], "seed"),
                (["scenarios.cli", "live", "--cfg", "job"], "source"),
                (["scenarios.sweeps.cli", "--cfg", "job"], "seed"),
                (["scenarios.cli", "models"], "motor_thermal"))
    done = subprocess.run([sys.executable, "-c", _DRIVER, json.dumps([c for c, _ in commands])], cwd=work, env=env,
                          check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.split("REPORT ", 1)[1])
    assert Path(report["scenarios"]).is_relative_to(target) and report["page"] and report["data"]
    for (args, expect), out in zip(commands, report["runs"], strict=True):
        assert out["status"] == 0 and expect in out["stdout"], (args, out["stderr"])
    elsewhere = {name: path for name, path in report["modules"].items()
                 if path is not None and not Path(path).is_relative_to(target)}
    assert not elsewhere, f"modules imported from outside the installed copy: {elsewhere}"
    assert any(name.startswith("hydra_plugins.twinbench") for name in report["modules"]), sorted(report["modules"])
    assert sorted(p.name for p in work.iterdir()) == [], "composing a config must not write anything"
