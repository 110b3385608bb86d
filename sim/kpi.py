"""Time-weighted state records, streaming statistics and the KPIs computed from them.

Every accumulator here keeps O(1) memory however long the run (no traces),
and has ``reset()`` for warm-up deletion.

Machine states (:data:`MACHINE_STATES`)
---------------------------------------
``running`` producing at the nominal rate; ``idle`` able to run, nothing to
do (no order, entity server with an empty queue); ``starved`` able to run,
upstream buffer empty; ``blocked`` able to run, downstream buffer full;
``jammed`` micro-stop cleared by the operator; ``tripped`` motor protection
stopped it, cooling; ``down`` failed, waiting for a crew member or a spare
part; ``in_repair`` failed, crew at work; ``in_maintenance`` planned or
condition-triggered maintenance (waiting for the crew included);
``off_shift`` outside the shift calendar.  A flow station running at a
fraction f of its nominal rate because a neighbour is slower is recorded as
f ``running`` and 1 - f ``starved`` (or ``blocked``): running time is then
the *equivalent full-rate time*, output / nominal rate.

KPI definitions (:func:`machine_kpis`)
--------------------------------------
* planned time = observed time - ``off_shift`` time [s];
* downtime = ``tripped`` + ``down`` + ``in_repair`` + ``in_maintenance`` [s]
  (unplanned downtime: the same without ``in_maintenance``);
* operating time = planned time - downtime [s];
* availability A = operating time / planned time;
* performance P = output / (ideal rate x operating time); the ideal rate is
  the rated maximum, so micro-stops (jams), starving, blocking, idling and
  running below the rated speed all lower P;
* quality Q = good output / output;
* OEE = A x P x Q = good output / (ideal rate x planned time) (holds exactly);
* MTBF = operating time / failures [s]; MTTR = (``down`` + ``in_repair``) /
  repairs [s] (waiting for crew and parts included);
* throughput = good output / observed time [1/s];
* WIP = time average of the number of units in the system [units];
* lead time = mean time from entering to leaving the system [s];
* energy per unit = electrical energy / output [J];
* maintenance cost = labour (crew busy time x rate) + parts + fixed costs
  per intervention [currency].

The KPI catalogue (:data:`KPIS`)
--------------------------------
One entry per KPI Twinbench reports: SI unit, display unit (what a person
reads), direction (more or less is better) and a one-line definition.
Reports, plots, rankings and sweep metrics read it, never a list of their
own.  :func:`kpi_info` resolves ``<station>.<kpi>`` names, :func:`to_display`
converts (one exact affine map per display unit, tested against pint),
:func:`is_better` and :func:`rank` order values best first.  Each unit also
has an ASCII spelling (``degC``) for names that allow nothing else.

Values are SI inside ``sim/`` and in the data frames passed between steps; where a person reads them (CSV
files, MLflow metrics, reports, the console) they are in the display unit: :func:`display_table` converts a long
KPI table and adds a ``unit`` column, :func:`display_columns` a wide one, and :func:`display_name` names a KPI
with its unit (``throughput_units_per_h``) for metric names and wide columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import Mapping

import simpy

from sim.exceptions import ConfigurationError

__all__ = ["MACHINE_STATES", "DOWN_STATES", "StateRecorder", "Tally", "TimeAverage", "machine_kpis", "safe_ratio",
           "KPI", "KPIS", "Unit", "UNITS", "UnknownKPIError", "kpi_info", "to_display", "is_better", "rank",
           "VALUE_COLUMNS", "DIFFERENCE_COLUMNS", "display_name", "display_table", "display_columns"]

MACHINE_STATES = ("running", "idle", "starved", "blocked", "jammed", "tripped", "down", "in_repair",
                  "in_maintenance", "off_shift")
DOWN_STATES = ("tripped", "down", "in_repair", "in_maintenance")


class StateRecorder:
    """Accumulates the time spent in each discrete state; memory is flat in run length.

    Parameters
    ----------
    env : simpy.Environment
        The clock.
    states : sequence of str
        Allowed state names.
    initial : str
        State at ``env.now``.
    """

    def __init__(self, env: simpy.Environment, states, initial: str):
        self.env = env
        self.states = tuple(states)
        self._check(initial)
        self.state = initial
        self._shares: tuple | None = None
        self._since = env.now
        self._start = env.now
        self.time_in = {s: 0.0 for s in self.states}
        self.entries = {s: 0 for s in self.states}
        self.entries[initial] = 1

    def _check(self, state: str) -> None:
        if state not in self.states:
            raise ConfigurationError(f"unknown state {state!r}; allowed states: {', '.join(self.states)}")

    def _close(self, now: float) -> None:
        dt = now - self._since
        if self._shares is None:
            self.time_in[self.state] += dt
        else:
            for s, w in self._shares:
                self.time_in[s] += w * dt
            self._shares = None
        self._since = now

    def set(self, state: str) -> None:
        """Enter *state* now."""
        if state == self.state and self._shares is None:
            return
        if state not in self.time_in:
            self._check(state)
        self._close(self.env.now)
        if state != self.state:
            self.state = state
            self.entries[state] += 1

    def set_shares(self, main: str, share: float, rest: str) -> None:
        """Split time from now on: fraction *share* in *main*, the remainder in *rest*.

        Used by flow stations that run at part of their nominal rate (``running``
        0.8, ``starved`` 0.2).  ``state`` reports *main*.
        """
        if share >= 1.0:
            self.set(main)
            return
        if share <= 0.0:
            self.set(rest)
            return
        self._check(main)
        self._check(rest)
        self._close(self.env.now)
        if main != self.state:
            self.state = main
            self.entries[main] += 1
        self._shares = ((main, share), (rest, 1.0 - share))

    def reset(self) -> None:
        """Forget everything recorded so far (warm-up deletion)."""
        self.time_in = {s: 0.0 for s in self.states}
        self.entries = {s: 0 for s in self.states}
        self.entries[self.state] = 1
        self._since = self._start = self.env.now

    def durations(self) -> dict[str, float]:
        """Time [s] spent in each state up to now (the current state included)."""
        out = dict(self.time_in)
        dt = self.env.now - self._since
        if self._shares is None:
            out[self.state] += dt
        else:
            for s, w in self._shares:
                out[s] += w * dt
        return out

    @property
    def observed(self) -> float:
        """Length [s] of the observation period."""
        return self.env.now - self._start


class Tally:
    """Running count, mean, variance, min and max of observations (Welford); O(1) memory."""

    __slots__ = ("n", "mean", "_m2", "min", "max")

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        """Forget all observations."""
        self.n = 0
        self.mean = 0.0
        self._m2 = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, x: float) -> None:
        """Record observation *x*."""
        self.n += 1
        d = x - self.mean
        self.mean += d / self.n
        self._m2 += d * (x - self.mean)
        if x < self.min:
            self.min = x
        if x > self.max:
            self.max = x

    @property
    def variance(self) -> float:
        """Sample variance (n - 1 denominator); NaN below two observations."""
        return self._m2 / (self.n - 1) if self.n > 1 else math.nan

    def value(self) -> float:
        """Mean of the observations; NaN when there are none."""
        return self.mean if self.n else math.nan


class TimeAverage:
    """Time average of a piecewise-constant level (queue length, WIP, busy crew); O(1) memory.

    Parameters
    ----------
    env : simpy.Environment
        The clock.
    level : float
        Level at ``env.now``.
    """

    __slots__ = ("env", "level", "_area", "_since", "_start", "max")

    def __init__(self, env: simpy.Environment, level: float = 0.0):
        self.env = env
        self.level = float(level)
        self._area = 0.0
        self._since = self._start = env.now
        self.max = self.level

    def set(self, level: float) -> None:
        """The level is *level* from now on."""
        now = self.env.now
        self._area += self.level * (now - self._since)
        self._since = now
        self.level = level
        if level > self.max:
            self.max = level

    def add(self, delta: float) -> None:
        """Change the level by *delta* now."""
        self.set(self.level + delta)

    def reset(self) -> None:
        """Forget the past; the current level stays (warm-up deletion)."""
        self._area = 0.0
        self._since = self._start = self.env.now
        self.max = self.level

    def integral(self) -> float:
        """Integral of the level over the observation period [level x s]."""
        return self._area + self.level * (self.env.now - self._since)

    def value(self) -> float:
        """Time average since the start or the last reset; NaN for an empty period."""
        return safe_ratio(self.integral(), self.env.now - self._start)


def safe_ratio(num: float, den: float) -> float:
    """``num / den``, or NaN when *den* is not positive."""
    return num / den if den > 0 else math.nan


def machine_kpis(durations: dict, *, output: float, good: float, ideal_rate: float, failures: int,
                 energy: float = 0.0, maintenance_cost: float = 0.0) -> dict[str, float]:
    """KPIs of one machine from its state durations and counters (definitions in the module docstring).

    Parameters
    ----------
    durations : dict
        Time [s] per state of :data:`MACHINE_STATES` (missing states count 0).
    output, good : float
        Units produced and good units produced [units].
    ideal_rate : float
        Output rate at the rated maximum speed [1/s].
    failures : int
        Number of failures (each followed by one repair).
    energy : float
        Electrical energy used [J].
    maintenance_cost : float
        Labour, parts and fixed costs of repairs and maintenance [currency].
    """
    observed = sum(durations.values())
    d = {s: durations.get(s, 0.0) for s in MACHINE_STATES}
    planned = observed - d["off_shift"]
    downtime = sum(d[s] for s in DOWN_STATES)
    operating = planned - downtime
    availability = safe_ratio(operating, planned)
    performance = safe_ratio(output, ideal_rate * operating)
    quality = safe_ratio(good, output)
    return {
        "availability": availability,
        "performance": performance,
        "quality": quality,
        "oee": availability * performance * quality,
        "throughput": safe_ratio(good, observed),
        "output": float(output),
        "good_output": float(good),
        "failures": float(failures),
        "mtbf": safe_ratio(operating, failures),
        "mttr": safe_ratio(d["down"] + d["in_repair"], failures),
        "unplanned_downtime": downtime - d["in_maintenance"],
        "maintenance_time": d["in_maintenance"],
        "energy_per_unit": safe_ratio(energy, output),
        "maintenance_cost": float(maintenance_cost),
    }


# --------------------------------------------------------------------------------------------- the catalogue
@dataclass(frozen=True)
class Unit:
    """A unit a KPI is stated in, and the exact affine map to it from the KPI's SI unit.

    *label* is what a person reads (``"units/h"``, ``"°C"``); *ascii* the same in ASCII, for names that allow
    nothing else (CSV columns, MLflow metric names); *pint* the pint expression of the quantity (counts and
    currency are ``"dimensionless"``).  *si* is the label of the SI unit it is converted from (None: it is an
    SI unit); a value in this unit = *scale* x the SI value + *offset*, with *scale* a
    :class:`~fractions.Fraction` applied as ``x * numerator / denominator``, so that each conversion here is one
    correctly rounded operation (plus the offset, for °C).
    """

    label: str
    ascii: str
    pint: str
    si: str | None = None
    scale: Fraction = Fraction(1)
    offset: float = 0.0


#: The units of the catalogue, by label: SI units first, then the display units converted from them.
UNITS: Mapping[str, Unit] = MappingProxyType({u.label: u for u in (
    Unit("1", "1", "dimensionless"),
    Unit("units", "units", "dimensionless"),
    Unit("1/s", "1/s", "1/second"),
    Unit("s", "s", "second"),
    Unit("J/unit", "J/unit", "joule"),
    Unit("K", "K", "kelvin"),
    Unit("currency", "currency", "dimensionless"),
    Unit("-", "-", "dimensionless", si="1"),
    Unit("units/h", "units/h", "1/hour", si="1/s", scale=Fraction(3600)),
    Unit("h", "h", "hour", si="s", scale=Fraction(1, 3600)),
    Unit("Wh/unit", "Wh/unit", "watt_hour", si="J/unit", scale=Fraction(1, 3600)),
    Unit("°C", "degC", "degC", si="K", offset=-273.15),
    Unit("%", "pct", "percent", si="1", scale=Fraction(100)),
)})

DIRECTIONS = ("more", "less")


class UnknownKPIError(ConfigurationError):
    """A KPI name that is not in :data:`KPIS` (nor ``<station>.<kpi>`` of one)."""


@dataclass(frozen=True)
class KPI:
    """One KPI: *name*, SI unit, display unit, *direction* (``"more"`` or ``"less"`` is better), *definition*."""

    name: str
    si_unit: Unit
    display_unit: Unit
    direction: str
    definition: str

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise ConfigurationError(f"KPI {self.name!r}: direction {self.direction!r}; use one of {DIRECTIONS}")
        if (self.display_unit.si or self.display_unit.label) != self.si_unit.label:
            raise ConfigurationError(f"KPI {self.name!r}: display unit {self.display_unit.label!r} is not converted "
                                     f"from {self.si_unit.label!r}; add that unit to sim.kpi.UNITS")

    @property
    def sign(self) -> int:
        """+1 when more is better, -1 when less is better."""
        return 1 if self.direction == "more" else -1

    @property
    def ratio_scale(self) -> bool:
        """True when zero in the display unit is a true zero (relative changes mean something; not °C)."""
        return self.display_unit.offset == 0.0

    def to_display(self, si_value, *, difference: bool = False):
        """*si_value* (a number, array or Series) in the display unit; *difference*: a difference or half-width
        (the scale only, no offset)."""
        u = self.display_unit
        value = si_value * u.scale.numerator / u.scale.denominator if u.scale != 1 else si_value
        return value if difference or u.offset == 0.0 else value + u.offset


def _catalogue(*rows) -> Mapping[str, KPI]:
    return MappingProxyType({name: KPI(name, UNITS[si], UNITS[shown], direction, definition)
                             for name, si, shown, direction, definition in rows})


#: Every KPI Twinbench reports: line KPIs (:func:`sim.line.kpis.line_kpis`), station KPIs (reported as
#: ``<station>.<kpi>``; :func:`kpi_info` resolves them by the last dotted part), the what-if's motor peak and
#: a sweep's objective.  The order is the order of reports.
KPIS: Mapping[str, KPI] = _catalogue(
    ("throughput", "1/s", "units/h", "more", "good units leaving per unit of observed time"),
    ("oee", "1", "-", "more", "good output / (ideal rate x planned time) = availability x performance x quality"),
    ("availability", "1", "-", "more", "operating time / planned time (the line's: its bottleneck's)"),
    ("performance", "1", "-", "more", "output / (ideal rate x operating time)"),
    ("quality", "1", "-", "more", "good output / output"),
    ("output", "units", "units", "more", "good units produced in the observed period (a station's: all)"),
    ("good_output", "units", "units", "more", "good units a station produced in the observed period"),
    ("wip", "units", "units", "less", "time average of the units in the line"),
    ("lead_time", "s", "h", "less", "mean time a unit spends in the line (Little's law: wip / throughput)"),
    ("unplanned_downtime", "s", "h", "less", "time tripped, failed or in repair (summed over stations)"),
    ("maintenance_time", "s", "h", "less", "time in planned or condition-triggered maintenance"),
    ("mtbf", "s", "h", "more", "mean operating time between failures"),
    ("mttr", "s", "h", "less", "mean time from failure to repaired (waiting for crew and parts included)"),
    ("trips", "1", "-", "less", "motor-protection trips (summed over stations)"),
    ("failures", "1", "-", "less", "failures, each followed by a repair (summed over stations)"),
    ("jams", "1", "-", "less", "micro-stops cleared by the operator (summed over stations)"),
    ("micro_stops", "1", "-", "less", "micro-stops of an entity machine"),
    ("maintenances", "1", "-", "less", "planned or condition-triggered maintenance interventions"),
    ("maintenance_cost", "currency", "currency", "less", "labour, parts and fixed costs of repairs and maintenance"),
    ("crew_cost", "currency", "currency", "less", "crew size x labour rate x time on shift, busy or not"),
    ("energy_per_unit", "J/unit", "Wh/unit", "less", "electrical energy / good output"),
    ("crew_utilisation", "1", "-", "more", "time average of the busy crew / crew size"),
    ("max_winding_temperature", "K", "°C", "less", "peak winding temperature of the calibrated motors"),
    ("insulation_ageing", "s", "h", "less", "insulation ageing of the calibrated motors: equivalent time at the "
     "insulation class's rated temperature, integral of 2^((T_winding - T_class) / 10 K) dt (10 K halving rule)"),
    ("loss_of_life", "1", "%", "less", "insulation ageing / rated insulation life (at the class temperature)"),
    ("trip_cost", "currency", "currency", "less", "motor-protection trips x cost per trip (restart scrap, stress)"),
    ("ageing_cost", "currency", "currency", "less", "insulation ageing [h] x cost per equivalent hour (rewind "
     "cost / rated life)"),
    ("motor_risk_cost", "currency", "currency", "less", "trip_cost + ageing_cost: what the action costs the motor"),
    ("stockouts", "1", "-", "less", "spare-part demands that found no part on hand (summed over parts)"),
    ("lost", "units", "units", "less", "arrivals a loss system turned away because every server was busy "
                                      "(sim.processes.SystemStats)"),
    ("blocking_probability", "1", "%", "less", "share of arrivals a loss system lost because every server was busy "
                                              "(Erlang B for M/M/c/c)"),
    ("maintenance_outside_windows", "s", "h", "less", "station time in maintenance outside the maintenance "
     "windows (a what-if's, sampled)"),
    ("failure_probability", "1", "%", "less", "P(failure before the horizon): share of a what-if's replications "
     "in which a failure mode crossed its threshold within the horizon (judged on its Wilson interval)"),
    ("objective", "1", "-", "more", "a sweep's weighted sum of KPI means (its objective.direction decides)"),
)


def kpi_info(name: str) -> KPI:
    """The catalogue entry of *name*; ``<station>.<kpi>`` resolves by its last dotted part.

    Raises
    ------
    UnknownKPIError
        If neither *name* nor its last dotted part is in :data:`KPIS`.
    """
    info = KPIS.get(name) or KPIS.get(str(name).rsplit(".", 1)[-1])
    if info is None:
        raise UnknownKPIError(f"unknown KPI {name!r}; the catalogue sim.kpi.KPIS knows {', '.join(KPIS)} "
                              f"(and <station>.<kpi> of them); add a new KPI there with its units and direction")
    return info


def to_display(name: str, si_value, *, difference: bool = False):
    """*si_value* of KPI *name* in its display unit (:meth:`KPI.to_display`)."""
    return kpi_info(name).to_display(si_value, difference=difference)


def _sign(name: str, direction: str | None) -> int:
    if direction is None:
        return kpi_info(name).sign
    if direction not in DIRECTIONS:
        raise ConfigurationError(f"direction {direction!r} for KPI {name!r}; use one of {DIRECTIONS} or None "
                                 f"(the catalogue's)")
    return 1 if direction == "more" else -1


def is_better(name: str, a: float, b: float, *, direction: str | None = None) -> bool:
    """True when value *a* of KPI *name* is strictly better than *b*; *direction* overrides the catalogue's
    (a sweep's objective)."""
    return _sign(name, direction) * (a - b) > 0


def rank(values, name: str, *, column: str | None = None, direction: str | None = None):
    """*values* (a Series, or a DataFrame sorted on *column*, default *name*) best first by KPI *name*.

    The sort is stable (ties keep their order) and NaN goes last; *direction* (``"more"``/``"less"``)
    overrides the catalogue's, for a sweep's objective.
    """
    ascending = _sign(name, direction) < 0
    if hasattr(values, "columns"):
        return values.sort_values(column or name, ascending=ascending, kind="stable", na_position="last")
    return values.sort_values(ascending=ascending, kind="stable", na_position="last")


# ------------------------------------------------------------------------------------- display at the boundary
#: Columns of a long KPI table (:func:`scenarios.whatif.report.summarize`, a sweep's summary) holding values of
#: the KPI itself: converted with the display unit's scale and offset.
VALUE_COLUMNS = ("mean", "low", "high", "p_low", "p_high")
#: Columns holding differences, half-widths or standard deviations of the KPI: the scale only, no offset (a
#: difference of 2 K is 2 °C, not -271.15 °C).
DIFFERENCE_COLUMNS = ("half_width", "diff", "diff_half_width", "diff_low", "diff_high", "sd_param", "sd_run")

# MLflow accepts alphanumerics, underscores, dashes, periods, spaces and slashes in a metric name
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-. /")


def display_name(name: str) -> str:
    """The name of KPI *name* with its display unit, for MLflow metrics and the columns of wide tables.

    ``<kpi>_<unit>`` with the unit's ASCII spelling (:attr:`Unit.ascii`, ``/`` read as ``_per_``):
    ``throughput_units_per_h``, ``max_winding_temperature_degC``, ``unplanned_downtime_h``,
    ``loss_of_life_pct``; a KPI without a unit (display unit ``-``: OEE, counts, the objective) keeps its name.
    ``<station>.<kpi>`` keeps its station: ``filler.mtbf_h``.  The map is injective over the catalogue (with
    any station prefix), and no name it makes with a unit is a catalogue KPI's own name, so a table whose
    columns are already display names is told apart from one in SI (:func:`display_columns`).

    Raises
    ------
    UnknownKPIError
        If *name* is not in :data:`KPIS` (nor ``<station>.<kpi>`` of one).
    ConfigurationError
        If the result has a character MLflow does not allow in a metric name (a station name such as
        ``"filler#1"``); rename the station.
    """
    unit = kpi_info(name).display_unit
    out = str(name) if unit.label == "-" else f"{name}_{unit.ascii.replace('/', '_per_')}"
    bad = sorted(set(out) - _NAME_CHARS)
    if bad:
        raise ConfigurationError(f"KPI {name!r}: its display name {out!r} has {bad}, which MLflow metric names "
                                 f"do not allow (only letters, digits, _ - . space /); rename the station")
    return out


def display_table(table, *, kpi_column: str = "kpi"):
    """A copy of long KPI *table* (one row per KPI, its name in *kpi_column*) in display units, with a ``unit``
    column (the display unit's label) after *kpi_column*.

    :data:`VALUE_COLUMNS` are converted with :meth:`KPI.to_display`, :data:`DIFFERENCE_COLUMNS` with
    ``difference=True``; other columns (``action``, ``n``, ...) are copied.  The values of the input stay SI.

    Raises
    ------
    UnknownKPIError
        If a row names a KPI the catalogue does not know.
    ConfigurationError
        If *table* lacks *kpi_column*, or already has a ``unit`` column (it is in display units already:
        converting twice would scale twice).
    """
    import numpy as np

    if kpi_column not in table.columns:
        raise ConfigurationError(f"display_table: no column {kpi_column!r} naming the KPI of each row in "
                                 f"{list(table.columns)}; pass kpi_column=<that column>")
    if "unit" in table.columns:
        raise ConfigurationError("display_table: the table already has a 'unit' column, so it is in display units "
                                 "already; pass the SI table (converting twice would scale twice)")
    out = table.copy()
    names = out[kpi_column].astype(str).to_numpy()
    infos = {k: kpi_info(k) for k in dict.fromkeys(names)}
    groups = {}  # one KPI per display unit stands for its rows: the map is the unit's
    for name, info in infos.items():
        groups.setdefault(info.display_unit.label, [info, []])[1].append(name)
    rows = {label: np.isin(names, members) for label, (_, members) in groups.items()}
    for columns, difference in ((VALUE_COLUMNS, False), (DIFFERENCE_COLUMNS, True)):
        for col in (c for c in columns if c in out.columns):
            values = out[col].to_numpy(dtype=float, copy=True)
            for label, (info, _) in groups.items():
                values[rows[label]] = info.to_display(values[rows[label]], difference=difference)
            out[col] = values
    out.insert(out.columns.get_loc(kpi_column) + 1, "unit", [infos[k].display_unit.label for k in names])
    return out


def display_columns(frame):
    """A copy of wide table *frame* (one column per KPI, e.g. one row per replication) with every column named
    after a catalogue KPI (``<station>.<kpi>`` too) converted to its display unit and renamed
    :func:`display_name`; other columns (``action``, ``replication``, ``draw``) are copied.

    Columns that already carry a unit (``throughput_units_per_h``) are not KPI names, so they are copied too:
    the function is idempotent, and a table written in SI by an older Twinbench reads the same as a new one.
    """
    out = frame.copy()
    renames = {}
    for col in frame.columns:
        try:
            info = kpi_info(col)
        except UnknownKPIError:
            continue
        shown = display_name(col)
        if shown != col and shown in frame.columns:
            raise ConfigurationError(f"display_columns: the table has both {col!r} (SI) and {shown!r} (display "
                                     f"units); drop one of them before converting")
        out[col] = info.to_display(frame[col].astype(float))
        renames[col] = shown
    return out.rename(columns=renames)
