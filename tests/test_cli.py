"""The installed commands start from any working directory: Hydra finds the configuration as a package
(``conf`` is a regular package; a namespace package broke ``twinbench`` under an editable install).

One fresh interpreter, started in an empty folder, runs every command through the entry point its console script
calls (found by name among the installed ``console_scripts``), one after the other, and reports each exit status
and output: the same check as one process per command, without paying the start-up of hydra and numba six times.
"""

from __future__ import annotations

import importlib.metadata

import pytest

from tests.helpers import run_console_scripts

HYDRA_COMMANDS = [
    ["twinbench", "--cfg", "job"],
    ["twinbench", "live", "--cfg", "job"],
    ["twinbench-sweep", "--cfg", "job"],
]
HELP_COMMANDS = [
    ["twinbench-telemetry", "--help"],
    ["twinbench", "telemetry", "check", "--help"],
    ["twinbench", "models", "--help"],
]

@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """Every command, run from an empty folder: (folder, {command: result})."""
    installed = {ep.name for ep in importlib.metadata.entry_points(group="console_scripts")}
    commands = HYDRA_COMMANDS + HELP_COMMANDS
    missing = sorted({c[0] for c in commands} - installed)
    if missing:
        pytest.skip(f"{missing} are not installed in this environment: pip install -e .")
    where = tmp_path_factory.mktemp("anywhere")
    results = run_console_scripts(commands, cwd=where)
    return where, {" ".join(c): r for c, r in zip(commands, results, strict=True)}


@pytest.mark.parametrize("command", [" ".join(c) for c in HYDRA_COMMANDS])
def test_hydra_commands_compose_their_config_from_anywhere(command, ran):
    where, results = ran
    out = results[command]
    assert out["status"] == 0, out["stderr"]
    assert "seed" in out["stdout"] or "source" in out["stdout"], out["stdout"][:500]
    assert not any(where.iterdir()), "composing the config must not write anything"


def test_telemetry_and_models_commands_answer_help(ran):
    _, results = ran
    for command in HELP_COMMANDS:
        out = results[" ".join(command)]
        assert out["status"] == 0, (command, out["stderr"])
        assert "usage:" in out["stdout"], command
