"""The monitored motor: the single station behind the bundled telemetry, shadow replay, ambient forecast.

This module composes engine parts (``sim.physics``, ``sim.clock``,
``sim.processes``).  :class:`Plant` and :func:`run_plant` - one motor-driven
station with its crew - generate the bundled "truth" telemetry
(:mod:`scenarios.reference.telemetry`); :func:`shadow_replay` replays telemetry
through the motor twin; :func:`ambient_cycle` turns the measured ambient
temperature into the daily cycle the what-if on the line
(:mod:`scenarios.whatif.run`) runs under.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import simpy

from calibration import CalibrationData, simulate_window
from sim.clock import CoSimulation
from sim.exceptions import ConfigurationError
from sim.physics import MODELS, MOTOR_THERMAL, RK4, Fleet
from sim.processes import Station, StationParams, input_profile, motor_events, station_process
from sim.streams import RandomStreams
from sim.line import AmbientCycle

__all__ = ["Plant", "AmbientProfile", "PlantRun", "run_plant", "shadow_replay", "ambient_cycle"]


@dataclass(frozen=True)
class Plant:
    """Everything needed to build the reference plant (SI units).

    Parameters
    ----------
    station : StationParams
    motor_params : dict
        motor_thermal parameters (name → value); spec defaults fill the rest.
    crew_size : int
        Repair crew members.
    max_step, lookahead : float
        Physics integrator step and prediction horizon [s].
    """

    station: StationParams
    motor_params: dict = field(default_factory=dict)
    crew_size: int = 1
    max_step: float = 1.0
    lookahead: float = 3600.0

    def __post_init__(self):
        if int(self.crew_size) < 1:
            raise ConfigurationError(f"crew_size = {self.crew_size} must be at least 1 repair crew member")
        MOTOR_THERMAL.spec.check_bounds(MOTOR_THERMAL.spec.vector("params", self.motor_params)[None])

    def replace(self, **changes) -> "Plant":
        """A copy with plant fields or station fields (``speed=...``) changed."""
        station_fields = {f.name for f in dataclasses.fields(StationParams)}
        st = {k: v for k, v in changes.items() if k in station_fields}
        rest = {k: v for k, v in changes.items() if k not in station_fields}
        plant = dataclasses.replace(self, **rest)
        if st:
            plant = dataclasses.replace(plant, station=dataclasses.replace(plant.station, **st))
        return plant


@dataclass(frozen=True)
class AmbientProfile:
    """Ambient temperature schedule: ``values`` [K] from ``times`` [s] on (zero-order hold)."""

    times: np.ndarray
    values: np.ndarray

    @classmethod
    def persistence(cls, measured: pd.Series, horizon: float, step: float = 300.0) -> "AmbientProfile":
        """Forecast by persistence: the last 24 h of measurements (resampled to *step* s) repeated."""
        clean = measured.dropna()
        if clean.empty:
            raise ConfigurationError("no accepted ambient temperature to build a forecast from")
        day = clean[clean.index >= clean.index[-1] - pd.Timedelta(hours=24)]
        rel = (day.index - day.index[-1]).total_seconds().to_numpy() + 86400.0  # (0, 86400]
        grid = np.arange(0.0, horizon + step, step)
        phase = np.mod(grid, 86400.0)
        values = np.interp(phase, rel, day.to_numpy(), period=86400.0)
        return cls(grid, values)


def ambient_cycle(measured: pd.Series, *, step: float = 3600.0) -> AmbientCycle:
    """The daily ambient cycle of the last 24 h of *measured* [K] (a forecast by persistence).

    Fits mean + a cos(2 pi (t - peak) / day) to the accepted values of the last day by
    least squares (time of day in UTC, as the twin's clock counts from midnight UTC).
    """
    clean = measured.dropna()
    if clean.empty:
        raise ConfigurationError("no accepted ambient temperature to build a forecast from; check the "
                                 "ambient_temperature channel of the telemetry")
    day = clean[clean.index >= clean.index[-1] - pd.Timedelta(hours=24)]
    stamps = day.index.tz_convert("UTC") if day.index.tz is not None else day.index
    tod = (stamps - stamps.normalize()).total_seconds().to_numpy()
    w = 2 * np.pi * tod / 86400.0
    design = np.column_stack([np.ones_like(w), np.cos(w), np.sin(w)])
    (mean, a, b), *_ = np.linalg.lstsq(design, day.to_numpy(dtype=float), rcond=None)
    amplitude = float(np.hypot(a, b))
    peak = float(np.mod(np.arctan2(b, a) * 86400.0 / (2 * np.pi), 86400.0))
    return AmbientCycle(mean=float(mean), amplitude=amplitude, peak_time=peak, step=step)


@dataclass
class PlantRun:
    """Result of one plant run: KPIs, the station, and an optional temperature trace."""

    kpis: dict
    station: Station
    trace: pd.DataFrame | None = None
    trips: list = field(default_factory=list)


def _trace_process(env, motor, step, rows):
    while True:
        rows.append((env.now, motor.output(0, "winding_temperature"), motor.fleet.inputs[0, 0]))
        yield env.timeout(step)


def run_plant(plant: Plant, *, horizon: float, streams: RandomStreams, x0: dict | None = None,
              ambient: AmbientProfile | None = None, trace_step: float | None = None) -> PlantRun:
    """Run the plant for *horizon* seconds from state *x0*.

    Parameters
    ----------
    plant : Plant
    horizon : float
        Simulated time [s].
    streams : RandomStreams
        Random sources of this replication.
    x0 : dict, optional
        Motor states (name → value [K]).
    ambient : AmbientProfile, optional
        Ambient schedule; the spec default (25 °C) when omitted.
    trace_step : float, optional
        Record winding temperature every *trace_step* seconds (for plots only).
    """
    if not horizon > 0:
        raise ConfigurationError(f"horizon = {horizon} s must be > 0")
    cosim = CoSimulation()
    env = cosim.env
    fleet = Fleet(MOTOR_THERMAL, states=x0 or None, params=plant.motor_params or None,
                  events=motor_events(plant.station), integrator=RK4(max_step=plant.max_step))
    motor = cosim.add_physics(fleet, lookahead=plant.lookahead)
    if ambient is not None:
        env.process(input_profile(env, motor, 0, "ambient_temperature", ambient.times, ambient.values))
    station = Station.create(env, plant.station)
    crew = simpy.Resource(env, capacity=int(plant.crew_size))
    env.process(station_process(env, station, motor=motor, asset=0, crew=crew, streams=streams))
    rows: list = []
    if trace_step:
        env.process(_trace_process(env, motor, trace_step, rows))
    cosim.run(horizon)
    kpis = station.kpis()
    kpis["max_winding_temperature"] = max([r[1] for r in rows], default=np.nan)
    trace = pd.DataFrame(rows, columns=["t", "winding_temperature", "motor_current"]) if trace_step else None
    return PlantRun(kpis=kpis, station=station, trace=trace, trips=list(station.trip_times))


def shadow_replay(stream, *, motor_params, x0: dict, max_step: float | None = None, model=None,
                  output: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Replay telemetry through a twin (shadow mode): predicted against measured output.

    The measured inputs drive the twin (zero-order hold between samples, quarantined
    inputs carried forward over holes up to :meth:`calibration.CalibrationData.from_frame`'s
    ``max_gap``; rows inside longer gaps are left out and the twin holds its inputs over
    them) from *x0* at the first sample that has every input; the window is simulated by
    :func:`calibration.simulate_window`, the function the fit and the registry's
    prediction use, so a replay of a gap-free calibration window with the calibrated record
    reproduces the fit's outputs exactly.

    Parameters
    ----------
    stream : TelemetryStream
        Validated telemetry (SI) with a channel for every model input and for *output*.
    motor_params : CalibrationRecord or dict
        The record (its :meth:`~calibration.CalibrationRecord.params`) or the model's parameters
        name → value [SI] (spec defaults fill the rest).  The name is historical: any model's.
    x0 : dict
        Model states at the first sample [SI].
    max_step : float, optional
        RK4 step [s]; default the record's, else 1 s.
    model : sim.physics.Model or str, optional
        The twin: a library model or its name in :data:`sim.physics.MODELS`.  Default: the record's
        model when *motor_params* is a record, else the motor thermal model.
    output : str, optional
        The measured output to compare; default ``winding_temperature`` for the motor, else the
        first of the model's outputs that the telemetry has.

    Returns
    -------
    frame : DataFrame
        index = sample time (UTC); columns ``measured``, ``predicted``, ``residual`` [SI of *output*].
    final_state : dict
        Model states at the last sample [SI].
    """
    model = _replay_model(model, motor_params)
    spec = model.spec
    if output is None:
        names = spec.names("outputs")
        output = "winding_temperature" if "winding_temperature" in names else \
            next((n for n in names if n in stream.frame.columns), None)
        if output is None:
            raise ConfigurationError(f"the telemetry has none of model {spec.name!r}'s outputs {list(names)} to "
                                     f"compare with; map one in the channel map or name it with output=")
    data = CalibrationData.from_frame(stream.frame, spec, outputs=[output], source_hash=stream.content_hash)
    run = simulate_window(model, motor_params, data, x0=x0, max_step=max_step)
    index = data.start + pd.to_timedelta(data.t, unit="s")
    frame = pd.DataFrame({"measured": data.outputs[:, 0],
                          "predicted": run.outputs[0, :, spec.index("outputs", output)]}, index=index)
    frame["residual"] = frame["measured"] - frame["predicted"]
    return frame, run.final_state()


def _replay_model(model, params):
    """The twin of a replay: *model*, the model named so, the record's model, or the motor."""
    if model is None:
        name = getattr(params, "model", None)
        if not isinstance(name, str):
            return MOTOR_THERMAL
        model = name
    if isinstance(model, str):
        if model not in MODELS:
            raise ConfigurationError(f"model = {model!r} is not a library model; choose one of {sorted(MODELS)}")
        return MODELS[model]
    if not hasattr(model, "spec"):
        raise ConfigurationError(f"model = {model!r} is neither a sim.physics.Model nor the name of one "
                                 f"({sorted(MODELS)})")
    return model
