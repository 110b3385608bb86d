"""What a flow line is: stations, buffers, motors, ambient, spares, physics parts - plain data.

:class:`LineSpec` says what the plant is (the physics models are parameters); :class:`~sim.line.twin.LineTwin`
builds and runs it.  Every field is in SI units; every check names the field, the value and the rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable


from sim.exceptions import ConfigurationError
from sim.physics import MOTOR_THERMAL, Model
from sim.processes.flowline import FlowBufferParams
from sim.processes.flowstation import FlowStationParams
from sim.processes.maintenance import MaintenancePolicy
from sim.processes.shifts import ShiftCalendar

__all__ = ["MotorPhysics", "AmbientCycle", "SpareSpec", "PhysicsPart", "LineSpec", "CREW_RULES"]

CREW_RULES = ("wait", "preempt")
"""What the crew does with unfinished work at the end of a shift (see :func:`sim.processes.crew_calendar`)."""


def _positive(owner: str, value, unit: str) -> None:
    if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ConfigurationError(f"{owner} = {value!r} must be a finite number > 0 [{unit}]")


@dataclass(frozen=True)
class MotorPhysics:
    """The motor fleet: model, parameters and protection levels.

    Parameters
    ----------
    model : Model
        Physics model of one motor (inputs ``motor_current`` and ``ambient_temperature``).
    params : tuple of dict
        Parameters per station (name -> value); empty for the spec defaults.
    initial : dict, optional
        Initial states (name -> value) of every motor.
    trip_temperature, reset_temperature : float
        Winding temperatures of the protection trip and reset [K].
    temperature_output : str
        Model output compared with the trip levels.
    max_step, lookahead : float
        Integrator step and longest advance [s].
    """

    model: Model = MOTOR_THERMAL
    params: tuple = ()
    initial: dict | None = None
    trip_temperature: float = 403.15
    reset_temperature: float = 363.15
    temperature_output: str = "winding_temperature"
    max_step: float = 1.0
    lookahead: float = 3600.0

    def __post_init__(self):
        for key in ("max_step", "lookahead"):
            _positive(f"motor physics: {key}", getattr(self, key), "s")
        if not isinstance(self.model, Model) and not hasattr(self.model, "run_member"):
            raise ConfigurationError(f"motor physics: model = {self.model!r} is neither a sim.physics.Model nor an "
                                     f"FMU model (sim.fmu.FmuModel); use e.g. sim.physics.MOTOR_THERMAL")
        if not self.reset_temperature < self.trip_temperature:
            raise ConfigurationError(f"motor physics: reset_temperature ({self.reset_temperature} K) must lie "
                                     f"below trip_temperature ({self.trip_temperature} K)")


@dataclass(frozen=True)
class AmbientCycle:
    """Daily ambient temperature, a cosine held for *step* seconds at a time.

    Parameters
    ----------
    mean, amplitude : float
        Daily mean and half the peak-to-peak swing [K].
    peak_time : float
        Time of day of the maximum [s after midnight].
    step : float
        Hold time of each value [s].
    input_name : str
        Physics input set on every motor.
    """

    mean: float = 298.15
    amplitude: float = 4.0
    peak_time: float = 15 * 3600.0
    step: float = 3600.0
    input_name: str = "ambient_temperature"

    def __post_init__(self):
        _positive("ambient cycle: mean", self.mean, "K")
        _positive("ambient cycle: step", self.step, "s")
        if not (math.isfinite(self.amplitude) and 0 <= self.amplitude < self.mean):
            raise ConfigurationError(f"ambient cycle: amplitude = {self.amplitude!r} K must be finite, >= 0 and "
                                     f"below the mean ({self.mean} K)")

    def value(self, t: float) -> float:
        """Ambient temperature held from *t* [s] on (the cosine at the middle of the step) [K]."""
        mid = t + 0.5 * self.step
        return self.mean + self.amplitude * math.cos(2 * math.pi * (mid - self.peak_time) / 86400.0)


@dataclass(frozen=True)
class SpareSpec:
    """A spare-part stock: see :class:`~sim.processes.spares.SpareParts` (times [s], costs [currency])."""

    name: str
    initial: int
    reorder_point: int
    order_quantity: int
    lead_time: object
    unit_cost: float = 0.0


@dataclass(frozen=True)
class PhysicsPart:
    """Further physics on the line (e.g. the filler's pump).

    Parameters
    ----------
    name : str
        Component name (unique).
    build : callable
        ``build(start_time) -> Fleet`` [s].
    stations : tuple of int
        Station index of each asset; that station's failure modes and policies may read its outputs.
    couple : callable, optional
        ``couple(twin, component)``, called once after the line is built, starts processes that set the
        part's inputs from the line (pump speed from the filler's flow ...).
    lookahead : float
        Longest advance while its events are armed [s].
    """

    name: str
    build: Callable
    stations: tuple = ()
    couple: Callable | None = None
    lookahead: float = 3600.0


@dataclass(frozen=True)
class LineSpec:
    """Everything needed to build a flow-line twin (SI units).

    Parameters
    ----------
    stations : tuple of FlowStationParams
        In flow order.
    buffers : tuple of FlowBufferParams
        One fewer than stations.
    crew_size : int
    labour_rate : float
        Cost of a crew member at work [currency/s].
    policy : MaintenancePolicy or dict, optional
        One policy for every station, or station name -> policy.
    spares : tuple of SpareSpec
    calendar : ShiftCalendar, optional
        Production shifts; the crew follows it too (``crew_rule``).
    crew_rule : str
        ``"wait"`` or ``"preempt"`` at the end of a shift.
    motors : MotorPhysics, optional
    ambient : AmbientCycle, optional
    parts : tuple of PhysicsPart
    """

    stations: tuple
    buffers: tuple
    crew_size: int = 1
    labour_rate: float = 0.0
    policy: MaintenancePolicy | dict | None = None
    spares: tuple = ()
    calendar: ShiftCalendar | None = None
    crew_rule: str = "wait"
    motors: MotorPhysics | None = field(default_factory=MotorPhysics)
    ambient: AmbientCycle | None = field(default_factory=AmbientCycle)
    parts: tuple = ()

    def __post_init__(self):
        stations, buffers = tuple(self.stations), tuple(self.buffers)
        if not stations:
            raise ConfigurationError("LineSpec.stations is empty; give the stations in flow order as "
                                     "FlowStationParams")
        for kind, items, cls in (("stations", stations, FlowStationParams), ("buffers", buffers, FlowBufferParams),
                                 ("spares", self.spares, SpareSpec), ("parts", self.parts, PhysicsPart)):
            bad = [x for x in items if not isinstance(x, cls)]
            if bad:
                raise ConfigurationError(f"LineSpec.{kind} must be {cls.__name__} objects, got {bad[0]!r}")
            names = [x.name for x in items]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ConfigurationError(f"LineSpec.{kind}: name(s) {dup} appear more than once; give every one "
                                         f"a unique name")
        if len(buffers) != len(stations) - 1:
            raise ConfigurationError(f"LineSpec: {len(stations)} stations need {len(stations) - 1} buffers (one "
                                     f"between each pair), got {len(buffers)}")
        if isinstance(self.crew_size, bool) or not isinstance(self.crew_size, int) or self.crew_size < 1:
            raise ConfigurationError(f"LineSpec: crew_size = {self.crew_size!r} must be an integer >= 1 (a line "
                                     f"needs at least one technician)")
        if not (isinstance(self.labour_rate, (int, float)) and math.isfinite(self.labour_rate)
                and self.labour_rate >= 0):
            raise ConfigurationError(f"LineSpec: labour_rate = {self.labour_rate!r} must be finite and >= 0 "
                                     f"[currency/s]")
        if self.crew_rule not in CREW_RULES:
            raise ConfigurationError(f"LineSpec: crew_rule = {self.crew_rule!r} is unknown; use one of {CREW_RULES}")
        known = [s.name for s in stations]
        policies = self.policy if isinstance(self.policy, dict) else {"every station": self.policy}
        if isinstance(self.policy, dict) and set(self.policy) - set(known):
            raise ConfigurationError(f"LineSpec.policy names unknown station(s) {sorted(set(self.policy) - set(known))}; "
                                     f"stations are {known}")
        for where, pol in policies.items():
            if pol is not None and not isinstance(pol, MaintenancePolicy):
                raise ConfigurationError(f"LineSpec.policy ({where}) = {pol!r} is not a MaintenancePolicy; build one "
                                         f"by name with sim.processes.make_policy(name, ...)")
        for part in self.parts:
            out = [i for i in part.stations if not (isinstance(i, int) and 0 <= i < len(stations))]
            if out:
                raise ConfigurationError(f"physics part {part.name!r}: station index(es) {out} out of range; the "
                                         f"line has stations 0..{len(stations) - 1} ({known})")
        if self.motors is not None:
            if not isinstance(self.motors, MotorPhysics):
                raise ConfigurationError(f"LineSpec.motors = {self.motors!r} must be a MotorPhysics or None")
            if self.motors.params and len(self.motors.params) != len(stations):
                raise ConfigurationError(f"motor physics: {len(self.motors.params)} parameter sets for "
                                         f"{len(stations)} stations; give one per station (in flow order) or none")
        if self.ambient is not None and not isinstance(self.ambient, AmbientCycle):
            raise ConfigurationError(f"LineSpec.ambient = {self.ambient!r} must be an AmbientCycle or None")

    def signature(self) -> dict:
        """What must match between a snapshot and the plant it is restored into."""
        sig = {"stations": [s.name for s in self.stations], "buffers": [b.name for b in self.buffers],
               "failure modes": [[m.name for m in s.failure_modes] for s in self.stations],
               "spare parts": sorted(p.name for p in self.spares), "physics parts": [p.name for p in self.parts]}
        if self.motors is not None:
            sig["motor model"] = self.motors.model.spec.name
        return sig
