"""One sweep job as a recipe: resolve inputs -> open the child run -> replicate -> summarise and score -> log.

Each step is a function that returns a small frozen dataclass; :func:`run_job` chains them.  Nothing here
knows Hydra: the command (:mod:`scenarios.sweeps.cli`) turns Hydra's job into a plain config dict and a
:class:`JobContext`, and passes in the tracker and, on the ``twinbench`` launcher, the sweep's worker pool.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from rich.markup import escape

from scenarios.sweeps.sources import (CALIBRATION_NOTE, CALIBRATION_SOURCE, CALIBRATION_VERSION, MOTOR_MODEL,
                                      champion_record, describe_calibration, record_file)
from scenarios.sweeps.job import Objective, config_hash, replicate_configuration, score, summarize_replications
from scenarios.tracking.lineage import (CALIBRATION_RECORD_ID, ERROR, GIT_COMMIT, INVOCATION, ROLE, SEED, SWEEP,
                                        SWEEP_CONFIG_HASH, SWEPT_KEYS, TELEMETRY_CONTENT_HASH, content_hash)
from sim.exceptions import ConfigurationError
from sim.kpi import KPIS, display_columns, display_name, display_table, to_display
from sim.replications import ReplicationPlan

__all__ = ["CALIBRATION_SOURCE", "CALIBRATION_VERSION", "CALIBRATION_NOTE", "JobContext", "Sources", "JobInputs",
           "Child", "Replications", "Scores", "describe_calibration", "guardrails", "guardrail_values",
           "read_sources", "summary_table",
           "resolve_inputs", "open_child", "replicate", "summarise", "log_results", "end_child", "run_job"]


@dataclass(frozen=True)
class JobContext:
    """What the launcher knows about a job: the directory the sweep started in, its number, its overrides."""

    cwd: str
    job_num: int = 0
    overrides: tuple = ()


@dataclass(frozen=True)
class Sources:
    """Motor parameters [SI] from a calibration record (None without one) and the lineage tags of the sources."""

    motor_params: dict | None = None
    tags: dict = field(default_factory=dict)


@dataclass(frozen=True)
class JobInputs:
    """Everything the results of a job depend on, and its resolved config (logged as params)."""

    resolved: dict
    line: dict
    plan: ReplicationPlan
    objective: Objective
    workers: int
    sources: Sources
    config_hash: str

    @property
    def scenario(self) -> int:
        """The configuration's own streams when ``crn`` is off."""
        return int(self.config_hash[:6], 16)


@dataclass(frozen=True)
class Child:
    """The job's child run (``run_id``), or the FINISHED one of an earlier invocation (``done``)."""

    run_id: str | None
    label: str
    where: str
    done: object = None
    tracking_s: float = 0.0


@dataclass(frozen=True)
class Replications:
    table: pd.DataFrame  # one row per replication, one column per KPI
    model_seconds: float  # [s] the job spent on them


@dataclass(frozen=True)
class Scores:
    value: float  # the objective (weights x KPI means in display units)
    constraints: list  # feasible when every value <= 0, in declaration order [display units]
    named: dict  # constraint name -> value
    table: pd.DataFrame  # the replications [SI] with the objective per replication
    summary: pd.DataFrame  # mean, half_width, low, high, n per KPI [SI]


def _path(value: str, cwd: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else Path(cwd) / path


def read_sources(calibration: dict, telemetry: dict, cwd: str, *, tracker=None, line_name: str = "bottling"
                 ) -> Sources:
    """The calibrated motor parameters and the lineage tags of the calibration and the telemetry file.

    ``calibration.source``: ``champion`` (default) reads the current champion of the registered model
    ``calibration.model`` (default ``twinbench.<line_name>.motor_thermal``) through *tracker* (with no
    champion registered: the nameplate, tagged with the reason); ``record`` (or a ``calibration.record``
    path) reads that ``CalibrationRecord`` file; ``nameplate`` uses none.  A path that does not exist, or an
    unknown source, raises :class:`~sim.exceptions.ConfigurationError`.
    """
    from scenarios.sweeps.config import CALIBRATION_SOURCES

    motor_params, tags = None, {}
    source = calibration.get("source") or "champion"
    if source not in CALIBRATION_SOURCES:
        raise ConfigurationError(f"calibration.source = {source!r} is unknown; use one of {CALIBRATION_SOURCES} "
                                 f"(nameplate opts out of the champion calibration)")
    if source == "nameplate" and calibration.get("record"):
        raise ConfigurationError(f"calibration.source = nameplate but calibration.record = "
                                 f"{calibration['record']!r}; drop the record, or set calibration.source=record")
    if source == "record" and not calibration.get("record"):
        raise ConfigurationError("calibration.source = record needs calibration.record = <CalibrationRecord JSON>")
    record = None
    if calibration.get("record"):
        record, source = record_file(calibration["record"], cwd), "record"
    elif source == "champion":
        if tracker is None:
            raise ConfigurationError("calibration.source = champion needs the tracking store to read the champion "
                                     "from; pass the tracker, or set calibration.source=nameplate")
        name = calibration.get("model")
        if not name:
            from scenarios.tracking.registry import registered_model_name

            name = registered_model_name(line_name, MOTOR_MODEL)
        record, version = champion_record(tracker, name)
        if record is None:
            source = "nameplate"
            tags[CALIBRATION_NOTE] = version  # the reason
        else:
            tags[CALIBRATION_VERSION] = f"{name} v{version}"
    tags[CALIBRATION_SOURCE] = source
    if record is not None:
        motor_params = record.params()  # the record's hand-off: every parameter [SI], fixed and fitted
        tags[CALIBRATION_RECORD_ID] = record.record_id
        content = (record.window or {}).get("content_hash")
        if content:
            tags[TELEMETRY_CONTENT_HASH] = content
    if telemetry.get("path"):
        path = _path(telemetry["path"], cwd)
        if not path.is_file():
            raise ConfigurationError(f"telemetry.path = {telemetry['path']!r}: no such file ({path})")
        tags[TELEMETRY_CONTENT_HASH] = content_hash(path)  # the one file hash (sha256 of the bytes)
    return Sources(motor_params, tags)


def resolve_inputs(cfg: dict, *, cwd: str, tracker=None) -> JobInputs:
    """The line config (with the calibration's estimates on its stations' motors, under any explicit
    ``line.motors`` entry), the replication plan, the objective and the config hash of a resolved job config.

    *tracker* is the sweep's store, where the champion calibration is read (``calibration.source=champion``);
    without one, a tracker on ``tracking.uri`` is opened for it.
    """
    rep = cfg["replications"]
    plan = ReplicationPlan(replications=int(rep["n"]), seed=int(rep["seed"]), run_length=rep["run_length_h"] * 3600.0,
                           warmup=rep["warmup_h"] * 3600.0, confidence=rep["confidence"], crn=bool(rep["crn"]))
    calibration = dict(cfg["calibration"])
    if tracker is None and (calibration.get("source") or "champion") == "champion" and not calibration.get("record"):
        from scenarios.sweeps.runs import connect, store_uri

        tracker, _ = connect(store_uri(cfg["tracking"]["uri"], cwd), cfg["tracking"]["experiment"])
    sources = read_sources(calibration, cfg["telemetry"], cwd, tracker=tracker,
                           line_name=str(cfg["line"].get("name") or "bottling"))
    line = cfg["line"]
    if sources.motor_params:
        given = dict(line.get("motors") or {})
        line = {**line, "motors": {**given, **{s: {**sources.motor_params, **dict(given.get(s) or {})}
                                               for s in calibration.get("stations") or ["filler"]}}}
    # what determines the results: not the number of workers, not the tracking, not the report
    chash = config_hash({"line": line, "replications": {k: v for k, v in rep.items() if k != "workers"},
                         "sources": sources.tags})
    objective = dict(cfg["objective"])
    objective["constraints"] = guardrails(objective.get("constraints") or ())
    return JobInputs(cfg, line, plan, Objective(**objective), int(rep["workers"]), sources, chash)


def guardrails(items) -> tuple:
    """``objective.constraints`` (display units, ``per_h`` in hours) as
    :class:`~scenarios.whatif.constraints.Constraint` s; a bad one fails before the job's child run opens."""
    from scenarios.whatif.constraints import Constraint

    out = []
    for i, item in enumerate(items):
        item = dict(item)
        per_h = item.pop("per_h", None)
        try:
            out.append(Constraint(per=None if per_h is None else float(per_h) * 3600.0, **item))
        except ConfigurationError as err:
            raise type(err)(f"objective.constraints[{i}]: {err}") from None
    return tuple(out)


def guardrail_values(table: pd.DataFrame, constraints, *, horizon: float, confidence: float,
                     trip_temperature: float | None) -> dict:
    """Each guardrail's value for an optimizer, in its display unit: how far the judged bound lies beyond the
    limit (feasible when <= 0), by the constraint's label."""
    import numpy as np

    from sim.replications import t_interval

    out = {}
    alpha = (1.0 - confidence) / 2.0
    for c in constraints:
        if c.kpi not in table.columns:
            raise ConfigurationError(f"objective.constraints: {c.label!r} needs KPI {c.kpi!r}; the replications "
                                     f"report {sorted(k for k in table.columns if '.' not in k)}")
        values = table[c.kpi].to_numpy(dtype=float)
        iv = t_interval(values, confidence)
        finite = values[np.isfinite(values)]
        p_low, p_high = np.quantile(finite, [alpha, 1.0 - alpha]) if finite.size else (np.nan, np.nan)
        row = {"mean": iv.mean, "low": iv.low, "high": iv.high, "p_low": p_low, "p_high": p_high,
               "n": int(finite.size)}  # n: a share (failure_probability) is judged on its Wilson interval
        value = c.judged(row, horizon=horizon, confidence=confidence)
        bound = c.bound(trip_temperature=trip_temperature)
        out[c.label] = float(value - bound if c.upper else bound - value)
    return out


def _label(overrides, parent) -> str:
    """Run name: the job's values of the swept keys (all its overrides when the parent does not list them)."""
    swept = json.loads(parent.data.tags.get(SWEPT_KEYS, "null")) if parent is not None else None
    if swept is not None:
        overrides = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") in swept]
    return ",".join(sorted(overrides)) or "defaults"


def open_child(tracker, exp_id: str, inputs: JobInputs, context: JobContext) -> Child:
    """The job's child run under its parent (``sweep.parent``, else the RUNNING parent of ``sweep.name``), with
    its tags and params; or the FINISHED child of the same config hash, which the job then skips."""
    from scenarios.sweeps.runs import find_parent, finished_child
    from scenarios.tracking.tracker import git_commit

    t0 = time.perf_counter()
    sweep = inputs.resolved["sweep"]
    if sweep.get("parent"):
        parent = tracker.client.get_run(sweep["parent"])
    else:
        parent = find_parent(tracker, exp_id, sweep["name"], status="RUNNING")
    label = _label(context.overrides, parent)
    from scenarios.sweeps.lineage import job_counter

    where = job_counter(parent, context.job_num)  # this job of this invocation's jobs (an extended sweep has more)
    done = finished_child(tracker, exp_id, parent.info.run_id, inputs.config_hash) if parent is not None else None
    if done is not None:
        return Child(None, label, where, done=done)
    plan = inputs.plan
    tags = {ROLE: "child", SWEEP: sweep["name"], SWEEP_CONFIG_HASH: inputs.config_hash, GIT_COMMIT: git_commit(),
            SEED: plan.seed, "replications": plan.replications, "crn": plan.crn, "hydra.job.num": context.job_num,
            "hydra.override_dirname": label, **inputs.sources.tags}
    if parent is not None:
        tags[INVOCATION] = parent.data.tags.get(INVOCATION, "0")
    run_id = tracker.start_run(label, parent=parent.info.run_id if parent is not None else None, tags=tags)
    tracker.log_params(run_id, inputs.resolved)
    return Child(run_id, label, where, tracking_s=time.perf_counter() - t0)


def replicate(inputs: JobInputs, *, pool=None, progress=None) -> Replications:
    """Run the replications (on *pool*'s workers when ``replications.workers`` > 1)."""
    t0 = time.perf_counter()
    table = replicate_configuration(inputs.line, inputs.plan, workers=inputs.workers, scenario=inputs.scenario,
                                    progress=progress, pool=pool)
    return Replications(table, time.perf_counter() - t0)


def _display_means(table: pd.DataFrame) -> dict:
    """Mean of every KPI column of *table* [SI] in its display unit, by KPI name."""
    return {k: float(to_display(k, v)) for k, v in table.mean().items()}


def summarise(replications: Replications, inputs: JobInputs) -> Scores:
    """Objective, constraints and the summary of every KPI (the objective is linear in the KPIs: per
    replication too, so it gets an interval and pairs like a KPI).

    The objective's weights and its ``upper``/``lower`` bounds apply to the KPI means in their display units
    (units/h, h, °C, ...), like the guardrails: ``upper: {unplanned_downtime: 20}`` is 20 h.  The table and the
    summary stay SI; :func:`log_results` converts them where they are written.
    """
    table = replications.table.copy()
    value, constraints, named = score(_display_means(table), inputs.objective)
    if inputs.objective.constraints:
        trip = None
        if any(c.below_trip is not None for c in inputs.objective.constraints):
            from scenarios.reference.line_config import line_spec_from_config

            motors = line_spec_from_config(inputs.line).motors
            trip = motors.trip_temperature if motors is not None else None
        extra = guardrail_values(table, inputs.objective.constraints, horizon=inputs.plan.run_length,
                                 confidence=inputs.plan.confidence, trip_temperature=trip)
        named = {**named, **extra}
        constraints = [*constraints, *extra.values()]
    table["objective"] = sum(float(w) * to_display(k, table[k]) for k, w in inputs.objective.weights.items())
    return Scores(value, constraints, named, table, summarize_replications(table, inputs.plan.confidence))


def summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """A job's KPI summary (index: KPI [SI]) as written and logged: one row per KPI with its display ``unit``
    (:func:`sim.kpi.display_table`)."""
    return display_table(summary.rename_axis("kpi").reset_index())


def _metrics(scores: Scores, model_seconds: float) -> dict:
    """The child run's metrics: each KPI's mean (and for line KPIs its interval) in its display unit, named
    with the unit (:func:`sim.kpi.display_name`: ``throughput_units_per_h``, ``throughput_units_per_h.low``)."""
    metrics = {"feasible": float(all(c <= 0 for c in scores.constraints)), "model_seconds": model_seconds}
    for i, c in enumerate(scores.named.values()):
        metrics[f"constraint.{i}"] = c
    for _, row in summary_table(scores.summary).iterrows():
        kpi, name = row["kpi"], display_name(row["kpi"])
        metrics[name] = row["mean"]
        if kpi in KPIS:  # line KPIs and the objective; <station>.<kpi> is logged as a mean only
            metrics.update({f"{name}.low": row["low"], f"{name}.high": row["high"],
                            f"{name}.half_width": row["half_width"]})
    return metrics


def _child_plot(table, path: Path, kpis, confidence: float = 0.95) -> None:
    """Spread of the replications of this configuration: each KPI's replications over their mean, with the mean's
    interval (*table* and the labelled means in display units, *kpis* its column names).  One axes without
    pyplot (~50 ms, the tracking budget of a child run is 100 ms); the sweep report
    compares the configurations."""
    import numpy as np
    from matplotlib.figure import Figure
    from scipy.special import stdtrit

    kpis = [k for k in kpis if k in table.columns]
    fig = Figure(figsize=(4.6, 2.5))
    ax = fig.add_axes((0.12, 0.14, 0.85, 0.74))
    for i, k in enumerate(kpis):
        v = table[k].to_numpy(dtype=float)
        m = float(np.mean(v))
        if not m or v.size < 2:
            continue
        h = stdtrit(v.size - 1, 0.5 + confidence / 2) * v.std(ddof=1) / np.sqrt(v.size)
        ax.plot(np.full(v.size, i), v / m, ".", color="tab:blue", alpha=0.5, ms=3)
        ax.errorbar([i + 0.25], [1.0], yerr=[h / abs(m)], fmt="o", color="k", capsize=3, ms=3)
        ax.annotate(f"{m:.4g}", (i + 0.3, 1.0), fontsize=6, xytext=(4, 0), textcoords="offset points")
    ax.set_xticks(range(len(kpis)), kpis, fontsize=6)
    ax.tick_params(labelsize=6)
    ax.set_ylabel("replication / mean", fontsize=7)
    ax.set_title(f"{len(table)} replications; bars: {confidence:.0%} interval of the mean (labelled)", fontsize=7)
    fig.savefig(path, dpi=80)


def log_results(tracker, child: Child, inputs: JobInputs, replications: Replications, scores: Scores, *,
                child_plot: bool = False) -> None:
    """Metrics, artifacts (config, replications, summary, constraints, optional plot), ``tracking_ms``; then the
    child run is FINISHED.  Metrics and files are in display units: ``replications.csv`` has one column per KPI
    named with its unit (``throughput_units_per_h``), ``summary.csv`` one row per KPI with a ``unit`` column."""
    from omegaconf import OmegaConf

    t0 = time.perf_counter()
    tracker.log_metrics(child.run_id, _metrics(scores, replications.model_seconds))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(inputs.resolved)), encoding="utf-8")
        shown = display_columns(scores.table)
        shown.to_csv(folder / "replications.csv")
        summary_table(scores.summary).to_csv(folder / "summary.csv", index=False)
        if scores.named:
            (folder / "constraints.json").write_text(json.dumps(scores.named, indent=2), encoding="utf-8")
        if child_plot:
            _child_plot(shown, folder / "kpis.png", [display_name(k) for k in
                                                      ("oee", "throughput", "maintenance_cost", "unplanned_downtime")],
                        inputs.plan.confidence)
        tracker.log_artifacts(child.run_id, folder)
    tracking_s = child.tracking_s + time.perf_counter() - t0
    tracker.log_metrics(child.run_id, {"tracking_ms": tracking_s * 1000.0})
    tracker.end_run(child.run_id, "FINISHED")


def end_child(tracker, child: Child, status: str, error: str) -> None:
    """Close a child that did not finish: KILLED (interrupted) or FAILED, with the reason in ``twinbench.error``."""
    tracker.set_tags(child.run_id, {ERROR: error[:5000]})
    tracker.end_run(child.run_id, status)


def run_job(cfg: dict, context: JobContext, *, tracker, exp_id: str, pool=None, progress=None, console=None) -> dict:
    """One job of a sweep: returns ``{"objective", "constraints", "run_id", "skipped"}`` for the sweeper.

    *cfg* is the job's resolved config (a dict without ``hydra``), *tracker* where its child run goes, *pool* the
    sweep's workers (None: a pool of the job's own when ``replications.workers`` > 1), *progress* a context
    manager factory ``progress(where, label, total)`` that yields a ``(done, total)`` callback or None.
    """
    from contextlib import nullcontext

    from scenarios.sweeps.lineage import deferred_interrupts

    inputs = resolve_inputs(cfg, cwd=context.cwd, tracker=tracker)
    if console is not None and context.job_num == 0:
        tags = inputs.sources.tags
        console.print(f"calibration: {describe_calibration(tags)}", highlight=False, markup=False)
    with deferred_interrupts():  # no Ctrl-C inside a store write (see deferred_interrupts)
        child = open_child(tracker, exp_id, inputs, context)
    if child.done is not None:
        m = child.done.data.metrics
        constraints = [m[k] for k in sorted((k for k in m if k.startswith("constraint.")),
                                            key=lambda k: int(k.split(".")[1]))]
        if console is not None:
            console.print(f"[dim]{escape(str(child.where))} {escape(str(child.label))}: finished before in run "
                          f"{child.done.info.run_id}, "
                          f"skipped[/dim]", highlight=False)
        return {"objective": m.get("objective"), "constraints": constraints, "run_id": child.done.info.run_id,
                "skipped": True}
    finished = False
    try:
        bar = progress(child.where, child.label, inputs.plan.replications) if progress else nullcontext(None)
        with bar as advance:
            replications = replicate(inputs, pool=pool, progress=advance)
        scores = summarise(replications, inputs)
        with deferred_interrupts():
            log_results(tracker, child, inputs, replications, scores,
                        child_plot=bool(cfg["sweep"].get("child_plot")))
            finished = True  # a Ctrl-C held during the block is raised after it: the run stays FINISHED
    except KeyboardInterrupt:
        if not finished:
            with deferred_interrupts():
                end_child(tracker, child, "KILLED", "interrupted (Ctrl-C)")
        raise
    except BaseException as err:
        if not finished:
            with deferred_interrupts():
                end_child(tracker, child, "FAILED", f"{type(err).__name__}: {err}")
        raise
    if console is not None:
        oee = scores.summary["mean"].get("oee", float("nan"))
        half = scores.summary.loc["oee", "half_width"] if "oee" in scores.summary.index else float("nan")
        console.print(f"{child.where} {child.label}: objective {scores.value:.4g}, oee {oee:.4f} ± {half:.4f} "
                      f"({inputs.plan.replications} replications, {replications.model_seconds:.1f} s)",
                      highlight=False, markup=False)
    return {"objective": scores.value, "constraints": scores.constraints, "run_id": child.run_id, "skipped": False}
