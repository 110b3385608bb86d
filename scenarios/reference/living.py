r"""The living reference scenario: days of filler-drive telemetry with injected events, and their truth.

:func:`generate_living_telemetry` simulates the filler's pump drive
(:data:`sim.physics.filler_drive.FILLER_DRIVE`, the same truth as
:mod:`scenarios.reference.faults`: the pump differs from its nameplate by
:data:`~scenarios.reference.faults.TRUTH_PUMP_PARAMS`) over several days of a
bottling line's life and writes what the plant historian records, in the
columns, units and noise of :mod:`scenarios.reference.faults`.

The duty is a production calendar in local plant time: Monday to Saturday two
shifts (06:00-22:00) with a changeover stop at 14:00-14:30, Sunday one shift
(06:00-14:00); within a shift the line speed changes in blocks of 10-40 min
(86-103 % of the rated speed) with a few short unplanned stops.  When the line
does not fill, the pump keeps the product loop moving at :data:`IDLE_SPEED`
(so the pump never stands against the static head).  The hall ambient follows
a daily cycle, day-to-day weather and fast fluctuations.

Events (:data:`EVENT_KINDS`), each on its own days, separated by clean days
(:data:`EVENTS` is the default calendar; :func:`truth_events` the table):

* ``strainer_fouling`` - the strainer's fouling rate ``fouling_rate`` [1/m^6]
  jumps (a product with pulp); the flow falls, the discharge pressure and
  (a little) the current rise until the strainer is cleaned.
* ``heat_wave`` - several days of warmer hall air, *measured* by the hall
  sensor: a twin that follows its ambient input must neither alarm nor
  recalibrate.  Expected diagnosis ``no_fault``.
* ``ambient_load`` - inside the heat wave the motor's ventilation fails: the
  air around the motor warms by ``ambient_load`` [K], which no sensor measures.
* ``sensor_drift`` - the winding-temperature sensor drifts at
  ``sensor_drift_rate`` [K/s]; the motor and its current do not change.
* ``bearing_wear`` - the pump bearing loses its lubrication: its wear state
  (``bearing_wear``, 0 new, 1 failure) grows at ``bearing_wear_rate`` [1/s]
  towards the threshold and the vibration with it, until the bearing is
  replaced.

An event's end is a maintenance action: the strainer cleaned, the ventilation
repaired, the sensor recalibrated, the bearing replaced.  Maintenance restores
the *healthy* condition - the state the drive would have had without the event
(the background fouling and wear of the healthy drive go on) - so the clean
days after an event carry no trace of it.

Deterministic: the same :class:`LivingScenario` gives a byte-identical file::

    python -m scenarios.reference.living --out scenarios/reference/data/living_telemetry.csv

writes the telemetry and ``living_events.json`` (the truth table) next to it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

# faults.py's historian scaling and steady-state start are reused as they are, so both scenarios write alike
from scenarios.reference.faults import _OFFSET, _SCALE, COLUMNS, NOISE, TRUTH_PUMP_PARAMS, _steady_state
from sim.exceptions import ConfigurationError
from sim.physics import RK4
from sim.physics.filler_drive import FILLER_DRIVE, FILLER_DRIVE_SPEC
from sim.telemetry import ChannelMap, TelemetryStream, read_frame

__all__ = ["DATA_DIR", "EVENTS", "EVENTS_PATH", "EVENT_KINDS", "IDLE_SPEED", "LIVING_PATH", "EventKind",
           "LivingEvent", "LivingScenario", "clean_days", "failure_time", "generate_living_telemetry", "injected_defects",
           "living_channel_map", "read_living_telemetry", "simulate_living_truth", "truth_events",
           "truth_parameters", "write_living_telemetry"]

DATA_DIR = Path(__file__).with_name("data")
LIVING_PATH = DATA_DIR / "living_telemetry.csv"
EVENTS_PATH = DATA_DIR / "living_events.json"

#: Pump speed while the line does not fill (product recirculation), as a fraction of the rated speed [-].
IDLE_SPEED = 0.6
#: Line-speed set points during production, as fractions of the rated speed [-].
LINE_SPEEDS = (0.86, 0.9, 0.94, 0.97, 1.0, 1.03)
#: Probability that a 10-40 min block of production is a short unplanned stop (5-15 min) instead [-].
STOP_PROBABILITY = 0.05


@dataclass(frozen=True)
class EventKind:
    """What an event of one kind does and what a twin should say about it.

    Attributes
    ----------
    asset : str
        The part of the plant affected.
    parameter : str
        The truth parameter the event sets (a :data:`FILLER_DRIVE` parameter, or ``hall_ambient_rise``).
    unit : str
        SI unit of *parameter*.
    default : float
        Default magnitude: the parameter's value during the event [unit].
    channels : tuple of str
        Measured channels (twin variable names) the event changes.
    hypothesis : str
        The diagnosis hypothesis that is right for it (``no_fault``: nothing to diagnose).
    alarm : bool
        Whether a twin should alarm (False for a measured change the twin follows).
    reset_state : str or None
        The drive state that maintenance returns to its healthy value at the event's end.
    failure_level : float or None
        The value of *reset_state* at which the part fails (None: no failure threshold); see
        :func:`failure_time`.
    end_action : str
        What ends the event.
    description : str
        The story.
    """

    asset: str
    parameter: str
    unit: str
    default: float
    channels: tuple
    hypothesis: str
    alarm: bool
    reset_state: str | None
    end_action: str
    description: str
    failure_level: float | None = None


#: Event kind -> :class:`EventKind`.
EVENT_KINDS = {
    "strainer_fouling": EventKind(
        "filler pump suction strainer", "fouling_rate", "1/m^6", 3.0,
        ("flow", "discharge_pressure", "motor_current", "winding_temperature"), "strainer_fouling", True,
        "strainer_resistance", "strainer cleaned",
        "a product with pulp clogs the suction strainer: its resistance grows with the volume pumped; the flow falls, "
        "the pump moves up its curve (discharge pressure rises) and away from its best-efficiency point (the current "
        "rises a little and warms the winding)"),
    "heat_wave": EventKind(
        "hall", "hall_ambient_rise", "K", 7.0, ("ambient_temperature", "winding_temperature"), "no_fault", False,
        None, "weather back to normal", "a heat wave warms the hall for days; the hall sensor measures it and the "
                                        "motor runs warmer as the twin predicts from its ambient input"),
    "ambient_load": EventKind(
        "filler motor ventilation", "ambient_load", "K", 5.0, ("winding_temperature",), "ambient_load", True, None,
        "ventilation repaired", "the motor's ventilation fails: the air around the motor is warmer than the hall "
                                "sensor says, the winding heats up, the hydraulics do not change"),
    "sensor_drift": EventKind(
        "filler motor winding sensor", "sensor_drift_rate", "K/s", 0.25 / 3600.0, ("winding_temperature",),
        "sensor_drift", True, "sensor_offset", "sensor recalibrated",
        "the winding-temperature sensor drifts slowly; the motor and its current do not change"),
    "bearing_wear": EventKind(
        "filler pump bearing", "bearing_wear_rate", "1/s", 1.5e-5, ("vibration_rms",), "bearing_wear", True,
        "bearing_wear", "bearing replaced", "the pump bearing loses its lubrication: its wear state grows towards "
                                            "failure (1) and the vibration with it", failure_level=1.0),
}


@dataclass(frozen=True)
class LivingEvent:
    """One injected event.

    Attributes
    ----------
    kind : str
        One of :data:`EVENT_KINDS`.
    onset_h, end_h : float
        Start and end after the record's start [h]; on the sampling grid.
    magnitude : float or None
        The parameter's value during the event [its SI unit]; None: the kind's default.
    name : str or None
        Name in the truth table; None: the kind.
    """

    kind: str
    onset_h: float
    end_h: float
    magnitude: float | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        """The event's name in the truth table."""
        return self.name or self.kind

    @property
    def value(self) -> float:
        """The event parameter's value during the event [SI]."""
        return float(EVENT_KINDS[self.kind].default if self.magnitude is None else self.magnitude)


#: The default calendar (start Monday 2026-07-20 00:00 local): the strainer fouls on Tuesday 09:30-22:00, a heat
#: wave warms the hall from Thursday 04:00 to Friday 22:00 (the motor's ventilation fails on Friday 10:15-20:00),
#: the winding sensor drifts on Sunday 07:00-22:00 and the pump bearing wears out on the second Tuesday
#: 06:00-20:00; Monday, Wednesday, Saturday and the second Monday are clean.
EVENTS = (
    LivingEvent("strainer_fouling", 24.0 + 9.5, 24.0 + 22.0),
    LivingEvent("heat_wave", 72.0 + 4.0, 96.0 + 22.0),
    LivingEvent("ambient_load", 96.0 + 10.25, 96.0 + 20.0),
    LivingEvent("sensor_drift", 144.0 + 7.0, 144.0 + 22.0),
    LivingEvent("bearing_wear", 192.0 + 6.0, 192.0 + 20.0),
)


@dataclass(frozen=True)
class LivingScenario:
    """What :func:`generate_living_telemetry` simulates.

    Attributes
    ----------
    days : float
        Length of the record [d].
    period : float
        Historian sampling period [s].
    seed : int
        Seed of duty, weather, noise and defects.
    events : tuple of LivingEvent
        The injected events.
    start : str
        Local plant time of the first sample, with its UTC offset (the calendar runs on this clock).
    truth_params : dict
        Parameters of the truth that differ from the spec defaults [SI].
    noise : dict
        Noise standard deviation per channel [historian unit].
    ambient_mean_c, ambient_amplitude_c : float
        Mean hall temperature [degC] and half its daily swing [K] (peak at 15:00).
    weather_c : float
        Standard deviation of the day-to-day change of the daily mean [K].
    defects : bool
        Write a few bad cells, an out-of-range value and a double write (for the gates).
    """

    days: float = 9.0
    period: float = 60.0
    seed: int = 20260720
    events: tuple = EVENTS
    start: str = "2026-07-20T00:00:00+02:00"
    truth_params: dict = field(default_factory=lambda: dict(TRUTH_PUMP_PARAMS))
    noise: dict = field(default_factory=lambda: dict(NOISE))
    ambient_mean_c: float = 22.0
    ambient_amplitude_c: float = 4.5
    weather_c: float = 1.2
    defects: bool = True

    def __post_init__(self):
        if not (self.period > 0 and self.days * 86400.0 >= 20 * self.period):
            raise ConfigurationError(f"days = {self.days} and period = {self.period} s must give at least 20 samples "
                                     f"with period > 0; lengthen the record or shorten the period")
        seen = {}
        for ev in self.events:
            if not isinstance(ev, LivingEvent):
                raise ConfigurationError(f"event {ev!r} is not a LivingEvent; fix: build it with LivingEvent(kind, "
                                         f"onset_h, end_h)")
            if ev.kind not in EVENT_KINDS:
                raise ConfigurationError(f"event kind = {ev.kind!r} is not known; choose one of {sorted(EVENT_KINDS)}")
            if not 0.0 <= ev.onset_h < ev.end_h <= self.days * 24.0:
                raise ConfigurationError(f"event {ev.label!r}: onset_h = {ev.onset_h} and end_h = {ev.end_h} must "
                                         f"satisfy 0 <= onset_h < end_h <= days * 24 = {self.days * 24.0}")
            for hours in (ev.onset_h, ev.end_h):
                steps = hours * 3600.0 / self.period
                if abs(steps - round(steps)) > 1e-9:
                    raise ConfigurationError(f"event {ev.label!r}: {hours} h is not on the {self.period} s sampling "
                                             f"grid; fix: give onsets and ends on multiples of the period")
            if ev.label in seen:
                raise ConfigurationError(f"event name {ev.label!r} is used twice; fix: give each event its own name")
            for other in self.events:
                if other is not ev and other.kind == ev.kind and other.onset_h < ev.end_h and ev.onset_h < other.end_h:
                    raise ConfigurationError(f"events {ev.label!r} and {other.label!r} of kind {ev.kind!r} overlap; "
                                             f"fix: one event of a kind at a time")
            seen[ev.label] = ev

    @property
    def t0(self) -> pd.Timestamp:
        """UTC time of the first sample."""
        return pd.Timestamp(self.start).tz_convert("UTC")

    @property
    def times(self) -> np.ndarray:
        """Sample times after the start [s]."""
        return np.arange(0.0, self.days * 86400.0 - 1e-9, self.period)

    def at(self, hours: float) -> pd.Timestamp:
        """UTC time *hours* after the start."""
        return self.t0 + pd.Timedelta(seconds=round(hours * 3600.0, 6))


# ----------------------------------------------------------------- duty and weather
def _local_clock(sc: LivingScenario, t: np.ndarray):
    """Weekday (Monday 0) and hour of day [h] in local plant time (the start's UTC offset) at times *t* [s]."""
    start = pd.Timestamp(sc.start)
    seconds = start.hour * 3600.0 + start.minute * 60.0 + start.second + t
    day = np.floor(seconds / 86400.0)
    return ((start.weekday() + day) % 7).astype(int), (seconds - day * 86400.0) / 3600.0


def _producing(weekday: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """Whether the line fills: Mon-Sat 06-22 h, Sun 06-14 h, except the changeover stop 14:00-14:30."""
    end = np.where(weekday == 6, 14.0, 22.0)
    changeover = (hour >= 14.0) & (hour < 14.5)
    return (hour >= 6.0) & (hour < end) & ~changeover


def _duty(sc: LivingScenario, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shaft speed [rad/s] and production flag on the grid *t* [s]."""
    rng = np.random.default_rng([sc.seed, 0])
    ref = FILLER_DRIVE_SPEC.var("params", "reference_speed").default
    factor = np.empty(t.size)
    j = 0
    while j < t.size:
        if rng.uniform() < STOP_PROBABILITY:
            n, level = max(1, int(rng.uniform(300.0, 900.0) / sc.period)), IDLE_SPEED
        else:
            n, level = max(1, int(rng.uniform(600.0, 2400.0) / sc.period)), float(rng.choice(LINE_SPEEDS))
        factor[j:j + n] = level
        j += n
    producing = _producing(*_local_clock(sc, t))
    return ref * np.where(producing, factor, IDLE_SPEED), producing


def _heat_wave_rise(sc: LivingScenario, t: np.ndarray) -> np.ndarray:
    """Excess hall temperature of the heat waves [K]: raised-cosine ramps of 8 h, zero outside each event."""
    rise = np.zeros(t.size)
    for ev in sc.events:
        if ev.kind != "heat_wave":
            continue
        a, b = ev.onset_h * 3600.0, ev.end_h * 3600.0
        ramp = min(8 * 3600.0, (b - a) / 2.0)
        up = np.clip((t - a) / ramp, 0.0, 1.0)
        down = np.clip((b - t) / ramp, 0.0, 1.0)
        rise += ev.value * 0.5 * (1 - np.cos(np.pi * up)) * 0.5 * (1 - np.cos(np.pi * down))
    return rise


def _ambient(sc: LivingScenario, t: np.ndarray) -> np.ndarray:
    """Hall ambient [K]: daily cycle (peak 15:00 local), day-to-day weather, fast fluctuations, heat waves."""
    rng = np.random.default_rng([sc.seed, 1])
    _weekday, hour = _local_clock(sc, t)
    days = int(math.ceil(sc.days)) + 2
    noon = (np.arange(days) - 1) * 86400.0 + (12.0 - hour[0]) * 3600.0  # local noons around the record
    weather = np.interp(t, noon, np.cumsum(rng.normal(0.0, sc.weather_c, days)) * 0.7)
    phi = 0.995 ** (sc.period / 10.0)  # the fast fluctuation of faults.py at this period
    shocks = rng.normal(0.0, 0.02 * math.sqrt((1 - phi * phi) / (1 - 0.995 ** 2)), t.size)
    fast = np.zeros(t.size)
    for i in range(1, t.size):
        fast[i] = phi * fast[i - 1] + shocks[i]
    daily = sc.ambient_amplitude_c * np.sin(2 * np.pi * (hour - 9.0) / 24.0)
    return 273.15 + sc.ambient_mean_c + daily + weather + fast + _heat_wave_rise(sc, t)


# ----------------------------------------------------------------- the truth
_STATE_OUTPUTS = tuple("true_winding_temperature" if n == "winding_temperature" else n
                       for n in FILLER_DRIVE_SPEC.names("states"))


def _simulate(sc: LivingScenario, events, t, u, healthy=None) -> np.ndarray:
    """Outputs on the grid with the plant events *events* (piecewise-constant parameters; at each event's end its
    state is set to the healthy run's *healthy* state then)."""
    spec = FILLER_DRIVE_SPEC
    base = spec.vector("params", sc.truth_params)
    cuts = sorted({0, t.size} | {int(round(h * 3600.0 / sc.period)) for ev in events
                                 for h in (ev.onset_h, ev.end_h)})
    cuts = [c for c in cuts if c <= t.size]
    x = _steady_state(base, u[0, 0], u[0, 1])
    integrator = RK4(max_step=0.5)
    out = np.empty((t.size, spec.ny))
    state_cols = [spec.index("outputs", n) for n in _STATE_OUTPUTS]
    for a, b in zip(cuts[:-1], cuts[1:]):
        p = base.copy()
        for ev in events:
            kind = EVENT_KINDS[ev.kind]
            k0, k1 = (int(round(h * 3600.0 / sc.period)) for h in (ev.onset_h, ev.end_h))
            if k0 <= a < k1:
                p[spec.index("params", kind.parameter)] = ev.value
            if a == k1 and kind.reset_state is not None:  # maintenance: back to the healthy condition
                i = spec.index("states", kind.reset_state)
                x[i] = healthy[a, state_cols[i]]
        stop = min(b + 1, t.size)
        y = FILLER_DRIVE.simulate(x, p, t[a:stop] - t[a], u[a:stop], integrator=integrator)[0]
        out[a:b] = y[:b - a]
        x = y[-1, state_cols].copy() if stop > b else x
    return out


def simulate_living_truth(sc: LivingScenario = LivingScenario()) -> pd.DataFrame:
    """True inputs and outputs of the drive on the historian grid (SI, UTC index), before noise.

    Columns: the outputs of :data:`FILLER_DRIVE_SPEC`, ``shaft_speed`` [rad/s], ``ambient_temperature`` [K]
    (hall) and ``producing`` (the line fills).
    """
    t = sc.times
    speed, producing = _duty(sc, t)
    u = np.column_stack([speed, _ambient(sc, t)])
    plant_events = [ev for ev in sc.events if ev.kind != "heat_wave"]
    healthy = _simulate(sc, [], t, u)
    y = _simulate(sc, plant_events, t, u, healthy) if plant_events else healthy
    index = sc.t0 + pd.to_timedelta(t, unit="s")
    frame = pd.DataFrame(y, index=index, columns=list(FILLER_DRIVE_SPEC.names("outputs")))
    frame.index.name = "time"
    frame["shaft_speed"] = speed
    frame["ambient_temperature"] = u[:, 1]
    frame["producing"] = producing
    return frame


# ----------------------------------------------------------------- the historian
#: (written text, gate) of the bad cells the historian writes.
_BAD_CELLS = (("ERR", "unparseable"), ("", "missing"), ("#VALUE!", "unparseable"), ("---", "unparseable"),
              ("", "missing"))


def injected_defects(sc: LivingScenario = LivingScenario()) -> pd.DataFrame:
    """The historian defects of the file: one row per bad value.

    Columns: ``row`` (0-based row of the clean table, before the double write), ``channel``, ``written`` (the
    text) and ``gate`` (the gate that quarantines it: ``unparseable``, ``missing``, ``out_of_range`` or
    ``timestamp_duplicate``; a double write makes one ``timestamp_duplicate`` entry per channel, for its second
    copy).  Empty without defects.
    """
    rows = []
    if sc.defects:
        rng = np.random.default_rng([sc.seed, 3])
        n = sc.times.size
        names = list(COLUMNS)
        picked = rng.choice(np.arange(10, n - 10), size=len(_BAD_CELLS) + 2, replace=False)
        for (text, gate), row in zip(_BAD_CELLS, picked):
            rows.append({"row": int(row), "channel": names[int(rng.integers(0, len(names)))], "written": text,
                         "gate": gate})
        rows.append({"row": int(picked[-2]), "channel": "winding_temperature", "written": "999.9",
                     "gate": "out_of_range"})
        rows += [{"row": int(picked[-1]), "channel": name, "written": None, "gate": "timestamp_duplicate"}
                 for name in names]
    return pd.DataFrame(rows, columns=["row", "channel", "written", "gate"])


def generate_living_telemetry(sc: LivingScenario = LivingScenario()) -> pd.DataFrame:
    """The historian table (strings, local time with UTC offset) for scenario *sc*, as written to the CSV."""
    truth = simulate_living_truth(sc)
    rng = np.random.default_rng([sc.seed, 2])
    stamps = pd.Timestamp(sc.start) + pd.to_timedelta(sc.times, unit="s")
    table = {"timestamp": [s.isoformat() for s in stamps]}
    for name, (column, _unit, _si, _rng, decimals) in COLUMNS.items():
        values = truth[name].to_numpy() * _SCALE[name] + _OFFSET.get(name, 0.0)
        values = values + rng.normal(0.0, sc.noise.get(name, 0.0), values.size)
        table[column] = [f"{v:.{decimals}f}" for v in values]
    table = pd.DataFrame(table)
    defects = injected_defects(sc)
    cells = defects[defects["gate"] != "timestamp_duplicate"]
    for row, name, text in zip(cells["row"], cells["channel"], cells["written"]):
        table.at[int(row), COLUMNS[name][0]] = text
    doubled = defects.loc[defects["gate"] == "timestamp_duplicate", "row"].unique()
    if doubled.size:
        rows = list(range(len(table)))
        for row in sorted(doubled, reverse=True):
            rows.insert(int(row) + 1, int(row))
        table = table.iloc[rows].reset_index(drop=True)
    return table


def living_channel_map(period: float = 60.0) -> ChannelMap:
    """The channel map of the living scenario's historian export (as ``conf/telemetry/living.yaml``)."""
    return ChannelMap.from_dict({
        "time_column": "timestamp", "timezone": "Europe/Berlin",
        "channels": {name: {"column": col, "unit": unit, "si_unit": si, "range": list(rng), "period": period}
                     for name, (col, unit, si, rng, _d) in COLUMNS.items()},
    })


def read_living_telemetry(table: pd.DataFrame, *, period: float = 60.0) -> TelemetryStream:
    """Replay a historian table through the telemetry gates (read an hour after its last stamp)."""
    stamps = pd.to_datetime(table["timestamp"], errors="coerce", utc=True)
    now = stamps.max() + pd.Timedelta(hours=1)
    return read_frame(table, living_channel_map(period), now=now, source="living filler drive historian")


# ----------------------------------------------------------------- the truth tables
def truth_events(sc: LivingScenario = LivingScenario()) -> pd.DataFrame:
    """The truth table: one row per event.

    Columns: ``event`` (name), ``kind``, ``asset``, ``onset`` and ``end`` (UTC), ``channels`` (tuple of twin
    variables affected), ``hypothesis`` (the right diagnosis), ``alarm`` (whether a twin should alarm),
    ``parameter``, ``value`` (during the event) and ``baseline`` (outside it) [``unit``, SI], ``unit``,
    ``end_action``.
    """
    rows = []
    for ev in sorted(sc.events, key=lambda e: (e.onset_h, e.label)):
        kind = EVENT_KINDS[ev.kind]
        baseline = 0.0 if kind.parameter == "hall_ambient_rise" else float(
            FILLER_DRIVE_SPEC.vector("params", sc.truth_params)[FILLER_DRIVE_SPEC.index("params", kind.parameter)])
        rows.append({"event": ev.label, "kind": ev.kind, "asset": kind.asset, "onset": sc.at(ev.onset_h),
                     "end": sc.at(ev.end_h), "channels": tuple(kind.channels), "hypothesis": kind.hypothesis,
                     "alarm": kind.alarm, "parameter": kind.parameter, "value": ev.value, "baseline": baseline,
                     "unit": kind.unit, "end_action": kind.end_action})
    return pd.DataFrame(rows, columns=["event", "kind", "asset", "onset", "end", "channels", "hypothesis", "alarm",
                                       "parameter", "value", "baseline", "unit", "end_action"])


def clean_days(sc: LivingScenario = LivingScenario(), *, margin_h: float = 2.0) -> pd.DataFrame:
    """Whole local days of the record that no event touches, with *margin_h* [h] around every event.

    Columns ``start`` and ``end`` (UTC; local midnight to midnight) and ``date`` (the local date, ISO).
    """
    start = pd.Timestamp(sc.start)
    midnight = start.normalize()
    rows = []
    day = midnight if midnight == start else midnight + pd.Timedelta(days=1)
    end_of_record = start + pd.Timedelta(days=sc.days)
    while day + pd.Timedelta(days=1) <= end_of_record:
        a, b = day.tz_convert("UTC"), (day + pd.Timedelta(days=1)).tz_convert("UTC")
        margin = pd.Timedelta(hours=margin_h)
        touched = any(sc.at(ev.onset_h) - margin < b and a < sc.at(ev.end_h) + margin for ev in sc.events)
        if not touched:
            rows.append({"start": a, "end": b, "date": day.date().isoformat()})
        day = day + pd.Timedelta(days=1)
    return pd.DataFrame(rows, columns=["start", "end", "date"])


def truth_parameters(sc: LivingScenario = LivingScenario(), truth: pd.DataFrame | None = None) -> pd.DataFrame:
    """The truth's parameter and degradation-state trajectories on the historian grid (UTC index, SI).

    Columns: every parameter of :attr:`LivingScenario.truth_params` (constant), the event parameters
    ``fouling_rate`` [1/m^6], ``ambient_load`` [K], ``sensor_drift_rate`` [K/s], ``bearing_wear_rate`` [1/s] and
    ``hall_ambient_rise`` [K] (their baselines outside the events), and the states they drive:
    ``strainer_resistance`` [s^2/m^5], ``local_air_excess`` [K], ``sensor_offset`` [K], ``bearing_wear`` [-];
    and every other parameter of the drive at its spec default (what a twin may track, e.g.
    ``thermal_resistance_housing_ambient``).

    Parameters
    ----------
    truth : pandas.DataFrame, optional
        :func:`simulate_living_truth` of *sc*, if already computed.
    """
    truth = simulate_living_truth(sc) if truth is None else truth
    t = sc.times
    spec = FILLER_DRIVE_SPEC
    base = spec.vector("params", sc.truth_params)
    frame = pd.DataFrame(index=truth.index)
    for name in sc.truth_params:
        frame[name] = float(base[spec.index("params", name)])
    for kind_name, kind in EVENT_KINDS.items():
        if kind.parameter == "hall_ambient_rise":
            frame[kind.parameter] = _heat_wave_rise(sc, t)
            continue
        values = np.full(t.size, float(base[spec.index("params", kind.parameter)]))
        for ev in sc.events:
            if ev.kind == kind_name:
                values[(t >= ev.onset_h * 3600.0 - 1e-6) & (t < ev.end_h * 3600.0 - 1e-6)] = ev.value
        frame[kind.parameter] = values
    for name in spec.names("params"):  # the rest of the drive's parameters: the spec's defaults, constant
        if name not in frame.columns:
            frame[name] = float(base[spec.index("params", name)])
    for state in ("strainer_resistance", "local_air_excess", "sensor_offset", "bearing_wear"):
        frame[state] = truth[state].to_numpy()
    return frame


def failure_time(sc: LivingScenario = LivingScenario(), event: str = "bearing_wear", *,
                 extra_days: float = 3.0) -> pd.Timestamp:
    """When the part of *event* would have failed - its state reaching the kind's ``failure_level`` - had the
    maintenance at the event's end not happened (UTC; NaT if not within *extra_days* after the record).

    The truth runs on with the event's end moved past the record (the duty calendar goes on as it would: its
    random blocks are drawn in sequence, so the days of the record are the same; the weather after the record
    differs, which moves no state a failure level is set on), and the first sample at or above the level counts.

    Parameters
    ----------
    sc : LivingScenario
        The scenario.
    event : str
        The event's name (its label in the truth table).
    extra_days : float
        How far past the record to look [d].
    """
    found = [ev for ev in sc.events if ev.label == event]
    if not found:
        raise ConfigurationError(f"event = {event!r} is not in the scenario; choose one of "
                                 f"{[ev.label for ev in sc.events]}")
    kind = EVENT_KINDS[found[0].kind]
    if kind.failure_level is None or kind.reset_state is None:
        raise ConfigurationError(f"event {event!r} ({found[0].kind}) has no failure level; events with one: "
                                 f"{[k for k, v in EVENT_KINDS.items() if v.failure_level is not None]}")
    if not (isinstance(extra_days, (int, float)) and extra_days > 0):
        raise ConfigurationError(f"extra_days = {extra_days!r} must be > 0 days")
    days = sc.days + float(extra_days)
    longer = replace(sc, days=days, defects=False,
                     events=tuple(replace(ev, end_h=days * 24.0) if ev.label == event else ev for ev in sc.events))
    state = simulate_living_truth(longer)[kind.reset_state]
    after = state[(state.index >= sc.at(found[0].onset_h)) & (state >= kind.failure_level)]
    return after.index[0] if len(after) else pd.NaT


# ----------------------------------------------------------------- writing
def _events_document(sc: LivingScenario, digest: str) -> dict:
    events = truth_events(sc)
    records = []
    for row in events.itertuples(index=False):
        records.append({"event": row.event, "kind": row.kind, "asset": row.asset, "onset": row.onset.isoformat(),
                        "end": row.end.isoformat(), "channels": list(row.channels), "hypothesis": row.hypothesis,
                        "alarm": bool(row.alarm), "parameter": row.parameter, "value": row.value,
                        "baseline": row.baseline, "unit": row.unit, "end_action": row.end_action})
    days = clean_days(sc)
    return {
        "scenario": {"days": sc.days, "period_s": sc.period, "seed": sc.seed, "start": sc.start,
                     "end": (pd.Timestamp(sc.start) + pd.Timedelta(days=sc.days)).isoformat(),
                     "telemetry_sha256": digest},
        "clean_days": [{"date": r.date, "start": r.start.isoformat(), "end": r.end.isoformat()}
                       for r in days.itertuples(index=False)],
        "events": records,
    }


def write_living_telemetry(path=LIVING_PATH, sc: LivingScenario = LivingScenario(), *, events_path=None) -> str:
    """Write the telemetry CSV and the events JSON (default: ``living_events.json`` next to it); return the
    CSV's sha256."""
    path = Path(path)
    events_path = path.with_name("living_events.json") if events_path is None else Path(events_path)
    text = generate_living_telemetry(sc).to_csv(index=False, lineterminator="\n")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    events_path.write_text(json.dumps(_events_document(sc, digest), indent=1) + "\n", encoding="utf-8")
    return digest


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(LIVING_PATH), help="CSV file to write (living_events.json goes next "
                                                                "to it)")
    args = parser.parse_args(argv)
    digest = write_living_telemetry(args.out)
    print(f"wrote {args.out} (sha256 {digest}) and {Path(args.out).with_name('living_events.json')}")


if __name__ == "__main__":
    main()
