"""Per-entity material flow: entities, finite FIFO buffers, sources and sinks.

For slow or low-volume processes and for the queueing-theory checks.  An
entity carries its own work requirement, drawn when it is created from the
source's stream, so that a scenario that changes service speed sees the same
customers (common random numbers).

A buffer hands an entity straight to a waiting server (no event when one is
free), blocks the upstream server while it is full (blocking after service)
and records its content over time and the time each entity waited in it.
"""

from __future__ import annotations

import math
from collections import deque

import simpy

from sim.exceptions import ConfigurationError
from sim.kpi import Tally, TimeAverage

__all__ = ["Entity", "EntityBuffer", "SystemStats", "Sink", "source"]


class Entity:
    """A unit of material or a customer.

    Attributes
    ----------
    id : int
    created : float
        Time it entered the system [s].
    entered : float
        Time it entered its current buffer [s].
    work : float
        Work requirement [-]; a server with ``cycle_time=None`` takes ``work x work_time`` seconds.
    """

    __slots__ = ("id", "created", "entered", "work")

    def __init__(self, id: int, created: float, work: float = 1.0):
        self.id = id
        self.created = created
        self.entered = created
        self.work = work

    def state(self) -> tuple:
        return (self.id, self.created, self.entered, self.work)

    @classmethod
    def from_state(cls, state) -> "Entity":
        e = cls(int(state[0]), float(state[1]), float(state[3]))
        e.entered = float(state[2])
        return e


class EntityBuffer:
    """FIFO buffer with a capacity (``math.inf`` for an unbounded queue).

    Parameters
    ----------
    env : simpy.Environment
    capacity : int or float
        Most entities held (>= 1 or ``math.inf``).
    name : str
    """

    def __init__(self, env: simpy.Environment, capacity=math.inf, *, name: str = "buffer"):
        if not (capacity == math.inf or (isinstance(capacity, int) and not isinstance(capacity, bool)
                                         and capacity >= 1)):
            raise ConfigurationError(f"buffer {name!r}: capacity = {capacity!r} must be an integer >= 1 or "
                                     f"math.inf; a zero-size buffer is a direct coupling - connect the stations "
                                     f"through a capacity-1 buffer instead")
        self.env = env
        self.name = name
        self.capacity = capacity
        self.items: deque = deque()
        self._getters: deque = deque()
        self._putters: deque = deque()
        self.content = TimeAverage(env)
        self.wait = Tally()

    def __len__(self) -> int:
        return len(self.items)

    def put(self, entity: Entity):
        """Offer *entity*; returns ``None`` if taken now, else an event that succeeds once it is in."""
        env = self.env
        entity.entered = env.now
        if self._getters:
            self.wait.add(0.0)
            self._getters.popleft().succeed(entity)
            return None
        if len(self.items) < self.capacity:
            self.items.append(entity)
            self.content.set(len(self.items))
            return None
        ev = env.event()
        self._putters.append((ev, entity))
        return ev

    def take(self):
        """The first entity, or ``None`` if the buffer is empty (no event involved)."""
        items = self.items
        if not items:
            return None
        entity = items.popleft()
        now = self.env.now
        self.wait.add(now - entity.entered)
        if self._putters:
            ev, waiting = self._putters.popleft()
            waiting.entered = now
            items.append(waiting)
            ev.succeed()
        else:
            self.content.set(len(items))
        return entity

    def get(self) -> simpy.Event:
        """An event that succeeds with the next entity (use when :meth:`take` returned ``None``)."""
        ev = self.env.event()
        self._getters.append(ev)
        return ev

    def cancel_get(self, event: simpy.Event) -> None:
        """Withdraw a pending :meth:`get` (the server was interrupted while waiting)."""
        try:
            self._getters.remove(event)
        except ValueError:
            pass

    def reset_statistics(self) -> None:
        self.content.reset()
        self.wait.reset()

    def state(self) -> list:
        """Contents as plain data (blocked offers included, in order)."""
        return [e.state() for e in self.items] + [e.state() for _, e in self._putters]


class SystemStats:
    """Work in process and lead time of a system, from the source to the sink(s)."""

    def __init__(self, env: simpy.Environment):
        self.env = env
        self.wip = TimeAverage(env)
        self.lead_time = Tally()
        self.arrivals = 0
        self.departures = 0
        self._since = env.now

    def arrive(self) -> None:
        self.arrivals += 1
        self.wip.add(1)

    def depart(self, entity: Entity) -> None:
        self.departures += 1
        self.wip.add(-1)
        self.lead_time.add(self.env.now - entity.created)

    def reset_statistics(self) -> None:
        self.wip.reset()
        self.lead_time.reset()
        self.arrivals = self.departures = 0
        self._since = self.env.now

    def kpis(self) -> dict[str, float]:
        """``throughput`` [1/s], ``wip`` [units], ``lead_time`` [s], ``arrival_rate`` [1/s]."""
        span = self.env.now - self._since
        return {"throughput": self.departures / span if span > 0 else math.nan,
                "arrival_rate": self.arrivals / span if span > 0 else math.nan,
                "wip": self.wip.value(), "lead_time": self.lead_time.value()}


class Sink:
    """The end of a line: takes every entity at once and records its departure."""

    def __init__(self, env: simpy.Environment, stats: SystemStats | None = None, *, name: str = "sink"):
        self.env = env
        self.name = name
        self.stats = stats if stats is not None else SystemStats(env)
        self.count = 0
        self.last_departure = math.nan

    def put(self, entity: Entity):
        self.count += 1
        self.last_departure = self.env.now
        self.stats.depart(entity)
        return None

    def reset_statistics(self) -> None:
        self.count = 0


def source(env: simpy.Environment, target, interarrival, *, stats: SystemStats | None = None, work=None,
           limit: int | None = None, first_id: int = 0):
    """Process: create entities and offer them to *target* (a buffer or a server's inlet).

    Parameters
    ----------
    target
        Object with ``put(entity) -> None | Event``.
    interarrival : callable
        ``interarrival() -> float`` [s], e.g. a :class:`~sim.processes.distributions.Sampler`.
    stats : SystemStats, optional
        Counts arrivals and work in process.
    work : callable, optional
        ``work() -> float``: the entity's work requirement, drawn at creation (default 1).
    limit : int, optional
        Stop after this many entities.
    """
    timeout = env.timeout
    n = first_id
    end = math.inf if limit is None else first_id + int(limit)
    while n < end:
        yield timeout(interarrival())
        entity = Entity(n, env.now, work() if work is not None else 1.0)
        n += 1
        if stats is not None:
            stats.arrive()
        ev = target.put(entity)
        if ev is not None:
            yield ev
