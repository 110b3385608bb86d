"""A high-speed station of a flow line, driven by an electric motor.

The station's rate lives in the :class:`~sim.processes.flowline.FlowLine`;
this object holds what is discrete: why it is stopped (a set of reasons:
``jammed``, ``tripped``, ``down``, ``in_repair``, ``in_maintenance``,
``off_shift``), its failure clocks, the activity in progress (for
snapshots), counters and its state record.  Whenever its rate changes it
sets its motor's current - the load the physics sees - and its electrical
power.  Its processes are in :mod:`sim.processes.flowprocs`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import simpy

from sim.exceptions import ConfigurationError
from sim.kpi import MACHINE_STATES, StateRecorder, machine_kpis
from sim.processes.distributions import Distribution, Sampler, as_distribution
from sim.processes.failures import FailureClock, FailureMode, check_spare_parts
from sim.processes.flowprocs import start_maintenance

__all__ = ["MotorLoad", "FlowStationParams", "FlowStation", "STOP_REASONS"]

STOP_REASONS = ("off_shift", "in_maintenance", "in_repair", "down", "tripped", "jammed")
"""Reasons a flow station stands still, most significant first (the recorded state is the first present)."""


@dataclass(frozen=True)
class MotorLoad:
    """How a station loads its motor.

    Parameters
    ----------
    current_no_load, current_full_load : float
        RMS current running empty and at the nominal rate at speed factor 1 [A].
    line_voltage : float
        Line-to-line supply voltage [V].
    power_factor : float
        cos(phi) [-]; electrical power = sqrt(3) U I cos(phi).
    trip_event, reset_event : str
        Names of the motor fleet's over-temperature state events (``None`` for no protection).
    current_input : str
        Name of the motor model's current input.
    """

    current_no_load: float = 10.0
    current_full_load: float = 30.0
    line_voltage: float = 400.0
    power_factor: float = 0.85
    trip_event: str | None = "overtemperature_trip"
    reset_event: str | None = "trip_reset"
    current_input: str = "motor_current"

    def __post_init__(self):
        for key in ("current_no_load", "current_full_load"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigurationError(f"motor load: {key} = {value!r} must be finite and >= 0 [A]")
        if not (math.isfinite(self.line_voltage) and self.line_voltage > 0):
            raise ConfigurationError(f"motor load: line_voltage = {self.line_voltage!r} must be > 0 [V]")
        if not 0 < self.power_factor <= 1:
            raise ConfigurationError(f"motor load: power_factor = {self.power_factor!r} must lie in (0, 1]")
        if (self.trip_event is None) != (self.reset_event is None):
            raise ConfigurationError("motor load: give both trip_event and reset_event, or neither")

    def current(self, load: float) -> float:
        """Current [A] at *load* = flow / nominal rate at speed 1 [-]."""
        return self.current_no_load + (self.current_full_load - self.current_no_load) * load

    def power(self, current: float) -> float:
        """Electrical power [W] at *current* [A]."""
        return math.sqrt(3.0) * self.line_voltage * current * self.power_factor


@dataclass(frozen=True)
class FlowStationParams:
    """Parameters of a flow station (SI units).

    Parameters
    ----------
    name : str
        Also the prefix of its random streams.
    rate : float
        Output at speed factor 1 [1/s].
    speed, max_speed : float
        Speed factor and the rated maximum [-]; the OEE ideal rate is ``rate x max_speed``.
    jam_interval : Distribution or float, optional
        Running time between jams (micro-stops) [s].
    jam_duration : Distribution or float
        Time to clear a jam [s].
    failure_modes : tuple of FailureMode
    repair_priority : int
        Crew priority of this station's repairs (lower is more urgent).
    scrap_fraction : float
        Share of output that is scrap [-].
    motor : MotorLoad, optional
        Motor loading; ``None`` for a station without a motor model.
    renewal_states : dict
        Physics states set when the station is renewed by maintenance (wear -> 0 ...), name -> value.
    """

    name: str
    rate: float
    speed: float = 1.0
    max_speed: float = 1.25
    jam_interval: Distribution | float | None = None
    jam_duration: Distribution | float = 60.0
    failure_modes: tuple = ()
    repair_priority: int = 1
    scrap_fraction: float = 0.0
    motor: MotorLoad | None = MotorLoad()
    renewal_states: dict = field(default_factory=dict)

    def __post_init__(self):
        for key in ("rate", "speed", "max_speed"):
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigurationError(f"station {self.name!r}: {key} = {value!r} must be a finite number > 0; "
                                         f"fix it in the line config")
        if self.speed > self.max_speed:
            raise ConfigurationError(f"station {self.name!r}: speed = {self.speed} exceeds the rated max_speed = "
                                     f"{self.max_speed}; lower the speed or raise max_speed")
        if self.jam_interval is not None:
            object.__setattr__(self, "jam_interval", as_distribution(self.jam_interval, f"{self.name}.jam_interval"))
        object.__setattr__(self, "jam_duration", as_distribution(self.jam_duration, f"{self.name}.jam_duration"))
        if not 0 <= self.scrap_fraction < 1:
            raise ConfigurationError(f"station {self.name!r}: scrap_fraction = {self.scrap_fraction} must lie in "
                                     f"[0, 1)")
        names = [m.name for m in self.failure_modes]
        if len(set(names)) != len(names) or not all(isinstance(m, FailureMode) for m in self.failure_modes):
            raise ConfigurationError(f"station {self.name!r}: failure_modes must be FailureMode objects with unique "
                                     f"names, got {names}")


class FlowStation:
    """Discrete state of one flow station (see the module docstring).

    Parameters
    ----------
    env : simpy.Environment
    params : FlowStationParams
    streams : RandomStreams
    crew : Crew, optional
    spares : dict, optional
        Part name -> SpareParts.
    physics : PhysicsComponent, optional
        The motor fleet; *asset* is this station's motor.
    """

    def __init__(self, env: simpy.Environment, params: FlowStationParams, *, streams, crew=None, spares=None,
                 physics=None, asset: int = 0):
        self.env = env
        self.params = params
        self.name = params.name
        self.crew = crew
        self.spares = spares or {}
        self.physics = physics
        self.asset = asset
        check_spare_parts(f"station {self.name!r}", params.failure_modes, self.spares)
        if physics is None and params.motor is not None and params.motor.trip_event is not None:
            raise ConfigurationError(f"station {self.name!r} has motor trip protection but no physics component; "
                                     f"pass physics= (the motor fleet) or use MotorLoad(trip_event=None)")
        n = params.name
        self.speed = params.speed
        self.stops: set[str] = set()
        self.available_rate = params.rate * params.speed
        self.samplers = {"jam_duration": Sampler(params.jam_duration, streams(f"{n}.jam_duration"))}
        if params.jam_interval is not None:
            self.samplers["jam_interval"] = Sampler(params.jam_interval, streams(f"{n}.jam_interval"))
        for m in params.failure_modes:
            self.samplers[f"{m.name}.repair"] = Sampler(m.repair_time, streams(f"{n}.{m.name}.repair"))
        self.sensors: dict = {}  # output name -> (component, asset), besides the motor
        self.state_owners: dict = {}  # state name -> (component, asset), for renewal_states
        self.listeners: list = []  # callables listener(station), called when the station's rate changes
        self.clocks = [FailureClock(m, streams(f"{n}.{m.name}.hazard"), read=self.read, owner=n)
                       for m in params.failure_modes]
        self.recorder = StateRecorder(env, MACHINE_STATES, "running")
        self.line = None
        self.index = -1
        self.flow = 0.0
        self.power = 0.0
        self._current = None
        self._shown = None
        self.renewed_at = 0.0
        self._renewal = env.event()
        self.jam_due = self.samplers["jam_interval"]() if "jam_interval" in self.samplers else math.inf
        self.jam_end: float | None = None
        self.tripped = False
        self.repair: dict | None = None
        self.maintenance: dict | None = None
        self.reset_statistics()

    def bind(self, line, index: int) -> None:
        """Called by the :class:`FlowLine` that owns this station."""
        self.line = line
        self.index = index

    # ------------------------------------------------------------ line hooks
    @property
    def nominal_rate(self) -> float:
        """Rate when neither starved nor blocked [1/s]."""
        return self.params.rate * self.speed

    @property
    def up(self) -> bool:
        return not self.stops

    def on_flow(self, flow: float, share: float, limit: str) -> None:
        """The line set this station's rate to *flow* [1/s] (*share* of nominal, limited by *limit*)."""
        self.flow = flow
        for listener in self.listeners:
            listener(self)
        if self.stops:
            shown = next(r for r in STOP_REASONS if r in self.stops)
            if shown != self._shown:
                self.recorder.set(shown)
        elif share >= 1.0:
            shown = "running"
            if shown != self._shown:
                self.recorder.set(shown)
        else:
            shown = (share, limit)
            if shown != self._shown:
                self.recorder.set_shares("running", share, limit)
        self._shown = shown
        motor = self.params.motor
        if motor is None:
            return
        current = motor.current(flow / self.params.rate) if self.up else 0.0
        if current != self._current:
            self._current = current
            self.power = motor.power(current)
            if self.physics is not None:
                self.physics.set_input(self.asset, motor.current_input, current)

    # -------------------------------------------------------------- commands
    def stop(self, reason: str) -> None:
        """Stand still for *reason* (one of :data:`STOP_REASONS`) until :meth:`resume`."""
        if reason not in STOP_REASONS:
            raise ConfigurationError(f"unknown stop reason {reason!r}; use one of {STOP_REASONS}")
        if reason not in self.stops:
            self.stops.add(reason)
            self.available_rate = 0.0
            self.line.touch(self.index)

    def resume(self, reason: str) -> None:
        if reason in self.stops:
            self.stops.discard(reason)
            if not self.stops:
                self.available_rate = self.nominal_rate
            self.line.touch(self.index)

    def set_speed(self, speed: float) -> None:
        """Run at speed factor *speed* [-] from now on."""
        if not (math.isfinite(speed) and 0 < speed <= self.params.max_speed):
            raise ConfigurationError(f"station {self.name!r}: speed = {speed!r} must lie in (0, max_speed = "
                                     f"{self.params.max_speed}]")
        self.speed = float(speed)
        if not self.stops:
            self.available_rate = self.nominal_rate
        self.line.touch(self.index)

    # ------------------------------------------------------ maintainable unit
    @property
    def usage(self) -> float:
        """Equivalent full-rate running time so far [s]."""
        return self.line.usage_now(self.index)

    @property
    def age(self) -> float:
        """Running time since the last renewal [s]."""
        return self.usage - self.renewed_at

    def at_age(self, age: float) -> simpy.Event:
        return self.line.usage_at(self.index, self.renewed_at + age)

    def renewal(self) -> simpy.Event:
        return self._renewal

    def read(self, output: str) -> float:
        """Physics output *output* of this station now: from :attr:`sensors` (output -> (component,
        asset)), else from its motor."""
        source = self.sensors.get(output)
        if source is not None:
            return source[0].output(source[1], output)
        if self.physics is None:
            raise ConfigurationError(f"station {self.name!r} reads {output!r} but has no physics component; "
                                     f"attach its motor or add a sensor for it")
        return self.physics.output(self.asset, output)

    def request_maintenance(self, order) -> simpy.Event:
        """Stop for maintenance *order* (crew time, cost); the event succeeds when it is done."""
        return start_maintenance(self, order)

    def renew(self) -> None:
        """As good as new now: failure clocks and age restart, ``renewal_states`` are written to the physics."""
        usage = self.usage
        for clock in self.clocks:
            clock.renew(usage)
        for name, value in self.params.renewal_states.items():
            owner = self.state_owners.get(name)
            if owner is None:
                if self.physics is None or name not in self.physics.fleet.spec.names("states"):
                    raise ConfigurationError(f"station {self.name!r}: renewal state {name!r} is in no physics "
                                             f"component of this station; check renewal_states")
                owner = (self.physics, self.asset)
            owner[0].set_state(owner[1], name, value)
        self.renewed_at = usage
        ev, self._renewal = self._renewal, self.env.event()
        ev.succeed()

    # ------------------------------------------------------------------ KPIs
    def reset_statistics(self) -> None:
        """Forget KPIs so far (warm-up deletion); the station's state is kept."""
        self.recorder.reset()
        self.jams = self.failures = self.trips = self.maintenances = 0
        self.cost = 0.0

    def kpis(self) -> dict[str, float]:
        """Station KPIs (definitions in :mod:`sim.kpi`); output and energy come from the line."""
        p = self.params
        output = self.line.output_now(self.index)
        k = machine_kpis(self.recorder.durations(), output=output, good=output * (1.0 - p.scrap_fraction),
                         ideal_rate=p.rate * p.max_speed, failures=self.failures,
                         energy=self.line.energy_now(self.index), maintenance_cost=self.cost)
        k.update(jams=float(self.jams), trips=float(self.trips), maintenances=float(self.maintenances))
        return k
