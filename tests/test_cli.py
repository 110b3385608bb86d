"""The installed commands start from any working directory: Hydra finds the configuration as a package
(``conf`` is a regular package; a namespace package broke ``twinbench`` under an editable install)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _run(args, cwd, timeout=120):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("command", [
    ["twinbench", "--cfg", "job"],
    ["twinbench", "live", "--cfg", "job"],
    ["twinbench-sweep", "--cfg", "job"],
])
def test_hydra_commands_compose_their_config_from_anywhere(command, tmp_path):
    exe = BIN / command[0]
    if not exe.exists():
        pytest.skip(f"{command[0]} is not installed in this environment")
    out = _run([str(exe), *command[1:]], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "seed" in out.stdout or "source" in out.stdout, out.stdout[:500]
    assert not any(tmp_path.iterdir()), "composing the config must not write anything"


def test_telemetry_and_models_commands_answer_help(tmp_path):
    for command in (["twinbench-telemetry", "--help"], ["twinbench", "telemetry", "check", "--help"],
                    ["twinbench", "models", "--help"]):
        exe = BIN / command[0]
        if not exe.exists():
            pytest.skip(f"{command[0]} is not installed in this environment")
        out = _run([str(exe), *command[1:]], cwd=tmp_path)
        assert out.returncode == 0, (command, out.stderr[-2000:])
        assert "usage:" in out.stdout, command
