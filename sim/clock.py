"""Co-simulation master: one SimPy clock for discrete processes and physics fleets.

Physics is advanced in compiled code only between discrete events - never on
a polling tick.  After every change of inputs a physics component integrates
ahead (up to ``lookahead`` seconds) and schedules one SimPy wake-up, at the
earliest armed state event (located inside the step by the integrator) or at
the lookahead horizon.  If inputs change before the wake-up, the prediction
is discarded (a generation counter makes the stale wake-up a no-op), the
committed state is integrated to the current time with the old inputs, and a
new prediction starts.  State events thus become SimPy events at their exact
crossing time, and discrete decisions change physics inputs.
"""

from __future__ import annotations

import math

import simpy

from sim.exceptions import ConfigurationError, SimulationError
from sim.physics.fleet import EventHit, Fleet

__all__ = ["CoSimulation", "PhysicsComponent"]


class PhysicsComponent:
    """A physics fleet attached to the co-simulation clock.

    Use :meth:`set_input` and :meth:`output` instead of touching the fleet
    directly: they bring the fleet to ``env.now`` first.  :meth:`wait_for`
    returns a SimPy event that succeeds (with the :class:`EventHit`) when the
    named state event of an asset fires.
    """

    def __init__(self, env: simpy.Environment, fleet: Fleet, *, lookahead: float = 3600.0, name: str = ""):
        if not (lookahead > 0 and math.isfinite(lookahead)):
            raise ConfigurationError(f"lookahead must be a finite positive time [s], got {lookahead!r}")
        if fleet.time > env.now:
            raise ConfigurationError(
                f"fleet time {fleet.time} s is ahead of the clock ({env.now} s); create the fleet at or before now")
        self.env = env
        self.fleet = fleet
        self.lookahead = float(lookahead)
        self.name = name or fleet.spec.name
        self._generation = 0
        self._prediction = None  # (generation, snapshot at wake time, hit)
        self._waiters: dict[tuple[int, int], simpy.Event] = {}
        self.fleet.active[...] = False  # events are armed by wait_for only
        self.n_wakeups = 0
        self.history: list[EventHit] = []
        self.sync()
        self._rearm()

    # --------------------------------------------------------------- public API
    def sync(self) -> None:
        """Integrate the committed state up to ``env.now`` with the current inputs."""
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
        self._rearm()

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
        self._rearm()
        return waiter

    def cancel_wait(self, asset: int, event: str) -> None:
        """Disarm *event* of *asset* and forget its pending waiter."""
        j = self.fleet.event_index(event)
        self._waiters.pop((asset, j), None)
        if self.fleet.active[asset, j]:
            self.sync()
            self.fleet.active[asset, j] = False
            self._rearm()

    # ----------------------------------------------------------------- internals
    def _fire(self, hit: EventHit) -> None:
        j = self.fleet.event_index(hit.event.name)
        self.fleet.active[hit.asset, j] = False
        self.history.append(hit)
        waiter = self._waiters.pop((hit.asset, j), None)
        if waiter is not None and not waiter.triggered:
            waiter.succeed(hit)

    def _rearm(self) -> None:
        self._generation += 1
        if not self.fleet.active.any():
            self._prediction = None
            return
        committed = self.fleet.snapshot()
        hit = self.fleet.advance(committed.time + self.lookahead)
        predicted = self.fleet.snapshot()
        self.fleet.restore(committed)
        generation = self._generation
        self._prediction = (generation, predicted, hit)
        wake = self.env.timeout(predicted.time - self.env.now)
        wake.callbacks.append(lambda _ev, g=generation: self._on_wake(g))

    def _on_wake(self, generation: int) -> None:
        if self._prediction is None or generation != self._generation:
            return  # inputs changed since this prediction: stale
        _, predicted, hit = self._prediction
        self.n_wakeups += 1
        self.fleet.restore(predicted)
        if hit is not None:
            self._fire(hit)
        self._rearm()


class CoSimulation:
    """Owns the ``simpy.Environment`` and the continuous components on its clock."""

    def __init__(self, env: simpy.Environment | None = None):
        self.env = env if env is not None else simpy.Environment()
        self.components: list[PhysicsComponent] = []

    def add_physics(self, fleet: Fleet, *, lookahead: float = 3600.0, name: str = "") -> PhysicsComponent:
        comp = PhysicsComponent(self.env, fleet, lookahead=lookahead, name=name)
        self.components.append(comp)
        return comp

    def run(self, until: float) -> None:
        """Run processes and physics to *until* [s]; every component then stands at *until*."""
        if until < self.env.now:
            raise SimulationError(f"until ({until} s) must not lie before the current time ({self.env.now} s)")
        self.env.run(until=until)
        for comp in self.components:
            comp.sync()
