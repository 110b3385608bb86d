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


def _readme_commands():
    """Every `.venv/bin/...` line of the README's bash blocks (comments stripped)."""
    import re

    text = (ROOT / "README.md").read_text()
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            command = line.split("  #")[0].strip()
            if command.startswith(".venv/bin/"):
                lines.append(command)
    return lines


def test_every_readme_command_is_accepted(tmp_path):
    """Each command the README shows is run: Hydra apps compose their config with the README's overrides
    (``--cfg job``: checked, nothing run), the other commands run for real or answer --help."""
    import shlex

    bindir = pathlib.Path(sys.executable).parent
    commands = _readme_commands()
    assert len(commands) >= 8, commands
    for command in commands:
        argv = shlex.split(command)
        exe = bindir / pathlib.Path(argv[0]).name
        args = argv[1:]
        if exe.name == "mlflow":
            args = ["ui", "--help"]
        elif exe.name in ("twinbench", "twinbench-sweep") and args[:1] not in (["models"], ["telemetry"], ["report"]):
            if "-m" in args:  # a multirun: compose its first configuration (the sweep values' first choice)
                args = [a.split(",")[0] if "=" in a else a for a in args]
            args = [a for a in args if a not in ("-m", "--cfg", "job")] + ["--cfg", "job"]
        elif exe.name == "twinbench-sweep" and args[:1] == ["report"]:
            args = ["report", "--help"]
        elif any(a.endswith(".csv") and not (ROOT / a).exists() for a in args):
            args = [args[0], "--help"] if args else ["--help"]  # a placeholder file (export.csv)
        out = subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert out.returncode == 0, (command, out.stdout[-1500:], out.stderr[-1500:])
