r"""Telemetry of the filler's pump drive with one injected effect, deterministic from a seed.

:func:`generate_fault_telemetry` simulates the drive
(:data:`sim.physics.filler_drive.FILLER_DRIVE`: the filler's centrifugal pump and
its motor's two-node thermal model) under a realistic duty - line-speed changes
every 10-40 min, a daily ambient cycle with weather noise - healthy until
``onset_h``, then with one of the effects of :data:`EFFECTS`:

* ``strainer_fouling``: the strainer's resistance grows with the volume pumped
  (``fouling_rate`` k_f [1/m^6]); flow, discharge pressure and current fall.
* ``ambient_load``: a heat source warms the air around the motor by
  ``ambient_load`` [K] (time constant 15 min); winding temperature rises.
* ``sensor_drift``: the winding-temperature reading drifts at
  ``sensor_drift_rate`` [K/s]; nothing physical changes.

It writes what a plant historian would record (speed [rpm], flow [m^3/h],
discharge pressure [bar], vibration [mm/s], motor current [A], winding and
hall temperature [degC]; local time with UTC offset, rounded, with Gaussian
noise :data:`NOISE` and a few bad cells and a double write for the gates).
The truth's pump differs from the nameplate (:data:`TRUTH_PUMP_PARAMS`), so a
twin has to calibrate it first.  :func:`read_fault_telemetry` replays the table
through the telemetry gates of :mod:`sim.telemetry` into SI units.

Deterministic: the same :class:`FaultScenario` gives the same table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.physics.filler_drive import FILLER_DRIVE, FILLER_DRIVE_SPEC, filler_drive_output
from sim.exceptions import ConfigurationError
from sim.physics import RK4
from sim.telemetry import ChannelMap, TelemetryStream, read_frame

__all__ = ["EFFECTS", "TRUTH_PUMP_PARAMS", "NOISE", "COLUMNS", "FaultScenario",
           "fault_channel_map", "generate_fault_telemetry", "read_fault_telemetry", "simulate_truth"]

#: Effect name -> (parameter, default magnitude [parameter unit], description).
EFFECTS = {
    "none": (None, 0.0, "no fault: the drive behaves as the twin expects"),
    "strainer_fouling": ("fouling_rate", 2.0,
                         "the suction strainer clogs: its resistance grows with the volume pumped"),
    "ambient_load": ("ambient_load", 4.0, "a heat source warms the air around the motor above the hall ambient"),
    "sensor_drift": ("sensor_drift_rate", 0.5 / 3600.0, "the winding-temperature sensor drifts; the motor does not"),
}

#: The truth's pump differs from the nameplate (the twin must calibrate it).
TRUTH_PUMP_PARAMS = {"head_coefficient_0": 41.5, "head_coefficient_2": -21500.0, "pipe_resistance": 11000.0,
                     "bep_efficiency": 0.75}

#: Measurement noise standard deviations, in historian units.
NOISE = {"shaft_speed": 0.5, "flow": 0.4, "discharge_pressure": 0.01, "vibration_rms": 0.05, "motor_current": 0.15,
         "winding_temperature": 0.3, "ambient_temperature": 0.2}

#: Twin variable -> (historian column, unit, SI unit, valid range in the unit, decimals written).
COLUMNS = {
    "shaft_speed": ("P1.Speed[rpm]", "rpm", "rad/s", (0.0, 4000.0), 1),
    "flow": ("P1.Flow[m3/h]", "m^3/h", "m^3/s", (-10.0, 400.0), 2),
    "discharge_pressure": ("P1.DischargePressure[bar]", "bar", "Pa", (-1.0, 16.0), 3),
    "vibration_rms": ("P1.Vibration[mm/s]", "mm/s", "m/s", (0.0, 50.0), 2),
    "motor_current": ("P1.MotorCurrent[A]", "A", "A", (0.0, 200.0), 2),
    "winding_temperature": ("P1.MotorWindingTemp[degC]", "degC", "K", (-40.0, 250.0), 1),
    "ambient_temperature": ("Hall.AmbientTemp[degC]", "degC", "K", (-40.0, 60.0), 1),
}
_SCALE = {"shaft_speed": 60.0 / (2.0 * math.pi), "flow": 3600.0, "discharge_pressure": 1e-5, "vibration_rms": 1e3,
          "motor_current": 1.0, "winding_temperature": 1.0, "ambient_temperature": 1.0}
_OFFSET = {"winding_temperature": -273.15, "ambient_temperature": -273.15}


@dataclass(frozen=True)
class FaultScenario:
    """What :func:`generate_fault_telemetry` simulates.

    Attributes
    ----------
    effect : str
        One of :data:`EFFECTS`: ``"none"``, ``"strainer_fouling"``, ``"ambient_load"``, ``"sensor_drift"``.
    magnitude : float or None
        Value of the effect's parameter from the onset on [its SI unit: 1/m^6, K, K/s]; None: the default.
    hours : float
        Length of the record [h].
    onset_h : float
        Time of the onset after the record's start [h] (healthy before).
    period : float
        Historian sampling period [s].
    seed : int
        Seed of duty, ambient and noise.
    truth_params : dict
        Parameters of the truth that differ from the spec defaults [SI].
    noise : dict
        Noise standard deviation per channel [historian unit].
    start : str
        Local plant time of the first sample, with its UTC offset.
    defects : bool
        Write a few unparseable and empty cells, a duplicated row (for the gates).
    """

    effect: str = "none"
    magnitude: float | None = None
    hours: float = 8.0
    onset_h: float = 2.0
    period: float = 10.0
    seed: int = 0
    truth_params: dict = field(default_factory=lambda: dict(TRUTH_PUMP_PARAMS))
    noise: dict = field(default_factory=lambda: dict(NOISE))
    start: str = "2026-07-20T06:00:00+02:00"
    defects: bool = True

    def __post_init__(self):
        if self.effect not in EFFECTS:
            raise ConfigurationError(f"effect = {self.effect!r} is not known; choose one of {sorted(EFFECTS)}")
        if not (self.period > 0 and self.hours * 3600.0 >= 10 * self.period):
            raise ConfigurationError(f"hours = {self.hours} and period = {self.period} s must give at least 10 "
                                     f"samples with period > 0; lengthen the record or shorten the period")
        if not 0.0 <= self.onset_h < self.hours:
            raise ConfigurationError(f"onset_h = {self.onset_h} must lie in [0, hours = {self.hours})")

    @property
    def effect_params(self) -> dict:
        """The effect's parameter and value from the onset on (empty for ``"none"``)."""
        name, default, _ = EFFECTS[self.effect]
        if name is None:
            return {}
        return {name: float(default if self.magnitude is None else self.magnitude)}

    @property
    def onset(self) -> pd.Timestamp:
        """UTC time of the onset (the start of the diagnosis window)."""
        return (pd.Timestamp(self.start) + pd.Timedelta(hours=self.onset_h)).tz_convert("UTC")


def _duty(sc: FaultScenario, rng, t):
    """Shaft speed [rad/s] (line-speed changes in blocks of 10-40 min) and hall ambient [K] on the grid *t*."""
    ref = FILLER_DRIVE_SPEC.var("params", "reference_speed").default
    speed = np.empty(t.size)
    j = 0
    while j < t.size:
        n = max(1, int(rng.uniform(600.0, 2400.0) / sc.period))
        speed[j:j + n] = ref * rng.choice([0.86, 0.9, 0.94, 0.97, 1.0, 1.03])
        j += n
    hour = pd.Timestamp(sc.start).hour + t / 3600.0
    ar = np.zeros(t.size)
    shocks = rng.normal(0.0, 0.02, t.size)
    for i in range(1, t.size):
        ar[i] = 0.995 * ar[i - 1] + shocks[i]
    ambient = 273.15 + 24.0 + 5.0 * np.sin(2 * np.pi * (hour - 9.0) / 24.0) + ar
    return speed, ambient


def _steady_state(p: np.ndarray, speed: float, ambient: float) -> np.ndarray:
    """States at equilibrium for constant speed [rad/s] and ambient [K]: flow from the pump and system curves,
    temperatures from the thermal resistances (no wear)."""
    spec = FILLER_DRIVE_SPEC
    g = {v.name: p[i] for i, v in enumerate(spec.params)}
    s = speed / g["reference_speed"]
    k_s = spec.var("states", "strainer_resistance").default
    # a0 s^2 + a1 s Q + a2 Q^2 = H_st + (K_pipe + K_s) Q^2  ->  A Q^2 + B Q + C = 0
    a, b, c = g["head_coefficient_2"] - g["pipe_resistance"] - k_s, g["head_coefficient_1"] * s, \
        g["head_coefficient_0"] * s * s - g["static_head"]
    q = (-b - math.sqrt(b * b - 4 * a * c)) / (2 * a)
    x = spec.vector("states", {"flow": q})
    current = filler_drive_output(tuple(x), tuple(p), (speed, ambient))[spec.index("outputs", "motor_current")]
    heat = g["copper_loss_resistance"] * current ** 2
    x[spec.index("states", "housing_temperature")] = ambient + heat * g["thermal_resistance_housing_ambient"]
    x[spec.index("states", "winding_temperature")] = (x[spec.index("states", "housing_temperature")]
                                                       + heat * g["thermal_resistance_winding_housing"])
    return x


def simulate_truth(sc: FaultScenario) -> pd.DataFrame:
    """True inputs and outputs of the drive on the historian grid (SI, UTC index), before noise."""
    rng = np.random.default_rng(sc.seed)
    t = np.arange(0.0, sc.hours * 3600.0, sc.period)
    speed, ambient = _duty(sc, rng, t)
    u = np.column_stack([speed, ambient])
    spec = FILLER_DRIVE_SPEC
    p0 = spec.vector("params", sc.truth_params)
    p1 = spec.vector("params", {**sc.truth_params, **sc.effect_params})
    x0 = _steady_state(p0, speed[0], ambient[0])
    integrator = RK4(max_step=0.5)
    k = int(np.searchsorted(t, sc.onset_h * 3600.0))
    state_outputs = [spec.index("outputs", n) for n in ("flow", "impeller_wear", "strainer_resistance",
                                                          "bearing_wear", "true_winding_temperature",
                                                          "housing_temperature", "local_air_excess",
                                                          "sensor_offset")]
    parts = []
    if k > 0:
        healthy = FILLER_DRIVE.simulate(x0, p0, t[:k + 1], u[:k + 1], integrator=integrator)[0]
        parts.append(healthy[:-1])
        x0 = healthy[-1, state_outputs]  # the state at the onset sample
    parts.append(FILLER_DRIVE.simulate(x0, p1, t[k:] - t[k], u[k:], integrator=integrator)[0])
    y = np.concatenate(parts)
    index = pd.Timestamp(sc.start).tz_convert("UTC") + pd.to_timedelta(t, unit="s")
    frame = pd.DataFrame(y, index=index, columns=list(spec.names("outputs")))
    frame["shaft_speed"] = speed
    frame["ambient_temperature"] = ambient
    return frame


def generate_fault_telemetry(sc: FaultScenario = FaultScenario()) -> pd.DataFrame:
    """The historian table (strings, local time with UTC offset) for scenario *sc*."""
    truth = simulate_truth(sc)
    rng = np.random.default_rng([sc.seed, 1])
    stamps = pd.Timestamp(sc.start) + pd.to_timedelta(np.arange(len(truth)) * sc.period, unit="s")
    table = {"timestamp": [s.isoformat() for s in stamps]}
    for name, (column, _unit, _si, _rng, decimals) in COLUMNS.items():
        values = truth[name].to_numpy() * _SCALE[name] + _OFFSET.get(name, 0.0)
        values = values + rng.normal(0.0, sc.noise.get(name, 0.0), values.size)
        table[column] = [f"{v:.{decimals}f}" for v in values]
    table = pd.DataFrame(table)
    if sc.defects:
        table = _inject_defects(table, np.random.default_rng([sc.seed, 2]))
    return table


def _inject_defects(table: pd.DataFrame, rng) -> pd.DataFrame:
    table = table.copy()
    n = len(table)
    for text in ("ERR", "", "#VALUE!", "", "---"):
        table.iat[int(rng.integers(5, n - 5)), 1 + int(rng.integers(0, table.shape[1] - 1))] = text
    row = int(rng.integers(5, n - 5))
    return pd.concat([table.iloc[:row + 1], table.iloc[[row]], table.iloc[row + 1:]]).reset_index(drop=True)


def fault_channel_map(period: float = 10.0) -> ChannelMap:
    """The channel map of the drive's historian export (units converted to SI by the gates)."""
    return ChannelMap.from_dict({
        "time_column": "timestamp", "timezone": "Europe/Berlin",
        "channels": {name: {"column": col, "unit": unit, "si_unit": si, "range": list(rng), "period": period}
                     for name, (col, unit, si, rng, _d) in COLUMNS.items()},
    })


def read_fault_telemetry(table: pd.DataFrame, *, period: float = 10.0) -> TelemetryStream:
    """Replay a historian table through the telemetry gates: SI frame plus quarantine."""
    stamps = pd.to_datetime(table["timestamp"], errors="coerce", utc=True)
    now = stamps.max() + pd.Timedelta(hours=1)  # the record is read after it was written
    return read_frame(table, fault_channel_map(period), now=now, source="filler drive historian")
