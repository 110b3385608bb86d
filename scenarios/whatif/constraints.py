"""Guardrails of a what-if: hard limits on KPIs, in display units, judged on intervals.

A :class:`Constraint` bounds one KPI of the catalogue (:data:`sim.kpi.KPIS`) from above (``max``) or below
(``min``), in the KPI's display unit (°C, h, units/h, ``-`` for counts); a count or a time can be stated as a
rate ``per`` some observed time (trips per week: ``per = 168 h``); a winding temperature can be bounded by a
margin below the motor's trip limit (``below_trip`` [K]).  Each action is judged on

* ``interval`` (default): the bound of the KPI's confidence interval of the mean on the unsafe side
  (the upper bound for ``max``), so an action is excluded unless the evidence says it stays inside;
* ``prediction``: the empirical quantile of the replications on the unsafe side (a week as bad as
  ``confidence`` of the simulated weeks), stricter;
* ``mean``: the mean (not recommended: a mean can hide half the weeks over the limit).

Any KPI the what-if reports can be bounded the same way: ``stockouts <= 0`` (spare parts on hand),
``unplanned_downtime <= 6 h per week`` (a downtime cap).

**Probabilities from replications** (:data:`BINOMIAL_KPIS`: ``failure_probability``, 0 or 1 per replication,
:func:`scenarios.whatif.run.run_whatif`) are shares of replications, so their interval is a binomial one: the
**Wilson score interval** (:func:`wilson_interval`; 0 failures in 10 replications give [0, 27.8 %], never a
zero-width interval) for an action, and Newcombe's interval for the paired difference of two actions run on
common random numbers (:func:`paired_proportion_difference`).  :func:`binomial_rows` and
:func:`with_binomial` put them into a summary.  Like every constraint, ``{kpi: failure_probability, max: 5}``
is in the display unit, **percent**, and judged on the interval's upper bound: with *n* failure-free
replications the Wilson upper bound is z^2 / (n + z^2), so a limit p needs at least z^2 (1 - p) / p of them
(73 for 5 % at 95 %); the verdict says so when the replications are too few.

With several seeds per posterior draw (``whatif.seeds_per_draw > 1``) the replications of one draw share
its parameters, so their outcomes are correlated and *n* overstates the evidence: the intervals then use
Korn & Graubard's **effective number of trials** (:func:`effective_trials`, ``n_eff = p (1 - p) / Var(p)``
with the cluster variance over the draws, at most *n*), as a Student-t interval over the draw means does for
the other KPIs.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.kpi import KPIS, UnknownKPIError, kpi_info
from sim.exceptions import ConfigurationError

__all__ = ["JUDGES", "BINOMIAL_KPIS", "Constraint", "Verdict", "check_kpi", "evaluate", "binding", "is_binomial",
           "wilson_interval", "wilson_bounds", "effective_trials", "paired_proportion_difference",
           "proportion_difference", "binomial_rows", "with_binomial",
           "failure_free_replications"]

BINOMIAL_KPIS = ("failure_probability",)
"""KPIs that are 0 or 1 per replication, summarized as a share with a binomial (Wilson) interval."""

JUDGES = ("interval", "prediction", "mean")
"""How a constraint judges an action: its confidence bound, its prediction quantile, or its mean."""


def check_kpi(name: str, where: str) -> str:
    """*name* if the catalogue knows it (``<station>.<kpi>`` too); else :class:`~sim.kpi.UnknownKPIError` naming
    *where* it was given and the closest names ("did you mean")."""
    try:
        kpi_info(name)
    except UnknownKPIError:
        close = difflib.get_close_matches(str(name), list(KPIS), n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        raise UnknownKPIError(f"{where} = {name!r} is not a KPI; {hint}the catalogue sim.kpi.KPIS knows "
                              f"{', '.join(KPIS)}") from None
    return name


def is_binomial(kpi: str) -> bool:
    """True for a KPI of :data:`BINOMIAL_KPIS` (``<station>.<mode>.failure_probability`` too)."""
    return str(kpi).rsplit(".", 1)[-1] in BINOMIAL_KPIS


def _check_confidence(confidence: float) -> float:
    if isinstance(confidence, bool) or not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise ConfigurationError(f"confidence = {confidence!r} must be a level in (0, 1), e.g. 0.95")
    return float(confidence)


def _indicators(values, what: str) -> np.ndarray:
    """*values* as a float array of 0/1 (NaN dropped); anything else is an error naming the value."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    bad = x[(x != 0.0) & (x != 1.0)]
    if bad.size:
        raise ConfigurationError(f"{what}: {float(bad[0]):g} is not 0 or 1; a binomial KPI holds one indicator per "
                                 f"replication (1: the event happened within the horizon)")
    return x


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion: *successes* of *n* trials at level *confidence* [-].

    ``scipy.stats.binomtest(successes, n).proportion_ci(confidence, method="wilson")``; it never has zero
    width (0 of n gives ``[0, z^2 / (n + z^2)]``) and stays inside [0, 1].
    """
    from scipy.stats import binomtest

    confidence = _check_confidence(confidence)
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ConfigurationError(f"n = {n!r} trials: a binomial interval needs an integer n >= 1")
    if int(successes) != successes or not 0 <= successes <= n:
        raise ConfigurationError(f"successes = {successes!r} must be an integer in [0, n = {n}]")
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def wilson_bounds(share: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion *share* observed on *n* trials, *n* not necessarily an integer (an
    effective number of trials, :func:`effective_trials`): the closed form
    ``(p + z^2/2n -+ z sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n)`` [-]; equal to
    :func:`wilson_interval` for an integer *n*."""
    from scipy.stats import norm

    confidence = _check_confidence(confidence)
    if not (math.isfinite(n) and n > 0):
        raise ConfigurationError(f"n = {n!r} trials: a binomial interval needs n > 0")
    if not (math.isfinite(share) and 0.0 <= share <= 1.0):
        raise ConfigurationError(f"share = {share!r} must be a proportion in [0, 1]")
    z = float(norm.ppf(0.5 + confidence / 2.0))
    denom = 1.0 + z * z / n
    centre = (share + z * z / (2.0 * n)) / denom
    half = z * math.sqrt(share * (1.0 - share) / n + z * z / (4.0 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def effective_trials(values, clusters) -> float:
    """Korn & Graubard's (1998) effective number of trials of 0/1 *values* that come in correlated *clusters*
    (the replications of one posterior draw): ``n_eff = p (1 - p) / Var(p)``, with the cluster (ratio) estimate
    ``Var(p) = D / (D - 1) * sum_i (n_i (p_i - p))^2 / N^2`` over the ``D`` clusters of ``n_i`` values (``N``
    in all).  At most ``N`` (independent values give about ``N``; identical outcomes within every cluster give
    about ``D``); ``N`` when ``p`` is 0 or 1 (no variance to estimate the correlation from) or ``D < 2``.  NaN
    values are left out with their cluster labels."""
    x = np.asarray(values, dtype=float)
    c = np.asarray(clusters)
    if x.shape != c.shape:
        raise ConfigurationError(f"effective_trials: {x.shape[0]} values but {c.shape[0]} cluster labels")
    keep = np.isfinite(x)
    x = _indicators(x[keep], "binomial KPI")
    frame = pd.DataFrame({"x": x, "c": c[keep]})
    total = float(len(frame))
    if total < 1:
        raise ConfigurationError("effective_trials: no finite value; run at least one replication")
    p = float(frame["x"].mean())
    groups = frame.groupby("c")["x"]
    d = groups.ngroups
    if p in (0.0, 1.0) or d < 2:
        return total
    sizes = groups.size().to_numpy(float)
    shares = groups.mean().to_numpy(float)
    var = d / (d - 1.0) * float(np.sum((sizes * (shares - p)) ** 2)) / total ** 2
    return total if var <= 0 else float(min(total, p * (1.0 - p) / var))


def failure_free_replications(limit: float, confidence: float = 0.95) -> int:
    """The fewest replications, all without the event, whose Wilson upper bound is at most *limit* [-].

    From ``z^2 / (n + z^2) <= limit``: ``n >= z^2 (1 - limit) / limit`` (73 for 5 % at 95 %); 0 for a limit of
    1 or more, and no number for a limit <= 0 (raises).
    """
    from scipy.stats import norm

    confidence = _check_confidence(confidence)
    if not (math.isfinite(limit) and limit > 0):
        raise ConfigurationError(f"limit = {limit!r}: a Wilson upper bound is > 0 for every finite number of "
                                 f"replications; give a limit > 0")
    if limit >= 1:
        return 0
    z2 = norm.ppf(0.5 + confidence / 2.0) ** 2
    n = math.ceil(z2 * (1.0 - limit) / limit - 1e-9)
    while n > 1 and z2 / (n - 1 + z2) <= limit:  # guard the rounding of the closed form
        n -= 1
    return max(n, 1)


def paired_proportion_difference(x, y, confidence: float = 0.95, *, clusters=None) -> tuple[float, float, float]:
    """Difference of two proportions from *paired* 0/1 outcomes ``x[r] - y[r]`` (common random numbers):
    ``(difference, low, high)`` [-].

    Newcombe's hybrid score interval for paired data (method 10 of Newcombe 1998, *Stat. Med.* 17, 2635):
    with the Wilson intervals ``(l1, u1)``, ``(l2, u2)`` of the two proportions ``p1``, ``p2`` and the phi
    coefficient of the 2x2 table of pairs (continuity-corrected: ``ad - bc`` shrunk by ``n / 2`` towards 0 when
    positive), ``low = d - sqrt((p1 - l1)^2 - 2 phi (p1 - l1)(u2 - p2) + (u2 - p2)^2)`` and
    ``high = d + sqrt((u1 - p1)^2 - 2 phi (u1 - p1)(p2 - l2) + (p2 - l2)^2)``.  Strongly associated pairs give
    a narrower interval than independent samples would; no event in either (0 of n twice) gives ``[-u, u]``,
    not zero width.  (The same formula as R's ``biostatUZH::confIntPairedProportion``.)  With *clusters*
    (the posterior draw of each pair; replications of one draw are correlated) the two Wilson intervals use
    their :func:`effective_trials` instead of *n*.
    """
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ConfigurationError(f"paired outcomes need two 1-d arrays of one length, got {a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    a = _indicators(a[keep], "paired outcome")
    b = _indicators(b[keep], "paired outcome")
    n = a.size
    if n < 1:
        raise ConfigurationError("paired outcomes: no pair with both values; run at least one replication")
    both, only_a = float(np.sum(a * b)), float(np.sum(a * (1 - b)))
    only_b, neither = float(np.sum((1 - a) * b)), float(np.sum((1 - a) * (1 - b)))
    p1, p2 = (both + only_a) / n, (both + only_b) / n
    if clusters is None:
        l1, u1 = wilson_interval(int(both + only_a), n, confidence)
        l2, u2 = wilson_interval(int(both + only_b), n, confidence)
    else:
        c = np.asarray(clusters)
        if c.shape != keep.shape:
            raise ConfigurationError(f"paired outcomes: {keep.size} pairs but {c.size} cluster labels")
        l1, u1 = wilson_bounds(p1, effective_trials(a, c[keep]), confidence)
        l2, u2 = wilson_bounds(p2, effective_trials(b, c[keep]), confidence)
    denom = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    cross = both * neither - only_a * only_b
    # Newcombe's continuity-corrected phi: a positive association is shrunk by n / 2 (not below 0)
    cross = max(cross - n / 2.0, 0.0) if cross > 0 else cross
    phi = cross / math.sqrt(denom) if denom > 0 else 0.0
    d = p1 - p2
    low = d - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = d + math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return d, max(low, -1.0), min(high, 1.0)


def proportion_difference(x, y, confidence: float = 0.95) -> tuple[float, float, float]:
    """Difference of two proportions from *independent* 0/1 outcomes (replications that do not share random
    numbers; the lengths may differ): ``(difference, low, high)`` [-].

    Newcombe's hybrid score interval for independent samples (method 10 of Newcombe 1998, *Stat. Med.* 17, 873):
    ``low = d - sqrt((p1 - l1)^2 + (u2 - p2)^2)``, ``high = d + sqrt((u1 - p1)^2 + (p2 - l2)^2)`` with the
    Wilson intervals of the two proportions - :func:`paired_proportion_difference` with no association.  Unlike
    the Wald or Welch interval it never has zero width (0 of n and 0 of m give ``[-u2, u1]``) and stays inside
    [-1, 1].  NaN outcomes are left out.
    """
    a = _indicators(x, "outcome")
    b = _indicators(y, "outcome")
    if a.size < 1 or b.size < 1:
        raise ConfigurationError(f"proportion difference: {a.size} and {b.size} outcomes; each side needs at "
                                 f"least one replication")
    k1, n1, k2, n2 = int(a.sum()), int(a.size), int(b.sum()), int(b.size)
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, confidence)
    l2, u2 = wilson_interval(k2, n2, confidence)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, max(low, -1.0), min(high, 1.0)


def binomial_rows(values, base_values=None, confidence: float = 0.95, *, clusters=None) -> dict:
    """The summary columns of a binomial KPI of one action (0/1 per replication): the share ``mean`` with its
    Wilson interval (``low``, ``high``, ``half_width`` = half its width; the interval is not symmetric about the
    mean) and, with the baseline's *base_values* of the same replications, the paired difference with
    Newcombe's interval (``diff``, ``diff_low``, ``diff_high``, ``diff_half_width``); ``interval`` is
    ``"wilson"``.  Replications whose value is NaN are left out (pairs: either is NaN).  With *clusters* (each
    replication's posterior draw) the intervals rest on the :func:`effective_trials` ``n_eff`` (reported; *n*
    otherwise)."""
    x = _indicators(values, "binomial KPI")
    if x.size < 1:
        raise ConfigurationError("binomial KPI: no replication reports it; run at least one")
    k, n = int(x.sum()), int(x.size)
    if clusters is None:
        n_eff = float(n)
        low, high = wilson_interval(k, n, confidence)
    else:
        n_eff = effective_trials(values, clusters)
        low, high = wilson_bounds(k / n, n_eff, confidence)
    out = {"n": n, "n_eff": n_eff, "mean": k / n, "low": low, "high": high, "half_width": (high - low) / 2.0,
           "diff": 0.0, "diff_low": 0.0, "diff_high": 0.0, "diff_half_width": 0.0, "interval": "wilson"}
    if base_values is not None:
        d, dl, dh = paired_proportion_difference(values, base_values, confidence, clusters=clusters)
        out.update(diff=d, diff_low=dl, diff_high=dh, diff_half_width=(dh - dl) / 2.0)
    return out


def with_binomial(summary: pd.DataFrame, kpis: pd.DataFrame, *, baseline: str,
                  confidence: float = 0.95) -> pd.DataFrame:
    """*summary* (:func:`scenarios.whatif.report.summarize` of the replications *kpis*) with the rows of every
    binomial KPI (:func:`is_binomial`) replaced by :func:`binomial_rows`: Wilson intervals and paired
    differences to *baseline* (replication r of an action with replication r of the baseline); with a
    ``draw`` column holding several replications per draw, on the effective number of trials.  The
    quantiles and variance components of those rows are kept; other rows are untouched."""
    out = summary.copy()
    if "interval" not in out.columns:
        out["interval"] = "t"
    mask = out["kpi"].map(is_binomial)
    if not mask.any():
        return out
    for column in ("n_eff", "low", "high", "half_width", "diff", "diff_low", "diff_high", "diff_half_width"):
        if column not in out.columns:
            out[column] = np.nan
    base = kpis[kpis["action"] == baseline].set_index("replication")
    nested = "draw" in kpis.columns and kpis.groupby(["action", "draw"]).size().max() > 1
    for i in out.index[mask]:
        action, kpi = out.at[i, "action"], out.at[i, "kpi"]
        group = kpis[kpis["action"] == action].set_index("replication")
        ref = None
        if action != baseline:
            both = group.index.intersection(base.index)
            ref = base.loc[both, kpi].to_numpy(dtype=float)
            group = group.loc[both]
        draws = group["draw"].to_numpy() if nested else None
        for key, value in binomial_rows(group[kpi].to_numpy(dtype=float), ref, confidence,
                                        clusters=draws).items():
            out.at[i, key] = value
    return out


@dataclass(frozen=True)
class Verdict:
    """One action judged against one constraint (values in the KPI's display unit)."""

    constraint: str
    action: str
    kpi: str
    value: float
    bound: float
    unit: str
    ok: bool
    margin: float  # how far inside the bound (negative: violated) [display unit]
    note: str = ""  # what the value rests on, when it says more than the number (a binomial KPI's count)

    @property
    def text(self) -> str:
        unit = "" if self.unit == "-" else f" {self.unit}"
        note = f" ({self.note})" if self.note else ""
        return (f"{self.constraint}: {_num(self.value)}{unit} "
                f"{'within' if self.ok else 'violates'} the bound {_num(self.bound)}{unit}{note}")


@dataclass(frozen=True)
class Constraint:
    """A hard limit on KPI *kpi* of every action (see the module docstring).

    Parameters
    ----------
    kpi : str
        A KPI of :data:`sim.kpi.KPIS`.
    max, min : float, optional
        Upper / lower limit in the KPI's display unit (a rate with *per*).
    per : float, optional
        State the limit per this much observed time [s] (e.g. 604800 for "per week"): the KPI of a run is
        scaled by ``per / horizon``.  Only for counts and times.
    below_trip : float, optional
        Upper limit = the motor's trip temperature minus this margin [K]; only for temperature KPIs.
    judge : str
        One of :data:`JUDGES`.
    name : str
        Shown in the report (default: made from the limit).
    """

    kpi: str
    max: float | None = None
    min: float | None = None
    per: float | None = None
    below_trip: float | None = None
    judge: str = "interval"
    name: str = ""

    def __post_init__(self):
        check_kpi(self.kpi, "constraint kpi")
        info = kpi_info(self.kpi)
        given = [k for k in ("max", "min", "below_trip") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ConfigurationError(f"constraint on {self.kpi!r}: give exactly one of max, min, below_trip "
                                     f"(got {given or 'none'})")
        for key in given:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigurationError(f"constraint on {self.kpi!r}: {key} = {value!r} must be a finite number in "
                                         f"{info.display_unit.label}")
        if self.judge not in JUDGES:
            raise ConfigurationError(f"constraint on {self.kpi!r}: judge = {self.judge!r}; use one of {JUDGES}")
        if self.per is not None:
            if not (isinstance(self.per, (int, float)) and math.isfinite(self.per) and self.per > 0):
                raise ConfigurationError(f"constraint on {self.kpi!r}: per = {self.per!r} must be a time > 0 [s]")
            if info.si_unit.label not in ("1", "s", "currency"):
                raise ConfigurationError(f"constraint on {self.kpi!r}: per (a rate) applies to counts, times and "
                                         f"costs, not to {info.si_unit.label}")
            if is_binomial(self.kpi):
                raise ConfigurationError(f"constraint on {self.kpi!r}: per = {self.per!r} s cannot apply to a "
                                         f"probability (P(failure) does not scale with time); drop per and set the "
                                         f"what-if's horizon (whatif.horizon_h) to the time the limit is about")
        if self.below_trip is not None:
            if info.si_unit.label != "K":
                raise ConfigurationError(f"constraint on {self.kpi!r}: below_trip bounds a temperature KPI "
                                         f"(max_winding_temperature), not one in {info.si_unit.label}")
            if self.below_trip < 0:
                raise ConfigurationError(f"constraint on {self.kpi!r}: below_trip = {self.below_trip!r} K must be a "
                                         f"margin >= 0 below the trip limit")

    @property
    def upper(self) -> bool:
        """True for an upper limit (``max``, ``below_trip``)."""
        return self.min is None

    @property
    def label(self) -> str:
        """The constraint as a person reads it, e.g. ``trips <= 1 per 168 h (upper 95 % bound)``."""
        if self.name:
            return self.name
        unit = kpi_info(self.kpi).display_unit.label
        unit = "" if unit == "-" else f" {unit}"
        if self.below_trip is not None:
            limit = f"<= trip limit - {_num(self.below_trip)} K"
        else:
            limit = f"{'<=' if self.upper else '>='} {_num(self.max if self.upper else self.min)}{unit}"
        per = f" per {_num(self.per / 3600.0)} h" if self.per is not None else ""
        return f"{self.kpi} {limit}{per}"

    def bound(self, *, trip_temperature: float | None = None) -> float:
        """The limit in the display unit (with *trip_temperature* [K] for ``below_trip``)."""
        if self.below_trip is not None:
            if trip_temperature is None:
                raise ConfigurationError(f"constraint {self.label!r} needs the motor's trip temperature")
            return float(kpi_info(self.kpi).to_display(trip_temperature - self.below_trip))
        return float(self.max if self.upper else self.min)

    def judged(self, row, *, horizon: float, confidence: float = 0.95) -> float:
        """The value of an action's summary *row* (``mean``, ``low``, ``high``, ``p_low``, ``p_high`` [SI]) this
        constraint judges, in the display unit (per ``per``).

        A binomial KPI (:func:`is_binomial`) is judged on its Wilson interval: the row's own when it has one
        (``interval == "wilson"``, :func:`with_binomial`), else the Wilson interval of ``round(mean * n)`` of
        ``n`` at *confidence* (a t-interval of 0/1 values has zero width when no replication failed).
        """
        info = kpi_info(self.kpi)
        if self.judge == "mean":
            si = row["mean"]
        elif self.judge == "interval" and is_binomial(self.kpi) and row.get("interval") != "wilson":
            n = int(row["n"])
            if n < 1 or not math.isfinite(row["mean"]):
                si = math.nan
            else:
                low, high = wilson_interval(min(n, max(0, round(float(row["mean"]) * n))), n, confidence)
                si = high if self.upper else low
        elif self.judge == "interval":
            si = row["high"] if self.upper else row["low"]
        else:
            si = row["p_high"] if self.upper else row["p_low"]
        value = float(info.to_display(si))
        if self.per is not None:
            value *= self.per / horizon
        return value

    def check(self, summary: pd.DataFrame, action: str, *, horizon: float,
              trip_temperature: float | None = None, confidence: float = 0.95) -> Verdict:
        """Judge *action* of a what-if *summary* (:func:`scenarios.whatif.report.summarize`); *confidence* is
        the level of a Wilson interval computed here (:meth:`judged`)."""
        rows = summary[(summary["action"] == action) & (summary["kpi"] == self.kpi)]
        if rows.empty:
            raise ConfigurationError(f"constraint {self.label!r}: the what-if reports no {self.kpi!r} for action "
                                     f"{action!r}; it reports {sorted(set(summary['kpi']))}")
        row = rows.iloc[0]
        value = self.judged(row, horizon=horizon, confidence=confidence)
        bound = self.bound(trip_temperature=trip_temperature)
        margin = bound - value if self.upper else value - bound
        ok = bool(margin >= 0) if math.isfinite(value) else False
        note = _binomial_note(self, row, bound, ok, confidence) if is_binomial(self.kpi) else ""
        return Verdict(self.label, action, self.kpi, value, bound, kpi_info(self.kpi).display_unit.label, ok,
                       margin, note)


def _binomial_note(c: Constraint, row, bound: float, ok: bool, confidence: float) -> str:
    """The count behind a binomial verdict and, when even no failure at all could not meet an upper limit with
    this many replications, how many it would take."""
    n = int(row["n"])
    if n < 1 or not math.isfinite(row["mean"]):
        return ""
    k = min(n, max(0, round(float(row["mean"]) * n)))
    judged = {"interval": "Wilson", "prediction": "empirical quantile", "mean": "share"}[c.judge]
    note = f"{k} of {n} replications failed; {judged} {'upper' if c.upper else 'lower'} bound"
    n_eff = float(row.get("n_eff", n))
    if c.judge == "interval" and math.isfinite(n_eff) and n_eff < n - 0.05:
        note += (f" on {n_eff:.1f} effective trials (the replications of one posterior draw share its "
                 f"parameters, so they are correlated)")
    if c.judge == "interval" and c.upper and not ok and c.per is None:
        limit = bound / float(kpi_info(c.kpi).to_display(1.0, difference=True))  # the limit as a share [-]
        if limit > 0 and wilson_interval(0, n, confidence)[1] > limit:
            note += (f"; even 0 failures in {n} replications cannot show <= {_num(bound)} "
                     f"{kpi_info(c.kpi).display_unit.label} at {confidence:.0%}: run at least "
                     f"{failure_free_replications(limit, confidence)} replications")
        elif limit <= 0:
            note += "; a limit of 0 can never be shown by a finite number of replications: give a limit > 0"
    return note


def evaluate(constraints, summary: pd.DataFrame, *, horizon: float, trip_temperature: float | None = None,
             confidence: float = 0.95) -> list:
    """Every action of *summary* against every constraint: a list of :class:`Verdict`, actions in order.

    *confidence* is the level of the Wilson interval of a binomial KPI whose summary row has none of its own
    (see :meth:`Constraint.judged`; rows from :func:`with_binomial` carry theirs).
    """
    out = []
    for action in dict.fromkeys(summary["action"]):
        out += [c.check(summary, action, horizon=horizon, trip_temperature=trip_temperature, confidence=confidence)
                for c in constraints]
    return out


def binding(verdicts, action: str) -> list:
    """The verdicts that exclude *action* (violated), worst first; for a feasible action the one closest to its
    limit (the constraint that binds first), or an empty list without constraints."""
    mine = [v for v in verdicts if v.action == action]
    bad = sorted((v for v in mine if not v.ok), key=lambda v: _relative(v))
    if bad:
        return bad
    # a count held at a zero limit (no stockouts allowed, none seen) says less than a temperature 2 K below its own
    return sorted(mine, key=lambda v: (v.value == v.bound == 0, _relative(v)))[:1]


def _relative(v: Verdict) -> float:
    scale = max(abs(v.bound), 1.0)
    return v.margin / scale if math.isfinite(v.margin) else -math.inf


def _num(value: float) -> str:
    if not math.isfinite(value):
        return "nan"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"
