"""The sweep app: one Hydra job = one configuration of the line, replicated inside the job, tracked in MLflow.

    twinbench-sweep -m line.crew_size=1,2 line.buffer_scale=0.5,1    # a grid (Hydra's basic sweeper)
    twinbench-sweep -m experiment=grid_policy_buffers_crew          # a versioned design
    twinbench-sweep -m experiment=lhs_buffers                        # Latin hypercube (hydra/sweeper=twinbench)
    twinbench-sweep -m experiment=optuna_buffers_maintenance         # Optuna: OEE minus cost, with constraints
    twinbench-sweep -m ... replications.workers=2                    # replications on 2 local processes
    twinbench-sweep -m ... hydra/launcher=ray                        # the same jobs on Ray (twinbench[ray])
    twinbench-sweep report SWEEP_ID_OR_NAME [--kpi oee]              # rebuild a past sweep's report

``python -m scenarios.sweeps.cli`` is the same command.  See ``docs/sweeps.md``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from scenarios.tracking.tracker import git_commit

__all__ = ["main", "run_job", "prefetch_job", "StartWorkers", "git_commit"]


def _sources(cfg, cwd: str):
    """Motor parameters and lineage tags from the calibration record / telemetry file, if any."""
    from scenarios.sweeps.job import file_hash
    from sim.exceptions import ConfigurationError

    motor_params, tags = None, {}
    if cfg.calibration.record:
        from calibration.record import CalibrationRecord

        path = Path(cfg.calibration.record)
        path = path if path.is_absolute() else Path(cwd) / path
        if not path.is_file():
            raise ConfigurationError(f"calibration.record = {cfg.calibration.record!r}: no such file ({path}); give "
                                     f"the path of a CalibrationRecord JSON or null")
        record = CalibrationRecord.from_json(str(path))
        motor_params = {**{k: float(v) for k, v in record.fixed_parameters.items()},
                        **{k: float(v["value"]) for k, v in record.parameters.items()}}
        tags["calibration.record_id"] = record.record_id
        content = (record.window or {}).get("content_hash")
        if content:
            tags["telemetry.content_hash"] = content
    if cfg.telemetry.path:
        path = Path(cfg.telemetry.path)
        path = path if path.is_absolute() else Path(cwd) / path
        if not path.is_file():
            raise ConfigurationError(f"telemetry.path = {cfg.telemetry.path!r}: no such file ({path})")
        tags["telemetry.content_hash"] = file_hash(path)
    return motor_params, tags


def _parent(client, exp_id: str, uri: str, name: str):
    from scenarios.sweeps.lineage import find_parent

    hint = os.environ.get("TWINBENCH_SWEEP_PARENT")
    if hint:
        data = json.loads(hint)
        if data.get("uri") == uri and data.get("name") == name:
            run = client.get_run(data["run_id"])
            if run.info.status == "RUNNING":
                return run
    return find_parent(client, exp_id, name, status="RUNNING")


def _progress_bar(enabled: bool, label: str):
    from contextlib import nullcontext

    if not enabled:
        return nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    transient=True)


def _child_plot(table, path: Path, kpis, confidence: float = 0.95) -> None:
    """Spread of the replications of this configuration: each KPI's replications over their mean, with the mean's
    interval.  One axes without pyplot (~50 ms, the tracking budget of a child run is 100 ms); the sweep report
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


def _label(overrides: list[str], parent) -> str:
    """Run name: the job's values of the swept keys (all its overrides when the parent does not list them)."""
    swept = json.loads(parent.data.tags.get("twinbench.swept_keys", "null")) if parent is not None else None
    if swept is not None:
        overrides = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") in swept]
    return ",".join(sorted(overrides)) or "defaults"


def _model_inputs(cfg, line_cfg: dict, rep: dict, cwd: str):
    """What the replications of a job depend on: ``(line config, plan, source tags, config hash)``."""
    from scenarios.sweeps.job import config_hash
    from sim.replications import ReplicationPlan

    plan = ReplicationPlan(replications=int(rep["n"]), seed=int(rep["seed"]), run_length=rep["run_length_h"] * 3600.0,
                           warmup=rep["warmup_h"] * 3600.0, confidence=rep["confidence"], crn=bool(rep["crn"]))
    motor_params, source_tags = _sources(cfg, cwd)
    if motor_params:  # the record's estimates on its stations' motors, under any explicit line.motors entry
        given = dict(line_cfg.get("motors") or {})
        line_cfg = {**line_cfg, "motors": {**given, **{s: {**motor_params, **dict(given.get(s) or {})}
                                                       for s in cfg.calibration.stations}}}
    # what determines the results: not the number of workers, not the tracking, not the report
    chash = config_hash({"line": line_cfg, "replications": {k: v for k, v in rep.items() if k != "workers"},
                         "sources": source_tags})
    return line_cfg, plan, source_tags, chash


def prefetch_job(cfg, cwd: str):
    """Queue the replications of the job *cfg* on the local worker pool before the job runs (the sweep launcher
    calls this for the next job while one runs; ``hydra_plugins/twinbench_launcher``).  Returns the function that
    cancels what the job did not take, or None (one worker, or a configuration the job itself will reject)."""
    from omegaconf import OmegaConf

    from scenarios.sweeps.job import submit_replications

    try:
        rep = OmegaConf.to_container(cfg.replications, resolve=True)
        if int(rep["workers"]) < 2:
            return None
        line_cfg, plan, _, chash = _model_inputs(cfg, OmegaConf.to_container(cfg.line, resolve=True), rep, cwd)
        return submit_replications(line_cfg, plan, workers=int(rep["workers"]), scenario=int(chash[:6], 16))
    except Exception:  # noqa: BLE001 - the job raises the same error, with its lineage, when it runs
        return None


def run_job(cfg) -> dict:
    """Body of one sweep job (the Hydra task function); returns ``{"objective", "constraints", ...}``."""
    from hydra.core.hydra_config import HydraConfig
    from mlflow.entities import Metric, Param
    from omegaconf import OmegaConf
    from rich.console import Console

    from scenarios.sweeps.job import Objective, replicate_configuration, score, summarize_replications
    from scenarios.sweeps.lineage import HASH_TAG, INVOCATION_TAG, ROLE_TAG, SWEEP_TAG, connect, finished_child
    from scenarios.sweeps.lineage import deferred_interrupts, store_uri
    from scenarios.tracking.tracker import flatten
    from sim.kpi import KPIS

    console = Console(stderr=True)
    hc = HydraConfig.get() if HydraConfig.initialized() else None
    cwd = hc.runtime.cwd if hc is not None else os.getcwd()
    job_num = hc.job.num if hc is not None and hc.mode.name == "MULTIRUN" else 0
    job_overrides = list(hc.overrides.task) if hc is not None else []
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved.pop("hydra", None)
    rep = resolved["replications"]
    objective = Objective(**resolved["objective"])
    line_cfg, plan, source_tags, chash = _model_inputs(cfg, resolved["line"], rep, cwd)

    t0 = time.perf_counter()
    with deferred_interrupts():  # no Ctrl-C inside a store write (see deferred_interrupts)
        uri = store_uri(cfg.tracking.uri, cwd)
        client, exp_id = connect(uri, cfg.tracking.experiment)
        parent = _parent(client, exp_id, uri, cfg.sweep.name)
        label = _label(job_overrides, parent)
        total = parent.data.params.get("sweep.jobs", "?") if parent is not None else "?"
        where = f"job {job_num + 1}/{total}"  # the sweep's progress: this job of all of them (adaptive: Optuna)
        done = finished_child(client, exp_id, parent.info.run_id, chash) if parent is not None else None
        if done is not None:
            m = done.data.metrics
            constraints = [m[k] for k in sorted((k for k in m if k.startswith("constraint.")),
                                                key=lambda k: int(k.split(".")[1]))]
            console.print(f"[dim]{where} {label}: finished before in run {done.info.run_id}, skipped[/dim]",
                          highlight=False)
            return {"objective": m.get("objective"), "constraints": constraints, "run_id": done.info.run_id,
                    "skipped": True}
        tags = {"mlflow.runName": label, ROLE_TAG: "child", SWEEP_TAG: cfg.sweep.name, HASH_TAG: chash,
                "git.commit": git_commit(), "seed": plan.seed, "replications": plan.replications, "crn": plan.crn,
                "hydra.job.num": job_num, "hydra.override_dirname": label, **source_tags}
        if parent is not None:
            tags["mlflow.parentRunId"] = parent.info.run_id
            tags[INVOCATION_TAG] = parent.data.tags.get(INVOCATION_TAG, "0")
        run = client.create_run(exp_id, run_name=label, tags={k: str(v) for k, v in tags.items()})
        run_id = run.info.run_id
        params = [Param(k[:250], str(v)[:6000]) for k, v in flatten(resolved).items()]
        for i in range(0, len(params), 100):
            client.log_batch(run_id, params=params[i:i + 100])
    overhead = time.perf_counter() - t0
    finished = False
    try:
        t1 = time.perf_counter()
        with _progress_bar(bool(cfg.sweep.progress) and console.is_terminal, label) as bar:
            task = bar.add_task(f"{where} {label}", total=plan.replications) if bar is not None else None
            advance = (lambda k, n: bar.update(task, completed=k)) if bar is not None else None
            table = replicate_configuration(line_cfg, plan, workers=int(rep["workers"]),
                                            scenario=int(chash[:6], 16), progress=advance)
        model_seconds = time.perf_counter() - t1
        value, constraints, named = score(table.mean().to_dict(), objective)
        # the objective is linear in the KPIs: per replication too, so it gets an interval and pairs like a KPI
        table["objective"] = sum(float(w) * table[k] for k, w in objective.weights.items())
        summary = summarize_replications(table, plan.confidence)
        means = summary["mean"].to_dict()
        with deferred_interrupts():
            t2 = time.perf_counter()
            stamp = int(time.time() * 1000)
            metrics = {"feasible": float(all(c <= 0 for c in constraints)),
                       "model_seconds": model_seconds}
            for i, (name, c) in enumerate(named.items()):
                metrics[f"constraint.{i}"] = c
            for kpi, row in summary.iterrows():
                metrics[kpi] = row["mean"]
                if kpi in KPIS:  # line KPIs and the objective; <station>.<kpi> is logged as a mean only
                    metrics.update({f"{kpi}.low": row["low"], f"{kpi}.high": row["high"],
                                    f"{kpi}.half_width": row["half_width"]})
            items = [Metric(k, float(v), stamp, 0) for k, v in metrics.items()
                     if v == v and abs(float(v)) != float("inf")]
            for i in range(0, len(items), 1000):
                client.log_batch(run_id, metrics=items[i:i + 1000])
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                (folder / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(resolved)), encoding="utf-8")
                table.to_csv(folder / "replications.csv")
                summary.to_csv(folder / "summary.csv")
                if named:
                    (folder / "constraints.json").write_text(json.dumps(named, indent=2), encoding="utf-8")
                if cfg.sweep.child_plot:
                    _child_plot(table, folder / "kpis.png",
                                ("oee", "throughput", "maintenance_cost", "unplanned_downtime"), plan.confidence)
                client.log_artifacts(run_id, str(folder))
            overhead += time.perf_counter() - t2
            client.log_batch(run_id, metrics=[Metric("tracking_ms", overhead * 1000.0, stamp, 0)])
            client.set_terminated(run_id, status="FINISHED")
            finished = True  # a Ctrl-C held during the block is raised after it: the run stays FINISHED
    except KeyboardInterrupt:
        if not finished:
            with deferred_interrupts():
                client.set_tag(run_id, "twinbench.error", "interrupted (Ctrl-C)")
                client.set_terminated(run_id, status="KILLED")
        raise
    except BaseException as err:
        if finished:
            raise
        with deferred_interrupts():
            client.set_tag(run_id, "twinbench.error", f"{type(err).__name__}: {err}"[:5000])
            client.set_terminated(run_id, status="FAILED")
        raise
    half = summary.loc["oee", "half_width"] if "oee" in summary.index else float("nan")
    console.print(f"{where} {label}: objective {value:.4g}, oee {means.get('oee', float('nan')):.4f} "
                  f"± {half:.4f} ({plan.replications} replications, {model_seconds:.1f} s)", highlight=False)
    return {"objective": value, "constraints": constraints, "run_id": run_id, "skipped": False}


try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover
    Callback = object


class StartWorkers(Callback):
    """Hydra callback: start the local worker processes when the sweep starts (``replications.workers`` > 1 on the
    ``twinbench`` launcher), so that they import the model while the driver imports MLflow and opens the parent
    run, instead of when the first job needs them."""

    def on_multirun_start(self, config, **kwargs) -> None:
        try:
            workers = int(config.replications.workers)
            local = str(config.hydra.launcher.get("_target_", "")).endswith(".TwinbenchLauncher")
        except Exception:  # noqa: BLE001 - a bad value fails in the job, with its message
            return
        if local and workers > 1:
            from scenarios.sweeps.job import start_workers

            start_workers(workers)


def _hydra_main():
    import hydra

    from scenarios.sweeps.config import register_sweep_configs

    register_sweep_configs()

    # an absolute path: the same configs whether run as ``-m scenarios.sweeps.cli``, a console script or in-process
    @hydra.main(version_base="1.3", config_path=str(Path(__file__).resolve().parents[2] / "conf"),
                config_name="sweep")
    def task(cfg):
        return run_job(cfg)

    return task()


def _end_process(code) -> None:
    """End the program now, as ``sys.exit(code)`` would, but without the interpreter's teardown.

    Everything a normal exit does for the user still happens, in the interpreter's order: the threads are
    joined (after threading's own exit hooks, which stop the worker pool), the ``atexit`` hooks run (logging,
    MLflow, closing parents), the streams are flushed.  What is skipped is
    freeing the ~2,800 imported modules (MLflow, pandas, Hydra) one by one, which takes about 1 s.
    """
    import atexit
    import threading

    shutdown, exit_hooks = getattr(threading, "_shutdown", None), getattr(atexit, "_run_exitfuncs", None)
    if shutdown is None or exit_hooks is None:  # (CPython internals; elsewhere the normal exit)
        sys.exit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    shutdown()  # what the interpreter does first at exit: threading's exit hooks, join the threads
    exit_hooks()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console script ``twinbench-sweep``: a Hydra (multi)run, or ``report ...``.

    Called without *argv* (the console script, ``python -m scenarios.sweeps.cli``) it ends the process when done
    (:func:`_end_process`); with *argv* it returns or raises ``SystemExit`` like any function.
    """
    if argv is None:
        try:
            _main(None)
        except SystemExit as exit_:
            _end_process(exit_.code)
        _end_process(0)
    _main(argv)


def _workers_on_command_line(args: list[str]) -> int:
    """``replications.workers`` of a multirun on the local (``twinbench``) launcher when the command line sets it
    (0 otherwise: the ``StartWorkers`` callback starts them once the config is composed)."""
    if not {"-m", "--multirun"} & set(args) or any("hydra/launcher" in a or "hydra.launcher" in a for a in args):
        return 0
    workers = 0
    for arg in args:
        key, _, value = arg.lstrip("+~").partition("=")
        if key == "replications.workers":
            try:
                workers = int(value)
            except ValueError:
                return 0  # (a sweep over worker counts, or a typo the config check reports)
    return workers


def _main(argv: list[str] | None) -> None:
    from scenarios.sweeps.lineage import close_open_parents

    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["report"]:
        from scenarios.sweeps.report import report_cli

        sys.exit(report_cli(args[1:]))
    if argv is not None:
        sys.argv = [sys.argv[0], *args]
    workers = _workers_on_command_line(args)
    if workers > 1:  # the worker processes import the model while Hydra starts (StartWorkers finds them running)
        from scenarios.sweeps.job import start_workers

        start_workers(workers)
    try:
        _hydra_main()
    except KeyboardInterrupt:
        close_open_parents("KILLED", reason="interrupted (Ctrl-C)")
        print("\ninterrupted: finished configurations are kept; run the same command again to resume",
              file=sys.stderr)
        sys.exit(130)
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            close_open_parents("FAILED", reason=f"the sweep stopped with exit status {exit_.code}")
        raise
    finally:
        close_open_parents("FAILED", reason="the sweep stopped before it finished")


if __name__ == "__main__":
    # run the importable module, not __main__: launchers (Ray) pickle the task function by module name
    from scenarios.sweeps.cli import main as _main

    _main()
