"""A flow-line twin: stations, buffers, crew, spares, policies, shifts and physics on one clock.

:class:`LineSpec` says what the plant is (plain data; the physics models are
parameters), :class:`LineTwin` builds it on a
:class:`~sim.clock.CoSimulation`, runs it, reports KPIs, and takes and
restores :class:`~sim.snapshot.TwinSnapshot` s.  It follows the replication
protocol of :mod:`sim.replications` (``run``, ``reset_statistics``, ``kpis``).

Physics: all station motors form **one** fleet (asset i = station i, one
kernel call advances all of them) with the over-temperature trip and reset
as state events.  Further physics (a pump on the filler ...) is attached as
:class:`PhysicsPart` s: a fleet factory, the stations whose failure modes
may read its outputs, and a ``couple`` hook that starts processes driving
its inputs from the line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import simpy

from sim.clock import CoSimulation
from sim.exceptions import ConfigurationError
from sim.kpi import safe_ratio
from sim.physics import MOTOR_THERMAL, RK4, Fleet, Model, StateEvent
from sim.processes.crew import Crew
from sim.processes.distributions import Sampler
from sim.processes.flowline import FlowBufferParams, FlowLine
from sim.processes.flowprocs import line_calendar, start_station
from sim.processes.flowstation import FlowStation, FlowStationParams
from sim.processes.maintenance import MaintenancePolicy, start_policy
from sim.processes.shifts import ShiftCalendar, crew_calendar
from sim.processes.spares import SpareParts
from sim.snapshot import TwinSnapshot, apply_station, capture_station, check_signature
from sim.streams import RandomStreams

__all__ = ["MotorPhysics", "AmbientCycle", "SpareSpec", "PhysicsPart", "LineSpec", "LineTwin", "CREW_RULES"]

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
        if not isinstance(self.model, Model):
            raise ConfigurationError(f"motor physics: model = {self.model!r} is not a sim.physics.Model; use e.g. "
                                     f"sim.physics.MOTOR_THERMAL")
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


class LineTwin:
    """A flow-line twin built from a :class:`LineSpec` (see the module docstring).

    Parameters
    ----------
    spec : LineSpec
    streams : RandomStreams
        Random sources of this replication.
    snapshot : TwinSnapshot, optional
        Start from this state (built at its time) instead of an empty line at 0 s.
    exact : bool
        With a snapshot: continue its random streams exactly (True) or draw new futures from *streams*.
    """

    def __init__(self, spec: LineSpec, *, streams: RandomStreams, snapshot: TwinSnapshot | None = None,
                 exact: bool = False):
        if not isinstance(spec, LineSpec):
            raise ConfigurationError(f"LineTwin needs a LineSpec, got {type(spec).__name__}; build one with "
                                     f"scenarios.reference.line.reference_line_spec() or LineSpec(stations=..., buffers=...)")
        if snapshot is not None and not isinstance(snapshot, TwinSnapshot):
            raise ConfigurationError(f"snapshot = {type(snapshot).__name__} is not a TwinSnapshot; restore what "
                                     f"LineTwin.snapshot() returned")
        if snapshot is not None:
            check_signature(spec.signature(), snapshot.signature)
        start = snapshot.time if snapshot is not None else 0.0
        self.spec = spec
        self.streams = streams
        self.cosim = CoSimulation(simpy.Environment(initial_time=start))
        env = self.env = self.cosim.env
        self.motors = self._build_motors(start, snapshot)
        self.parts = {}
        for part in spec.parts:
            fleet = part.build(start)
            if snapshot is not None:
                fleet.restore(snapshot.physics[part.name])
            self.parts[part.name] = self.cosim.add_physics(fleet, lookahead=part.lookahead, name=part.name)
        self.crew = Crew(env, spec.crew_size, labour_rate=spec.labour_rate)
        self.spares = {}
        for sp in spec.spares:
            state = snapshot.spares.get(sp.name) if snapshot is not None else None
            self.spares[sp.name] = SpareParts(env, sp.name, initial=sp.initial, reorder_point=sp.reorder_point,
                                              order_quantity=sp.order_quantity, lead_time=sp.lead_time,
                                              rng=streams(f"spares.{sp.name}.lead_time"), unit_cost=sp.unit_cost,
                                              state=state)
        self.stations = [FlowStation(env, p, streams=streams, crew=self.crew, spares=self.spares,
                                     physics=self.motors, asset=i) for i, p in enumerate(spec.stations)]
        for st in self.stations:
            policy = self._policy(st.name)
            if policy is not None:
                st.samplers["maintenance"] = Sampler(policy.duration, streams(f"{st.name}.maintenance"))
        for part in spec.parts:
            comp = self.parts[part.name]
            for asset, i in enumerate(part.stations):
                for out in comp.fleet.spec.names("outputs"):
                    self.stations[i].sensors[out] = (comp, asset)
                for state in comp.fleet.spec.names("states"):
                    self.stations[i].state_owners[state] = (comp, asset)
        self.line = FlowLine(env, self.stations, spec.buffers)
        if snapshot is not None:
            if exact:
                streams.set_state(snapshot.streams)
            for st, state in zip(self.stations, snapshot.stations):
                apply_station(st, state, exact=exact)
            self.line.set_levels(snapshot.levels)
        self._start_processes()
        self.line.changed()

    # ------------------------------------------------------------------ build
    def _build_motors(self, start: float, snapshot):
        mp = self.spec.motors
        if mp is None:
            return None
        n = len(self.spec.stations)
        params = None
        if mp.params:
            if len(mp.params) != n:
                raise ConfigurationError(f"motor physics: {len(mp.params)} parameter sets for {n} stations; give "
                                         f"one per station or none")
            params = mp.model.spec.vector("params", None)[None].repeat(n, 0)
            for i, p in enumerate(mp.params):
                params[i] = mp.model.spec.vector("params", p)
        names = {(s.motor.trip_event, s.motor.reset_event) for s in self.spec.stations if s.motor is not None}
        events = []
        for trip, reset in sorted(n for n in names if n[0] is not None):
            events += [StateEvent(trip, mp.temperature_output, mp.trip_temperature, +1),
                       StateEvent(reset, mp.temperature_output, mp.reset_temperature, -1)]
        fleet = Fleet(mp.model, n=n, states=mp.initial, params=params, events=events,
                      integrator=RK4(max_step=mp.max_step), time=start)
        if snapshot is not None:
            fleet.restore(snapshot.physics["motors"])
        return self.cosim.add_physics(fleet, lookahead=mp.lookahead, name="motors")

    def _policy(self, name: str):
        policy = self.spec.policy
        return policy.get(name) if isinstance(policy, dict) else policy

    def _start_processes(self) -> None:
        env, spec = self.env, self.spec

        def at_work(st):  # restored jobs that held a crew member ask for one before anybody else
            return any(job is not None and job.get("at_work") for job in (st.repair, st.maintenance))

        order = [st for st in self.stations if at_work(st)]
        for st in order:
            start_station(env, st)
        if spec.calendar is not None:
            env.process(line_calendar(env, self.stations, spec.calendar))
            env.process(crew_calendar(env, self.crew, spec.calendar, rule=spec.crew_rule))
        for st in self.stations:
            if st not in order:
                start_station(env, st)
        for st in self.stations:
            policy = self._policy(st.name)
            if policy is not None:
                start_policy(env, st, policy, sampler=st.samplers["maintenance"])
        if spec.ambient is not None and self.motors is not None:
            env.process(self._ambient(spec.ambient))
        for part in spec.parts:
            if part.couple is not None:
                part.couple(self, self.parts[part.name])

    def _ambient(self, cycle: AmbientCycle):
        env = self.env
        n = len(self.stations)
        while True:
            value = cycle.value(env.now)
            for a in range(n):
                self.motors.set_input(a, cycle.input_name, value)
            yield env.timeout(cycle.step - (env.now % cycle.step))

    # -------------------------------------------------------------------- run
    @property
    def now(self) -> float:
        """Current time [s]."""
        return self.env.now

    def run(self, until: float) -> None:
        """Run to time *until* [s]."""
        self.cosim.run(until)

    def reset_statistics(self) -> None:
        """Warm-up deletion: forget every KPI accumulated so far."""
        self.line.reset_statistics()
        for st in self.stations:
            st.reset_statistics()
        self.crew.reset_statistics()
        for sp in self.spares.values():
            sp.reset_statistics()

    def kpis(self) -> dict[str, float]:
        """Line KPIs and ``<station>.<kpi>`` per station (definitions in :mod:`sim.kpi`).

        Line output is the last station's output less every station's scrap share.  The line's
        OEE, availability, performance and quality are measured at its bottleneck (the station
        with the lowest rated rate x max_speed): OEE = good output / (bottleneck ideal rate x
        planned time), availability = the bottleneck's availability, quality = good / output of
        the last station, performance = OEE / (availability x quality), so OEE = A x P x Q holds.
        Lead time = WIP / throughput (Little's law: flow material has no identity).  Crew cost =
        crew size x labour rate x time on shift: what the crew costs whether busy or not (the
        labour at work is also in maintenance cost; do not add the two).
        """
        per = {st.name: st.kpis() for st in self.stations}
        last = self.stations[-1]
        observed = last.recorder.observed
        output = per[last.name]["output"]
        good = output
        for s in self.spec.stations:  # scrap leaves the line where it is made
            good *= 1.0 - s.scrap_fraction
        ideal = [s.rate * s.max_speed for s in self.spec.stations]
        bottleneck = self.spec.stations[ideal.index(min(ideal))].name
        planned = observed - last.recorder.durations()["off_shift"]
        energy = sum(self.line.energy_now(i) for i in range(len(self.stations)))
        wip = self.line.wip()
        throughput = safe_ratio(good, observed)
        oee = safe_ratio(good, min(ideal) * planned)
        availability = per[bottleneck]["availability"]
        quality = safe_ratio(good, output)
        out = {
            "throughput": throughput,
            "output": good,
            "oee": oee,
            "availability": availability,
            "performance": safe_ratio(oee, availability * quality),
            "quality": quality,
            "wip": wip,
            "lead_time": safe_ratio(wip, throughput),
            "energy_per_unit": safe_ratio(energy, good),
            "maintenance_cost": sum(k["maintenance_cost"] for k in per.values()),
            "crew_cost": self.crew.size * self.crew.labour_rate * planned,
            "unplanned_downtime": sum(k["unplanned_downtime"] for k in per.values()),
            "failures": sum(k["failures"] for k in per.values()),
            "trips": sum(k["trips"] for k in per.values()),
            "jams": sum(k["jams"] for k in per.values()),
            "crew_utilisation": safe_ratio(self.crew.busy.value(), self.crew.size),
        }
        for name, k in per.items():
            out.update({f"{name}.{key}": value for key, value in k.items()})
        return out

    def station(self, name: str) -> FlowStation:
        for st in self.stations:
            if st.name == name:
                return st
        raise ConfigurationError(f"no station {name!r}; stations: {[s.name for s in self.stations]}")

    # ------------------------------------------------------------- snapshots
    def snapshot(self) -> TwinSnapshot:
        """The whole twin now, as plain data (the run is not disturbed)."""
        physics = {c.name: c.snapshot() for c in self.cosim.components}
        return TwinSnapshot(
            time=self.env.now, signature=self.spec.signature(),
            levels=tuple(self.line.level_now(j) for j in range(len(self.spec.buffers))),
            stations=tuple(capture_station(st) for st in self.stations),
            spares={name: sp.state() for name, sp in self.spares.items()}, physics=physics,
            streams=self.streams.state(), seed=self.streams.seed, replication=self.streams.replication)

    @classmethod
    def restore(cls, spec: LineSpec, snapshot: TwinSnapshot, *, streams: RandomStreams | None = None) -> "LineTwin":
        """A twin of *spec* at *snapshot*; with *streams* a what-if fork, without it an exact continuation."""
        if not isinstance(snapshot, TwinSnapshot):
            raise ConfigurationError(f"snapshot = {type(snapshot).__name__} is not a TwinSnapshot; restore what "
                                     f"LineTwin.snapshot() returned")
        if streams is None:
            return cls(spec, streams=RandomStreams(snapshot.seed, snapshot.replication), snapshot=snapshot, exact=True)
        return cls(spec, streams=streams, snapshot=snapshot, exact=False)
