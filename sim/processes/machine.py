"""A per-entity machine: takes units from an inlet, works a cycle each, fails, is repaired.

The machine counts its *usage* (operating time).  Everything that happens on
operating time - failure candidates of each :class:`FailureMode`,
micro-stops, age-based maintenance triggers - is an absolute usage target,
and the machine's own process runs each cycle in one timeout, split only at
the next target.  There is no separate breakdown process and no interrupt
per failure: a failure inside a cycle stops it, and the cycle resumes after
the repair with its remaining work (preempt-resume).

States are those of :data:`sim.kpi.MACHINE_STATES`: ``running``, ``idle`` or
``starved`` (no unit to work on), ``blocked`` (outlet full), ``jammed``
(micro-stop), ``down`` (failed, waiting for crew or spare part),
``in_repair``, ``in_maintenance``.
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass, field

import simpy

from sim.exceptions import ConfigurationError
from sim.kpi import MACHINE_STATES, StateRecorder, machine_kpis
from sim.processes.crew import Crew
from sim.processes.distributions import Distribution, Sampler, as_distribution
from sim.processes.entities import Entity
from sim.processes.failures import FailureClock, FailureMode, check_spare_parts

__all__ = ["MachineParams", "Machine", "MaintenanceOrder", "machine_process"]

_RESEGMENT = object()  # interrupt cause: an age trigger fell inside the running segment


@dataclass(frozen=True)
class MachineParams:
    """Parameters of a per-entity machine.

    Parameters
    ----------
    name : str
        Also the prefix of its random streams.
    cycle_time : Distribution or float, optional
        Time per unit [s]; ``None`` takes ``entity.work x work_time`` (work drawn at the source).
    work_time : float
        Seconds per unit of entity work [s], used when ``cycle_time`` is None.
    ideal_cycle_time : float, optional
        Cycle time at the rated speed, for OEE performance [s] (default: the mean cycle time).
    failure_modes : tuple of FailureMode
    micro_stop_interval : Distribution or float, optional
        Operating time between micro-stops [s].
    micro_stop_duration : Distribution or float
        Length of a micro-stop [s].
    repair_priority : int
        Crew priority of this machine's repairs (lower is more urgent).
    idle_state : str
        State while waiting for a unit: ``"idle"`` (fed by a source) or ``"starved"`` (fed by a line).
    renewal_states : dict
        States of the machine's physics asset set by maintenance (name -> value), e.g. wear -> 0.
    """

    name: str
    cycle_time: Distribution | float | None = None
    work_time: float = 1.0
    ideal_cycle_time: float | None = None
    failure_modes: tuple = ()
    micro_stop_interval: Distribution | float | None = None
    micro_stop_duration: Distribution | float = 60.0
    repair_priority: int = 1
    idle_state: str = "idle"
    renewal_states: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.cycle_time is not None:
            object.__setattr__(self, "cycle_time", as_distribution(self.cycle_time, f"{self.name}.cycle_time"))
        if not (math.isfinite(self.work_time) and self.work_time > 0):
            raise ConfigurationError(f"machine {self.name!r}: work_time = {self.work_time!r} must be > 0 s")
        if self.ideal_cycle_time is not None and not (math.isfinite(self.ideal_cycle_time)
                                                      and self.ideal_cycle_time > 0):
            raise ConfigurationError(f"machine {self.name!r}: ideal_cycle_time = {self.ideal_cycle_time!r} must "
                                     f"be > 0 s")
        if self.micro_stop_interval is not None:
            object.__setattr__(self, "micro_stop_interval",
                               as_distribution(self.micro_stop_interval, f"{self.name}.micro_stop_interval"))
        object.__setattr__(self, "micro_stop_duration",
                           as_distribution(self.micro_stop_duration, f"{self.name}.micro_stop_duration"))
        if self.idle_state not in ("idle", "starved"):
            raise ConfigurationError(f"machine {self.name!r}: idle_state = {self.idle_state!r}; use 'idle' or "
                                     f"'starved'")
        names = [m.name for m in self.failure_modes]
        if len(set(names)) != len(names) or not all(isinstance(m, FailureMode) for m in self.failure_modes):
            raise ConfigurationError(f"machine {self.name!r}: failure_modes must be FailureMode objects with "
                                     f"unique names, got {names}")


@dataclass(frozen=True)
class MaintenanceOrder:
    """A maintenance job: crew time [s] and fixed cost [currency]; renews every failure mode."""

    duration: float
    cost: float = 0.0
    reason: str = "maintenance"


class Machine:
    """Runtime state and counters of one machine (see :func:`machine_process`).

    Parameters
    ----------
    env : simpy.Environment
    params : MachineParams
    streams : RandomStreams
        Random sources of this replication (named ``<machine>.<source>``).
    crew : Crew, optional
        Repairs and maintenance wait for a member; without a crew they start at once.
    spares : dict, optional
        Part name -> :class:`~sim.processes.spares.SpareParts`.
    physics : PhysicsComponent, optional
        Read by physics-driven failure modes and condition-based maintenance.
    asset : int
        This machine's asset index in *physics*.
    """

    def __init__(self, env: simpy.Environment, params: MachineParams, *, streams, crew: Crew | None = None,
                 spares: dict | None = None, physics=None, asset: int = 0):
        self.env = env
        self.params = params
        self.name = params.name
        self.crew = crew
        self.spares = spares or {}
        self.physics = physics
        self.asset = asset
        check_spare_parts(f"machine {self.name!r}", params.failure_modes, self.spares)
        if params.renewal_states and physics is None:
            raise ConfigurationError(f"machine {self.name!r}: renewal_states {sorted(params.renewal_states)} need a "
                                     f"physics component; pass physics=")
        self.recorder = StateRecorder(env, MACHINE_STATES, params.idle_state)
        n = params.name
        self.cycle = Sampler(params.cycle_time, streams(f"{n}.cycle_time")) if params.cycle_time else None
        read = self.read if physics is not None else None
        self.clocks = [FailureClock(m, streams(f"{n}.{m.name}.hazard"), read=read, owner=n)
                       for m in params.failure_modes]
        self.repair = {m.name: Sampler(m.repair_time, streams(f"{n}.{m.name}.repair")) for m in params.failure_modes}
        self.micro_interval = (Sampler(params.micro_stop_interval, streams(f"{n}.micro_stop_interval"))
                               if params.micro_stop_interval else None)
        self.micro_duration = Sampler(params.micro_stop_duration, streams(f"{n}.micro_stop_duration"))
        self.usage = 0.0
        self.renewed_at = 0.0
        self.micro_due = self.micro_interval() if self.micro_interval else math.inf
        self._age_waits: list = []
        self._seq = itertools.count()
        self._renewal = env.event()
        self._pending: MaintenanceOrder | None = None
        self._pending_done: simpy.Event | None = None
        self._run_since: float | None = None
        self._run_end = math.inf
        self.process: simpy.Process | None = None
        self.next_due = math.inf
        self.refresh()
        self.reset_statistics()

    # --------------------------------------------------------------- counters
    def reset_statistics(self) -> None:
        """Forget KPIs so far (warm-up deletion); the machine's state is kept."""
        self.recorder.reset()
        self.output = 0
        self.failures = 0
        self.micro_stops = 0
        self.maintenances = 0
        self.cost = 0.0

    def kpis(self) -> dict[str, float]:
        """Machine KPIs (definitions in :mod:`sim.kpi`)."""
        p = self.params
        ideal = p.ideal_cycle_time or (p.cycle_time.mean if p.cycle_time else p.work_time)
        k = machine_kpis(self.recorder.durations(), output=self.output, good=self.output, ideal_rate=1.0 / ideal,
                         failures=self.failures, maintenance_cost=self.cost)
        k["micro_stops"] = float(self.micro_stops)
        k["maintenances"] = float(self.maintenances)
        return k

    # ------------------------------------------------------ maintainable unit
    @property
    def age(self) -> float:
        """Operating time since the last renewal [s] (the cycle in progress included)."""
        return self.usage_now() - self.renewed_at

    def usage_now(self) -> float:
        """Operating time so far [s], the cycle in progress included."""
        if self._run_since is None:
            return self.usage
        return self.usage + self.env.now - self._run_since

    def read(self, output: str) -> float:
        """Physics output of this machine's asset now."""
        if self.physics is None:
            raise ConfigurationError(f"machine {self.name!r} has no physics component; attach one to read "
                                     f"{output!r}")
        return self.physics.output(self.asset, output)

    def at_age(self, age: float) -> simpy.Event:
        """Event that succeeds when the age (operating time since renewal) reaches *age* [s]."""
        ev = self.env.event()
        target = self.renewed_at + age
        if target <= self.usage_now():
            ev.succeed()
            return ev
        heapq.heappush(self._age_waits, (target, next(self._seq), ev))
        self.refresh()
        if self._run_since is not None and self.env.now + target - self.usage_now() < self._run_end:
            self.process.interrupt(_RESEGMENT)  # due inside the running segment: split it there
        return ev

    def renewal(self) -> simpy.Event:
        """Event that succeeds at the next renewal (maintenance or as-good-as-new repair)."""
        return self._renewal

    def request_maintenance(self, order: MaintenanceOrder) -> simpy.Event:
        """Stop for *order* as soon as the current unit of work allows; returns an event for its end."""
        done = self.env.event()
        if self._pending is not None:
            return self._pending_done
        self._pending, self._pending_done = order, done
        if self.process is not None and (self._run_since is not None or self.recorder.state in ("idle", "starved")):
            self.process.interrupt(order)
        return done

    # ---------------------------------------------------------------- internals
    def refresh(self) -> None:
        due = self.micro_due
        for c in self.clocks:
            if c.due < due:
                due = c.due
        if self._age_waits and self._age_waits[0][0] < due:
            due = self._age_waits[0][0]
        self.next_due = due

    def _renew(self) -> None:
        self.renewed_at = self.usage
        ev, self._renewal = self._renewal, self.env.event()
        ev.succeed()
        self._age_waits = [w for w in self._age_waits if not w[2].triggered]
        heapq.heapify(self._age_waits)

    def handle_due(self):
        """Generator: everything due at the current usage (age triggers, micro-stop, failure checks)."""
        usage = self.usage
        rec = self.recorder
        while self._age_waits and self._age_waits[0][0] <= usage:
            heapq.heappop(self._age_waits)[2].succeed()
        if self.micro_due <= usage:
            self.micro_stops += 1
            rec.set("jammed")
            yield self.env.timeout(self.micro_duration())
            self.micro_due = self.usage + self.micro_interval()
        for clock in self.clocks:
            if clock.due <= usage and clock.check():
                yield from self._repair(clock)
        self.refresh()

    def _repair(self, clock: FailureClock):
        mode = clock.mode
        rec = self.recorder
        self.failures += 1
        rec.set("down")
        if mode.spare_part is not None:
            yield from self.spares[mode.spare_part].take()
            self.cost += mode.part_cost
        duration = self.repair[mode.name]()
        if self.crew is None:
            rec.set("in_repair")
            yield self.env.timeout(duration)
        else:
            yield from self.crew.work(duration, kind="repair", priority=self.params.repair_priority,
                                      on_start=lambda: rec.set("in_repair"), on_stop=lambda: rec.set("down"))
            self.cost += duration * self.crew.labour_rate
        clock.after_repair(self.usage)
        if mode.as_good_as_new and len(self.clocks) == 1:
            self._renew()

    def maintain(self):
        """Generator: carry out the pending maintenance order (renews every failure mode)."""
        order, done = self._pending, self._pending_done
        rec = self.recorder
        rec.set("in_maintenance")
        if self.crew is None:
            yield self.env.timeout(order.duration)
        else:
            yield from self.crew.work(order.duration, kind="maintenance")
            self.cost += order.duration * self.crew.labour_rate
        self.cost += order.cost
        self.maintenances += 1
        for clock in self.clocks:
            clock.renew(self.usage)
        for name, value in self.params.renewal_states.items():
            self.physics.set_state(self.asset, name, value)
        self._pending = self._pending_done = None
        self._renew()
        self.refresh()
        done.succeed()


def machine_process(env: simpy.Environment, machine: Machine, *, inlet=None, outlet=None):
    """Process of one machine: take a unit from *inlet*, work it, hand it to *outlet*.

    Without an inlet the machine never starves (a unit is always there; it
    enters the system when it leaves the machine), without an outlet it is
    never blocked.  Maintenance orders interrupt a running or
    idle machine; in other states they wait for the current activity to end.
    """
    machine.process = env.active_process
    rec = machine.recorder
    timeout = env.timeout
    cycle = machine.cycle
    work_time = machine.params.work_time
    idle_state = machine.params.idle_state
    interrupt = simpy.Interrupt
    while True:
        if machine._pending is not None:
            yield from machine.maintain()
        entity = None
        if inlet is not None:
            entity = inlet.take()
            if entity is None:
                rec.set(idle_state)
                ev = inlet.get()
                try:
                    entity = yield ev
                except interrupt:
                    if ev.triggered:
                        entity = ev.value
                    else:
                        inlet.cancel_get(ev)
                    yield from machine.maintain()
                    if entity is None:
                        continue
        rec.set("running")
        remaining = cycle() if cycle is not None else entity.work * work_time
        while remaining > 0.0:
            to_due = machine.next_due - machine.usage
            step = remaining if remaining < to_due else to_due
            start = machine._run_since = env.now
            machine._run_end = start + step
            try:
                yield timeout(step)
            except interrupt as irq:
                machine._run_since = None
                ran = env.now - start
                machine.usage += ran
                remaining -= ran
                if irq.cause is not _RESEGMENT:
                    yield from machine.maintain()
                    rec.set("running")
                continue
            machine._run_since = None
            if step < to_due:
                machine.usage += step
                break
            machine.usage = machine.next_due
            remaining -= step
            yield from machine.handle_due()
            rec.set("running")
        machine.output += 1
        if outlet is not None:
            if entity is None:  # no inlet: the machine starts every unit itself
                entity = Entity(machine.output, start)
            ev = outlet.put(entity)
            if ev is not None:
                rec.set("blocked")
                yield ev
