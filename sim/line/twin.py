"""A flow-line twin: stations, buffers, crew, spares, policies, shifts and physics on one clock.

:class:`LineSpec` says what the plant is (plain data; the physics models are
parameters), :class:`LineTwin` builds it on a
:class:`~sim.clock.CoSimulation`, runs it, reports KPIs, and takes and
restores :class:`~sim.line.snapshot.TwinSnapshot` s.  It follows the replication
protocol of :mod:`sim.replications` (``run``, ``reset_statistics``, ``kpis``).

Physics: all station motors form **one** fleet (asset i = station i, one
kernel call advances all of them) with the over-temperature trip and reset
as state events.  Further physics (a pump on the filler ...) is attached as
:class:`PhysicsPart` s: a fleet factory, the stations whose failure modes
may read its outputs, and a ``couple`` hook that starts processes driving
its inputs from the line.
"""

from __future__ import annotations

import simpy

from sim.clock import CoSimulation
from sim.exceptions import ConfigurationError
from sim.physics import RK4, Fleet, Model, StateEvent
from sim.processes.crew import Crew
from sim.processes.distributions import Sampler
from sim.processes.flowline import FlowLine
from sim.processes.flowprocs import line_calendar, start_station
from sim.processes.flowstation import FlowStation
from sim.processes.maintenance import start_policy
from sim.processes.shifts import crew_calendar
from sim.processes.spares import SpareParts
from sim.line.snapshot import TwinSnapshot, apply_station, capture_station, check_signature
from sim.streams import RandomStreams

from sim.line.kpis import line_kpis
from sim.line.spec import AmbientCycle, LineSpec

__all__ = ["LineTwin"]


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
        self.motors = self._build_motors(start, snapshot, exact)
        self.parts = {}
        for part in spec.parts:
            fleet = part.build(start)
            if snapshot is not None:
                _restore_fleet(fleet, snapshot.physics[part.name], exact=exact)
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
    def _build_motors(self, start: float, snapshot, exact: bool = True):
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
        if isinstance(mp.model, Model):
            fleet = Fleet(mp.model, n=n, states=mp.initial, params=params, events=events,
                          integrator=RK4(max_step=mp.max_step), time=start)
        else:  # an FMU motor (sim.fmu.FmuModel): advanced by runs of the FMU from the fleet's state arrays
            from sim.fmu.fleet import FmuFleet

            fleet = FmuFleet(mp.model, n=n, states=mp.initial, params=params, events=events,
                             max_step=mp.max_step, time=start)
        if snapshot is not None:
            _restore_fleet(fleet, snapshot.physics["motors"], exact=exact)
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
        """Line KPIs and ``<station>.<kpi>`` per station: :func:`sim.line.kpis.line_kpis`."""
        return line_kpis(self)

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


def _restore_fleet(fleet, snap, *, exact: bool) -> None:
    """Put *snap* into *fleet*; a fork (``exact=False``) keeps the parameters its spec built (a what-if's or a
    posterior draw's), a continuation takes the snapshot's."""
    params = fleet.params.copy()
    fleet.restore(snap)
    if not exact:
        fleet.params[...] = params
