"""The default job at reduced size, end to end, into a temporary MLflow store."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scenarios.app import build_job
from scenarios.job import run_reference
from scenarios.tracking import MlflowTracker

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["whatif.replications=2", "whatif.horizon_h=2", "calibration.window_h=8"]


@pytest.fixture(scope="module")
def finished_job(tmp_path_factory):
    from hydra import compose, initialize_config_dir

    from scenarios.config import register_configs

    register_configs()
    tmp = tmp_path_factory.mktemp("job")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=SMALL)
    tracker = MlflowTracker(tracking_uri=f"sqlite:///{tmp}/mlflow.db", experiment="test")
    spec = build_job(cfg, output_dir=tmp / "out", tracker=tracker)
    result = run_reference(spec)
    return result, tracker, tmp


@pytest.mark.slow
def test_one_parent_and_the_expected_children_with_params_and_metrics(finished_job):
    result, tracker, _ = finished_job
    client = tracker.client
    exp = client.get_experiment_by_name("test")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.parent_run]
    assert len(parents) == 1 and parents[0].info.run_id == result.parent_run
    assert sorted(r.data.tags["mlflow.runName"] for r in children) == \
        ["calibration", "telemetry", "whatif:as_is", "whatif:speed_up"]
    assert all(r.info.status == "FINISHED" for r in runs)
    parent = parents[0]
    assert parent.data.params["calibration.window_h"] == "8.0"
    assert parent.data.params["whatif.replications"] == "2"
    assert parent.data.tags["recommendation"] in ("as_is", "speed_up")
    by_name = {r.data.tags["mlflow.runName"]: r for r in children}
    cal = by_name["calibration"].data.metrics
    for name in ("thermal_resistance_housing_ambient", "heat_capacity_housing"):
        assert cal[f"{name}.ci_low"] < cal[name] < cal[f"{name}.ci_high"]
    assert cal["replay_rmse_calibrated"] < cal["replay_rmse_nameplate"]
    tel = by_name["telemetry"].data.metrics
    for ch in ("motor_current", "winding_temperature", "ambient_temperature"):
        assert tel[f"{ch}.accepted"] + tel[f"{ch}.quarantined"] == tel[f"{ch}.read"]
    for action in ("as_is", "speed_up"):
        m = by_name[f"whatif:{action}"].data.metrics
        assert m["throughput"] > 0 and "throughput.half_width" in m
    assert "throughput.diff" in by_name["whatif:speed_up"].data.metrics
    artifacts = {a.path for a in client.list_artifacts(result.parent_run)}
    assert {"report.md", "whatif_summary.csv", "whatif.png", "config_resolved.yaml"} <= artifacts


@pytest.mark.slow
def test_outputs_and_record_are_written(finished_job):
    result, _, tmp = finished_job
    out = tmp / "out"
    for name in ("report.md", "calibration.png", "whatif.png", "data_quality.png", "quarantine.csv",
                 "calibration_record.json"):
        assert (out / name).is_file(), name
    record = json.loads((out / "calibration_record.json").read_text())
    assert record["window"]["content_hash"] and record["window"]["source_hash"] == result.stream.content_hash
    # the reference telemetry hides R_ha = 0.072 K/W, C_h = 52000 J/K (scenarios/reference_data.TRUTH)
    p = record["parameters"]
    assert p["thermal_resistance_housing_ambient"]["value"] == pytest.approx(0.072, rel=0.02)
    assert p["heat_capacity_housing"]["value"] == pytest.approx(52000, rel=0.05)
    assert "Recommend" in (out / "report.md").read_text() or "Keep" in (out / "report.md").read_text()


@pytest.mark.slow
def test_hydra_cli_runs_and_rejects_a_typo(tmp_path):
    cmd = [sys.executable, "-m", "scenarios.app", "tracking=none", "plots=false", "progress=false",
           "whatif.replications=2", "whatif.horizon_h=1", f"output_dir={tmp_path}/out", f"hydra.run.dir={tmp_path}/h"]
    ok = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
    assert (tmp_path / "out" / "report.md").is_file()
    bad = subprocess.run(cmd + ["calibration.windw_h=3"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert bad.returncode != 0
    assert "windw_h" in bad.stderr + bad.stdout


@pytest.mark.slow
def test_missing_telemetry_file_gives_a_clear_error_and_no_orphaned_run(tmp_path):
    db = tmp_path / "m.db"
    cmd = [sys.executable, "-m", "scenarios.app", f"telemetry.path={tmp_path}/nope.csv", "plots=false",
           f"tracking.tracking_uri=sqlite:///{db}", f"output_dir={tmp_path}/out", f"hydra.run.dir={tmp_path}/h"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 2
    text = out.stdout + out.stderr
    assert "nope.csv" in text and "Traceback" not in text
    tracker = MlflowTracker(tracking_uri=f"sqlite:///{db}")
    runs = tracker.client.search_runs([tracker.client.get_experiment_by_name("twinbench").experiment_id])
    assert runs and all(r.info.status == "FAILED" for r in runs)
