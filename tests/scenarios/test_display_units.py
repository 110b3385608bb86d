"""One set of units from console to store (issue 18): the main job's what-if metrics and CSVs and a sweep's
metrics, CSVs and report are in the display units of the KPI catalogue (units/h, h, °C), with the unit in the
metric name or a unit column; SI stays in the data frames the steps pass on.  Real MLflow stores in tmp_path."""

from __future__ import annotations

import io
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.kpi import KPIS, display_name, kpi_info
from tests.helpers import mlflow_template_store

ROOT = Path(__file__).resolve().parents[2]
JOB = ["whatif=speed", "whatif.replications=2", "whatif.seeds_per_draw=1", "whatif.horizon_h=6", "whatif.warmup_h=1",
       "whatif.mser_interval_h=1", "calibration.window_h=3", "calibration.register=false", "plots=false"]
ACTIONS = ["as_is", "filler_plus_10", "filler_and_capper_plus_10"]
RUN_LENGTH_H = 12.0


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """The main job, small (3 actions x 2 replications x 6 h), into a real sqlite MLflow store."""
    from hydra import compose, initialize_config_dir

    from scenarios.app import build_job
    from scenarios.config import register_configs
    from scenarios.job import run_reference
    from scenarios.tracking.tracker import MlflowTracker

    register_configs()
    tmp = tmp_path_factory.mktemp("job")
    shutil.copyfile(mlflow_template_store(tmp_path_factory), tmp / "mlflow.db")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=JOB)
    tracker = MlflowTracker(tracking_uri=f"sqlite:///{tmp}/mlflow.db", experiment="units")
    result = run_reference(build_job(cfg, output_dir=tmp / "out", tracker=tracker))
    runs = tracker.client.search_runs([tracker.experiment_id])
    children = {r.data.tags["mlflow.runName"]: r for r in runs
                if r.data.tags.get("mlflow.parentRunId") == result.parent_run}
    return result, tracker, children, tmp


def _si(result, action: str, kpi: str) -> pd.Series:
    """The what-if summary row [SI] of *action* and *kpi* (the data frame the steps pass on)."""
    s = result.whatif.summary
    return s[(s["action"] == action) & (s["kpi"] == kpi)].iloc[0]


@pytest.mark.slow
def test_whatif_child_metrics_are_named_with_their_unit_and_hold_display_values(job):
    result, _, children, _ = job
    assert sorted(k for k in children if k.startswith("whatif:")) == sorted(f"whatif:{a}" for a in ACTIONS)
    for action in ACTIONS:
        m = children[f"whatif:{action}"].data.metrics
        kpis = set(result.whatif.summary["kpi"])
        for kpi in kpis:  # every KPI under its display name only; never under the SI name (unless unit-less)
            assert display_name(kpi) in m and f"{display_name(kpi)}.half_width" in m
            if kpi_info(kpi).display_unit.label != "-":
                assert kpi not in m and f"{kpi}.half_width" not in m
        tput = _si(result, action, "throughput")
        assert m["throughput_units_per_h"] == tput["mean"] * 3600  # exact: one operation
        assert m["throughput_units_per_h.half_width"] == tput["half_width"] * 3600
        assert 3000 < m["throughput_units_per_h"] < 5.0 * 3600 * 1.2  # bottles per hour, not per second
        hot = _si(result, action, "max_winding_temperature")
        assert m["max_winding_temperature_degC"] == pytest.approx(hot["mean"] - 273.15, abs=1e-9)
        assert 20.0 < m["max_winding_temperature_degC"] < 200.0  # a winding in °C, not K
        assert m["max_winding_temperature_degC.half_width"] == pytest.approx(hot["half_width"], abs=1e-12)
        down = _si(result, action, "unplanned_downtime")
        assert m["unplanned_downtime_h"] == pytest.approx(down["mean"] / 3600, rel=1e-15)
        assert m["oee"] == _si(result, action, "oee")["mean"]
        if action == "as_is":
            assert "throughput_units_per_h.diff" not in m
        else:  # differences: the scale only; a temperature difference is not offset by 273.15
            assert m["throughput_units_per_h.diff"] == pytest.approx(tput["diff"] * 3600, rel=1e-15)
            assert m["max_winding_temperature_degC.diff"] == pytest.approx(hot["diff"], abs=1e-12)
            assert abs(m["max_winding_temperature_degC.diff"]) < 50.0
            assert m["max_winding_temperature_degC.diff_half_width"] == pytest.approx(hot["diff_half_width"],
                                                                                        abs=1e-12)
    faster = children["whatif:filler_plus_10"].data.metrics
    assert faster["throughput_units_per_h.diff"] > 0  # the filler is the bottleneck


@pytest.mark.slow
def test_whatif_child_replications_csv_is_in_display_units(job):
    result, tracker, children, tmp = job
    run = children["whatif:as_is"]
    (tmp / "dl").mkdir(exist_ok=True)
    table = pd.read_csv(tracker.client.download_artifacts(run.info.run_id, "replications.csv", str(tmp / "dl")))
    si = result.whatif.result.kpis
    si = si[si["action"] == "as_is"].reset_index(drop=True)
    assert {"throughput_units_per_h", "max_winding_temperature_degC", "oee", "filler.mtbf_h"} <= set(table.columns)
    assert "throughput" not in table.columns and "max_winding_temperature" not in table.columns
    np.testing.assert_allclose(table["throughput_units_per_h"], si["throughput"] * 3600, rtol=1e-15)
    np.testing.assert_allclose(table["max_winding_temperature_degC"], si["max_winding_temperature"] - 273.15,
                               rtol=1e-15)
    # an analytic cross-check that needs no conversion: throughput = good output / observed time
    np.testing.assert_allclose(table["throughput_units_per_h"], table["output_units"] / 6.0, rtol=1e-12)


@pytest.mark.slow
def test_whatif_csvs_have_a_unit_column_and_display_values(job):
    from scenarios.steps import recommended_metrics, whatif_csvs

    result, _, _, _ = job
    files = whatif_csvs(result.whatif.summary, result.whatif.result.kpis)
    summary = pd.read_csv(io.StringIO(files["whatif_summary.csv"]))
    assert list(summary.columns[:3]) == ["action", "kpi", "unit"]
    for action in ACTIONS:
        rows = summary[summary["action"] == action].set_index("kpi")
        tput = _si(result, action, "throughput")
        assert rows.loc["throughput", "unit"] == "units/h"
        assert rows.loc["throughput", "mean"] == pytest.approx(3600 * tput["mean"], rel=1e-15)
        assert rows.loc["throughput", "low"] == pytest.approx(3600 * tput["low"], rel=1e-15)
        hot = _si(result, action, "max_winding_temperature")
        assert rows.loc["max_winding_temperature", "unit"] == "°C"
        assert rows.loc["max_winding_temperature", "mean"] == pytest.approx(hot["mean"] - 273.15, abs=1e-9)
        assert rows.loc["max_winding_temperature", "diff"] == pytest.approx(hot["diff"], abs=1e-12)
        assert rows.loc["max_winding_temperature", "diff_low"] == pytest.approx(hot["diff_low"], abs=1e-12)
        assert rows.loc["unplanned_downtime", "unit"] == "h" and rows.loc["oee", "unit"] == "-"
    reps = pd.read_csv(io.StringIO(files["whatif_replications.csv"]))
    assert list(reps.columns[:3]) == ["action", "replication", "draw"]
    assert len(reps) == 2 * len(ACTIONS)
    np.testing.assert_allclose(reps["throughput_units_per_h"], result.whatif.result.kpis["throughput"] * 3600,
                               rtol=1e-15)
    metrics = recommended_metrics(result.whatif.summary, objective="throughput", action="filler_plus_10")
    assert metrics == {
        "recommended.throughput_units_per_h.diff": _si(result, "filler_plus_10", "throughput")["diff"] * 3600,
        "recommended.throughput_units_per_h.diff_half_width":
            _si(result, "filler_plus_10", "throughput")["diff_half_width"] * 3600}


@pytest.mark.slow
def test_whatif_files_and_parent_metrics_written_by_the_report_are_in_display_units(job):
    result, tracker, _, tmp = job
    summary = pd.read_csv(tmp / "out" / "whatif_summary.csv")
    assert "unit" in summary.columns
    row = summary[(summary["action"] == "as_is") & (summary["kpi"] == "throughput")].iloc[0]
    assert row["unit"] == "units/h" and row["mean"] == pytest.approx(3600 * _si(result, "as_is", "throughput")["mean"])
    reps = pd.read_csv(tmp / "out" / "whatif_replications.csv")
    assert "max_winding_temperature_degC" in reps.columns and "max_winding_temperature" not in reps.columns
    parent = tracker.client.get_run(result.parent_run).data
    assert not any(k.startswith("recommended.throughput.") for k in parent.metrics)
    action = parent.tags["recommendation"]
    if action != "none":  # the gain of the recommended action, in units/h
        assert parent.metrics["recommended.throughput_units_per_h.diff"] == pytest.approx(
            3600 * _si(result, action, "throughput")["diff"], rel=1e-12)


# ----------------------------------------------------------------------------------------------------- sweeps
def _sweep(tmp: Path, name: str, *overrides) -> None:
    """``twinbench-sweep -m ...`` in this process, on a sqlite store in *tmp*."""
    from hydra.core.global_hydra import GlobalHydra

    from scenarios.sweeps.cli import main

    GlobalHydra.instance().clear()
    argv = ["-m", f"tracking.uri=sqlite:///{tmp}/mlflow.db", f"sweep.name={name}", f"hydra.sweep.dir={tmp}/m/{name}",
            "replications.n=3", f"replications.run_length_h={RUN_LENGTH_H:g}", "replications.warmup_h=0",
            "sweep.progress=false", "calibration.source=nameplate", "report.kpi=throughput", *overrides]
    saved = sys.argv[:]
    try:
        main(argv)
    except SystemExit as exit_:
        assert not exit_.code, exit_.code
    finally:
        sys.argv = saved
        GlobalHydra.instance().clear()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Two configurations of a sweep whose objective weights throughput and bounds the lead time [h]."""
    from scenarios.sweeps.runs import connect

    tmp = tmp_path_factory.mktemp("sweep")
    shutil.copyfile(mlflow_template_store(tmp_path_factory), tmp / "mlflow.db")
    _sweep(tmp, "units", "line.buffer_scale=0.25,1.0", "objective.weights.oee=0.0",
           "+objective.weights.throughput=1.0", "+objective.upper.lead_time=1.0")
    tracker, exp_id = connect(f"sqlite:///{tmp}/mlflow.db", "twinbench-sweeps")
    runs = tracker.client.search_runs([exp_id])
    parent = next(r for r in runs if r.data.tags.get("twinbench.role") == "parent")
    kids = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(kids) == 2
    return tmp, tracker, parent, kids


def _artifact(tracker, run, path: str, tmp: Path) -> Path:
    folder = tmp / "dl" / run.info.run_id
    folder.mkdir(parents=True, exist_ok=True)
    return Path(tracker.client.download_artifacts(run.info.run_id, path, str(folder)))


@pytest.mark.slow
def test_sweep_child_metrics_files_and_bounds_are_in_display_units(sweep):
    tmp, tracker, _, kids = sweep
    for kid in kids:
        m = kid.data.metrics
        table = pd.read_csv(_artifact(tracker, kid, "replications.csv", tmp), index_col="replication")
        assert "throughput" not in m and "throughput" not in table.columns
        # throughput = good output / observed time, in units per hour
        np.testing.assert_allclose(table["throughput_units_per_h"], table["output_units"] / RUN_LENGTH_H,
                                   rtol=1e-12)
        assert m["throughput_units_per_h"] == pytest.approx(table["throughput_units_per_h"].mean(), rel=1e-12)
        assert m["throughput_units_per_h.low"] < m["throughput_units_per_h"] < m["throughput_units_per_h.high"]
        assert m["unplanned_downtime_h"] == pytest.approx(table["unplanned_downtime_h"].mean(), rel=1e-12)
        # Little's law in display units: lead time [h] = WIP [units] / throughput [units/h], per replication
        np.testing.assert_allclose(table["lead_time_h"], table["wip_units"] / table["throughput_units_per_h"],
                                   rtol=1e-9)
        assert 0.0 < m["lead_time_h"] < RUN_LENGTH_H
        assert "filler.oee" in m and m["filler.throughput_units_per_h"] > 1000.0  # station KPIs: means, with units
        # the objective weights the throughput in units/h; the bound on the lead time is 1 h
        assert m["objective"] == pytest.approx(m["throughput_units_per_h"], rel=1e-12)
        assert m["constraint.0"] == pytest.approx(m["lead_time_h"] - 1.0, rel=1e-12)
        np.testing.assert_allclose(table["objective"], table["throughput_units_per_h"], rtol=1e-15)
        summary = pd.read_csv(_artifact(tracker, kid, "summary.csv", tmp)).set_index("kpi")
        assert summary.loc["throughput", "unit"] == "units/h" and summary.loc["lead_time", "unit"] == "h"
        assert summary.loc["oee", "unit"] == "-" and summary.loc["filler.mttr", "unit"] == "h"
        assert summary.loc["throughput", "mean"] == pytest.approx(m["throughput_units_per_h"], rel=1e-12)
        assert summary.loc["lead_time", "half_width"] == pytest.approx(m["lead_time_h.half_width"], rel=1e-12)


@pytest.mark.slow
def test_sweep_report_ranks_and_differs_in_display_units(sweep, capsys):
    from scenarios.sweeps.report import report_cli, write_report

    tmp, tracker, parent, kids = sweep
    tables = {k.info.run_id: pd.read_csv(_artifact(tracker, k, "replications.csv", tmp)) for k in kids}
    logged = Path(tracker.client.download_artifacts(parent.info.run_id, "report/ranking.csv", str(tmp)))
    rank = pd.read_csv(logged).set_index("run_id")  # the report the sweep wrote at its end (report.kpi=throughput)
    assert set(rank["unit"]) == {"units/h"} and set(rank["kpi"]) == {"throughput"}
    for run_id, table in tables.items():
        assert rank.loc[run_id, "mean"] == pytest.approx(table["throughput_units_per_h"].mean(), rel=1e-12)
        assert rank.loc[run_id, "mean"] > 1000.0  # per hour
    best = tracker.client.get_run(parent.info.run_id).data.tags["twinbench.best"]
    assert best.endswith(" units/h)")

    out = write_report(tracker, parent.info.run_id, kpi="lead_time", pareto=("lead_time", "throughput"),
                       out_dir=tmp / "lead", log=False)
    lead = pd.read_csv(tmp / "lead" / "ranking.csv").set_index("run_id")
    diffs = pd.read_csv(tmp / "lead" / "differences.csv")
    assert set(lead["unit"]) == {"h"} and set(diffs["unit"]) == {"h"} and list(out["ranking"]["unit"]) == ["h", "h"]
    for run_id, table in tables.items():
        assert lead.loc[run_id, "mean"] == pytest.approx(table["lead_time_h"].mean(), rel=1e-12)
    other = diffs.iloc[0]
    expected = tables[other["run_id"]]["lead_time_h"] - tables[lead.index[lead.index != other["run_id"]][0]][
        "lead_time_h"]
    assert other["paired"] and other["diff"] == pytest.approx(expected.mean(), rel=1e-12)
    assert other["diff"] == pytest.approx(lead.loc[other["run_id"], "mean"] - lead.drop(index=other["run_id"])[
        "mean"].iloc[0], rel=1e-9)
    text = (tmp / "lead" / "report.md").read_text(encoding="utf-8")
    assert "| mean [h] | low [h] | high [h] |" in text and "**lead_time** in h" in text
    assert "diff [h]" in text and "diff [h]" in (tmp / "lead" / "report.html").read_text(encoding="utf-8")

    assert report_cli([parent.info.run_id, "--tracking-uri", f"sqlite:///{tmp}/mlflow.db", "--kpi",
                       "throughput", "--out", str(tmp / "cli"), "--no-log"]) == 0
    printed = capsys.readouterr().out
    assert "| mean [units/h] | low [units/h] | high [units/h] |" in printed


def test_a_report_reads_a_replication_table_an_older_twinbench_wrote_in_si():
    """A store from before display units: replications.csv with SI columns named after the KPI."""
    from scenarios.sweeps.report import SweepData, differences, kpi_values, ranking
    from scenarios.sweeps.runs import SweepError
    from sim.kpi import display_columns

    rng = np.random.default_rng(2)
    runs, si, shown = [], {}, {}
    for job in range(2):
        run_id = f"run{job}"
        runs.append({"run_id": run_id, "name": f"c{job}", "job": job, "config_hash": f"{job:016x}", "seed": "1",
                     "crn": "True"})
        si[run_id] = pd.DataFrame({"throughput": rng.uniform(4, 5, 4), "max_winding_temperature": 380 + 10 * job
                                   + rng.uniform(0, 1, 4)}, index=pd.RangeIndex(4, name="replication"))
        shown[run_id] = display_columns(si[run_id])
    frame = pd.DataFrame(runs).set_index("run_id")
    old, new = SweepData(None, frame, si), SweepData(None, frame, shown)
    for kpi in ("throughput", "max_winding_temperature"):
        pd.testing.assert_frame_equal(ranking(old, kpi), ranking(new, kpi))
        pd.testing.assert_frame_equal(differences(old, kpi), differences(new, kpi))
    assert differences(new, "max_winding_temperature")["diff"].iloc[0] == pytest.approx(
        (si["run1"]["max_winding_temperature"] - si["run0"]["max_winding_temperature"]).mean(), rel=1e-12)
    np.testing.assert_array_equal(kpi_values(si["run0"], "throughput"), si["run0"]["throughput"] * 3600)
    with pytest.raises(SweepError, match=r"unknown KPI 'speed'.*throughput"):
        ranking(new, "speed")
    assert set(KPIS) >= {"throughput", "max_winding_temperature"}
