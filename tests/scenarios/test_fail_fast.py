"""Configuration that fails fast and explains: unknown keys ("did you mean ..."), custom --help, errors blamed on
the key the user set, nothing left behind by a failed start, one clear error when the gates quarantine everything."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from scenarios.config import Config, calibration_spec, check_overrides, discard_run_dir
from sim.exceptions import ConfigurationError, TelemetryError

BIN = Path(sys.executable).parent
APPS = {"twinbench": [str(BIN / "twinbench")], "twinbench live": [str(BIN / "twinbench"), "live"],
        "twinbench-sweep": [str(BIN / "twinbench-sweep")]}
TYPOS = {"twinbench": ("+whatif.replicatons=3", "whatif.replications"),
         "twinbench live": ("source.sped=3", "source.speed"),
         "twinbench-sweep": ("+replications.nn=3", "replications.n")}
EXAMPLES = {"twinbench": "twinbench whatif=maintenance", "twinbench live": "twinbench live live=smoke",
            "twinbench-sweep": "twinbench-sweep -m +experiment="}


def _run(app, args, cwd):
    if not Path(APPS[app][0]).exists():
        pytest.skip(f"{APPS[app][0]} is not installed in this environment")
    return subprocess.run([*APPS[app], *args], cwd=cwd, capture_output=True, text=True, timeout=120)


# ------------------------------------------------------------------------------------------ unknown keys
@pytest.mark.parametrize("key,suggestion", [("whatif.replicatons=3", "whatif.replications"),
                                            ("+whatif.replicatons=3", "whatif.replications"),
                                            ("++line.crew_sze=3", "line.crew_size"),
                                            ("telemetry.channels.motor_current.unitt=A",
                                             "telemetry.channels.motor_current.unit"),
                                            ("whatif.actions[0].nme=x", "whatif.actions.name")])
def test_a_misspelled_key_names_the_closest_known_key(key, suggestion):
    with pytest.raises(ConfigurationError, match=re.escape(f"did you mean {suggestion}")) as err:
        check_overrides([key], Config, groups=("whatif", "line"))
    assert "To append" not in str(err.value) and "known keys of" in str(err.value)


def test_an_unknown_top_level_key_lists_the_keys_and_groups():
    with pytest.raises(ConfigurationError, match=r"'foo' is not a config key.*known keys of the config: "
                                                 r"calibration, line, output_dir, plant") as err:
        check_overrides(["+foo=1"], Config, groups=("plant", "line", "calibration"))
    assert "did you mean" not in str(err.value)


def test_a_group_typed_any_is_checked_against_the_schema_given_for_it():
    from scenarios.config import TrackingConfig

    check_overrides(["tracking.tracking_uri=sqlite:///x.db", "tracking=none"], Config, groups=("tracking",),
                    types={"tracking": TrackingConfig})
    with pytest.raises(ConfigurationError, match="did you mean tracking.tracking_uri"):
        check_overrides(["+tracking.trackin_uri=x"], Config, groups=("tracking",), types={"tracking": TrackingConfig})


def test_known_keys_groups_free_mappings_and_hydra_pass():
    check_overrides(["whatif.replications=3", "whatif=maintenance", "plant.motor.anything=1", "hydra.run.dir=x",
                     "telemetry.channels.new_channel.unit=A", "whatif.actions[1].speeds.filler=1.1", "--cfg", "job",
                     "line.crew_size=2,3", "plant.model.fmu=x.fmu", "calibration.start=2026-01-01"],
                    Config, groups=("whatif",))


@pytest.mark.parametrize("app", list(APPS))
def test_each_app_refuses_a_typo_with_did_you_mean_and_writes_nothing(app, tmp_path):
    key, suggestion = TYPOS[app]
    out = _run(app, [key], tmp_path)
    assert out.returncode == 2, out.stderr[-2000:]
    assert f"did you mean {suggestion}?" in out.stderr and "To append" not in out.stderr, out.stderr[-2000:]
    assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------ --help
@pytest.mark.slow
@pytest.mark.parametrize("app", list(APPS))
def test_each_app_has_its_own_help_with_an_example_and_no_schema_entries(app, tmp_path):
    out = _run(app, ["--help"], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    assert text.startswith(app + " - ") and EXAMPLES[app] in text and "Common overrides" in text, text[:800]
    assert "_schema" not in text and "Powered by Hydra" not in text
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------ blame, leftovers
def test_a_bad_line_is_blamed_on_the_line_not_on_an_action(compose_config, tmp_path):
    from scenarios.app import build_job
    from scenarios.tracking.tracker import NullTracker

    with pytest.raises(ConfigurationError, match=r"^line .*line.crew_size = 0 must be an integer >= 1") as err:
        build_job(compose_config(["line.crew_size=0"]), output_dir=tmp_path, tracker=NullTracker())
    assert "as_is" not in str(err.value)


@pytest.mark.slow
def test_a_config_error_leaves_no_output_folder(tmp_path):
    out = _run("twinbench", ["line.crew_size=0", "tracking=none"], tmp_path)
    assert out.returncode == 2 and "line.crew_size = 0" in out.stdout + out.stderr, out.stderr[-2000:]
    assert "as_is" not in out.stdout + out.stderr
    assert not any(tmp_path.iterdir()), [str(p) for p in tmp_path.rglob("*")]


def test_discard_run_dir_removes_only_hydra_leftovers(tmp_path):
    empty = tmp_path / "day" / "a"
    (empty / ".hydra").mkdir(parents=True)
    (empty / "app.log").write_text("")
    kept = tmp_path / "day2" / "b"
    kept.mkdir(parents=True)
    (kept / "app.log").write_text("")
    (kept / "report.md").write_text("results")
    assert discard_run_dir(empty) and not empty.exists()
    assert not discard_run_dir(kept) and (kept / "report.md").is_file()


def test_parent_runs_are_named_apart(compose_config, tmp_path):
    from scenarios.app import build_job
    from scenarios.tracking.tracker import NullTracker

    job = build_job(compose_config(["run_name=trial"]), output_dir=tmp_path, tracker=NullTracker())
    assert re.fullmatch(r"trial-\d{8}-\d{6}", job.output.run_name), job.output.run_name


# ------------------------------------------------------------------------------------------ calibration window
def test_calibration_window_by_dates_naive_is_utc_and_models_are_checked():
    from calibration import LeastSquaresCalibrator

    spec = calibration_spec(window_h=24, outputs=["winding_temperature"], estimator=LeastSquaresCalibrator(),
                            register=False, start="2026-03-02T06:00", end="2026-03-02T08:00+01:00", max_gap_s=120)
    assert spec.start == pd.Timestamp("2026-03-02 06:00", tz="UTC")
    assert spec.end == pd.Timestamp("2026-03-02 07:00", tz="UTC") and spec.max_gap == 120.0
    with pytest.raises(ConfigurationError, match=r"calibration.model = 'motor_thermo' is not a known model; use "
                                                 r"one of \[.*'motor_thermal'"):
        calibration_spec(window_h=24, outputs=["winding_temperature"], estimator=LeastSquaresCalibrator(),
                         register=False, model="motor_thermo")
    with pytest.raises(ConfigurationError, match="calibration.start = 'monday' is not an ISO 8601 time"):
        calibration_spec(window_h=24, outputs=["x"], estimator=None, register=False, start="monday")
    with pytest.raises(ConfigurationError, match="not before its end"):
        calibration_spec(window_h=24, outputs=["x"], estimator=None, register=False, start="2026-03-02",
                         end="2026-03-01")


# ------------------------------------------------------------------------------------------ all quarantined
def test_a_file_whose_values_are_all_out_of_range_fails_with_one_clear_error(compose_config, tmp_path):
    from scenarios.app import build_job
    from scenarios.job import run_reference
    from scenarios.tracking.tracker import NullTracker

    stamps = pd.date_range("2026-03-02", periods=50, freq="1min", tz="UTC")
    csv = tmp_path / "broken_telemetry.csv"
    pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%S+00:00"), "M1.Current[A]": 9999.0,
                  "M1.WindingTemp[degC]": 9999.0, "Hall.AmbientTemp[degF]": 9999.0}).to_csv(csv, index=False)
    cfg = compose_config([f"telemetry.path={csv}", "plots=false", "progress=false", "calibration.register=false"])
    job = build_job(cfg, output_dir=tmp_path / "out", tracker=NullTracker())
    with pytest.raises(TelemetryError, match=rf"{re.escape(str(csv))}: every value was quarantined \(150 of 150 "
                                             rf"values.*fix the channel map"):
        run_reference(job)
    quarantine = pd.read_csv(tmp_path / "out" / "quarantine.csv")
    assert len(quarantine) == 150 and set(quarantine["gate"]) == {"out_of_range"}


@pytest.mark.parametrize("app, override, key", [
    ("twinbench", "+plant.model={fmu:m.fmu,inputs:[a]}", ("plant", "model")),
    ("twinbench", "+line.motor_model={fmu:m.fmu}", ("line", "motor_model")),
    ("twinbench live", "+filter.fmu={fmu:m.fmu}", ("filter", "fmu")),
])
def test_an_fmu_entry_given_on_the_command_line_composes(app, override, key, tmp_path, monkeypatch, capsys):
    """The FMU mappings default to {} (not null: OmegaConf cannot merge an override into a null mapping and
    Hydra crashed with an AttributeError); ``+key={...}`` adds the entry like any new key of a mapping.

    The command's own entry (``scenarios.cli.main``: its override check, then Hydra) runs in this process: the
    composition is the point here, the process around it is tested above."""
    import yaml
    from hydra.core.global_hydra import GlobalHydra

    from scenarios.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", sys.argv[:])  # (main sets sys.argv for Hydra)
    GlobalHydra.instance().clear()
    try:
        main([*app.split()[1:], override, "--cfg", "job"])
    finally:
        GlobalHydra.instance().clear()
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg[key[0]][key[1]]["fmu"] == "m.fmu"
    assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())
