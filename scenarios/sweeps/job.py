"""One sweep job without Hydra or MLflow: replicate one line configuration, summarise, score.

Replication *r* of every configuration uses ``RandomStreams(seed, r)`` (common
random numbers), whichever process runs it, so the per-replication KPI table
is identical run serially, on local worker processes (joblib loky) or on a Ray
worker.  Workers receive the plain line config (a dict) and build the
:class:`~sim.line.LineSpec` themselves: nothing unpicklable crosses a process.

The local worker processes are one pool per process, shared by the jobs of a
sweep.  :func:`submit_replications` queues a configuration's replications on it
ahead of the job that collects them (the sweep launcher does this for the next
job), so a worker that finishes the last replications of one job goes on with
the next job's instead of idling; :func:`replicate_configuration` takes those
futures when they match its arguments exactly, and submits its own otherwise.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from sim.exceptions import ConfigurationError
from sim.replications import ReplicationPlan, summarize

__all__ = ["Objective", "replicate_configuration", "submit_replications", "release_replications", "start_workers",
           "summarize_replications", "score", "config_hash", "file_hash"]

HOUR = 3600.0


@dataclass(frozen=True)
class Objective:
    """``sum(weights[k] * mean(k))`` to *direction*, subject to ``mean(k) <= upper[k]``, ``mean(k) >= lower[k]``."""

    weights: dict = field(default_factory=lambda: {"oee": 1.0})
    direction: str = "maximize"
    upper: dict = field(default_factory=dict)
    lower: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.direction not in ("maximize", "minimize"):
            raise ConfigurationError(f"objective.direction = {self.direction!r}; use 'maximize' or 'minimize'")
        if not self.weights:
            raise ConfigurationError("objective.weights is empty; give at least one KPI weight, e.g. "
                                     "objective.weights={oee:1.0}")


def _one_replication(line_cfg: dict, motor_params: dict | None, plan: ReplicationPlan, replication: int,
                     scenario: int) -> dict:
    from scenarios.reference.line_config import line_spec_from_config
    from sim.line import LineTwin

    spec = line_spec_from_config(line_cfg, motor_params=motor_params)
    model = LineTwin(spec, streams=plan.streams(replication, scenario))
    if plan.warmup > 0:
        model.run(plan.warmup)
        model.reset_statistics()
    model.run(plan.warmup + plan.run_length)
    return dict(model.kpis())


def replicate_configuration(line_cfg: dict, plan: ReplicationPlan, *, workers: int = 1,
                            motor_params: dict | None = None, scenario: int = 0,
                            progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """KPIs of every replication of *line_cfg* (one row per replication, index ``replication``).

    *workers* > 1 fans the replications out over that many local processes (a loky pool shared by the calls of
    this process; replications queued before by :func:`submit_replications` with the same arguments are taken
    from it); the table is the same as with ``workers=1``.  *scenario* only matters with ``plan.crn = False``
    (its own streams).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigurationError(f"replications.workers = {workers!r} must be an integer >= 1")
    # validate the configuration once here, so a bad key fails before any worker starts
    from scenarios.reference.line_config import line_spec_from_config

    line_spec_from_config(line_cfg, motor_params=motor_params)
    n = plan.replications
    rows = []
    if workers == 1:
        for r in range(n):
            rows.append(_one_replication(line_cfg, motor_params, plan, r, scenario))
            if progress is not None:
                progress(r + 1, n)
    else:
        from concurrent.futures import as_completed

        key = _key(line_cfg, motor_params, plan, scenario, workers)
        futures = _QUEUED.pop(key, None) or _submit(line_cfg, motor_params, plan, scenario, workers)
        try:
            for done, _ in enumerate(as_completed(futures), start=1):
                if progress is not None:
                    progress(done, n)
            rows = [f.result() for f in futures]  # replication order, whichever worker ran which
        except KeyboardInterrupt:
            _stop_pool()  # running replications too: the user wants the sweep to stop now
            raise
        finally:
            for f in futures:
                f.cancel()
    table = pd.DataFrame(rows)
    table.index.name = "replication"
    return table


# ------------------------------------------------------------------ the worker pool shared by a sweep's jobs
_QUEUED: dict = {}  # key of (configuration, plan, scenario, workers) -> its replications' futures, in order
_POOL: dict = {"workers": 0, "executor": None}  # the pool the queued futures run on


def _key(line_cfg: dict, motor_params, plan: ReplicationPlan, scenario: int, workers: int) -> str:
    from dataclasses import asdict

    return config_hash({"line": line_cfg, "motors": motor_params, "plan": asdict(plan), "scenario": scenario,
                        "workers": workers})


def _pool(workers: int):
    """The process's loky pool with *workers* processes (started on first use, reused; idle workers stop after
    5 minutes, as under joblib)."""
    from joblib.externals.loky import get_reusable_executor

    if _POOL["workers"] not in (0, workers):
        release_replications()  # a pool of another size: resizing would first wait for queued work
    threads = str(max(1, (os.cpu_count() or 1) // workers))  # as joblib: no oversubscription by BLAS/OpenMP
    env = {v: threads for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")}
    _POOL["executor"] = get_reusable_executor(max_workers=workers, timeout=300, env=env)
    _POOL["workers"] = workers
    return _POOL["executor"]


def _submit(line_cfg, motor_params, plan, scenario, workers) -> list:
    pool = _pool(workers)
    return [pool.submit(_one_replication, line_cfg, motor_params, plan, r, scenario)
            for r in range(plan.replications)]


def _stop_pool() -> None:
    release_replications()
    if _POOL["executor"] is not None:
        _POOL["executor"].shutdown(wait=False, kill_workers=True)
        _POOL.update(workers=0, executor=None)


def _warm() -> int:
    import scenarios.reference.line_config  # noqa: F401 - what a replication imports
    import sim.line  # noqa: F401

    return os.getpid()


def start_workers(workers: int) -> None:
    """Start the pool's *workers* processes now (they import the model while the caller goes on)."""
    if workers > 1:
        pool = _pool(workers)
        for _ in range(workers):
            pool.submit(_warm)


def submit_replications(line_cfg: dict, plan: ReplicationPlan, *, workers: int, motor_params: dict | None = None,
                        scenario: int = 0) -> Callable[[], None] | None:
    """Queue the replications of *line_cfg* on the shared pool for a later :func:`replicate_configuration` with
    the same arguments, which collects them; returns a function that cancels those not yet started (call it once
    that job has run or will not run).  None with ``workers < 2`` (replications then run in the job's process)
    or an invalid configuration (the job reports it)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 2:
        return None
    from scenarios.reference.line_config import line_spec_from_config

    try:
        line_spec_from_config(line_cfg, motor_params=motor_params)
    except ConfigurationError:
        return None
    key = _key(line_cfg, motor_params, plan, scenario, workers)
    if key not in _QUEUED:
        _QUEUED[key] = _submit(line_cfg, motor_params, plan, scenario, workers)
    return lambda: release_replications(key)


def release_replications(key: str | None = None) -> None:
    """Cancel the queued replications of *key* (of every configuration when None) that no job has taken."""
    for k in [key] if key is not None else list(_QUEUED):
        for f in _QUEUED.pop(k, ()):
            f.cancel()


def summarize_replications(table: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Mean, half-width, low, high and n of every KPI column (:func:`sim.replications.summarize`)."""
    return summarize(table, confidence)


def score(means: dict, objective: Objective) -> tuple[float, list[float], dict]:
    """Objective value, constraint values (feasible when <= 0, in declaration order) and their names."""
    missing = [k for k in {**objective.weights, **objective.upper, **objective.lower} if k not in means]
    if missing:
        raise ConfigurationError(f"objective refers to unknown KPI(s) {sorted(missing)}; KPIs are "
                                 f"{sorted(k for k in means if '.' not in k)} (and <station>.<kpi>)")
    value = sum(float(w) * float(means[k]) for k, w in objective.weights.items())
    constraints = {}
    for k, bound in objective.upper.items():
        constraints[f"{k}<={bound:g}"] = float(means[k]) - float(bound)
    for k, bound in objective.lower.items():
        constraints[f"{k}>={bound:g}"] = float(bound) - float(means[k])
    return float(value), list(constraints.values()), constraints


def config_hash(parts: dict) -> str:
    """Stable 16-hex-digit hash of the parts of a configuration that determine its results."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_hash(path) -> str:
    """sha256 (first 16 hex digits) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
