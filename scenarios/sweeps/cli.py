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

import sys
from pathlib import Path

__all__ = ["main", "task", "prefetch_job"]


def _progress_bar(enabled: bool):
    """``progress(where, label, total)``: a rich progress bar yielding the ``(done, total)`` callback (None when
    disabled or not on a terminal)."""
    from contextlib import contextmanager

    if not enabled:
        return None

    @contextmanager
    def bar(where: str, label: str, total: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      transient=True) as progress:
            task_id = progress.add_task(f"{where} {label}", total=total)
            yield lambda done, n: progress.update(task_id, completed=done)

    return bar


def _context(hc):
    """The job's :class:`~scenarios.sweeps.steps.JobContext` from Hydra's config of the job (None outside Hydra)."""
    import os

    from scenarios.sweeps.steps import JobContext

    if hc is None:
        return JobContext(cwd=os.getcwd())
    return JobContext(cwd=hc.runtime.cwd, job_num=hc.job.num if hc.mode.name == "MULTIRUN" else 0,
                      overrides=tuple(hc.overrides.task))


def prefetch_job(cfg, cwd: str, pool):
    """Queue the replications of the job *cfg* on the launcher's *pool* before the job runs (the ``twinbench``
    launcher calls this for the next job while one runs).  Returns the function that cancels what the job did
    not take, or None (one worker, or a configuration the job itself will reject)."""
    from omegaconf import OmegaConf

    from scenarios.sweeps.job import submit_replications
    from scenarios.sweeps.steps import resolve_inputs

    try:
        resolved = OmegaConf.to_container(cfg, resolve=True)
        resolved.pop("hydra", None)
        if int(resolved["replications"]["workers"]) < 2 or pool is None:
            return None
        inputs = resolve_inputs(resolved, cwd=cwd)
        return submit_replications(pool, inputs.line, inputs.plan, workers=inputs.workers, scenario=inputs.scenario)
    except Exception:  # noqa: BLE001 - the job raises the same error, with its lineage, when it runs
        return None


def task(cfg, pool=None) -> dict:
    """The Hydra task function of a sweep job: Hydra's side of the job (its config and context, the console)
    here, the job itself in :func:`scenarios.sweeps.steps.run_job`.  *pool* is the sweep's worker pool when the
    launcher owns one (``twinbench``)."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf
    from rich.console import Console

    from scenarios.sweeps.lineage import connect, deferred_interrupts, store_uri
    from scenarios.sweeps.steps import run_job

    hc = HydraConfig.get() if HydraConfig.initialized() else None
    context = _context(hc)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved.pop("hydra", None)
    console = Console(stderr=True)
    with deferred_interrupts():
        tracker, exp_id = connect(store_uri(cfg.tracking.uri, context.cwd), cfg.tracking.experiment)
    return run_job(resolved, context, tracker=tracker, exp_id=exp_id, pool=pool, console=console,
                   progress=_progress_bar(bool(cfg.sweep.progress) and console.is_terminal))


def _hydra_main():
    import hydra

    from scenarios.sweeps.config import register_sweep_configs

    register_sweep_configs()

    # an absolute path: the same configs whether run as ``-m scenarios.sweeps.cli``, a console script or in-process
    @hydra.main(version_base="1.3", config_path=str(Path(__file__).resolve().parents[2] / "conf"),
                config_name="sweep")
    def sweep_job(cfg, pool=None):
        return task(cfg, pool=pool)

    return sweep_job()


def main(argv: list[str] | None = None) -> None:
    """Console script ``twinbench-sweep``: a Hydra (multi)run, or ``report ...``; *argv* defaults to
    ``sys.argv[1:]``.  Exits (``SystemExit``) with 130 on Ctrl-C, non-zero when the sweep failed."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["report"]:
        from scenarios.sweeps.report import report_cli

        sys.exit(report_cli(args[1:]))
    if argv is not None:
        sys.argv = [sys.argv[0], *args]
    from scenarios.config import check_overrides
    from scenarios.sweeps.config import SweepAppConfig
    from sim.exceptions import TwinbenchError

    try:  # a misspelled or unknown key fails here, with "did you mean ...", before Hydra writes anything
        check_overrides(args, SweepAppConfig, groups=("line", "calibration", "experiment"), app="twinbench-sweep")
    except TwinbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    try:
        _hydra_main()
    except KeyboardInterrupt:
        print("\ninterrupted: finished configurations are kept; run the same command again to resume",
              file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    # run the importable module, not __main__: launchers (Ray) pickle the task function by module name
    from scenarios.sweeps.cli import main as _main

    _main()
