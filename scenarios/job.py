"""The main job: telemetry → gates → twin → calibration → what-if → tracker → report.

``run_reference`` is a plain function over typed objects; ``scenarios.app``
builds those from the Hydra config.  Notebooks and tests call it directly.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from calibration import CalibrationData
from scenarios.plant import AmbientProfile, Plant, shadow_replay
from scenarios.report import Recommendation, recommend, summarize, summary_markdown
from scenarios.tracking import NullTracker
from scenarios.whatif import Action, WhatIfResult, run_whatif
from sim.exceptions import ConfigurationError
from sim.physics import MOTOR_THERMAL
from sim.telemetry import ChannelMap, plot_quality, quality_report, read_csv

__all__ = ["JobSpec", "JobResult", "actions_from", "run_reference"]


@dataclass
class JobSpec:
    """Everything the main job needs, as typed objects."""

    telemetry_path: Path
    channel_map: ChannelMap
    plant: Plant
    calibrator: object
    window_h: float
    outputs: list
    actions: list
    horizon_h: float = 24.0
    replications: int = 5
    baseline: str = "as_is"
    objective: str = "throughput"
    confidence: float = 0.95
    sample_posterior: bool = True
    seed: int = 2026
    run_name: str = "reference"
    output_dir: Path = Path("outputs")
    tracker: object = field(default_factory=NullTracker)
    params: dict = field(default_factory=dict)  # flattened resolved config, logged on the parent run
    config_yaml: str = ""  # resolved config, logged as an artifact of the parent run
    tags: dict = field(default_factory=dict)
    plots: bool = True
    progress: bool = False


@dataclass
class JobResult:
    stream: object
    calibrator: object
    whatif: WhatIfResult
    summary: pd.DataFrame
    recommendation: Recommendation
    parent_run: str
    child_runs: dict
    output_dir: Path
    files: list


def _window(stream, window_h: float):
    if not window_h > 0:
        raise ConfigurationError(f"calibration.window_h = {window_h} must be > 0 hours")
    end = stream.frame.index[-1]
    start = end - pd.Timedelta(hours=float(window_h))
    return start, end


def run_reference(spec: JobSpec, *, console=None) -> JobResult:
    """Run the whole loop once; every run is closed (FINISHED or FAILED) whatever happens."""
    tracker = spec.tracker
    out = Path(spec.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    parent = tracker.start_run(spec.run_name, tags={**spec.tags, "twinbench.role": "parent"})
    runs = {"parent": parent}
    open_runs = [parent]
    try:
        tracker.log_params(parent, spec.params)
        if spec.config_yaml:
            (out / "config_resolved.yaml").write_text(spec.config_yaml, encoding="utf-8")
            tracker.log_artifact(parent, out / "config_resolved.yaml")
        result = _run(spec, tracker, parent, runs, open_runs, out, console)
    except BaseException as err:
        status = "KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED"
        for run in reversed(open_runs):
            tracker.end_run(run, status)
        raise
    for run in reversed(open_runs):
        tracker.end_run(run, "FINISHED")
    return result


def _child(tracker, parent, name, runs, open_runs):
    run = tracker.start_run(name, parent=parent, tags={"twinbench.role": name.split(":")[0]})
    runs[name] = run
    open_runs.append(run)
    return run


def _close(tracker, run, open_runs):
    tracker.end_run(run, "FINISHED")
    open_runs.remove(run)


def _run(spec, tracker, parent, runs, open_runs, out, console) -> JobResult:
    say = console.print if console is not None else (lambda *a, **k: None)
    files = []
    # 1. telemetry ------------------------------------------------------------
    stream = read_csv(spec.telemetry_path, spec.channel_map)
    run = _child(tracker, parent, "telemetry", runs, open_runs)
    tracker.log_params(run, {"path": str(spec.telemetry_path), "content_hash": stream.content_hash,
                             "channel_map": spec.channel_map.to_dict()})
    counts = stream.counts
    report = quality_report(stream)
    tracker.log_metrics(run, report.metrics())
    q_path = out / "quarantine.csv"
    stream.quarantine.to_csv(q_path, index=False)
    c_path = out / "data_quality.csv"
    counts.to_csv(c_path)
    files += [q_path, c_path]
    for path in (q_path, c_path):
        tracker.log_artifact(run, path)
    if spec.plots:
        files.append(plot_quality(report, out / "data_quality.png"))
        tracker.log_artifact(run, files[-1])
    total = counts.loc["TOTAL"]
    say(f"telemetry: {stream.rows_read} rows, {int(total['accepted'])} values accepted, "
        f"{int(total['quarantined'])} quarantined (accepted + quarantined == read for every channel)")
    _close(tracker, run, open_runs)

    # 2. calibration ----------------------------------------------------------
    start, end = _window(stream, spec.window_h)
    data = CalibrationData.from_frame(stream.frame, MOTOR_THERMAL.spec, outputs=spec.outputs,
                                      source_hash=stream.content_hash, start=start, end=end)
    run = _child(tracker, parent, "calibration", runs, open_runs)
    tracker.log_params(run, {"estimator": type(spec.calibrator).__name__, **spec.calibrator.get_params(),
                             "window_h": spec.window_h, "window_start": str(data.start), "window_end": str(data.end),
                             "data_hash": data.content_hash})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cal = spec.calibrator.fit(MOTOR_THERMAL, data, params=spec.plant.motor_params)
    for w in caught:
        say(f"[yellow]warning:[/yellow] {w.message}")
    record = cal.record_
    x_start = dict(cal.initial_state_)
    replayed = stream.window(_seconds(stream, data.start), _seconds(stream, data.end) + 1.0)
    prior_replay, _ = shadow_replay(replayed, motor_params=spec.plant.motor_params, x0=x_start,
                                    max_step=spec.plant.max_step)
    post_replay, final_state = shadow_replay(replayed, motor_params=cal.model_params_, x0=x_start,
                                             max_step=spec.plant.max_step)
    m = {}
    for name, info in record.parameters.items():
        m.update({f"{name}": info["value"], f"{name}.stderr": info["stderr"], f"{name}.ci_low": info["ci_low"],
                  f"{name}.ci_high": info["ci_high"]})
    for channel, info in record.metrics.items():
        m.update({f"{channel}.rmse": info["rmse"], f"{channel}.r2": info["r2"]})
    m["replay_rmse_nameplate"] = float(np.sqrt(np.nanmean(prior_replay["residual"] ** 2)))
    m["replay_rmse_calibrated"] = float(np.sqrt(np.nanmean(post_replay["residual"] ** 2)))
    m["nfev"] = cal.nfev_
    tracker.log_metrics(run, m)
    tracker.set_tags(run, {"calibration.record_id": record.record_id})
    rec_path = out / "calibration_record.json"
    record.to_json(rec_path)
    files.append(rec_path)
    tracker.log_artifact(run, rec_path)
    if spec.plots:
        from scenarios.plots import plot_calibration

        files.append(plot_calibration(prior_replay, post_replay, record, out / "calibration.png"))
        tracker.log_artifact(run, files[-1])
    for name, info in record.parameters.items():
        say(f"calibrated {name} = {info['value']:.5g} {info['unit']}  "
            f"({record.confidence:.0%} CI {info['ci_low']:.5g} .. {info['ci_high']:.5g}); "
            f"nameplate {spec.plant.motor_params.get(name, MOTOR_THERMAL.spec.var('params', name).default):.5g}")
    say(f"shadow replay RMSE of winding temperature: nameplate {m['replay_rmse_nameplate']:.2f} K → "
        f"calibrated {m['replay_rmse_calibrated']:.2f} K")
    _close(tracker, run, open_runs)

    # 3. what-if --------------------------------------------------------------
    twin = spec.plant.replace(motor_params=cal.model_params_)
    horizon = float(spec.horizon_h) * 3600.0
    ambient = AmbientProfile.persistence(stream.frame["ambient_temperature"], horizon)
    posterior = _posterior(cal) if spec.sample_posterior else None
    result = _with_progress(spec, lambda progress: run_whatif(
        twin, spec.actions, x0=final_state, horizon=horizon, replications=spec.replications, seed=spec.seed,
        ambient=ambient, posterior=posterior, progress=progress))
    summary = summarize(result.kpis, baseline=spec.baseline, confidence=spec.confidence)
    rec = recommend(summary, objective=spec.objective, baseline=spec.baseline, confidence=spec.confidence)
    for action in spec.actions:
        run = _child(tracker, parent, f"whatif:{action.name}", runs, open_runs)
        tracker.log_params(run, {"action": action.name, "description": action.description, **action.changes,
                                 "replications": spec.replications, "horizon_h": spec.horizon_h, "seed": spec.seed,
                                 "calibration_record": record.record_id})
        rows = summary[summary["action"] == action.name]
        metrics = {}
        for _, r in rows.iterrows():
            metrics[r["kpi"]] = r["mean"]
            metrics[f"{r['kpi']}.half_width"] = r["half_width"]
            if action.name != spec.baseline:
                metrics[f"{r['kpi']}.diff"] = r["diff"]
                metrics[f"{r['kpi']}.diff_half_width"] = r["diff_half_width"]
        tracker.log_metrics(run, metrics)
        reps = result.kpis[result.kpis["action"] == action.name]
        tracker.log_text(run, reps.to_csv(index=False), "replications.csv")
        tracker.set_tags(run, {"calibration.record_id": record.record_id})
        _close(tracker, run, open_runs)

    # 4. report ---------------------------------------------------------------
    table = summary_markdown(summary, baseline=spec.baseline, confidence=spec.confidence)
    report = (f"# Twinbench report: {spec.run_name}\n\n## Recommendation\n\n{rec.text}\n\n"
              f"## KPIs ({spec.replications} replications × {spec.horizon_h:g} h, common random numbers)\n\n"
              f"{table}\n\n## Calibration\n\n```json\n{json.dumps(record.parameters, indent=2)}\n```\n\n"
              f"Data window {record.window['start']} .. {record.window['end']} "
              f"(content hash {record.window['content_hash'][:12]}), record id {record.record_id}.\n")
    paths = {"report.md": report, "whatif_summary.csv": summary.to_csv(index=False),
             "whatif_replications.csv": result.kpis.to_csv(index=False)}
    for name, text in paths.items():
        (out / name).write_text(text, encoding="utf-8")
        files.append(out / name)
        tracker.log_artifact(parent, out / name)
    if spec.plots:
        from scenarios.plots import plot_whatif

        files.append(plot_whatif(summary, result.traces, trip_temperature=twin.station.trip_temperature,
                                 baseline=spec.baseline, path=out / "whatif.png"))
        tracker.log_artifact(parent, files[-1])
    best = summary[(summary["action"] == rec.action) & (summary["kpi"] == spec.objective)].iloc[0]
    tracker.log_metrics(parent, {f"recommended.{spec.objective}.diff": best["diff"],
                                 f"recommended.{spec.objective}.diff_half_width": best["diff_half_width"]})
    tracker.set_tags(parent, {"recommendation": rec.action, "calibration.record_id": record.record_id,
                              "telemetry.content_hash": stream.content_hash})
    _print_table(summary, spec, console)
    say(f"\n[bold]{rec.text}[/bold]")
    return JobResult(stream, cal, result, summary, rec, parent, runs, out, files)


def _seconds(stream, stamp) -> float:
    return (stamp - stream.t0).total_seconds()


def _posterior(cal):
    names = list(cal.parameters)
    bounds = [MOTOR_THERMAL.spec.var("params", n).bounds for n in names]

    def draw(rng):
        sample = cal.sample(1, rng)[0]
        return {n: float(np.clip(v, lo, hi)) for n, v, (lo, hi) in zip(names, sample, bounds)}

    return draw


def _with_progress(spec, work):
    if not spec.progress:
        return work(None)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("what-if replications", total=len(spec.actions) * spec.replications)
        return work(lambda done, total: bar.update(task, completed=done))


def _print_table(summary, spec, console):
    if console is None:
        return
    from rich.table import Table

    from scenarios.report import KPI_INFO, _display, _fmt_half

    level = f"{spec.confidence:.0%}"
    table = Table(title=f"What-if: {spec.replications} replications × {spec.horizon_h:g} h "
                        f"(mean ± {level} half-width; difference vs {spec.baseline}, paired)")
    for col in ("KPI", "unit", *dict.fromkeys(summary["action"])):
        table.add_column(col, justify="right" if col not in ("KPI", "unit") else "left")
    for kpi in dict.fromkeys(summary["kpi"]):
        unit, scale, _ = KPI_INFO[kpi]
        scale = 1.0 if scale is None else scale
        cells = []
        for action in dict.fromkeys(summary["action"]):
            r = summary[(summary["action"] == action) & (summary["kpi"] == kpi)].iloc[0]
            mean = _display(kpi, r["mean"])
            cell = f"{mean:.4g} ± {_fmt_half(r['half_width'] * scale, mean)}"
            if action != spec.baseline:
                diff = r["diff"] * scale
                cell += f"\nΔ {diff:+.3g} ± {_fmt_half(r['diff_half_width'] * scale, diff)}"
            cells.append(cell)
        table.add_row(kpi, unit, *cells)
    console.print(table)


def actions_from(items) -> list:
    """Actions from plain dicts ``{name, description, speed, crew_size}`` (None = unchanged)."""
    out = []
    for item in items:
        item = dict(item)
        name = item.pop("name")
        desc = item.pop("description", "")
        changes = {k: v for k, v in item.items() if v is not None}
        out.append(Action(name=name, description=desc, changes=changes))
    if not out:
        raise ConfigurationError("whatif.actions is empty; list at least a baseline and one action")
    return out

