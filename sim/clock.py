"""Co-simulation master: one SimPy clock for discrete processes and physics fleets.

Python runs only at events.  Between two discrete events nothing can change a
physics input, so the master advances every fleet that watches a state event
in one compiled call from the current event to the next one on the SimPy
queue (``env.peek()``), or to ``now + lookahead`` when the queue is further
away.  The advance runs at the *end* of each instant: the master's wake-up is
scheduled with a priority below SimPy's normal events, so every process that
runs at the same time has already set its inputs.  A state event located
inside the advance (a winding crossing its trip level) stops the fleet at the
crossing, and a SimPy event fires at that exact time.

Fleets that watch no event are integrated lazily, only when a process sets an
input or reads an output.  Either way every interval is integrated exactly
once - there is no prediction to throw away and no polling tick - and the
trajectory does not depend on ``lookahead`` beyond round-off when no event is
pending (a lookahead that is a multiple of the integrator step keeps the step
grid; tested).

With several fleets the earliest crossing wins: fleets that went further are
restored from a snapshot and advanced again to the crossing.

There is one source of truth for "now": SimPy's clock.  SimPy schedules at
``now + delay``, and ``now + (t - now)`` can land one rounding step away from
*t*; a fleet standing at *t* while ``env.now`` is a step below it made the
master schedule a second wake-up at the same instant, and the two rescheduled
each other for ever (issue 13).  So every advance ends at a time the clock
lands on exactly (:func:`_delay_to` picks the delay), a located crossing that
no delay reaches exactly is snapped to the landing time (at most one rounding
step, a rounding tie), and wake-ups that a later one superseded are ignored.
A watchdog raises :class:`ClockStalledError` when time stops advancing over
``max_stalled_wakes`` wake-ups at one instant instead of spinning silently.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque

import simpy

from sim.exceptions import ClockStalledError, ConfigurationError, SimulationError
from sim.physics.fleet import EventHit, Fleet, FleetSnapshot

__all__ = ["CoSimulation", "PhysicsComponent", "END_OF_INSTANT"]

END_OF_INSTANT = 2
"""SimPy event priority of the master's wake-up: after URGENT (0) and NORMAL (1) events of the same time."""


class PhysicsComponent:
    """A physics fleet attached to the co-simulation clock.

    Use :meth:`set_input`, :meth:`set_state` and :meth:`output` instead of
    touching the fleet: they bring the fleet to ``env.now`` first.
    :meth:`wait_for` returns a SimPy event that succeeds (with the
    :class:`EventHit`) when the named state event of an asset fires.

    Parameters
    ----------
    master : CoSimulation
        The clock this component runs on.
    fleet : Fleet
        The physics assets.
    lookahead : float
        Longest single advance while events are armed [s].
    name : str
        Name in reports and snapshots (default: the model name).
    history_size : int
        Number of recent :class:`EventHit` kept in :attr:`history` (memory stays flat).
    """

    def __init__(self, master: "CoSimulation", fleet: Fleet, *, lookahead: float = 3600.0, name: str = "",
                 history_size: int = 10_000):
        if not (lookahead > 0 and math.isfinite(lookahead)):
            raise ConfigurationError(f"lookahead = {lookahead!r} must be a finite positive time [s]; "
                                     f"use e.g. 3600 s")
        env = master.env
        if fleet.time > env.now:
            raise ConfigurationError(
                f"fleet time {fleet.time} s is ahead of the clock ({env.now} s); create the fleet at or before now")
        self.master = master
        self.env = env
        self.fleet = fleet
        self.lookahead = float(lookahead)
        self.name = name or fleet.spec.name
        self._waiters: dict[tuple[int, int], simpy.Event] = {}
        self.fleet.active[...] = False  # events are armed by wait_for only
        self.n_wakeups = 0
        self.history: deque[EventHit] = deque(maxlen=int(history_size))
        self.sync()

    # --------------------------------------------------------------- public API
    @property
    def armed(self) -> bool:
        """True while any state event of any asset is watched."""
        return bool(self.fleet.active.any())

    def sync(self) -> None:
        """Integrate the state up to ``env.now`` with the current inputs."""
        now = self.env.now
        while self.fleet.time < now:
            hit = self.fleet.advance(now)
            if hit is None:
                break
            self._fire(hit)

    def set_input(self, asset: int, name: str, value: float) -> None:
        """Set input *name* of *asset* from now on (zero-order hold until the next change)."""
        self.sync()
        self.fleet.set_input(asset, name, value)

    def set_state(self, asset: int, name: str, value: float) -> None:
        """Overwrite state *name* of *asset* now (maintenance resetting wear, a repaired part)."""
        self.sync()
        value = float(value)
        if not math.isfinite(value):
            raise ConfigurationError(f"{self.name}: state {name!r} of asset {asset} set to {value}; states must be "
                                     f"finite")
        self.fleet.states[asset, self.fleet.spec.index("states", name)] = value

    def output(self, asset: int, name: str) -> float:
        """Output *name* of *asset* at ``env.now``."""
        self.sync()
        return self.fleet.output(asset, name)

    def wait_for(self, asset: int, event: str) -> simpy.Event:
        """A SimPy event that succeeds when state event *event* of *asset* fires.

        The threshold is level-checked when armed: if it is already met (e.g. the
        winding is above the trip limit when the motor is asked to start), the
        event succeeds at once; afterwards it fires on the crossing.
        """
        j = self.fleet.event_index(event)
        key = (asset, j)
        waiter = self._waiters.get(key)
        if waiter is not None and not waiter.triggered:
            return waiter
        waiter = self.env.event()
        self._waiters[key] = waiter
        ev = self.fleet.events[j]
        value = self.output(asset, ev.output)
        already = (ev.direction > 0 and value >= ev.level) or (ev.direction < 0 and value <= ev.level)
        if already:
            self.master._count_stall((self.name, asset, j), f"{self.name}[{asset}].{ev.name} (level already met)")
            hit = EventHit(time=self.env.now, asset=asset, event=ev)
            self.history.append(hit)
            del self._waiters[key]
            waiter.succeed(hit)
            return waiter
        self.fleet.active[asset, j] = True
        self.master._wake_now()
        return waiter

    def cancel_wait(self, asset: int, event: str) -> None:
        """Disarm *event* of *asset* and forget its pending waiter."""
        j = self.fleet.event_index(event)
        self._waiters.pop((asset, j), None)
        if self.fleet.active[asset, j]:
            self.sync()
            self.fleet.active[asset, j] = False

    def snapshot(self) -> FleetSnapshot:
        """The fleet's state at ``env.now`` as plain arrays (armed events included)."""
        self.sync()
        return self.fleet.snapshot()

    # ----------------------------------------------------------------- internals
    def _fire(self, hit: EventHit) -> None:
        j = self.fleet.event_index(hit.event.name)
        if not self.fleet.active[hit.asset, j]:
            return  # cancelled between the crossing and its instant
        self.fleet.active[hit.asset, j] = False
        self.history.append(hit)
        waiter = self._waiters.pop((hit.asset, j), None)
        if waiter is not None and not waiter.triggered:
            waiter.succeed(hit)


class CoSimulation:
    """Owns the ``simpy.Environment`` and the continuous components on its clock.

    Parameters
    ----------
    env : simpy.Environment, optional
        The clock; a new one starting at 0 s when omitted.  Attach every fleet
        of one environment to a single ``CoSimulation``.
    max_stalled_wakes : int
        Wake-ups at one instant (or at-once fires of one state event) after
        which time counts as stalled and :class:`ClockStalledError` is raised.
    """

    def __init__(self, env: simpy.Environment | None = None, *, max_stalled_wakes: int = 1000):
        if not (isinstance(max_stalled_wakes, int) and max_stalled_wakes >= 1):
            raise ConfigurationError(f"max_stalled_wakes = {max_stalled_wakes!r} must be an integer >= 1; "
                                     f"use e.g. 1000")
        self.env = env if env is not None else simpy.Environment()
        self.components: list[PhysicsComponent] = []
        self.max_stalled_wakes = max_stalled_wakes
        self._wake: simpy.Event | None = None
        self._wake_at: float | None = None  # the time the pending wake-up lands on, as SimPy computed it
        self._stall_time: float | None = None
        self._stall_counts: dict = {}
        self._stall_events: dict[str, None] = {}
        self.n_advances = 0

    def add_physics(self, fleet: Fleet, *, lookahead: float = 3600.0, name: str = "") -> PhysicsComponent:
        """Attach *fleet* to the clock; returns its :class:`PhysicsComponent`."""
        comp = PhysicsComponent(self, fleet, lookahead=lookahead, name=name)
        if any(c.name == comp.name for c in self.components):
            raise ConfigurationError(f"a physics component named {comp.name!r} is already attached; pass a "
                                     f"unique name=")
        self.components.append(comp)
        return comp

    def component(self, name: str) -> PhysicsComponent:
        """The attached component called *name*."""
        for comp in self.components:
            if comp.name == name:
                return comp
        raise ConfigurationError(f"no physics component named {name!r}; attached: "
                                 f"{[c.name for c in self.components]}")

    def run(self, until: float) -> None:
        """Run processes and physics to *until* [s]; every component then stands at *until*."""
        if not until >= self.env.now:
            raise SimulationError(f"until ({until} s) must not lie before the current time ({self.env.now} s); "
                                  f"restore a snapshot to go back")
        if until > self.env.now:  # stop exactly at *until*: SimPy's own run(until) may land a rounding step off
            env = self.env
            stop = _succeeded_event(env)
            delay, landing = _delay_to(env.now, until)
            if landing == until:
                env.schedule(stop, simpy.core.URGENT, delay)
            else:  # a rounding tie: hop to the step below *until*; from there the last step is exact
                hop = _succeeded_event(env)
                hop.callbacks.append(lambda _ev: env.schedule(stop, simpy.core.URGENT, until - env.now))
                env.schedule(hop, simpy.core.URGENT, delay)
            env.run(until=stop)
        for comp in self.components:
            comp.sync()

    # ----------------------------------------------------------------- internals
    def _wake_now(self) -> None:
        """Make sure the end-of-instant advance runs at ``env.now``."""
        if self._wake_at is not None and self._wake_at <= self.env.now:
            return
        self._schedule_wake(0.0)  # supersedes a later pending wake-up

    def _schedule_wake(self, delay: float) -> None:
        ev = _succeeded_event(self.env)
        ev.callbacks.append(self._on_wake)
        self.env.schedule(ev, END_OF_INSTANT, delay)
        self._wake = ev
        self._wake_at = self.env.now + delay  # the same sum SimPy just queued

    def _on_wake(self, event) -> None:
        if event is not self._wake:
            return  # superseded by an earlier wake-up; that one did this instant's work
        self._wake = self._wake_at = None
        armed = [c for c in self.components if c.armed]
        if not armed:
            return  # nothing to watch: the fleets follow lazily
        self._count_stall("wake", "")
        env = self.env
        now = env.now
        t_next = env.peek()
        if t_next <= now:  # other end-of-instant work is still queued at this time: go after it
            self._schedule_wake(0.0)
            return
        target = min(t_next, now + min(c.lookahead for c in armed))
        if not target > now:  # lookahead below the resolution of the clock at this time: one rounding step
            target = math.nextafter(now, math.inf)
        delay, target = _delay_to(now, target)
        hits = self._advance(armed, target)
        self.n_advances += 1
        if hits:
            delay, landing = _delay_to(now, hits[0].time)
            if landing != hits[0].time:  # no delay reaches the crossing exactly: move it onto the clock
                for comp in armed:
                    comp.fleet.time = landing
                for h in hits:
                    h.hit = dataclasses.replace(h.hit, time=landing)
                    h.time = landing
            fire = _succeeded_event(env)
            fire.callbacks.append(lambda _ev, hh=hits: self._fire_hits(hh))
            env.schedule(fire, simpy.core.NORMAL, delay)
        self._schedule_wake(delay)

    def _count_stall(self, key, label: str) -> None:
        """Count one wake-up (or at-once fire) of *key* at ``env.now``; raise when time has stopped advancing."""
        now = self._instant()
        n = self._stall_counts[key] = self._stall_counts.get(key, 0) + 1
        self._note_event(label)
        if n <= self.max_stalled_wakes:
            return
        armed = [f"{c.name}[{a}].{c.fleet.events[j].name}" for c in self.components
                 for a, j in zip(*c.fleet.active.nonzero())]
        events = tuple(self._stall_events) + tuple(e for e in armed[:8] if e not in self._stall_events)
        raise ClockStalledError(
            f"simulation time is stuck at t = {now!r} s: {n} wake-ups of the co-simulation clock without time "
            f"advancing (limit max_stalled_wakes = {self.max_stalled_wakes}); events involved: "
            f"{', '.join(events) or 'none armed'}. A process re-arms or re-triggers a state event at the instant "
            f"it fires (levels of alternating events that coincide, a threshold already met re-armed in a loop), "
            f"or two CoSimulation objects share one simpy.Environment. Separate the levels, let time pass "
            f"before re-arming, attach every fleet to one CoSimulation, or raise "
            f"CoSimulation(max_stalled_wakes=...) if that many wake-ups at one instant are intended",
            time=now, wakes=n, events=events)

    def _advance(self, armed: list[PhysicsComponent], target: float) -> list["_Hit"]:
        """Advance every armed component to *target*, or to the earliest crossing; returns the hits there."""
        if len(armed) == 1:
            comp = armed[0]
            comp.sync()
            comp.n_wakeups += 1
            hit = comp.fleet.advance(target)
            return [_Hit(hit, comp)] if hit is not None else []
        saved = {}
        found: dict[int, _Hit] = {}
        for k, comp in enumerate(armed):
            comp.sync()
            saved[k] = comp.fleet.snapshot()
            comp.n_wakeups += 1
            hit = comp.fleet.advance(target)
            if hit is not None:
                found[k] = _Hit(hit, comp)
        while True:
            stop = min((h.time for h in found.values()), default=target)
            redo = [k for k, comp in enumerate(armed) if comp.fleet.time > stop]
            if not redo:
                return [h for h in found.values() if h.time == stop]
            for k in redo:  # went past an earlier crossing of another fleet: go again, up to it
                comp = armed[k]
                comp.fleet.restore(saved[k])
                found.pop(k, None)
                hit = comp.fleet.advance(stop)
                if hit is not None:
                    found[k] = _Hit(hit, comp)

    def _instant(self) -> float:
        """``env.now``; the watchdog's counts start afresh whenever time has advanced."""
        now = self.env.now
        if now != self._stall_time:
            self._stall_time = now
            self._stall_counts.clear()
            self._stall_events.clear()
        return now

    def _note_event(self, label: str) -> None:
        """Remember (a few of) the state events that fired at this instant, for the watchdog's message."""
        if label and len(self._stall_events) < 8:
            self._stall_events[label] = None

    def _fire_hits(self, hits) -> None:
        self._instant()
        for h in hits:
            self._note_event(f"{h.component.name}[{h.hit.asset}].{h.hit.event.name}")
            h.component._fire(h.hit)


def _succeeded_event(env: simpy.Environment) -> simpy.Event:
    """An event that is already successful, ready for ``env.schedule`` (what ``env.run(until=t)`` builds)."""
    ev = simpy.Event(env)
    ev._ok = True
    ev._value = None
    return ev


def _delay_to(now: float, at: float) -> tuple[float, float]:
    """The delay for ``env.schedule`` that lands on *at* [s], and the time SimPy's ``now + delay`` lands on.

    ``now + (at - now)`` can miss *at* by one rounding step, so the neighbours of
    ``at - now`` are tried too.  When none lands exactly - a rounding tie: *now*
    has bits below half a step of *at* that make every sum round away from it,
    which is how SimPy's own sum misses - the latest landing after *now* and
    before *at* (the float just below it) is returned: the clock then never
    passes a time a fleet has reached, and the step that is left is exact.
    """
    base = at - now
    delays = [base]
    down = up = base
    for _ in range(2):
        down = math.nextafter(down, 0.0)
        up = math.nextafter(up, math.inf)
        delays += [down, up]
    for delay in delays:
        if now + delay == at:
            return delay, at
    below = [(now + d, d) for d in delays if now < now + d < at]
    if below:
        landing, delay = max(below)
        return delay, landing
    return base, now + base


class _Hit:
    __slots__ = ("hit", "component", "time")

    def __init__(self, hit: EventHit, component: PhysicsComponent):
        self.hit = hit
        self.component = component
        self.time = hit.time
