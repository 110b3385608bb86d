"""The README's 'Adding a model' example runs and gives the analytic boiling time."""

import math
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_add_a_model_example_runs(tmp_path):
    text = (ROOT / "README.md").read_text()
    code = text.split("### Adding a model")[1].split("```python")[1].split("```")[0]
    script = tmp_path / "heated_tank_example.py"
    script.write_text(code + "\nprint(repr(hit.time), hit.asset, hit.event.name)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                              "HOME": str(pathlib.Path.home())}, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    t, asset, name = out.stdout.split()[-3:]
    tau, t_ss = 4.2e5 / 15.0, 293.15 + 2000.0 / 15.0
    exact = -tau * math.log((t_ss - 373.15) / (t_ss - 293.15))
    assert name == "boiling" and asset == "0" and abs(float(t) - exact) < 1e-4
