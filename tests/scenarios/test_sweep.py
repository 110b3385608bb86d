"""Sweeps: real Hydra multiruns (in-process through the console-script entry, or a subprocess) on real sqlite
MLflow stores in tmp_path; the report checked against a hand computation from ``mlflow.search_runs``."""

from __future__ import annotations

import hashlib
import math
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from tests.helpers import mlflow_template_store

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["replications.n=3", "replications.run_length_h=12", "replications.warmup_h=0", "sweep.progress=false"]


def _new_store(folder: Path, tmp_path_factory) -> Path:
    """*folder* with an empty, migrated store ``mlflow.db`` in it (a copy of :func:`_template_store`)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(mlflow_template_store(tmp_path_factory), folder / "mlflow.db")
    return folder


@pytest.fixture
def store(tmp_path, tmp_path_factory) -> Path:
    """``tmp_path`` holding an empty, migrated sqlite MLflow store ``mlflow.db``."""
    return _new_store(tmp_path, tmp_path_factory)


def _main(argv: list[str]) -> int:
    """``twinbench-sweep *argv*`` in this process, as the console script runs it; returns the exit status."""
    from hydra.core.global_hydra import GlobalHydra

    from scenarios.sweeps.cli import main

    GlobalHydra.instance().clear()
    saved = sys.argv[:]
    code = 0
    try:
        main(argv)
    except SystemExit as exit_:
        code = exit_.code or 0
    finally:
        sys.argv = saved
        GlobalHydra.instance().clear()
    return code


def _sweep(tmp: Path, name: str, *overrides, expect_ok: bool = True) -> int:
    """Run ``twinbench-sweep -m ...`` in this process on the store of *tmp*; returns the exit status.

    The sweep writes no report unless *overrides* say ``report.enabled=true`` (the grid's report is checked)."""
    report = [] if any(o.startswith("report.enabled=") for o in overrides) else ["report.enabled=false"]
    code = _main(["-m", f"tracking.uri=sqlite:///{tmp}/mlflow.db", f"sweep.name={name}",
                  f"hydra.sweep.dir={tmp}/multirun/{name}", *SMALL, *report, *overrides])
    if expect_ok:
        assert code == 0
    return code


def _runs(tmp: Path) -> pd.DataFrame:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    try:
        return mlflow.search_runs(experiment_names=["twinbench-sweeps"])
    finally:
        mlflow.set_tracking_uri(None)


def _children(df: pd.DataFrame, parent: str) -> pd.DataFrame:
    return df[df["tags.mlflow.parentRunId"] == parent]


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    tmp = _new_store(tmp_path_factory.mktemp("grid"), tmp_path_factory)
    _sweep(tmp, "grid", "line.crew_size=1,2", "line.buffer_scale=0.25,1.0", "sweep.child_plot=true",
           "report.enabled=true")
    df = _runs(tmp)
    parent = df[df["tags.twinbench.role"] == "parent"]
    assert len(parent) == 1
    return tmp, parent["run_id"].iloc[0]


def test_grid_gives_one_parent_and_a_child_per_configuration(grid):
    tmp, parent = grid
    df = _runs(tmp)
    assert df.loc[df.run_id == parent, "status"].item() == "FINISHED"
    kids = _children(df, parent)
    assert len(kids) == 4 and set(kids.status) == {"FINISHED"}
    combos = set(zip(kids["params.line.crew_size"], kids["params.line.buffer_scale"]))
    assert combos == {("1", "0.25"), ("1", "1.0"), ("2", "0.25"), ("2", "1.0")}
    assert set(kids["params.replications.n"]) == {"3"}
    assert set(kids["tags.seed"]) == {"2026"} and kids["tags.twinbench.config_hash"].nunique() == 4
    assert kids["tags.git.commit"].str.len().min() >= 7
    for _, kid in kids.iterrows():
        assert kid["metrics.oee.low"] < kid["metrics.oee"] < kid["metrics.oee.high"]
        assert 0.3 < kid["metrics.oee"] < 1.0
        assert kid["metrics.throughput_units_per_h"] > 0 and "metrics.throughput" not in kid  # display unit
        folder = Path(kid["artifact_uri"].removeprefix("file://"))
        table = pd.read_csv(folder / "replications.csv")
        assert len(table) == 3
        assert math.isclose(table["oee"].mean(), kid["metrics.oee"], rel_tol=1e-12)
        assert (folder / "config.yaml").is_file() and (folder / "summary.csv").is_file()
        assert (folder / "kpis.png").stat().st_size > 1000  # sweep.child_plot=true
    report = Path(df.loc[df.run_id == parent, "artifact_uri"].item().removeprefix("file://")) / "report"
    assert {"report.md", "report.html", "pareto.png", "distributions.png", "ranking.csv"} <= {
        p.name for p in report.iterdir()}


def test_report_numbers_equal_a_hand_computation_from_search_runs(grid):
    from scenarios.sweeps.lineage import connect
    from scenarios.sweeps.report import write_report

    tmp, parent = grid
    df = _runs(tmp)
    kids = _children(df, parent).set_index("run_id")
    tables = {r: pd.read_csv(Path(k["artifact_uri"].removeprefix("file://")) / "replications.csv")
              for r, k in kids.iterrows()}
    tracker, _ = connect(f"sqlite:///{tmp}/mlflow.db", "twinbench-sweeps")
    rep = write_report(tracker, parent, kpi="oee", baseline="0", log=False)
    rank = rep["ranking"].set_index("run_id")
    t = stats.t.ppf(0.975, 2)
    for run_id, table in tables.items():
        x = table["oee"].to_numpy()
        half = t * x.std(ddof=1) / math.sqrt(3)
        assert rank.loc[run_id, "mean"] == pytest.approx(x.mean(), rel=1e-12)
        assert rank.loc[run_id, "low"] == pytest.approx(x.mean() - half, rel=1e-12)
        assert rank.loc[run_id, "low"] == pytest.approx(kids.loc[run_id, "metrics.oee.low"], rel=1e-9)
        assert rank.loc[run_id, "high"] == pytest.approx(kids.loc[run_id, "metrics.oee.high"], rel=1e-9)
    assert list(rank["mean"]) == sorted(rank["mean"], reverse=True)
    base = kids.index[kids["tags.hydra.job.num"] == "0"][0]
    diffs = rep["differences"].set_index("run_id")
    assert len(diffs) == 3 and diffs["paired"].all()
    for run_id in diffs.index:
        d = tables[run_id]["oee"].to_numpy() - tables[base]["oee"].to_numpy()
        half = t * d.std(ddof=1) / math.sqrt(3) if d.std() > 0 else 0.0
        assert diffs.loc[run_id, "diff"] == pytest.approx(d.mean(), abs=1e-15)
        assert diffs.loc[run_id, "half_width"] == pytest.approx(half, abs=1e-15)


def test_rerun_of_a_finished_sweep_skips_every_configuration(grid):
    tmp, parent = grid
    before = _runs(tmp)
    # (no report this time: a resumed sweep's report is checked in test_sweep_counter.py; a resumed parent keeps
    # the params of its first run, so the override does not clash with them)
    _sweep(tmp, "grid", "line.crew_size=1,2", "line.buffer_scale=0.25,1.0", "sweep.child_plot=true")
    after = _runs(tmp)
    assert len(after) == len(before) == 5
    row = after[after.run_id == parent].iloc[0]
    assert row["status"] == "FINISHED" and row["tags.twinbench.resumed"] == "1"


def test_report_command_rebuilds_a_past_sweep_and_names_an_unknown_one(grid, tmp_path, capsys):
    from scenarios.sweeps.report import report_cli

    tmp, parent = grid
    uri = f"sqlite:///{tmp}/mlflow.db"
    assert report_cli([parent, "--tracking-uri", uri, "--out", str(tmp_path / "r"), "--kpi", "throughput",
                       "--no-log"]) == 0
    assert "| rank |" in capsys.readouterr().out
    assert (tmp_path / "r" / "report.md").read_text().startswith("# Sweep report: grid")
    assert report_cli(["grid", "--tracking-uri", uri, "--out", str(tmp_path / "r2"), "--no-log"]) == 0
    assert report_cli(["no-such-sweep", "--tracking-uri", uri, "--no-log"]) == 2
    err = capsys.readouterr().err
    assert "no-such-sweep" in err and "--list" in err and "grid" in err


def test_process_parallel_replications_equal_serial_ones(grid):
    """Same seeds -> same KPIs with the replications on 2 local worker processes (and a new parent run)."""
    tmp, parent = grid
    _sweep(tmp, "grid-parallel", "line.crew_size=1", "line.buffer_scale=0.25,1.0", "replications.workers=2")
    df = _runs(tmp)
    serial = _children(df, parent)
    new_parent = df[(df["tags.twinbench.sweep"] == "grid-parallel") & (df["tags.twinbench.role"] == "parent")]
    par = _children(df, new_parent.run_id.item())
    assert len(par) == 2
    for _, row in par.iterrows():
        twin = serial[serial["tags.twinbench.config_hash"] == row["tags.twinbench.config_hash"]]
        assert len(twin) == 1  # workers do not enter the config hash
        for k in ("oee", "oee.low", "throughput_units_per_h", "maintenance_cost_currency", "unplanned_downtime_h"):
            assert row[f"metrics.{k}"] == twin[f"metrics.{k}"].item()


def test_lhs_experiment_covers_every_stratum_and_optuna_experiment_resumes_deterministically(store):
    _sweep(store, "lhs", "experiment=lhs_buffers", "hydra.sweeper.n=4", "replications.n=2")
    df = _runs(store)
    kids = df[df["tags.twinbench.role"] == "child"]
    assert len(kids) == 4 and set(kids.status) == {"FINISHED"}
    cap = kids["params.line.buffers.filler_capper"].astype(float).to_numpy()  # int(interval(200, 2000))
    assert ((cap >= 200) & (cap <= 2000)).all()
    assert sorted(np.floor((cap - 200) / (1801 / 4)).astype(int)) == [0, 1, 2, 3]  # one point per stratum
    interval = kids["params.line.policy.interval_h"].astype(float).to_numpy()  # tag(log, interval(40, 640))
    assert sorted(np.floor(np.log(interval / 40) / np.log(16) * 4).astype(int)) == [0, 1, 2, 3]
    assert kids["tags.mlflow.runName"].str.contains("line.buffers.filler_capper=").all()

    opt = ["experiment=optuna_buffers_maintenance", "hydra.sweeper.n_trials=4", "hydra.sweeper.batch_size=2",
           "replications.n=2"]
    _sweep(store, "opt", *opt)
    df = _runs(store)
    parent = df[(df["tags.twinbench.sweep"] == "opt") & (df["tags.twinbench.role"] == "parent")]
    kids = _children(df, parent.run_id.item())
    assert len(kids) == 4 and parent.status.item() == "FINISHED"
    expected = kids["metrics.oee"] - 2e-5 * kids["metrics.maintenance_cost_currency"]
    np.testing.assert_allclose(kids["metrics.objective"], expected, rtol=1e-9)
    # objective.upper is in the display unit (h), like every bound a person writes
    bound = kids["params.objective.upper.unplanned_downtime"].astype(float)
    np.testing.assert_allclose(kids["metrics.constraint.0"], kids["metrics.unplanned_downtime_h"] - bound, rtol=1e-12)
    assert set(kids["params.line.crew_size"]) <= {"1", "2", "3"}
    _sweep(store, "opt", *opt)  # same seed, same told values -> the same trials: all skipped
    again = _runs(store)
    assert len(_children(again, parent.run_id.item())) == 4


# ------------------------------------------------------------------------------------------------ bad input
def _parents(tmp: Path) -> pd.DataFrame:
    if not (tmp / "mlflow.db").exists():
        return pd.DataFrame(columns=["status"])
    df = _runs(tmp)
    return df[df["tags.twinbench.role"] == "parent"] if "tags.twinbench.role" in df else df.iloc[:0]


@pytest.mark.parametrize("override,words", [
    ("line.crew_sise=1,2", ["crew_sise", "crew_size", "spelling"]),
    ("++line.buffers.filler_caper=100,200", ["filler_caper", "filler_capper"]),
    ("line.crew_size=range(1,1)", ["empty sweep", "line.crew_size"]),
])
def test_bad_override_fails_before_a_parent_run_exists(tmp_path, capfd, override, words):
    assert _sweep(tmp_path, "bad", override, expect_ok=False) != 0
    err = capfd.readouterr().err
    for word in words:
        assert word in err
    assert len(_parents(tmp_path)) == 0


def test_unreachable_tracking_server_is_named_with_the_fix(tmp_path, capfd):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from hydra.core.global_hydra import GlobalHydra

    from scenarios.sweeps.cli import main

    GlobalHydra.instance().clear()
    t0 = time.perf_counter()
    with pytest.raises(SystemExit) as exit_:
        main(["-m", f"tracking.uri=http://127.0.0.1:{port}", f"hydra.sweep.dir={tmp_path}/m", "line.crew_size=1,2",
              *SMALL])
    GlobalHydra.instance().clear()
    assert exit_.value.code != 0 and time.perf_counter() - t0 < 30
    err = capfd.readouterr().err
    assert f"http://127.0.0.1:{port}" in err and "mlflow server" in err


def test_a_failing_configuration_fails_the_parent_and_only_it_reruns(store, capfd):
    """Job 1 raises (predictive maintenance needs code, not config); job 0 finishes; the parent is FAILED."""
    assert _sweep(store, "fails", "line.policy.name=time_based,predictive", expect_ok=False) != 0
    assert "predictive" in capfd.readouterr().err
    df = _runs(store)
    parent = df[df["tags.twinbench.role"] == "parent"]
    assert parent.status.item() == "FAILED"
    kids = _children(df, parent.run_id.item())
    assert sorted(kids.status) == ["FAILED", "FINISHED"]
    assert "predictive" in kids.loc[kids.status == "FAILED", "tags.twinbench.error"].item()
    assert "RUNNING" not in set(df.status)


# --------------------------------------------------------------------------------------- interrupt + resume
def _count(db: Path, status: str) -> int:
    import sqlite3

    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return con.execute("SELECT count(*) FROM runs WHERE status = ?", (status,)).fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_ctrl_c_mid_sweep_keeps_finished_runs_and_the_rerun_completes_only_the_rest(tmp_path):
    """Ctrl-C to the real command (a subprocess, on a store it creates) while a child runs; the rerun resumes
    in this process (resuming is the point there, not a second interpreter)."""
    args = ["-m", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db", "sweep.name=ctrlc",
            f"hydra.sweep.dir={tmp_path}/multirun", "line.buffer_scale=0.25,1.0,2.0", "replications.n=4",
            "replications.run_length_h=72", "replications.warmup_h=0", "report.enabled=false"]
    proc = subprocess.Popen([sys.executable, "-m", "scenarios.sweeps.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    db = tmp_path / "mlflow.db"
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            # plain sqlite: opening the store with MLflow here would race its creation by the sweep
            if _count(db, "FINISHED") >= 1 and _count(db, "RUNNING") >= 2:  # parent + a child mid-way
                break
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    df = _runs(tmp_path)
    parent = df[df["tags.twinbench.role"] == "parent"]
    assert parent.status.item() == "KILLED"
    kids = _children(df, parent.run_id.item())
    finished_before = set(kids.loc[kids.status == "FINISHED", "run_id"])
    assert 1 <= len(finished_before) < 3 and "RUNNING" not in set(kids.status)
    assert (kids.status == "KILLED").sum() == 1

    assert _main(args) == 0
    df = _runs(tmp_path)
    kids = _children(df, parent.run_id.item())
    finished = kids[kids.status == "FINISHED"]
    assert finished["tags.twinbench.config_hash"].nunique() == len(finished) == 3
    assert finished_before <= set(finished.run_id)  # not rerun
    assert df.loc[df.run_id == parent.run_id.item(), "status"].item() == "FINISHED"


# ----------------------------------------------------------------------------------------------- notebook
@pytest.mark.slow
def test_sweep_comparison_notebook_reads_a_finished_sweep(grid, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    tmp, parent = grid
    monkeypatch.setenv("TWINBENCH_SWEEP_STORE", f"sqlite:///{tmp}/mlflow.db")
    monkeypatch.setenv("TWINBENCH_SWEEP_NAME", "grid")
    path = ROOT / "notebooks" / "sweep_comparison.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert f"sweep grid: parent {parent} (FINISHED), 4 configurations" in text


def _hot_record():
    """A calibration of a filler motor that cools worse than its nameplate (R_ha 0.11 K/W): it trips."""
    from calibration import CalibrationRecord
    from sim.physics import MOTOR_THERMAL

    return CalibrationRecord(
        model="motor_thermal", model_version=MOTOR_THERMAL.spec.version,
        parameters={"thermal_resistance_housing_ambient": {"value": 0.11, "unit": "K/W"}},
        fixed_parameters={"heat_capacity_housing": 30000.0}, covariance=[[1e-8]],
        parameter_names=["thermal_resistance_housing_ambient"], confidence=0.95, metrics={},
        window={"content_hash": "c0ffee" * 10}, initial_state={}, final_state={}, method="test")


def test_a_calibration_record_or_a_telemetry_file_sets_the_filler_motor_and_the_lineage_tags(store):
    record = _hot_record()
    path = store / "record.json"
    record.to_json(path)
    data = ROOT / "scenarios" / "reference" / "data" / "reference_telemetry.csv"
    _sweep(store, "nameplate", "line.crew_size=2", f"telemetry.path={data}")  # (the file enters no KPI)
    _sweep(store, "calibrated", "line.crew_size=2", f"calibration.record={path}")
    df = _runs(store)
    kids = df[df["tags.twinbench.role"] == "child"].set_index("tags.twinbench.sweep")
    assert kids.loc["calibrated", "tags.calibration.record_id"] == record.record_id
    assert kids.loc["calibrated", "tags.telemetry.content_hash"] == "c0ffee" * 10  # the record's window hash ...
    # ... and a telemetry file's: the one content hash (sha256 of its bytes)
    assert kids.loc["nameplate", "tags.telemetry.content_hash"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert kids.loc["calibrated", "tags.twinbench.config_hash"] != kids.loc["nameplate", "tags.twinbench.config_hash"]
    # a filler motor that cools worse trips on over-temperature; the nameplate one does not
    assert kids.loc["calibrated", "metrics.filler.trips"] > kids.loc["nameplate", "metrics.filler.trips"]
    assert kids.loc["calibrated", "metrics.depalletizer.trips"] == kids.loc["nameplate", "metrics.depalletizer.trips"]
    # a store without a champion: the default sweep runs on the nameplate, and says so
    assert kids.loc["nameplate", "tags.calibration.source"] == "nameplate"
    assert "no champion of twinbench.bottling.motor_thermal" in kids.loc["nameplate", "tags.calibration.note"]
    assert kids.loc["calibrated", "tags.calibration.source"] == "record"


@pytest.mark.slow
def test_a_sweep_runs_on_the_champion_calibration_by_default_and_the_report_names_it(store):
    """Issue 15: the same speed-up must not trip 0 times in a sweep and 39 times in the main job."""
    from scenarios.sweeps.report import write_report
    from scenarios.tracking.registry import register_calibration
    from scenarios.tracking.tracker import MlflowTracker

    record = _hot_record()
    tracker = MlflowTracker(tracking_uri=f"sqlite:///{store}/mlflow.db", experiment="twinbench")
    run = tracker.start_run("calibration")
    version = register_calibration(tracker, run, record, plant="bottling")
    tracker.end_run(run, "FINISHED")
    assert str(version.version) == "1"
    _sweep(store, "champion", "line.crew_size=2")
    _sweep(store, "optout", "line.crew_size=2", "calibration.source=nameplate")
    df = _runs(store)
    kids = df[df["tags.twinbench.role"] == "child"].set_index("tags.twinbench.sweep")
    assert kids.loc["champion", "tags.calibration.source"] == "champion"
    assert kids.loc["champion", "tags.calibration.version"] == "twinbench.bottling.motor_thermal v1"
    assert kids.loc["champion", "tags.calibration.record_id"] == record.record_id
    assert kids.loc["optout", "tags.calibration.source"] == "nameplate"
    assert pd.isna(kids.loc["optout"].get("tags.calibration.record_id"))
    # the champion's hot motor trips where the nameplate one does not: the sweep now sees what the job sees
    assert kids.loc["champion", "metrics.filler.trips"] > kids.loc["optout", "metrics.filler.trips"]
    sweeps = MlflowTracker(tracking_uri=f"sqlite:///{store}/mlflow.db", experiment="twinbench-sweeps")
    for name, words in (("champion", f"champion twinbench.bottling.motor_thermal v1 (record {record.record_id})"),
                        ("optout", "nameplate motor parameters")):
        out = write_report(sweeps, kids.loc[name, "tags.mlflow.parentRunId"], out_dir=store / name, log=False)
        assert f"Calibration: {words}" in (out["folder"] / "report.md").read_text()
    assert _sweep(store, "bad", "calibration.source=nameplate", f"calibration.record={store}/r.json",
                  expect_ok=False) != 0



def test_a_missing_telemetry_file_fails_the_configuration_and_closes_the_parent(store):
    code = _sweep(store, "missing_telemetry", "line.crew_size=2", f"telemetry.path={store}/nope.csv",
                  expect_ok=False)
    assert code != 0
    df = _runs(store)
    runs = df[df["tags.twinbench.sweep"] == "missing_telemetry"]
    assert set(runs.status) == {"FAILED"}  # the parent is closed, never left RUNNING


def test_sweep_guardrails_are_in_display_units_and_judged_on_the_interval():
    from scenarios.sweeps.steps import guardrail_values, guardrails
    from sim.exceptions import ConfigurationError

    rules = guardrails([{"kpi": "trips", "max": 1, "per_h": 168}, {"kpi": "max_winding_temperature",
                                                                  "below_trip": 5},
                        {"kpi": "unplanned_downtime", "max": 2.0, "judge": "mean"}])
    table = pd.DataFrame({"trips": [0.0, 0.0, 0.0, 1.0], "max_winding_temperature": [386.0, 386.5, 387.0, 386.5],
                          "unplanned_downtime": [3600.0, 7200.0, 3600.0, 7200.0]})
    values = guardrail_values(table, rules, horizon=84 * 3600.0, confidence=0.95, trip_temperature=393.15)
    upper = stats.t.ppf(0.975, 3) * table["trips"].std() / 2 + 0.25  # the interval's upper bound, per run
    assert values["trips <= 1 per 168 h"] == pytest.approx(2 * upper - 1)  # 84 h runs: twice as many a week
    peak = table["max_winding_temperature"]
    assert values["max_winding_temperature <= trip limit - 5 K"] == pytest.approx(
        peak.mean() + stats.t.ppf(0.975, 3) * peak.std() / 2 - 388.15)
    assert values["unplanned_downtime <= 2 h"] == pytest.approx(1.5 - 2.0)  # the mean, in hours
    with pytest.raises(ConfigurationError, match=r"objective.constraints\[0\]: constraint kpi = 'trip' is not"):
        guardrails([{"kpi": "trip", "max": 1}])
