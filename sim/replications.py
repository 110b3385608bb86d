"""Replications: seeded streams, common random numbers, warm-up, t-intervals, paired differences.

A *model* is any object with ``now`` [s], ``run(until)``, ``reset_statistics()``
and ``kpis() -> dict`` (e.g. :class:`~sim.line.LineTwin`); a *build* is a
callable ``build(streams) -> model``.  Replication r of every scenario gets
``RandomStreams(seed, r)`` - the experiment seed, a SeedSequence child per
replication, a named stream per random source - so with ``crn=True`` the
scenarios of one replication see the same random numbers and their
difference is due to the scenario, not to noise.  With ``crn=False`` every
scenario gets its own seed (for comparison: paired intervals are then wider).

Warm-up deletion is fixed (``warmup`` [s], statistics reset there).  MSER-5
(White 1997) on interval means of one KPI is computed as a *diagnostic*
only: it reports where it would truncate and whether that lies in the first
half of the run (otherwise the run is too short to trust), but never changes
the fixed warm-up.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from scipy.special import stdtrit  # Student-t quantile; scipy.stats would cost ~0.8 s of import per process

from sim.exceptions import ConfigurationError
from sim.streams import RandomStreams

__all__ = ["Interval", "t_interval", "summarize", "paired_difference", "Mser5", "mser5", "ReplicationPlan", "ReplicationResult",
           "replicate", "compare", "Comparison"]


@dataclass(frozen=True)
class Interval:
    """Mean with a Student-t confidence interval: ``mean +- half_width`` over *n* values."""

    mean: float
    half_width: float
    n: int
    confidence: float = 0.95

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def t_interval(values, confidence: float = 0.95) -> Interval:
    """Student-t interval of the mean of *values* (NaN dropped; half-width NaN below 2 values)."""
    if not 0 < confidence < 1:
        raise ConfigurationError(f"confidence = {confidence!r} must lie in (0, 1), e.g. 0.95")
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return Interval(math.nan, math.nan, 0, confidence)
    if n == 1:
        return Interval(float(x[0]), math.nan, 1, confidence)
    half = float(stdtrit(n - 1, 0.5 + confidence / 2) * x.std(ddof=1) / math.sqrt(n))
    return Interval(float(x.mean()), half, n, confidence)


def summarize(table: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """:func:`t_interval` of every column of *table* at once: ``mean``, ``half_width``, ``low``, ``high`` and
    ``n``, indexed by ``kpi`` (non-finite values dropped; half-width NaN below 2 values)."""
    if not 0 < confidence < 1:
        raise ConfigurationError(f"confidence = {confidence!r} must lie in (0, 1), e.g. 0.95")
    values = table.to_numpy(dtype=float)
    values = np.where(np.isfinite(values), values, np.nan)
    n = np.isfinite(values).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        mean = np.nanmean(values, axis=0)
        sd = np.nanstd(values, axis=0, ddof=1)
    half = np.where(n >= 2, stdtrit(np.maximum(n - 1, 1), 0.5 + confidence / 2) * sd / np.sqrt(np.maximum(n, 1)),
                    np.nan)
    return pd.DataFrame({"mean": mean, "half_width": half, "low": mean - half, "high": mean + half, "n": n},
                        index=pd.Index(table.columns, name="kpi"))


def paired_difference(a, b, confidence: float = 0.95) -> Interval:
    """t-interval of ``a - b`` paired element by element (replication r of both scenarios)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ConfigurationError(f"paired difference needs equally many replications, got {a.shape} and {b.shape}")
    return t_interval(a - b, confidence)


@dataclass(frozen=True)
class Mser5:
    """MSER-5 result: truncate the first *truncation* observations (``batches`` batches of 5)."""

    truncation: int
    batches: int
    n: int
    reliable: bool


def mser5(series) -> Mser5:
    """MSER-5 truncation point of an output *series* (diagnostic, White 1997).

    Batch means of 5 consecutive observations Z_1..Z_m; choose d in 0..m/2
    minimising sum_{i>d} (Z_i - mean_{i>d} Z)^2 / (m - d)^2.  ``reliable`` is
    False when the minimum lies at the half-way limit (the run is too short).
    """
    x = np.asarray(series, dtype=float)
    m = x.size // 5
    if m < 4:
        raise ConfigurationError(f"MSER-5 needs at least 20 observations, got {x.size}; observe more often or "
                                 f"run longer")
    z = x[: m * 5].reshape(m, 5).mean(axis=1)
    # suffix sums give every candidate in O(m)
    s1 = np.cumsum(z[::-1])[::-1]
    s2 = np.cumsum((z * z)[::-1])[::-1]
    d = np.arange(m // 2 + 1)
    k = m - d
    sse = s2[d] - s1[d] ** 2 / k
    stat = sse / k ** 2
    best = int(np.argmin(stat))
    return Mser5(truncation=5 * best, batches=best, n=int(x.size), reliable=best < m // 2)


@dataclass(frozen=True)
class ReplicationPlan:
    """How to replicate.

    Parameters
    ----------
    replications : int
        Number of replications (>= 2 for intervals).
    seed : int
        Experiment seed.
    run_length : float
        Observed time after the warm-up [s].
    warmup : float
        Time discarded at the start [s] (statistics reset then).
    confidence : float
        Level of the intervals.
    crn : bool
        Common random numbers across scenarios.
    mser_kpi : str, optional
        KPI whose interval means feed the MSER-5 diagnostic.
    mser_interval : float
        Length of those intervals [s].
    """

    replications: int
    seed: int
    run_length: float
    warmup: float = 0.0
    confidence: float = 0.95
    crn: bool = True
    mser_kpi: str | None = None
    mser_interval: float = 3600.0

    def __post_init__(self):
        if isinstance(self.replications, bool) or not isinstance(self.replications, int) or self.replications < 2:
            raise ConfigurationError(f"replications = {self.replications!r} must be an integer >= 2 for "
                                     f"confidence intervals")
        if not (math.isfinite(self.run_length) and self.run_length > 0):
            raise ConfigurationError(f"run_length = {self.run_length!r} must be a finite time > 0 [s]")
        if not (math.isfinite(self.warmup) and self.warmup >= 0):
            raise ConfigurationError(f"warmup = {self.warmup!r} must be a finite time >= 0 [s]")
        if not (math.isfinite(self.mser_interval) and self.mser_interval > 0):
            raise ConfigurationError(f"mser_interval = {self.mser_interval!r} must be a finite time > 0 [s]")
        if int(self.seed) < 0:
            raise ConfigurationError(f"seed = {self.seed!r} must be a non-negative integer")

    def streams(self, replication: int, scenario: int = 0) -> RandomStreams:
        """The streams of *replication* in scenario number *scenario*."""
        if self.crn:
            return RandomStreams(self.seed, replication)
        seed = int(np.random.SeedSequence([int(self.seed), scenario + 1]).generate_state(1)[0])
        return RandomStreams(seed, replication)


@dataclass
class ReplicationResult:
    """KPIs of every replication of one scenario (``table``: one row per replication)."""

    name: str
    plan: ReplicationPlan
    table: pd.DataFrame
    mser: list = field(default_factory=list)

    def interval(self, kpi: str) -> Interval:
        if kpi not in self.table.columns:
            raise ConfigurationError(f"unknown KPI {kpi!r}; known: {sorted(self.table.columns)}")
        return t_interval(self.table[kpi].to_numpy(), self.plan.confidence)

    def summary(self) -> pd.DataFrame:
        """Mean, half-width, low, high and n of every KPI."""
        return summarize(self.table, self.plan.confidence).reset_index()


def _run_one(build: Callable, plan: ReplicationPlan, streams: RandomStreams):
    model = build(streams)
    start = float(model.now)
    series = []
    if plan.mser_kpi is None:
        if plan.warmup > 0:
            model.run(start + plan.warmup)
            model.reset_statistics()
        model.run(start + plan.warmup + plan.run_length)
        return dict(model.kpis()), None
    # interval means of a running time average: x_k = (C_k t_k - C_{k-1} t_{k-1}) / (t_k - t_{k-1})
    end = start + plan.warmup + plan.run_length
    origin, prev_area, t = start, 0.0, start
    while t < end - 1e-9:
        t_next = min(t + plan.mser_interval, end)
        if t < start + plan.warmup < t_next:
            t_next = start + plan.warmup
        model.run(t_next)
        area = float(model.kpis()[plan.mser_kpi]) * (t_next - origin)
        series.append((area - prev_area) / (t_next - t))
        prev_area, t = area, t_next
        if plan.warmup > 0 and abs(t - (start + plan.warmup)) < 1e-9:
            model.reset_statistics()
            origin, prev_area = t, 0.0
    return dict(model.kpis()), mser5(series)


def replicate(build: Callable, plan: ReplicationPlan, *, name: str = "base", scenario: int = 0,
              progress: Callable | None = None) -> ReplicationResult:
    """Run *plan.replications* replications of ``build(streams)``; returns every replication's KPIs."""
    rows, diag = [], []
    for r in range(plan.replications):
        kpis, m = _run_one(build, plan, plan.streams(r, scenario))
        rows.append(kpis)
        diag.append(m)
        if progress is not None:
            progress(r + 1, plan.replications)
    table = pd.DataFrame(rows)
    table.index.name = "replication"
    return ReplicationResult(name, plan, table, diag if plan.mser_kpi is not None else [])


@dataclass
class Comparison:
    """Replications of several scenarios and their paired differences to a baseline."""

    results: dict
    baseline: str

    def difference(self, scenario: str, kpi: str) -> Interval:
        """Paired interval of ``scenario - baseline`` for *kpi*."""
        for name in (scenario, self.baseline):
            if name not in self.results:
                raise ConfigurationError(f"unknown scenario {name!r}; known: {sorted(self.results)}")
        a = self.results[scenario].table[kpi].to_numpy()
        b = self.results[self.baseline].table[kpi].to_numpy()
        return paired_difference(a, b, self.results[self.baseline].plan.confidence)

    def differences(self) -> pd.DataFrame:
        """Every scenario's paired difference to the baseline for every KPI."""
        rows = []
        base = self.results[self.baseline].table
        for name, res in self.results.items():
            if name == self.baseline:
                continue
            for kpi in res.table.columns.intersection(base.columns):
                iv = self.difference(name, kpi)
                rows.append({"scenario": name, "kpi": kpi, "diff": iv.mean, "half_width": iv.half_width,
                             "low": iv.low, "high": iv.high, "n": iv.n})
        return pd.DataFrame(rows)


def compare(builds: dict, plan: ReplicationPlan, *, baseline: str, progress: Callable | None = None) -> Comparison:
    """Replicate every scenario in *builds* (name -> build) under *plan* and pair them with *baseline*."""
    if baseline not in builds:
        raise ConfigurationError(f"baseline {baseline!r} is not among the scenarios {sorted(builds)}")
    results = {name: replicate(build, plan, name=name, scenario=k, progress=progress)
               for k, (name, build) in enumerate(builds.items())}
    return Comparison(results, baseline)
