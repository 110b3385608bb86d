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
"""

from __future__ import annotations

import math
from collections import deque

import simpy

from sim.exceptions import ConfigurationError, SimulationError
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
        The clock; a new one starting at 0 s when omitted.
    """

    def __init__(self, env: simpy.Environment | None = None):
        self.env = env if env is not None else simpy.Environment()
        self.components: list[PhysicsComponent] = []
        self._wake_at: float | None = None
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
        if until > self.env.now:
            self.env.run(until=until)
        for comp in self.components:
            comp.sync()

    # ----------------------------------------------------------------- internals
    def _wake_now(self) -> None:
        """Make sure the end-of-instant advance runs at ``env.now``."""
        now = self.env.now
        if self._wake_at is not None and self._wake_at <= now:
            return
        self._schedule_wake(now)

    def _schedule_wake(self, at: float) -> None:
        self._wake_at = at
        ev = simpy.Event(self.env)
        ev._ok = True
        ev._value = None
        ev.callbacks.append(self._on_wake)
        self.env.schedule(ev, END_OF_INSTANT, at - self.env.now)

    def _on_wake(self, _event) -> None:
        self._wake_at = None
        armed = [c for c in self.components if c.armed]
        if not armed:
            return  # nothing to watch: the fleets follow lazily
        env = self.env
        now = env.now
        t_next = env.peek()
        if t_next <= now:  # other end-of-instant work is still queued at this time: go after it
            self._schedule_wake(now)
            return
        target = min(t_next, now + min(c.lookahead for c in armed))
        hits = self._advance(armed, target)
        self.n_advances += 1
        target = hits[0].time if hits else target
        if hits:
            fire = env.timeout(target - now)
            fire.callbacks.append(lambda _ev, hh=hits: self._fire_hits(hh))
        self._schedule_wake(target)

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

    def _fire_hits(self, hits) -> None:
        for h in hits:
            h.component._fire(h.hit)


class _Hit:
    __slots__ = ("hit", "component", "time")

    def __init__(self, hit: EventHit, component: PhysicsComponent):
        self.hit = hit
        self.component = component
        self.time = hit.time
