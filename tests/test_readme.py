"""The README's 'Adding a model' example runs and gives the analytic boiling time; every command it shows is
accepted."""

import math
import pathlib
import re
import runpy
import shlex

from tests.helpers import run_console_scripts

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_add_a_model_example_runs(tmp_path, monkeypatch):
    """The snippet runs as a script of its own (a real file, so numba can cache its kernels beside it), in this
    interpreter: a fresh one would only add the start-up of numba and sim to the check."""
    text = (ROOT / "README.md").read_text()
    code = text.split("### Adding a model")[1].split("```python")[1].split("```")[0]
    script = tmp_path / "heated_tank_example.py"
    script.write_text(code)
    monkeypatch.chdir(tmp_path)
    hit = runpy.run_path(str(script), run_name="__main__")["hit"]
    tau, t_ss = 4.2e5 / 15.0, 293.15 + 2000.0 / 15.0
    exact = -tau * math.log((t_ss - 373.15) / (t_ss - 293.15))
    assert hit.event.name == "boiling" and hit.asset == 0 and abs(float(hit.time) - exact) < 1e-4


def _readme_commands():
    """Every `.venv/bin/...` line of the README's bash blocks (comments stripped)."""
    text = (ROOT / "README.md").read_text()
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            command = line.split("  #")[0].strip()
            if command.startswith(".venv/bin/"):
                lines.append(command)
    return lines


def _checked_argv(command: str) -> tuple[str, list[str]]:
    """The console script of a README command and the arguments that check it without a long run: Hydra apps
    compose their config with the README's overrides (``--cfg job``: checked, nothing run), the sweep report and
    MLflow's UI answer --help, a command on a placeholder file (export.csv) answers --help, the rest run for
    real."""
    argv = shlex.split(command)
    name, args = pathlib.Path(argv[0]).name, argv[1:]
    if name == "mlflow":
        args = ["ui", "--help"]
    elif name in ("twinbench", "twinbench-sweep") and args[:1] not in (["models"], ["telemetry"], ["report"]):
        if "-m" in args:  # a multirun: compose its first configuration (the sweep values' first choice)
            args = [a.split(",")[0] if "=" in a else a for a in args]
        args = [a for a in args if a not in ("-m", "--cfg", "job")] + ["--cfg", "job"]
    elif name == "twinbench-sweep" and args[:1] == ["report"]:
        args = ["report", "--help"]
    elif any(a.endswith(".csv") and not (ROOT / a).exists() for a in args):
        args = [args[0], "--help"] if args else ["--help"]  # a placeholder file (export.csv)
    return name, args


def test_every_readme_command_is_accepted():
    """Each command the README shows is run from the project folder and exits with 0."""
    commands = [_checked_argv(c) for c in _readme_commands()]
    assert len(commands) >= 8, commands
    assert {name for name, _ in commands} >= {"twinbench", "twinbench-sweep", "twinbench-telemetry", "mlflow"}
    results = run_console_scripts([[name, *args] for name, args in commands], cwd=ROOT, timeout=600)
    assert [r["command"] for r in results] == [[name, *args] for name, args in commands]
    failed = [(r["command"], r["status"], r["stdout"][-1500:], r["stderr"]) for r in results if r["status"] != 0]
    assert not failed, failed
