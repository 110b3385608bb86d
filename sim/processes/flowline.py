"""A serial flow line: station rates and buffer levels are continuous between discrete events.

High-speed material (bottles, cans) is modelled as a fluid.  Stations
0..n-1 are in series with a buffer between each pair; the first station never
starves, the last is never blocked.  Between discrete state changes (a jam, a
failure, a repair, a shift change, a buffer running empty or full) every rate
is constant, so levels are linear in time and the next "buffer empty/full" is
computed analytically and scheduled as one SimPy event.  The event count
scales with disturbances, not with units produced.

Rates at an event, from the nominal rates m_i (0 while stopped):

* forward (supply): f_0 = m_0; f_i = m_i if buffer i-1 holds material, else min(m_i, f_{i-1});
* backward (demand): x_{n-1} = f_{n-1}; x_i = f_i if buffer i has room, else min(f_i, x_{i+1}).

A station running at x_i < m_i is *starved* (limited by supply, x_i = f_i <
m_i) or *blocked* (x_i < f_i).  Each station also has a *usage* clock,
du/dt = x_i / m_i (equivalent full-rate running time [s]); jams and failure
candidates are targets on that clock (:meth:`FlowLine.usage_at`), scheduled
analytically as well.
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass

import simpy

from sim.exceptions import ConfigurationError

__all__ = ["FlowBufferParams", "FlowLine"]


@dataclass(frozen=True)
class FlowBufferParams:
    """A buffer between two flow stations.

    Parameters
    ----------
    name : str
    capacity : float
        Most units held [units] (> 0).
    initial : float
        Units held at the start [units].
    """

    name: str
    capacity: float
    initial: float = 0.0

    def __post_init__(self):
        if not (isinstance(self.capacity, (int, float)) and math.isfinite(self.capacity) and self.capacity > 0):
            raise ConfigurationError(f"buffer {self.name!r}: capacity = {self.capacity!r} must be a finite number "
                                     f"of units > 0; for a direct coupling use a small buffer (e.g. 1 unit)")
        if not 0 <= self.initial <= self.capacity:
            raise ConfigurationError(f"buffer {self.name!r}: initial = {self.initial!r} must lie in "
                                     f"[0, capacity = {self.capacity}] units")


class FlowLine:
    """The continuous part of a serial line: rates, levels, usage clocks.

    Stations are objects with ``available_rate`` [1/s] (nominal rate, 0 while
    stopped), ``power`` [W] and ``on_flow(flow, share, limit)`` (called when their rate
    changes); see :class:`~sim.processes.flowstation.FlowStation`.

    Parameters
    ----------
    env : simpy.Environment
    stations : sequence
        The stations in flow order.
    buffers : sequence of FlowBufferParams
        ``len(stations) - 1`` buffers; ``buffers[j]`` lies between station j and j+1.
    """

    def __init__(self, env: simpy.Environment, stations, buffers):
        stations = list(stations)
        buffers = list(buffers)
        if len(buffers) != len(stations) - 1 or not stations:
            raise ConfigurationError(f"a flow line of {len(stations)} stations needs {max(len(stations) - 1, 0)} "
                                     f"buffers, got {len(buffers)}")
        self.env = env
        self.stations = stations
        self.buffers = buffers
        n = len(stations)
        self.n = n
        self.capacity = [float(b.capacity) for b in buffers]
        self.level = [float(b.initial) for b in buffers]
        self._tol = [1e-9 * max(1.0, c) for c in self.capacity]
        self.flow = [0.0] * n
        self.usage = [0.0] * n
        self.output = [0.0] * n
        self.energy = [0.0] * n
        self.level_area = [0.0] * (n - 1)
        self._area_since = env.now
        self._share = [0.0] * n
        self._t = env.now
        self._timers: list[list] = [[] for _ in range(n)]
        self._n_timers = 0
        self._next_time = math.inf
        self._last: list = [None] * n
        self._seq = itertools.count()
        self._generation = 0
        self.n_events = 0
        for i, st in enumerate(stations):
            st.bind(self, i)

    # --------------------------------------------------------------- public API
    def changed(self) -> None:
        """A station went up or down, or changed speed: bring levels to now and recompute the rates."""
        self._update()
        self._recompute()

    def touch(self, i: int) -> None:
        """Station *i* changed (stop reason, speed): recompute, and tell it even if its rate stays."""
        self._last[i] = None
        self.changed()

    def usage_now(self, i: int) -> float:
        """Usage of station *i* at ``env.now`` [s] (equivalent full-rate running time)."""
        return self.usage[i] + self._share[i] * (self.env.now - self._t)

    def level_now(self, j: int) -> float:
        """Content of buffer *j* at ``env.now`` [units]."""
        lv = self.level[j] + (self.flow[j] - self.flow[j + 1]) * (self.env.now - self._t)
        return min(max(lv, 0.0), self.capacity[j])

    def output_now(self, i: int) -> float:
        """Units that left station *i* so far."""
        return self.output[i] + self.flow[i] * (self.env.now - self._t)

    def energy_now(self, i: int) -> float:
        """Electrical energy used by station *i* so far [J]."""
        return self.energy[i] + self.stations[i].power * (self.env.now - self._t)

    def usage_at(self, i: int, target: float) -> simpy.Event:
        """An event that succeeds when station *i*'s usage reaches *target* [s]."""
        ev = self.env.event()
        if target <= self.usage_now(i):
            ev.succeed()
            return ev
        heapq.heappush(self._timers[i], (target, next(self._seq), ev))
        self._n_timers += 1
        share = self._share[i]
        if share > 0.0:  # earlier than the scheduled wake-up? Then wake up then (levels follow at the wake-up)
            at = self.env.now + (target - self.usage_now(i)) / share
            if at < self._next_time:
                self._wake(at - self.env.now)
        return ev

    def cancel(self, i: int, event: simpy.Event) -> None:
        """Forget a pending :meth:`usage_at` event of station *i*."""
        timers = self._timers[i]
        for k, entry in enumerate(timers):
            if entry[2] is event:
                timers[k] = timers[-1]
                timers.pop()
                heapq.heapify(timers)
                self._n_timers -= 1
                return

    def set_levels(self, levels) -> None:
        """Set buffer contents now [units] (restoring a snapshot)."""
        levels = [float(v) for v in levels]
        for j, (lv, cap) in enumerate(zip(levels, self.capacity)):
            if not 0 <= lv <= cap:
                raise ConfigurationError(f"buffer {self.buffers[j].name!r}: level {lv} units does not fit its "
                                         f"capacity {cap}; enlarge the buffer or start from a lower level")
        self._update()
        self.level = levels
        self._recompute()

    def reset_statistics(self) -> None:
        """Zero the output and energy counters (warm-up deletion); usage clocks keep running."""
        self._update()
        self.output = [0.0] * self.n
        self.energy = [0.0] * self.n
        self.level_area = [0.0] * (self.n - 1)
        self._area_since = self.env.now

    def wip(self) -> float:
        """Time-average content of all buffers since the start or the last reset [units]."""
        now = self.env.now
        span = now - self._area_since
        if span <= 0.0:
            return math.nan
        dt = now - self._t
        area = sum(self.level_area) + sum(0.5 * (self.level[j] + self.level_now(j)) * dt for j in range(self.n - 1))
        return area / span

    # ----------------------------------------------------------------- internals
    def _update(self) -> None:
        """Integrate levels, output, usage and energy from the last update to now (rates constant)."""
        now = self.env.now
        dt = now - self._t
        if dt <= 0.0:
            return
        flow = self.flow
        level = self.level
        area = self.level_area
        for j in range(self.n - 1):
            old = level[j]
            lv = old + (flow[j] - flow[j + 1]) * dt
            cap = self.capacity[j]
            tol = self._tol[j]
            lv = 0.0 if lv <= tol else (cap if lv >= cap - tol else lv)
            level[j] = lv
            area[j] += 0.5 * (old + lv) * dt  # levels are linear between updates
        output, usage, energy, share = self.output, self.usage, self.energy, self._share
        for i, st in enumerate(self.stations):
            output[i] += flow[i] * dt
            usage[i] += share[i] * dt
            energy[i] += st.power * dt
        self._t = now

    def _recompute(self) -> None:
        n = self.n
        stations = self.stations
        level = self.level
        capacity = self.capacity
        nominal = [st.available_rate for st in stations]
        supply = nominal[:]
        for i in range(1, n):
            if level[i - 1] <= 0.0 and supply[i - 1] < supply[i]:
                supply[i] = supply[i - 1]
        flow = supply[:]
        for i in range(n - 2, -1, -1):
            if level[i] >= capacity[i] and flow[i + 1] < flow[i]:
                flow[i] = flow[i + 1]
        self.flow = flow
        shares = self._share
        last = self._last
        for i in range(n):
            m = nominal[i]
            f = flow[i]
            share = f / m if m > 0.0 else 0.0
            if share > 1.0 - 1e-12:
                share = 1.0
            limit = "blocked" if f < supply[i] else "starved"
            shares[i] = share
            key = (f, m, limit)
            if last[i] != key:
                last[i] = key
                stations[i].on_flow(f, share, limit)
        if self._n_timers:
            self._fire_due()
        self._schedule()

    def _fire_due(self) -> None:
        usage = self.usage
        for i, timers in enumerate(self._timers):
            if not timers:
                continue
            u = usage[i]
            u += 1e-9 * (u if u > 1.0 else 1.0)
            while timers and timers[0][0] <= u:
                ev = heapq.heappop(timers)[2]
                self._n_timers -= 1
                if not ev.triggered:
                    ev.succeed()

    def _schedule(self) -> None:
        dt = math.inf
        flow = self.flow
        level = self.level
        capacity = self.capacity
        for j in range(self.n - 1):
            d = flow[j] - flow[j + 1]
            if d > 0.0:
                room = capacity[j] - level[j]
                if room > 0.0 and room < dt * d:
                    dt = room / d
            elif d < 0.0:
                lv = level[j]
                if lv > 0.0 and lv < -dt * d:
                    dt = lv / -d
        if self._n_timers:
            share = self._share
            usage = self.usage
            for i, timers in enumerate(self._timers):
                if timers and share[i] > 0.0:
                    t = (timers[0][0] - usage[i]) / share[i]
                    if t < dt:
                        dt = t
        self._wake(dt)

    def _wake(self, dt: float) -> None:
        self._generation += 1
        if dt == math.inf:
            self._next_time = math.inf
            return
        gen = self._generation
        dt = dt if dt > 0.0 else 0.0
        self._next_time = self.env.now + dt
        ev = self.env.timeout(dt)
        ev.callbacks.append(lambda _e: self._on_timer(gen))

    def _on_timer(self, generation: int) -> None:
        if generation != self._generation:
            return  # rates changed since: stale
        self.n_events += 1
        self._update()
        self._recompute()
