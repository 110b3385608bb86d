"""The default job at reduced size, end to end, into a temporary MLflow store: telemetry -> calibration ->
what-if on the reference bottling line."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from scenarios.app import build_job
from scenarios.job import run_reference
from scenarios.tracking.tracker import MlflowTracker
from tests.helpers import mlflow_template_store

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["whatif.replications=2", "whatif.seeds_per_draw=1", "whatif.horizon_h=12", "whatif.warmup_h=2",
         "whatif.mser_interval_h=1", "calibration.window_h=8"]
ACTIONS = ["as_is", "filler_plus_5", "filler_plus_10", "filler_max", "add_technician", "bigger_buffer"]


@pytest.fixture(scope="module")
def finished_job(tmp_path_factory):
    from hydra import compose, initialize_config_dir

    from scenarios.config import register_configs

    register_configs()
    tmp = tmp_path_factory.mktemp("job")
    shutil.copyfile(mlflow_template_store(tmp_path_factory), tmp / "mlflow.db")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=SMALL)
    tracker = MlflowTracker(tracking_uri=f"sqlite:///{tmp}/mlflow.db", experiment="test")
    spec = build_job(cfg, output_dir=tmp / "out", tracker=tracker)
    result = run_reference(spec)
    return result, tracker, tmp


@pytest.mark.slow
def test_one_parent_and_the_expected_children_with_params_and_metrics(finished_job):
    result, tracker, tmp = finished_job
    client = tracker.client
    exp = client.get_experiment_by_name("test")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.parent_run]
    assert len(parents) == 1 and parents[0].info.run_id == result.parent_run
    assert re.fullmatch(r"reference-\d{8}-\d{6}", parents[0].data.tags["mlflow.runName"])  # runs told apart
    assert sorted(r.data.tags["mlflow.runName"] for r in children) == \
        sorted(["calibration", "telemetry"] + [f"whatif:{a}" for a in ACTIONS])
    assert all(r.info.status == "FINISHED" for r in runs)
    parent = parents[0]
    assert parent.data.params["calibration.window_h"] == "8.0"
    assert parent.data.params["whatif.replications"] == "2"
    assert parent.data.params["line.crew_size"] == "2"
    assert parent.data.tags["recommendation"] in ACTIONS + ["none"]
    by_name = {r.data.tags["mlflow.runName"]: r for r in children}
    assert parent.data.tags["decision.status"] in ("recommend", "keep", "no clear winner", "no feasible action")
    # the decision record on the parent run: the action, alternatives, constraints checked, calibration, window
    (tmp / "dl").mkdir(exist_ok=True)
    record = json.loads(Path(client.download_artifacts(result.parent_run, "decision_record.json",
                                                       str(tmp / "dl"))).read_text())
    assert record["action"] == (None if parent.data.tags["recommendation"] == "none" else
                                parent.data.tags["recommendation"])
    assert [a["action"] for a in record["alternatives"]] == ACTIONS
    assert {c["constraint"] for c in record["constraints"]} == {
        "trips <= 1 per 168 h", "max_winding_temperature <= trip limit - 5 K", "stockouts <= 0"}
    assert record["calibration"]["record_id"] == cal_record(by_name) and record["calibration"]["window_end"]
    assert record["highest_expected_value"] in ACTIONS and record["safest"] in ACTIONS and record["assumptions"]
    if record["action"] is not None:  # never an action that violates a guardrail
        assert all(c["ok"] for c in record["constraints"] if c["action"] == record["action"])
    cal = by_name["calibration"].data.metrics
    for name in ("thermal_resistance_housing_ambient", "heat_capacity_housing"):
        assert cal[f"{name}.ci_low"] < cal[name] < cal[f"{name}.ci_high"]
    assert cal["replay_rmse_calibrated"] < cal["replay_rmse_nameplate"]
    assert cal["intervals_reliable"] in (0.0, 1.0) and cal["misspecified"] in (0.0, 1.0)
    assert by_name["calibration"].data.params["model"] == "motor_thermal"
    tel = by_name["telemetry"].data.metrics
    for ch in ("motor_current", "winding_temperature", "ambient_temperature"):
        assert tel[f"{ch}.accepted"] + tel[f"{ch}.quarantined"] == tel[f"{ch}.read"]
    for action in ACTIONS:
        run = by_name[f"whatif:{action}"]
        m = run.data.metrics
        # metric names carry the display unit (sim.kpi.display_name); values are in it (units/h, not 1/s)
        assert 0 < m["throughput_units_per_h"] < 5.0 * 3600 * 1.2 and "throughput_units_per_h.half_width" in m
        assert 0 < m["oee"] <= 1 and "throughput" not in m
        assert m["crew_cost_currency"] > 0 and "mser5.reliable_fraction" in m
        assert run.data.params["calibration_record"] == cal_record(by_name)
        assert float(run.data.params["whatif.wall_s"]) > 0 and run.data.params["whatif.started"] < \
            run.data.params["whatif.ended"]
        # the run's own times are when the replications ran, not when the run was logged
        wall_ms = run.info.end_time - run.info.start_time
        assert abs(wall_ms / 1000.0 - float(run.data.params["whatif.wall_s"])) < 1.0, wall_ms
    m = by_name["whatif:filler_plus_10"].data.metrics
    assert by_name["whatif:filler_plus_10"].data.params["change.speeds.filler"] == "1.1"
    # the filler is the bottleneck
    assert m["throughput_units_per_h.diff"] - m["throughput_units_per_h.diff_half_width"] > 0
    m = by_name["whatif:add_technician"].data.metrics
    # one more technician, 12 h on shift at 60/h
    assert m["crew_cost_currency.diff"] == pytest.approx(60.0 * 12.0, rel=1e-9)
    artifacts = {a.path for a in client.list_artifacts(result.parent_run)}
    assert {"report.md", "whatif_summary.csv", "whatif_replications.csv", "whatif.png", "whatif_differences.png",
            "config_resolved.yaml", "decision_record.json"} <= artifacts


def cal_record(by_name):
    return by_name["calibration"].data.tags["calibration.record_id"]


@pytest.mark.slow
def test_the_whatif_runs_the_line_with_the_calibrated_filler_motor(finished_job):
    result, _, _ = finished_job
    cal = result.calibration.record.params()
    spec = result.whatif.result.specs["as_is"]
    assert [s.name for s in spec.stations] == ["depalletizer", "filler", "capper", "packer"]
    filler = spec.motors.params[1]
    assert filler["thermal_resistance_housing_ambient"] == cal["thermal_resistance_housing_ambient"]
    assert spec.motors.params[0] == spec.motors.params[2] == {}
    # ambient from the telemetry's last day: 27 degC mean, 7 K swing (scenarios/reference/telemetry.TRUTH)
    assert spec.ambient.mean - 273.15 == pytest.approx(27.0, abs=0.3)
    assert spec.ambient.amplitude == pytest.approx(7.0, abs=0.5)
    kpis = result.whatif.result.kpis
    assert len(kpis) == 2 * len(ACTIONS)
    # common random numbers: a third technician who is never needed changes nothing but the crew's pay
    base = kpis[kpis.action == "as_is"].set_index("replication")
    tech = kpis[kpis.action == "add_technician"].set_index("replication")
    assert (tech["throughput"] == base["throughput"]).all()
    assert list(tech["crew_cost"] - base["crew_cost"]) == pytest.approx(list(base["crew_cost"] / 2), rel=1e-12)


@pytest.mark.slow
def test_the_whatif_forks_from_the_calibrated_twin_at_the_window_end(finished_job):
    from calibration import CalibrationRecord
    from scenarios.whatif.fork import line_time

    result, _, tmp = finished_job
    record = CalibrationRecord.from_json(tmp / "out" / "calibration_record.json")
    assert record == result.calibration.record  # the hand-off, as written
    fork = result.fork
    assert fork.time == line_time(record.window["end"]) == fork.snapshot.time  # Tuesday 21:59:50 UTC
    assert fork.states == record.final_state
    winding = record.final_state["winding_temperature"]
    assert winding > 350.0  # the filler motor was running at the window end
    for action in ACTIONS:  # every action starts with the calibrated winding temperature, not ambient
        trace = result.whatif.result.traces[action]["filler.winding_temperature"]
        assert trace.iloc[0] == winding and trace.iloc[1] > 340.0


@pytest.mark.slow
def test_outputs_and_record_are_written(finished_job):
    result, _, tmp = finished_job
    out = tmp / "out"
    for name in ("report.md", "calibration.png", "whatif.png", "data_quality.png", "quarantine.csv",
                 "calibration_record.json", "data_gaps.csv"):
        assert (out / name).is_file(), name
    gaps = result.telemetry.stream.gaps  # the gaps in a CSV and in the report, not only in the plot
    assert len(pd.read_csv(out / "data_gaps.csv")) == len(gaps)
    assert ("## Telemetry gaps" in (out / "report.md").read_text()) == bool(len(gaps))
    record = json.loads((out / "calibration_record.json").read_text())
    assert record["window"]["content_hash"] and record["window"]["source_hash"] == result.telemetry.stream.content_hash
    # the reference telemetry hides R_ha = 0.072 K/W, C_h = 52000 J/K (scenarios/reference/telemetry.TRUTH)
    p = record["parameters"]
    assert p["thermal_resistance_housing_ambient"]["value"] == pytest.approx(0.072, rel=0.02)
    assert p["heat_capacity_housing"]["value"] == pytest.approx(52000, rel=0.05)
    report = (out / "report.md").read_text()
    assert "Recommend" in report or "Keep" in report or "No clear winner" in report
    assert "## Decision record" in report and "highest expected value" in report and "constraints checked" in report
    assert "## What-if set-up" in report and "speeds.filler = 1.1" in report and "MSER-5" in report
    assert (out / "whatif_differences.png").is_file()


@pytest.mark.slow
def test_hydra_cli_runs(tmp_path):
    """The command end to end (a typo refused by it: test_fail_fast.py, test_each_app_refuses_a_typo...)."""
    cmd = [sys.executable, "-m", "scenarios.app", "tracking=none", "plots=false", "progress=false",
           "whatif=speed", "whatif.replications=2", "whatif.horizon_h=2", "whatif.warmup_h=1",
           f"output_dir={tmp_path}/out", f"hydra.run.dir={tmp_path}/h"]
    ok = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
    assert (tmp_path / "out" / "report.md").is_file()


@pytest.mark.slow
def test_missing_telemetry_file_gives_a_clear_error_and_no_orphaned_run(tmp_path, tmp_path_factory):
    db = tmp_path / "m.db"
    shutil.copyfile(mlflow_template_store(tmp_path_factory), db)
    cmd = [sys.executable, "-m", "scenarios.app", f"telemetry.path={tmp_path}/nope.csv", "plots=false",
           f"tracking.tracking_uri=sqlite:///{db}", f"output_dir={tmp_path}/out", f"hydra.run.dir={tmp_path}/h"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 2
    text = out.stdout + out.stderr
    assert "nope.csv" in text and "Traceback" not in text
    tracker = MlflowTracker(tracking_uri=f"sqlite:///{db}")
    runs = tracker.client.search_runs([tracker.client.get_experiment_by_name("twinbench").experiment_id])
    assert runs and all(r.info.status == "FAILED" for r in runs)


@pytest.mark.slow
def test_the_calibrated_twin_is_registered_as_champion_and_predicts(finished_job):
    from scenarios.tracking.registry import load_champion

    result, tracker, _ = finished_job
    runs = tracker.client.search_runs([tracker.client.get_experiment_by_name("test").experiment_id],
                                      filter_string="tags.mlflow.runName = 'calibration'")
    tags = runs[0].data.tags
    assert tags["registry.model"] == "twinbench.bottling.motor_thermal" and tags["registry.version"] == "1"
    twin = load_champion(tracker.uri, tags["registry.model"])
    assert twin.record.record_id == result.calibration.record.record_id
    assert twin.record.params() == pytest.approx(result.calibration.record.params())


def test_errors_and_job_messages_are_printed_literally():
    """'[degC]' in a column name is text, not rich markup: the error names the columns that exist."""
    from rich.console import Console

    from scenarios.app import print_error
    from scenarios.job import JobSession
    from sim.exceptions import ChannelMapError

    console = Console(record=True, width=200)
    print_error(console, ChannelMapError("columns ['M1.WindingTemp[degC]', 'Hall.AmbientTemp[degF]'] are missing"))
    JobSession.say(type("S", (), {"console": console})(), "warning: [bold]x[/bold] M1.Current[A]")
    text = console.export_text()
    assert "error: columns ['M1.WindingTemp[degC]', 'Hall.AmbientTemp[degF]'] are missing" in text
    assert "warning: [bold]x[/bold] M1.Current[A]" in text
