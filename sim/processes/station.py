"""A production station driven by an electric motor: works, jams, fails, trips.

High-speed material is modelled as flow: while the station runs it produces
``rate x speed`` units per second, so the event count scales with
disturbances (jams, failures, trips), not with units produced.

States: ``running``, ``jammed`` (micro-stop, cleared by the operator),
``waiting_crew`` and ``in_repair`` (after a failure; the repair needs one
member of the crew), ``tripped`` (the motor's over-temperature protection
stopped it; it restarts when the winding has cooled to the reset level).
Time to failure and time between jams count *running* time only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import simpy

from sim.clock import PhysicsComponent
from sim.exceptions import ConfigurationError
from sim.kpi import StateRecorder, safe_ratio
from sim.physics.fleet import StateEvent
from sim.streams import RandomStreams

__all__ = ["STATION_STATES", "StationParams", "Station", "station_process", "motor_events"]

STATION_STATES = ("running", "jammed", "waiting_crew", "in_repair", "tripped")
_DOWN_STATES = ("waiting_crew", "in_repair", "tripped")


@dataclass(frozen=True)
class StationParams:
    """Parameters of a motor-driven station (SI units).

    Parameters
    ----------
    name : str
        Station name, also the prefix of its random streams.
    rate : float
        Ideal output at speed factor 1 [1/s].
    speed : float
        Speed factor [-]; output and motor load scale with it.
    max_speed : float
        Highest speed factor the station is rated for [-]; the ideal rate of the
        OEE performance factor is ``rate x max_speed``.
    mean_time_between_jams : float
        Mean running time between jams [s] (exponential).
    mean_jam_clear_time : float
        Mean time to clear a jam [s] (exponential).
    mean_time_to_failure : float
        Mean running time to failure [s] (exponential).
    mean_repair_time : float
        Mean repair time once a crew member is there [s] (lognormal).
    repair_time_cv : float
        Coefficient of variation of the repair time [-].
    current_no_load, current_full_load : float
        Motor current at no load and at full load (speed factor 1) [A].
    trip_temperature, reset_temperature : float
        Winding temperature at which the protection trips and at which the motor may restart [K].
    line_voltage : float
        Line-to-line supply voltage [V].
    power_factor : float
        cos(phi) [-]; electrical power = sqrt(3) U I cos(phi).
    scrap_fraction : float
        Share of output that is scrap [-].
    """

    name: str = "station"
    rate: float = 5.0
    speed: float = 1.0
    max_speed: float = 1.25
    mean_time_between_jams: float = 1800.0
    mean_jam_clear_time: float = 120.0
    mean_time_to_failure: float = 86400.0
    mean_repair_time: float = 1800.0
    repair_time_cv: float = 0.5
    current_no_load: float = 10.0
    current_full_load: float = 30.0
    trip_temperature: float = 403.15
    reset_temperature: float = 363.15
    line_voltage: float = 400.0
    power_factor: float = 0.85
    scrap_fraction: float = 0.0

    def __post_init__(self):
        positive = ("rate", "speed", "max_speed", "mean_time_between_jams", "mean_jam_clear_time", "mean_time_to_failure",
                    "mean_repair_time", "line_voltage")
        for key in positive:
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigurationError(
                    f"station {self.name!r}: {key} = {value!r} must be a finite number > 0; fix it in the plant config")
        for key in ("repair_time_cv", "current_no_load", "current_full_load"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigurationError(f"station {self.name!r}: {key} = {value!r} must be finite and >= 0")
        if not 0 < self.power_factor <= 1:
            raise ConfigurationError(f"station {self.name!r}: power_factor = {self.power_factor} must be in (0, 1]")
        if not 0 <= self.scrap_fraction < 1:
            raise ConfigurationError(f"station {self.name!r}: scrap_fraction = {self.scrap_fraction} must be in [0, 1)")
        if self.speed > self.max_speed:
            raise ConfigurationError(
                f"station {self.name!r}: speed = {self.speed} exceeds the rated max_speed = {self.max_speed}; "
                f"lower the speed or raise max_speed if the machine is rated for it")
        if not self.reset_temperature < self.trip_temperature:
            raise ConfigurationError(
                f"station {self.name!r}: reset_temperature ({self.reset_temperature} K) must lie below "
                f"trip_temperature ({self.trip_temperature} K)")

    @property
    def running_current(self) -> float:
        """Motor current while running at the configured speed [A]."""
        return self.current_no_load + (self.current_full_load - self.current_no_load) * self.speed

    @property
    def electrical_power(self) -> float:
        """Electrical power drawn while running [W]."""
        return math.sqrt(3.0) * self.line_voltage * self.running_current * self.power_factor


def motor_events(params: StationParams) -> tuple[StateEvent, StateEvent]:
    """The protection events a station needs on its motor's winding temperature."""
    return (StateEvent("overtemperature_trip", "winding_temperature", params.trip_temperature, +1),
            StateEvent("trip_reset", "winding_temperature", params.reset_temperature, -1))


@dataclass
class Station:
    """Counters and state record of one station (filled by :func:`station_process`)."""

    params: StationParams
    recorder: StateRecorder
    output: float = 0.0
    running_energy: float = 0.0
    jams: int = 0
    failures: int = 0
    trips: int = 0
    repair_time: float = 0.0
    trip_times: list = field(default_factory=list)
    running_since: float | None = None

    def _accrue(self, now: float) -> tuple[float, float]:
        """Output [units] and energy [J] including the running segment in progress."""
        if self.running_since is None:
            return self.output, self.running_energy
        ran = now - self.running_since
        p = self.params
        return self.output + p.rate * p.speed * ran, self.running_energy + p.electrical_power * ran

    @classmethod
    def create(cls, env: simpy.Environment, params: StationParams) -> "Station":
        return cls(params, StateRecorder(env, STATION_STATES, "running"))

    def kpis(self) -> dict[str, float]:
        """KPIs over the observed period (definitions in :mod:`sim.kpi`)."""
        p = self.params
        d = self.recorder.durations()
        planned = self.recorder.observed
        down = sum(d[s] for s in _DOWN_STATES)
        operating = planned - down
        output, energy = self._accrue(self.recorder.env.now)
        good = output * (1.0 - p.scrap_fraction)
        availability = safe_ratio(operating, planned)
        performance = safe_ratio(output, p.rate * p.max_speed * operating)
        quality = safe_ratio(good, output)
        repairs = self.failures
        return {
            "throughput": safe_ratio(good, planned),
            "output": good,
            "availability": availability,
            "performance": performance,
            "quality": quality,
            "oee": availability * performance * quality,
            "unplanned_downtime": down,
            "trips": float(self.trips),
            "jams": float(self.jams),
            "failures": float(self.failures),
            "mtbf": safe_ratio(d["running"], self.failures),
            "mttr": safe_ratio(d["waiting_crew"] + d["in_repair"], repairs),
            "energy_per_unit": safe_ratio(energy, output),
        }


def _lognormal(rng, mean: float, cv: float) -> float:
    if cv <= 0:
        return mean
    sigma2 = math.log1p(cv * cv)
    return float(rng.lognormal(math.log(mean) - 0.5 * sigma2, math.sqrt(sigma2)))


def station_process(env: simpy.Environment, station: Station, *, motor: PhysicsComponent, asset: int,
                    crew: simpy.Resource, streams: RandomStreams):
    """SimPy process of one station driving motor *asset* of *motor*.

    The station's load sets the motor current; the motor's over-temperature
    trip (a state event located by the physics) stops the station until the
    winding has cooled to the reset temperature.
    """
    p = station.params
    rec = station.recorder
    jam_rng = streams(f"{p.name}.jam_interval")
    clear_rng = streams(f"{p.name}.jam_clear")
    ttf_rng = streams(f"{p.name}.time_to_failure")
    repair_rng = streams(f"{p.name}.repair")
    to_jam = jam_rng.exponential(p.mean_time_between_jams)
    to_fail = ttf_rng.exponential(p.mean_time_to_failure)
    while True:
        trip = motor.wait_for(asset, "overtemperature_trip")
        if trip.triggered:  # still too hot to start: wait for the reset
            rec.set("tripped")
            station.trips += 1
            station.trip_times.append(env.now)
            motor.set_input(asset, "motor_current", 0.0)
            yield motor.wait_for(asset, "trip_reset")
            continue
        rec.set("running")
        motor.set_input(asset, "motor_current", p.running_current)
        start = station.running_since = env.now
        timer = env.timeout(min(to_jam, to_fail))
        yield timer | trip
        ran = env.now - start
        station.output, station.running_energy = station._accrue(env.now)
        station.running_since = None
        to_jam -= ran
        to_fail -= ran
        motor.set_input(asset, "motor_current", 0.0)
        if trip.triggered:
            rec.set("tripped")
            station.trips += 1
            station.trip_times.append(env.now)
            yield motor.wait_for(asset, "trip_reset")
            continue
        motor.cancel_wait(asset, "overtemperature_trip")
        if to_fail <= to_jam:
            station.failures += 1
            rec.set("waiting_crew")
            t_fail = env.now
            with crew.request() as req:
                yield req
                rec.set("in_repair")
                yield env.timeout(_lognormal(repair_rng, p.mean_repair_time, p.repair_time_cv))
            station.repair_time += env.now - t_fail
            to_fail = ttf_rng.exponential(p.mean_time_to_failure)
        else:
            station.jams += 1
            rec.set("jammed")
            yield env.timeout(clear_rng.exponential(p.mean_jam_clear_time))
            to_jam = jam_rng.exponential(p.mean_time_between_jams)
