"""The main job: telemetry → gates → twin → calibration → what-if on the line → tracker → report.

The telemetry is the filler motor's: it calibrates the motor's thermal
parameters, the shadow replay checks them, and the what-if runs the reference
bottling line (:mod:`scenarios.reference.line`) with the calibrated motor (a posterior
draw per replication) on the filler, comparing actions - line changes - over
replications with common random numbers (:mod:`scenarios.whatif.run`).

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
from scenarios.reference.plant import ambient_cycle, shadow_replay
from scenarios.whatif.report import Recommendation, recommend, report_markdown, summarize
from scenarios.tracking.tracker import NullTracker
from scenarios.whatif.run import LINE_CHANGES, Action, WhatIfResult, run_whatif
from sim.exceptions import ConfigurationError
from sim.physics import MOTOR_THERMAL
from sim.replications import ReplicationPlan
from sim.telemetry import ChannelMap, plot_quality, quality_report, read_csv

__all__ = ["JobSpec", "JobResult", "actions_from", "run_reference"]


@dataclass
class JobSpec:
    """Everything the main job needs, as typed objects (times in hours as in the config, SI otherwise).

    ``nameplate``: prior motor parameters of the monitored motor; ``line``: the line configuration
    (:class:`~scenarios.reference.line_config.LineConfig` as a dict); ``motor_stations``: the line stations
    whose motors get the calibrated parameters; ``ambient``: ``"telemetry"`` (daily cycle fitted to
    the last 24 h) or ``"line"`` (the line's own cycle); ``mser_interval_h``: None switches the
    MSER-5 diagnostic off.
    """

    telemetry_path: Path
    channel_map: ChannelMap
    nameplate: dict
    calibrator: object
    window_h: float
    outputs: list
    line: dict
    actions: list
    motor_stations: tuple = ("filler",)
    max_step: float = 1.0
    horizon_h: float = 168.0
    warmup_h: float = 24.0
    replications: int = 10
    baseline: str = "as_is"
    register_model: bool = True  # calibrated twin -> MLflow model registry (champion/challenger), if tracked
    objective: str = "throughput"
    min_gain: float = 0.005
    confidence: float = 0.95
    crn: bool = True
    sample_posterior: bool = True
    ambient: str = "telemetry"
    mser_interval_h: float | None = 4.0
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
        cal = spec.calibrator.fit(MOTOR_THERMAL, data, params=spec.nameplate)
    for w in caught:
        say(f"[yellow]warning:[/yellow] {w.message}")
    record = cal.record_
    x_start = dict(cal.initial_state_)
    replayed = stream.window(_seconds(stream, data.start), _seconds(stream, data.end) + 1.0)
    prior_replay, _ = shadow_replay(replayed, motor_params=spec.nameplate, x0=x_start, max_step=spec.max_step)
    post_replay, _ = shadow_replay(replayed, motor_params=cal.model_params_, x0=x_start, max_step=spec.max_step)
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
        from scenarios.whatif.plots import plot_calibration

        files.append(plot_calibration(prior_replay, post_replay, record, out / "calibration.png"))
        tracker.log_artifact(run, files[-1])
    for name, info in record.parameters.items():
        say(f"calibrated {name} = {info['value']:.5g} {info['unit']}  "
            f"({record.confidence:.0%} CI {info['ci_low']:.5g} .. {info['ci_high']:.5g}); "
            f"nameplate {spec.nameplate.get(name, MOTOR_THERMAL.spec.var('params', name).default):.5g}")
    say(f"shadow replay RMSE of winding temperature: nameplate {m['replay_rmse_nameplate']:.2f} K → "
        f"calibrated {m['replay_rmse_calibrated']:.2f} K")
    _register(spec, tracker, run, record, data, say)
    _close(tracker, run, open_runs)

    # 3. what-if on the line ------------------------------------------------
    plan = _plan(spec)
    ambient = _ambient(spec, stream)
    say(f"what-if on the {spec.line.get('name', 'reference')} line: {len(spec.actions)} actions × "
        f"{spec.replications} replications × {spec.horizon_h:g} h after a {spec.warmup_h:g} h warm-up "
        f"({'common' if spec.crn else 'independent'} random numbers); calibrated motor on "
        f"{', '.join(spec.motor_stations)}" + (f"; ambient {ambient.mean - 273.15:.1f} ± {ambient.amplitude:.1f} °C, "
                                               f"peak at {ambient.peak_time / 3600:.1f} h UTC (telemetry)"
                                               if ambient is not None else ""))
    posterior = _posterior(cal) if spec.sample_posterior else None
    result = _with_progress(spec, lambda progress: run_whatif(
        spec.line, spec.actions, plan=plan, baseline=spec.baseline, motor_params=cal.model_params_,
        motor_stations=spec.motor_stations, posterior=posterior, ambient=ambient, progress=progress))
    summary = summarize(result.kpis, baseline=spec.baseline, confidence=spec.confidence)
    rec = recommend(summary, objective=spec.objective, baseline=spec.baseline, confidence=spec.confidence,
                    min_gain=spec.min_gain, kpis=result.kpis)
    for action in spec.actions:
        _log_action(tracker, parent, runs, open_runs, spec, action, summary, result, record)

    # 4. report ---------------------------------------------------------------
    report = report_markdown(spec.run_name, rec, summary, result, record, baseline=spec.baseline,
                             confidence=spec.confidence, ambient=ambient, motor_stations=spec.motor_stations)
    paths = {"report.md": report, "whatif_summary.csv": summary.to_csv(index=False),
             "whatif_replications.csv": result.kpis.to_csv(index=False)}
    for name, text in paths.items():
        (out / name).write_text(text, encoding="utf-8")
        files.append(out / name)
        tracker.log_artifact(parent, out / name)
    if spec.plots:
        from scenarios.whatif.plots import plot_differences, plot_whatif

        trip = result.specs[spec.baseline].motors.trip_temperature
        files.append(plot_whatif(summary, result.traces, trip_temperature=trip, baseline=spec.baseline,
                                 path=out / "whatif.png", warmup=plan.warmup))
        files.append(plot_differences(summary, baseline=spec.baseline, path=out / "whatif_differences.png",
                                      confidence=spec.confidence))
        for path in files[-2:]:
            tracker.log_artifact(parent, path)
    best = summary[(summary["action"] == rec.action) & (summary["kpi"] == spec.objective)].iloc[0]
    tracker.log_metrics(parent, {f"recommended.{spec.objective}.diff": best["diff"],
                                 f"recommended.{spec.objective}.diff_half_width": best["diff_half_width"]})
    tracker.set_tags(parent, {"recommendation": rec.action, "calibration.record_id": record.record_id,
                              "telemetry.content_hash": stream.content_hash})
    _print_table(summary, spec, console)
    say(f"\n[bold]{rec.text}[/bold]")
    return JobResult(stream, cal, result, summary, rec, parent, runs, out, files)


def _register(spec, tracker, run, record, data, say) -> None:
    """Judge the last challenger on this newer window, then register this calibration (champion or challenger)."""
    if not spec.register_model or getattr(tracker, "uri", None) is None:
        return
    from scenarios.tracking.registry import register_calibration, registered_model_name, shadow_evaluate

    name = registered_model_name(spec.line.get("name", "reference"), record.model)
    shadow = shadow_evaluate(tracker.uri, name, data, run_id=run)
    if shadow is not None:
        say(f"registry: challenger v{shadow.challenger} {'promoted to' if shadow.promoted else 'kept behind'} "
            f"champion (shadow score {shadow.scores['challenger']:.3g} vs {shadow.scores['champion']:.3g})")
    version = register_calibration(tracker.uri, run, record, plant=spec.line.get("name", "reference"),
                                   max_step=spec.max_step, git_commit=spec.tags.get("git.commit"))
    tracker.set_tags(run, {"registry.model": name, "registry.version": str(version.version)})
    say(f"registry: {name} version {version.version}")


def _plan(spec) -> ReplicationPlan:
    if not (np.isfinite(spec.horizon_h) and spec.horizon_h > 0):
        raise ConfigurationError(f"whatif.horizon_h = {spec.horizon_h!r} must be a finite number of hours > 0")
    if not (np.isfinite(spec.warmup_h) and spec.warmup_h >= 0):
        raise ConfigurationError(f"whatif.warmup_h = {spec.warmup_h!r} must be a finite number of hours >= 0")
    if spec.mser_interval_h is not None and not spec.mser_interval_h > 0:
        raise ConfigurationError(f"whatif.mser_interval_h = {spec.mser_interval_h!r} must be > 0 hours, or null to "
                                 f"switch the MSER-5 diagnostic off")
    # MSER-5 needs 20 observations: shorter intervals on short runs
    interval = min(spec.mser_interval_h or 1.0, (spec.horizon_h + spec.warmup_h) / 20.0) * 3600.0
    try:
        return ReplicationPlan(replications=spec.replications, seed=spec.seed, run_length=spec.horizon_h * 3600.0,
                               warmup=spec.warmup_h * 3600.0, confidence=spec.confidence, crn=spec.crn,
                               mser_kpi="throughput" if spec.mser_interval_h else None, mser_interval=interval)
    except ConfigurationError as err:
        raise ConfigurationError(f"whatif: {err}") from None


def _ambient(spec, stream):
    if spec.ambient == "telemetry":
        return ambient_cycle(stream.frame["ambient_temperature"])
    if spec.ambient == "line":
        return None
    raise ConfigurationError(f"whatif.ambient = {spec.ambient!r} is unknown; use 'telemetry' (daily cycle fitted "
                             f"to the last 24 h of telemetry) or 'line' (the line's own cycle)")


def _log_action(tracker, parent, runs, open_runs, spec, action, summary, result, record):
    run = _child(tracker, parent, f"whatif:{action.name}", runs, open_runs)
    tracker.log_params(run, {"action": action.name, "description": action.description,
                             **{f"change.{k}": v for k, v in _flat(action.changes).items()},
                             "replications": spec.replications, "horizon_h": spec.horizon_h,
                             "warmup_h": spec.warmup_h, "seed": spec.seed, "crn": spec.crn,
                             "motor_stations": ",".join(spec.motor_stations),
                             "calibration_record": record.record_id})
    metrics = {}
    for _, r in summary[summary["action"] == action.name].iterrows():
        metrics[r["kpi"]] = r["mean"]
        metrics[f"{r['kpi']}.half_width"] = r["half_width"]
        if action.name != spec.baseline:
            metrics[f"{r['kpi']}.diff"] = r["diff"]
            metrics[f"{r['kpi']}.diff_half_width"] = r["diff_half_width"]
    mser = result.mser[result.mser["action"] == action.name]
    if not mser.empty:
        metrics["mser5.truncation_h.max"] = float(mser["truncation_h"].max())
        metrics["mser5.reliable_fraction"] = float(mser["reliable"].mean())
    tracker.log_metrics(run, metrics)
    reps = result.kpis[result.kpis["action"] == action.name]
    tracker.log_text(run, reps.to_csv(index=False), "replications.csv")
    tracker.set_tags(run, {"calibration.record_id": record.record_id})
    _close(tracker, run, open_runs)


def _flat(changes: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in changes.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


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

    from scenarios.whatif.report import _fmt_half, _num
    from sim.kpi import kpi_info

    level = f"{spec.confidence:.0%}"
    table = Table(title=f"What-if on the line: {spec.replications} replications × {spec.horizon_h:g} h "
                        f"(mean ± {level} half-width; Δ vs {spec.baseline}, paired)")
    for col in ("KPI", "unit", *dict.fromkeys(summary["action"])):
        table.add_column(col, justify="right" if col not in ("KPI", "unit") else "left")
    shown = ("throughput", "oee", "unplanned_downtime", "trips", "maintenance_cost", "crew_cost",
             "max_winding_temperature")  # all of them are in report.md
    for kpi in [k for k in dict.fromkeys(summary["kpi"]) if k in shown]:
        info = kpi_info(kpi)
        cells = []
        for action in dict.fromkeys(summary["action"]):
            r = summary[(summary["action"] == action) & (summary["kpi"] == kpi)].iloc[0]
            mean, half = info.to_display(r["mean"]), info.to_display(r["half_width"], difference=True)
            cell = f"{_num(mean)} ± {_fmt_half(half, mean)}"
            if action != spec.baseline:
                diff, dhalf = (info.to_display(r[c], difference=True) for c in ("diff", "diff_half_width"))
                cell += f"\nΔ {_num(diff, 3, sign=True)} ± {_fmt_half(dhalf, diff)}"
            cells.append(cell)
        table.add_row(kpi, info.display_unit.label, *cells)
    console.print(table)


def actions_from(items) -> list:
    """Actions from plain dicts ``{name, description, <line changes>}``; empty or null changes are dropped."""
    out = []
    for item in items:
        item = dict(item)
        name = item.pop("name")
        desc = item.pop("description", "")
        changes = {}
        for key, value in item.items():
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if v is not None}
            if value is None or (isinstance(value, dict) and not value and key in LINE_CHANGES):
                continue
            changes[key] = value
        out.append(Action(name=name, description=desc, changes=changes))
    if not out:
        raise ConfigurationError("whatif.actions is empty; list at least a baseline and one action")
    return out
