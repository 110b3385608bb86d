"""The main job's steps: gate telemetry → calibrate → fork the twin → run the what-if → report.

Each step is a function of its spec (:mod:`scenarios.specs`), the results of the
steps before it and the job's :class:`~scenarios.job.JobSession` (tracker runs,
output folder, console); each returns a small frozen dataclass.  The calibration
hands on one object, its :class:`~calibration.CalibrationRecord`: the fork, the
what-if, the registry and the report read the calibrated parameters, their
posterior and the final state from it and from nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from calibration import CalibrationData, CalibrationRecord
from scenarios.reference.line_config import line_spec_from_config
from scenarios.reference.plant import ambient_cycle, shadow_replay
from scenarios.specs import CalibrationSpec, OutputSpec, PlantSpec, TelemetrySpec, WhatIfSpec
from scenarios.tracking import lineage
from scenarios.whatif.fork import calibrated_snapshot, line_time
from scenarios.whatif.decision import decide_whatif, decision_record, decision_text
from scenarios.whatif.html import write_html_report
from scenarios.whatif.report import Recommendation, figures_in, report_markdown
from scenarios.whatif.run import WhatIfResult, run_whatif
from sim.line import AmbientCycle
from sim.line.kpis import INSULATION_CLASSES
from sim.line.snapshot import TwinSnapshot
from sim.exceptions import TelemetryError
from sim.kpi import display_columns, display_name, display_table, kpi_info
from sim.physics import MODELS
from sim.telemetry import plot_quality, quality_report, read_csv
from rich.text import Text

__all__ = ["TelemetryStep", "CalibrationStep", "ForkStep", "WhatIfStep", "ReportStep", "gate_telemetry", "calibrate",
           "fork_twin", "run_actions", "write_report", "action_metrics", "whatif_csvs", "recommended_metrics"]


@dataclass(frozen=True)
class TelemetryStep:
    """The gated telemetry: ``stream`` (SI, with its quarantine and counts) and its quality ``report``."""

    stream: object
    report: object
    files: list = field(default_factory=list)


@dataclass(frozen=True)
class CalibrationStep:
    """The fit and its hand-off.

    Attributes
    ----------
    record : CalibrationRecord
        The one thing later steps read: parameters, posterior, final state.
    data : CalibrationData
        The window fitted.
    calibrator : BaseCalibrator
        The fitted estimator (for inspection; later steps do not read it).
    replay, nameplate_replay : DataFrame
        Shadow replay of the window with the calibrated and the nameplate parameters
        (``measured``, ``predicted``, ``residual`` [K]).
    """

    record: CalibrationRecord
    data: CalibrationData
    calibrator: object
    replay: pd.DataFrame
    nameplate_replay: pd.DataFrame
    files: list = field(default_factory=list)


@dataclass(frozen=True)
class ForkStep:
    """Where the what-if starts: the calibrated twin's ``snapshot`` at line time ``time`` [s] (None: no fork),
    the motor ``states`` put into the monitored motors [SI] and the ``ambient`` cycle (None: the line's own)."""

    snapshot: TwinSnapshot | None
    time: float
    states: dict
    ambient: AmbientCycle | None


@dataclass(frozen=True)
class WhatIfStep:
    """Every action's replications (``result``), their ``summary``, the ``recommendation`` (a
    :class:`~scenarios.whatif.decision.Decision`: guardrails checked) and its decision ``record`` (plain data)."""

    result: WhatIfResult
    summary: pd.DataFrame
    recommendation: Recommendation
    record: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ReportStep:
    """The report's text and every file written for it."""

    text: str
    files: list = field(default_factory=list)


# ----------------------------------------------------------------------------- 1. telemetry
def gate_telemetry(spec: TelemetrySpec, session) -> TelemetryStep:
    """Read the telemetry through the gates; log counts, quarantine and the quality report (child run ``telemetry``)."""
    with warnings.catch_warnings(record=True) as caught:  # the gates' data-quality warnings: printed, not lost
        warnings.simplefilter("always")
        stream = read_csv(spec.path, spec.channel_map)
    for w in caught:
        session.say(Text.assemble(("warning: ", "yellow"), str(w.message)))
    run = session.child("telemetry")
    tracker, out = session.tracker, session.out
    tracker.log_params(run, {"path": str(spec.path), "content_hash": stream.content_hash,
                             "channel_map": spec.channel_map.to_dict()})
    counts = stream.counts
    report = quality_report(stream)
    tracker.log_metrics(run, report.metrics())
    stream.quarantine.to_csv(out / "quarantine.csv", index=False)
    counts.to_csv(out / "data_quality.csv")
    stream.gaps.to_csv(out / "data_gaps.csv", index=False)  # the gaps, not only in the plot
    tracker.log_metrics(run, {"gaps": float(len(stream.gaps))})
    files = [session.artifact(run, out / name) for name in ("quarantine.csv", "data_quality.csv", "data_gaps.csv")]
    if session.plots:
        files.append(session.artifact(run, plot_quality(report, out / "data_quality.png")))
    total = counts.loc["TOTAL"]
    session.say(f"telemetry: {stream.rows_read} rows, {int(total['accepted'])} values accepted, "
                f"{int(total['quarantined'])} quarantined (accepted + quarantined == read for every channel)")
    if len(stream.gaps):
        session.say(f"telemetry: {len(stream.gaps)} gaps (listed in data_gaps.csv)")
    session.close(run)
    if stream.frame.dropna(how="all").empty:
        raise TelemetryError(
            f"{spec.path}: every value was quarantined ({int(total['quarantined'])} of {int(total['read'])} "
            f"values; reasons in {out / 'quarantine.csv'}), so nothing is left to calibrate on; fix the channel "
            f"map (units, range, column names) or the file")
    return TelemetryStep(stream=stream, report=report, files=files)


# ----------------------------------------------------------------------------- 2. calibration
def calibrate(spec: CalibrationSpec, plant: PlantSpec, telemetry: TelemetryStep, session, *,
              registry_plant: str = "reference") -> CalibrationStep:
    """Fit the monitored motor on the last ``spec.window`` seconds, replay the window in shadow, log the record and
    register the calibrated twin (child run ``calibration``)."""
    stream, tracker, say = telemetry.stream, session.tracker, session.say
    if stream.frame.dropna(how="all").empty:
        raise TelemetryError(f"{getattr(stream, 'path', None) or 'the telemetry'}: no accepted telemetry to calibrate on (every value was "
                             f"quarantined); fix the channel map or the file")
    model = plant.model if plant.model is not None else MODELS[spec.model]
    last = None if (spec.start is not None and spec.end is not None) else pd.Timedelta(seconds=spec.window)
    with warnings.catch_warnings(record=True) as caught:  # a window longer than the data warns: print it
        warnings.simplefilter("always")
        data = CalibrationData.from_frame(stream.frame, model.spec, outputs=spec.outputs,
                                          source_hash=stream.content_hash, start=spec.start, end=spec.end, last=last,
                                          max_gap=spec.max_gap)
    for w in caught:
        say(Text.assemble(("warning: ", "yellow"), str(w.message)))
    run = session.child("calibration")
    params = {"estimator": type(spec.calibrator).__name__, **spec.calibrator.get_params(),
              "window_h": spec.window / 3600.0, "window_start": str(data.start), "window_end": str(data.end),
              "data_hash": data.content_hash, "model": model.spec.name,
              "max_gap_s": "default" if spec.max_gap is None else spec.max_gap}
    if hasattr(model, "lineage"):  # an FMU: which file, which FMI version and tool
        params.update({f"fmu.{k}": v for k, v in _flat(model.lineage()).items()})
    tracker.log_params(run, params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cal = spec.calibrator.fit(model, data, params=plant.nameplate)
    for w in caught:
        say(Text.assemble(("warning: ", "yellow"), str(w.message)))
    record = cal.record_
    output = spec.outputs[0]
    window = stream.window((data.start - stream.t0).total_seconds(), (data.end - stream.t0).total_seconds() + 1.0)
    prior, _ = shadow_replay(window, motor_params=plant.nameplate, x0=record.initial_state, max_step=plant.max_step,
                             model=model, output=output)
    post, _ = shadow_replay(window, motor_params=record, x0=record.initial_state, max_step=plant.max_step,
                            model=model, output=output)
    metrics = {"intervals_reliable": float(bool(record.intervals_reliable)),
               "misspecified": float(bool(record.misspecified))}
    for name, info in record.parameters.items():
        metrics.update({name: info["value"], f"{name}.stderr": info["stderr"], f"{name}.ci_low": info["ci_low"],
                        f"{name}.ci_high": info["ci_high"]})
    for channel, info in record.metrics.items():
        metrics.update({f"{channel}.rmse": info["rmse"], f"{channel}.r2": info["r2"]})
    metrics["replay_rmse_nameplate"] = _rmse(prior["residual"])
    metrics["replay_rmse_calibrated"] = _rmse(post["residual"])
    metrics["nfev"] = cal.nfev_
    tracker.log_metrics(run, metrics)
    tracker.set_tags(run, {lineage.CALIBRATION_RECORD_ID: record.record_id})
    record.to_json(session.out / "calibration_record.json")
    files = [session.artifact(run, session.out / "calibration_record.json")]
    if session.plots:
        from scenarios.whatif.plots import plot_calibration

        files.append(session.artifact(run, plot_calibration(prior, post, record, session.out / "calibration.png")))
    nameplate = {**model.spec.as_dict("params", model.spec.vector("params", None)), **plant.nameplate}
    for name, info in record.parameters.items():
        say(f"calibrated {name} = {info['value']:.5g} {info['unit']}  "
            f"({record.confidence:.0%} CI {info['ci_low']:.5g} .. {info['ci_high']:.5g}); "
            f"nameplate {nameplate[name]:.5g}")
    say(f"shadow replay RMSE of {output.replace('_', ' ')}: nameplate {metrics['replay_rmse_nameplate']:.2f} K → "
        f"calibrated {metrics['replay_rmse_calibrated']:.2f} K")
    if spec.register and plant.model is not None:
        say("registry: an FMU plant model is not registered (the registry holds library-model twins)")
    elif spec.register:
        _register(session, run, record, data, plant=registry_plant, max_step=plant.max_step)
    session.close(run)
    return CalibrationStep(record=record, data=data, calibrator=cal, replay=post, nameplate_replay=prior, files=files)


def _rmse(residual) -> float:
    return float(np.sqrt(np.nanmean(np.asarray(residual, dtype=float) ** 2)))


def _register(session, run, record, data, *, plant: str, max_step: float) -> None:
    """Judge the last challenger on this newer window, then register this calibration (champion or challenger)."""
    tracker = session.tracker
    if getattr(tracker, "uri", None) is None:
        return
    from scenarios.tracking.registry import register_calibration, registered_model_name, shadow_evaluate

    name = registered_model_name(plant, record.model)
    shadow = shadow_evaluate(tracker, name, data, run_id=run)
    if shadow is not None and shadow.decision in ("promoted", "rejected"):
        session.say(f"registry: challenger v{shadow.challenger} {'promoted to' if shadow.promoted else 'kept behind'} "
                    f"champion (shadow score {shadow.scores['challenger']:.3g} vs {shadow.scores['champion']:.3g})")
    elif shadow is not None:  # failed (integrity or load), stale (another job decided first), superseded
        session.say(f"registry: challenger v{shadow.challenger} not judged here: {shadow.decision}"
                    + (f" ({shadow.error})" if shadow.error else ""))
    version = register_calibration(tracker, run, record, plant=plant, max_step=max_step,
                                   git_commit=session.tags.get(lineage.GIT_COMMIT))
    tracker.set_tags(run, {lineage.REGISTRY_MODEL: name, lineage.REGISTRY_VERSION: str(version.version)})
    session.say(f"registry: {name} version {version.version}")


# ----------------------------------------------------------------------------- 3. fork
def fork_twin(spec: WhatIfSpec, plant: PlantSpec, calibration: CalibrationStep, telemetry: TelemetryStep) -> ForkStep:
    """The calibrated twin "now": the line as it is (the baseline action) with the calibrated motor parameters and
    the record's final state in the monitored motors, as a snapshot at the window end (:mod:`scenarios.whatif.fork`)."""
    record = calibration.record
    frame = telemetry.stream.frame
    ambient = ambient_cycle(frame["ambient_temperature"]) if spec.ambient == "telemetry" and \
        "ambient_temperature" in frame.columns else None
    # an FMU plant's parameters and states are the line motors' only when the line runs FMU motors too
    # (line.motor_model); otherwise the line keeps its own motor models and there is nothing to fork into
    if not spec.fork or (plant.model is not None and not _fmu_line(spec.line)):
        return ForkStep(snapshot=None, time=0.0, states={}, ambient=ambient)
    baseline = {a.name: a for a in spec.actions}.get(spec.baseline)  # run_whatif names a missing baseline
    line = baseline.apply(spec.line) if baseline is not None else spec.line
    base = line_spec_from_config(line, motor_params=record.params(), motor_stations=plant.stations)
    if ambient is not None:
        base = dataclasses.replace(base, ambient=ambient)
    time = line_time(pd.Timestamp(record.window["end"]))
    states = dict(record.final_state)
    if plant.model is not None:  # the states the plant's FMU and the line's FMU motor share, by name
        line_states = set(base.motors.model.spec.names("states"))
        states = {k: v for k, v in states.items() if k in line_states}
        if not states:
            return ForkStep(snapshot=None, time=0.0, states={}, ambient=ambient)
    snapshot = calibrated_snapshot(base, states=states, stations=plant.stations, time=time,
                                   streams=spec.plan().streams(0))
    return ForkStep(snapshot=snapshot, time=time, states=states, ambient=ambient)


# ----------------------------------------------------------------------------- 4. what-if
def run_actions(spec: WhatIfSpec, plant: PlantSpec, calibration: CalibrationStep, fork: ForkStep,
                session) -> WhatIfStep:
    """Replicate every action from the fork, compare with the baseline, recommend; one child run per action."""
    record, ambient = calibration.record, fork.ambient
    text = (f"what-if on the {spec.line.get('name', 'reference')} line: {len(spec.actions)} actions × "
            f"{spec.replications} replications × {spec.horizon / 3600:g} h after a {spec.warmup / 3600:g} h warm-up "
            f"({'common' if spec.crn else 'independent'} random numbers); calibrated motor on "
            f"{', '.join(plant.stations)}")
    if ambient is not None:
        text += (f"; ambient {ambient.mean - 273.15:.1f} ± {ambient.amplitude:.1f} °C, peak at "
                 f"{ambient.peak_time / 3600:.1f} h UTC (telemetry)")
    if fork.snapshot is not None:
        day = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[int(fork.time // 86400) % 7]
        tod = fork.time % 86400
        winding = fork.states.get("winding_temperature")
        shown = (f"winding {winding - 273.15:.1f} °C" if winding is not None else
                 ", ".join(f"{k} {v:.4g}" for k, v in sorted(fork.states.items())))
        text += f"; forked from the calibrated twin at {day} {int(tod // 3600):02d}:{int(tod % 3600 // 60):02d} UTC ({shown})"
    fmu_plant = plant.model is not None
    fmu_line = fmu_plant and _fmu_line(spec.line)  # line.motor_model: the line's motors are an FMU too
    if fmu_line:
        text += (f"; the plant's FMU twin is calibrated and its parameters drive the line's FMU motors "
                 f"(line.motor_model) on {', '.join(plant.stations)}")
    elif fmu_plant:
        text += ("; the plant's FMU twin is calibrated and replayed, but the line runs its own motor models "
                 "(nameplate): FMU parameters carry into the line only when line.motor_model names an FMU")
    session.say(text)
    plan = spec.plan()
    line_motor_params = None if fmu_plant and not fmu_line else record.params()
    posterior = record.draw if spec.sample_posterior and line_motor_params is not None else None
    started, clock = pd.Timestamp.now(tz="UTC"), time.perf_counter()
    result = session.with_progress(len(spec.actions) * spec.replications, lambda progress: run_whatif(
        spec.line, spec.actions, plan=plan, baseline=spec.baseline, motor_params=line_motor_params,
        motor_stations=plant.stations, posterior=posterior, ambient=ambient,
        progress=progress, snapshot=fork.snapshot, seeds_per_draw=spec.seeds_per_draw, risk=spec.risk,
        maintenance_windows=spec.maintenance_windows, failure_modes=spec.failure_modes))
    # the replications of all actions run together (common random numbers): every action's run records when
    # they ran and for how long, not only the instant its run was logged
    ended = pd.Timestamp.now(tz="UTC")
    timing = {"whatif.started": started.isoformat(), "whatif.ended": ended.isoformat(),
              "whatif.wall_s": round(time.perf_counter() - clock, 3),
              "whatif.started_s": started.timestamp(), "whatif.ended_s": ended.timestamp()}
    summary, verdicts, rec, trip = decide_whatif(result, spec)
    decision = decision_record(rec, summary, assumptions=_assumptions(spec, plant, result, fork, trip),
                               calibration={"record_id": record.record_id, "window_start": record.window.get("start"),
                                            "window_end": record.window.get("end"),
                                            "content_hash": record.window.get("content_hash")},
                               setup={"replications": spec.replications, "parameter_draws": result.parameter_draws,
                                      "seeds_per_draw": result.seeds_per_draw, "horizon_h": spec.horizon / 3600.0,
                                      "warmup_h": spec.warmup / 3600.0, "seed": spec.seed, "crn": spec.crn,
                                      "fork_time_s": fork.time if fork.snapshot is not None else None})
    for action in spec.actions:
        _log_action(session, spec, plant, action, summary, result, record, timing)
    return WhatIfStep(result=result, summary=summary, recommendation=rec, record=decision)


def _fmu_line(line) -> bool:
    """True when the line config runs FMU motors (``line.motor_model``)."""
    return bool(line.get("motor_model") if hasattr(line, "get") else getattr(line, "motor_model", None))


def _assumptions(spec: WhatIfSpec, plant: PlantSpec, result: WhatIfResult, fork: ForkStep, trip: float) -> list:
    """What the decision takes for granted, in words (the decision record's ``assumptions``)."""
    risk = spec.risk
    if plant.model is not None and _fmu_line(spec.line):
        start = (f"started from the calibrated final state ({', '.join(sorted(fork.states))}) at the window end"
                 if fork.snapshot is not None else "started from the FMU's start values (no fork: the plant's and "
                 "the line motor's FMUs share no state name)")
        return [f"the plant's FMU twin ({plant.model.spec.name}) was calibrated; its parameters drive the line's FMU "
                f"motors (line.motor_model) on {', '.join(plant.stations)}, {start}",
                f"{spec.horizon / 3600:g} h observed after a {spec.warmup / 3600:g} h warm-up, "
                f"{'common' if spec.crn else 'independent'} random numbers across actions"]
    if plant.model is not None:
        return [f"the plant's FMU twin ({plant.model.spec.name}) was calibrated and replayed; the line runs its own "
                f"motor models with their nameplate parameters on {', '.join(plant.stations)}",
                f"{spec.horizon / 3600:g} h observed after a {spec.warmup / 3600:g} h warm-up, "
                f"{'common' if spec.crn else 'independent'} random numbers across actions"]
    out = [f"motor parameters of {', '.join(plant.stations)} from the calibration posterior (Gaussian "
           f"approximation)" + (f": {result.parameter_draws} draws x {result.seeds_per_draw} seeds "
                                f"(second-order Monte Carlo)" if spec.sample_posterior else " point estimates"),
           f"{spec.horizon / 3600:g} h observed after a {spec.warmup / 3600:g} h warm-up, "
           f"{'common' if spec.crn else 'independent'} random numbers across actions",
           f"insulation class {risk.insulation_class} ({INSULATION_CLASSES[risk.insulation_class] - 273.15:g} °C), "
           f"life halves every {risk.halving_interval:g} K, rated life {risk.rated_life / 3600:g} h; "
           f"{risk.trip_cost:g} per trip, {risk.ageing_cost * 3600:g} per ageing hour",
           f"motor trip at {trip - 273.15:g} °C",
           f"a riskier action must gain a significant {spec.min_gain:.1%} or more of {spec.objective} over a safer one"]
    if fork.snapshot is not None:
        out.append("forked at the calibration window's end: the motor state is the calibrated one; buffers, "
                   "failures, repairs and spare-part orders (not in the telemetry) start as in a fresh line")
    if fork.ambient is not None:
        out.append(f"ambient: the daily cycle of the last 24 h of telemetry ({fork.ambient.mean - 273.15:.1f} ± "
                   f"{fork.ambient.amplitude:.1f} °C) repeats")
    return out


def _log_action(session, spec, plant, action, summary, result, record, timing=None) -> None:
    tracker = session.tracker
    timing = timing or {}
    run = session.child(f"whatif:{action.name}", start_time=timing.get("whatif.started_s"))
    tracker.log_params(run, {"action": action.name, "description": action.description,
                             **{f"change.{k}": v for k, v in _flat(action.changes).items()},
                             "replications": spec.replications, "horizon_h": spec.horizon / 3600.0,
                             "warmup_h": spec.warmup / 3600.0, "seed": spec.seed, "crn": spec.crn,
                             "motor_stations": ",".join(plant.stations), "calibration_record": record.record_id,
                             **{k: v for k, v in timing.items() if not k.endswith("_s") or k == "whatif.wall_s"}})
    metrics = action_metrics(summary, action.name, baseline=spec.baseline)
    mser = result.mser[result.mser["action"] == action.name]
    if not mser.empty:
        metrics["mser5.truncation_h.max"] = float(mser["truncation_h"].max())
        metrics["mser5.reliable_fraction"] = float(mser["reliable"].mean())
    tracker.log_metrics(run, metrics)
    reps = result.kpis[result.kpis["action"] == action.name]
    tracker.log_text(run, display_columns(reps).to_csv(index=False), "replications.csv")
    tracker.set_tags(run, {lineage.CALIBRATION_RECORD_ID: record.record_id})
    session.close(run, end_time=timing.get("whatif.ended_s"))


def action_metrics(summary: pd.DataFrame, action: str, *, baseline: str) -> dict:
    """The metrics of *action*'s child run from the what-if *summary* [SI]: each KPI's mean and half-width and,
    off the baseline, its paired difference and half-width, in the KPI's display unit and named with it
    (:func:`sim.kpi.display_name`): ``throughput_units_per_h``, ``throughput_units_per_h.half_width``,
    ``max_winding_temperature_degC.diff`` (a difference: no 273.15 offset)."""
    metrics = {}
    for _, r in display_table(summary[summary["action"] == action]).iterrows():
        name = display_name(r["kpi"])
        metrics[name] = r["mean"]
        metrics[f"{name}.half_width"] = r["half_width"]
        if action != baseline:
            metrics[f"{name}.diff"] = r["diff"]
            metrics[f"{name}.diff_half_width"] = r["diff_half_width"]
    return metrics


def whatif_csvs(summary: pd.DataFrame, kpis: pd.DataFrame) -> dict:
    """The what-if's CSV files as text, in display units: ``whatif_summary.csv`` (one row per action and KPI,
    with a ``unit`` column; :func:`sim.kpi.display_table`) and ``whatif_replications.csv`` (one row per action
    and replication, one column per KPI named with its unit; :func:`sim.kpi.display_columns`)."""
    return {"whatif_summary.csv": display_table(summary).to_csv(index=False),
            "whatif_replications.csv": display_columns(kpis).to_csv(index=False)}


def recommended_metrics(summary: pd.DataFrame, *, objective: str, action: str) -> dict:
    """The parent run's metrics of the recommended *action*: its paired gain in *objective* over the baseline and
    the gain's half-width, in the objective's display unit (``recommended.throughput_units_per_h.diff``)."""
    best = summary[(summary["action"] == action) & (summary["kpi"] == objective)].iloc[0]
    info, name = kpi_info(objective), display_name(objective)
    return {f"recommended.{name}.diff": float(info.to_display(best["diff"], difference=True)),
            f"recommended.{name}.diff_half_width": float(info.to_display(best["diff_half_width"], difference=True))}


def _flat(changes: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in changes.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


# ----------------------------------------------------------------------------- 5. report
def write_report(spec: WhatIfSpec, output: OutputSpec, plant: PlantSpec, telemetry: TelemetryStep,
                 calibration: CalibrationStep, fork: ForkStep, whatif: WhatIfStep, session) -> ReportStep:
    """report.md, the what-if CSVs and figures on the parent run; the recommendation as its tag."""
    tracker, out, parent = session.tracker, session.out, session.parent
    record, summary, rec, result = calibration.record, whatif.summary, whatif.recommendation, whatif.result
    files = []
    if session.plots:
        from scenarios.whatif.plots import plot_differences, plot_whatif

        recommended = rec.action  # None when no action is feasible

        trip = result.specs[spec.baseline].motors.trip_temperature
        files.append(session.artifact(parent, plot_whatif(summary, result.traces, trip_temperature=trip,
                                                          baseline=spec.baseline, path=out / "whatif.png",
                                                          warmup=result.plan.warmup,
                                                          recommended=recommended, currency=spec.currency)))
        files.append(session.artifact(parent, plot_differences(summary, baseline=spec.baseline,
                                                               currency=spec.currency,
                                                               path=out / "whatif_differences.png",
                                                               confidence=spec.confidence)))
    text = report_markdown(output.run_name, rec, summary, result, record, baseline=spec.baseline,
                           confidence=spec.confidence, ambient=fork.ambient, motor_stations=plant.stations,
                           decision=decision_text(whatif.record) if whatif.record else None,
                           figures=figures_in(out), currency=spec.currency)
    gaps = telemetry.stream.gaps
    if len(gaps):  # the gaps in words, not only in the quality plot
        rows = "\n".join(f"| {g['channel']} | {g['start']} | {g['end']} | {float(g['duration_s']):.0f} |"
                         for _, g in gaps.iterrows())
        text += (f"\n\n## Telemetry gaps\n\n{len(gaps)} gaps in the telemetry (data_gaps.csv):\n\n"
                 f"| channel | start | end | duration [s] |\n|---|---|---|---|\n{rows}\n")
    for name, content in {"report.md": text, **whatif_csvs(summary, result.kpis),
                          "decision_record.json": json.dumps(whatif.record, indent=2, default=str)}.items():
        (out / name).write_text(content, encoding="utf-8")
        files.append(session.artifact(parent, out / name))
    files.append(session.artifact(parent, write_html_report(text, out)))  # report.html: figures inlined
    if rec.action is not None:
        tracker.log_metrics(parent, recommended_metrics(summary, objective=spec.objective, action=rec.action))
    status = getattr(rec, "status", "recommend")
    tracker.log_metrics(parent, {"decision.feasible_actions": float(len(getattr(rec, "feasible", ()))),
                                 "decision.excluded_actions": float(len(getattr(rec, "excluded", {})))})
    tracker.set_tags(parent, {"recommendation": rec.action or "none", "decision.status": status,
                              "decision.highest_expected_value": str(getattr(rec, "best_value", None)),
                              "decision.safest": str(getattr(rec, "safest", None)),
                              lineage.CALIBRATION_RECORD_ID: record.record_id,
                              lineage.TELEMETRY_CONTENT_HASH: telemetry.stream.content_hash})
    return ReportStep(text=text, files=files)
