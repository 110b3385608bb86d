"""One sweep job without Hydra or MLflow: replicate one line configuration, summarise, score.

Replication *r* of every configuration uses ``RandomStreams(seed, r)`` (common
random numbers), whichever process runs it, so the per-replication KPI table
is identical run serially, on local worker processes (joblib loky) or on a Ray
worker.  Workers receive the plain line config (a dict) and build the
:class:`~sim.line.LineSpec` themselves: nothing unpicklable crosses a process.

Local worker processes are a :class:`~scenarios.sweeps.pool.ReplicationPool`
passed in (the sweep launcher owns one per sweep and shares it between its
jobs).  :func:`submit_replications` queues a configuration's replications on it
ahead of the job that collects them (the launcher does this for the next job),
so a worker that finishes the last replications of one job goes on with the
next job's instead of idling; :func:`replicate_configuration` takes those
futures when they match its arguments exactly, and submits its own otherwise.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from sim.exceptions import ConfigurationError
from sim.replications import ReplicationPlan, summarize

__all__ = ["Objective", "replicate_configuration", "submit_replications", "summarize_replications", "score",
           "config_hash"]

HOUR = 3600.0


@dataclass(frozen=True)
class Objective:
    """``sum(weights[k] * mean(k))`` to *direction*, subject to ``mean(k) <= upper[k]``, ``mean(k) >= lower[k]``."""

    weights: dict = field(default_factory=lambda: {"oee": 1.0})
    direction: str = "maximize"
    upper: dict = field(default_factory=dict)
    lower: dict = field(default_factory=dict)
    constraints: tuple = ()  # guardrails (scenarios.whatif.constraints.Constraint), judged in summarise()

    def __post_init__(self):
        if self.direction not in ("maximize", "minimize"):
            raise ConfigurationError(f"objective.direction = {self.direction!r}; use 'maximize' or 'minimize'")
        if not self.weights:
            raise ConfigurationError("objective.weights is empty; give at least one KPI weight, e.g. "
                                     "objective.weights={oee:1.0}")


def _one_replication(line_cfg: dict, motor_params: dict | None, plan: ReplicationPlan, replication: int,
                     scenario: int) -> dict:
    from scenarios.reference.line_config import line_spec_from_config
    from scenarios.whatif.run import FailureWatch, failure_modes_of
    from sim.line import LineTwin

    spec = line_spec_from_config(line_cfg, motor_params=motor_params)
    # failure_probability: 1 when any failure mode of the line fired in the observed horizon (a sweep has no
    # monitored station, so every station's modes count; per mode: <station>.<mode>.failure_probability)
    model = FailureWatch(LineTwin(spec, streams=plan.streams(replication, scenario)),
                         failure_modes_of(spec, [st.name for st in spec.stations]))
    if plan.warmup > 0:
        model.run(plan.warmup)
        model.reset_statistics()
    model.run(plan.warmup + plan.run_length)
    return dict(model.kpis())


def replicate_configuration(line_cfg: dict, plan: ReplicationPlan, *, workers: int = 1,
                            motor_params: dict | None = None, scenario: int = 0,
                            progress: Callable[[int, int], None] | None = None, pool=None) -> pd.DataFrame:
    """KPIs of every replication of *line_cfg* (one row per replication, index ``replication``).

    *workers* > 1 fans the replications out over that many local processes: those of *pool* (a
    :class:`~scenarios.sweeps.pool.ReplicationPool` shared by a sweep's jobs; replications queued on it before
    with the same arguments are the ones taken), or of a pool made for this call and closed after it.  The
    table is the same as with ``workers=1``.  *scenario* only matters with ``plan.crn = False`` (its own
    streams).
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
    elif pool is not None:
        rows = pool.replicate(_one_replication, line_cfg, plan, workers=workers, motor_params=motor_params,
                              scenario=scenario, progress=progress)
    else:
        from scenarios.sweeps.pool import ReplicationPool

        with ReplicationPool() as own:
            rows = own.replicate(_one_replication, line_cfg, plan, workers=workers, motor_params=motor_params,
                                 scenario=scenario, progress=progress)
    table = pd.DataFrame(rows)
    table.index.name = "replication"
    return table


def submit_replications(pool, line_cfg: dict, plan: ReplicationPlan, *, workers: int,
                        motor_params: dict | None = None, scenario: int = 0) -> Callable[[], None] | None:
    """Queue the replications of *line_cfg* on *pool* for a later :func:`replicate_configuration` with the same
    arguments and that pool, which collects them; returns a function that cancels those not yet started (call
    it once that job has run or will not run).  None with ``workers < 2`` (replications then run in the job's
    process) or an invalid configuration (the job reports it)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 2:
        return None
    from scenarios.reference.line_config import line_spec_from_config

    try:
        line_spec_from_config(line_cfg, motor_params=motor_params)
    except ConfigurationError:
        return None
    return pool.submit(_one_replication, line_cfg, plan, workers=workers, motor_params=motor_params,
                       scenario=scenario)


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


def finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
