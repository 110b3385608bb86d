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
``unplanned_downtime <= 6 h per week`` (a downtime cap), and a probability of failure before the horizon
once the replications report one (``{kpi: failure_probability, max: 0.05}``: it needs only its catalogue
entry and a column in the replications).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

import pandas as pd

from sim.kpi import KPIS, UnknownKPIError, kpi_info
from sim.exceptions import ConfigurationError

__all__ = ["JUDGES", "Constraint", "Verdict", "check_kpi", "evaluate", "binding"]

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

    @property
    def text(self) -> str:
        unit = "" if self.unit == "-" else f" {self.unit}"
        return (f"{self.constraint}: {_num(self.value)}{unit} "
                f"{'within' if self.ok else 'violates'} the bound {_num(self.bound)}{unit}")


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

    def judged(self, row, *, horizon: float) -> float:
        """The value of an action's summary *row* (``mean``, ``low``, ``high``, ``p_low``, ``p_high`` [SI]) this
        constraint judges, in the display unit (per ``per``)."""
        info = kpi_info(self.kpi)
        if self.judge == "mean":
            si = row["mean"]
        elif self.judge == "interval":
            si = row["high"] if self.upper else row["low"]
        else:
            si = row["p_high"] if self.upper else row["p_low"]
        value = float(info.to_display(si))
        if self.per is not None:
            value *= self.per / horizon
        return value

    def check(self, summary: pd.DataFrame, action: str, *, horizon: float,
              trip_temperature: float | None = None) -> Verdict:
        """Judge *action* of a what-if *summary* (:func:`scenarios.whatif.report.summarize`)."""
        rows = summary[(summary["action"] == action) & (summary["kpi"] == self.kpi)]
        if rows.empty:
            raise ConfigurationError(f"constraint {self.label!r}: the what-if reports no {self.kpi!r} for action "
                                     f"{action!r}; it reports {sorted(set(summary['kpi']))}")
        value = self.judged(rows.iloc[0], horizon=horizon)
        bound = self.bound(trip_temperature=trip_temperature)
        margin = bound - value if self.upper else value - bound
        ok = bool(margin >= 0) if math.isfinite(value) else False
        return Verdict(self.label, action, self.kpi, value, bound, kpi_info(self.kpi).display_unit.label, ok,
                       margin)


def evaluate(constraints, summary: pd.DataFrame, *, horizon: float, trip_temperature: float | None = None) -> list:
    """Every action of *summary* against every constraint: a list of :class:`Verdict`, actions in order."""
    out = []
    for action in dict.fromkeys(summary["action"]):
        out += [c.check(summary, action, horizon=horizon, trip_temperature=trip_temperature) for c in constraints]
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
