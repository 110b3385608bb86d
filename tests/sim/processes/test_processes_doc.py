"""docs/processes.md: the per-entity example runs as written and its numbers obey Little's law."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_the_per_entity_example_runs_and_obeys_littles_law(tmp_path):
    text = (ROOT / "docs" / "processes.md").read_text()
    code = text.split("## A complete example")[1].split("```python")[1].split("```")[0]
    script = tmp_path / "cell_example.py"
    script.write_text(code + "\nt = result.table\n"
                             "print('CHECK', t['wip'].mean(), (t['throughput'] * t['lead_time']).mean(),"
                             " t['lathe_failures'].sum(), t['lathe_blocked'].mean(), throughput.mean,"
                             " throughput.low, throughput.high)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(pathlib.Path.home())},
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "throughput" in out.stdout and "parts/h" in out.stdout
    line = next(x for x in out.stdout.splitlines() if x.startswith("CHECK"))
    wip, little, failures, blocked, mean, low, high = map(float, line.split()[1:])
    assert wip == pytest.approx(little, rel=0.05)  # L = lambda W, up to the units in process at the ends
    assert failures > 0 and 0 < blocked < 0.3  # the lathe did fail, and did wait for inspection
    assert low < mean < high and mean * 150.0 == pytest.approx(1.0, rel=0.1)  # delivers what arrives (stable)
