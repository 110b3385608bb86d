"""Per-entity material flow: entities, finite FIFO buffers, sources and sinks.

For slow or low-volume processes and for the queueing-theory checks.  An
entity carries its own work requirement, drawn when it is created from the
source's stream, so that a scenario that changes service speed sees the same
customers (common random numbers).

A buffer hands an entity straight to a waiting server (no event when one is
free), blocks the upstream server while it is full (blocking after service)
and records its content over time and the time each entity waited in it.

Two special buffers:

* ``EntityBuffer(env, 0)`` is a *direct coupling* (no buffer between two
  machines): an entity is handed over only to a server that waits for one;
  otherwise the upstream server holds it, blocked, until the downstream server
  takes it (blocking after service).  A capacity-1 buffer is a different line
  (one more place to park a unit): for two exponential stations of equal rate
  it gives 3/4 of the rate instead of 2/3, 12.5 % more throughput.
* ``EntityBuffer(env, c, overflow="lose")`` is the entrance of a *loss
  system*: an arrival that finds no waiting server and ``c`` entities queued
  (``c = 0``: every server busy) is lost and counted (:attr:`EntityBuffer.lost`,
  :meth:`SystemStats.lose`), so the blocking probability (Erlang B for
  ``c = 0`` and Poisson arrivals) is a KPI.
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


OVERFLOW = ("block", "lose")
"""What :meth:`EntityBuffer.put` does with an entity that finds the buffer full: wait (blocking the sender) or
lose it."""


class EntityBuffer:
    """FIFO buffer with a capacity (``math.inf`` for an unbounded queue, 0 for a direct coupling).

    Parameters
    ----------
    env : simpy.Environment
    capacity : int or float
        Most entities held (an integer >= 0, or ``math.inf``).  0: no buffer - an entity passes only to a
        server waiting for one (see the module docstring).
    name : str
    overflow : {"block", "lose"}
        An offer that finds the buffer full waits until there is room, blocking its sender (``"block"``,
        blocking after service), or is lost and counted (``"lose"``, a loss system).
    stats : SystemStats, optional
        Told of every lost entity (:meth:`SystemStats.lose`), so that work in process stays right.

    Attributes
    ----------
    offered : int
        Entities offered since the last :meth:`reset_statistics`.
    lost : int
        Of those, entities lost (``overflow="lose"`` only).
    """

    def __init__(self, env: simpy.Environment, capacity=math.inf, *, name: str = "buffer", overflow: str = "block",
                 stats: "SystemStats | None" = None):
        if not (capacity == math.inf or (isinstance(capacity, int) and not isinstance(capacity, bool)
                                         and capacity >= 0)):
            raise ConfigurationError(f"buffer {name!r}: capacity = {capacity!r} must be an integer >= 0 or "
                                     f"math.inf (0: a direct coupling without a buffer); pass e.g. 0, 5 or "
                                     f"math.inf")
        if overflow not in OVERFLOW:
            raise ConfigurationError(f"buffer {name!r}: overflow = {overflow!r} must be one of {OVERFLOW}: "
                                     f"'block' makes the sender wait for room, 'lose' drops and counts the entity")
        self.env = env
        self.name = name
        self.capacity = capacity
        self.overflow = overflow
        self.stats = stats
        self.items: deque = deque()
        self._getters: deque = deque()
        self._putters: deque = deque()
        self.content = TimeAverage(env)
        self.wait = Tally()
        self.offered = 0
        self.lost = 0

    def __len__(self) -> int:
        return len(self.items)

    @property
    def blocking_probability(self) -> float:
        """Share of the offered entities that were lost [-] (NaN before the first offer)."""
        return self.lost / self.offered if self.offered else math.nan

    def put(self, entity: Entity):
        """Offer *entity*; returns ``None`` if taken now (or lost), else an event that succeeds once it is in."""
        env = self.env
        entity.entered = env.now
        self.offered += 1
        if self._getters:
            self.wait.add(0.0)
            self._getters.popleft().succeed(entity)
            return None
        if len(self.items) < self.capacity:
            self.items.append(entity)
            self.content.set(len(self.items))
            return None
        if self.overflow == "lose":
            self.lost += 1
            if self.stats is not None:
                self.stats.lose(entity)
            return None
        ev = env.event()
        self._putters.append((ev, entity))
        return ev

    def take(self):
        """The first entity, or ``None`` if the buffer is empty (no event involved)."""
        items = self.items
        if not items:
            if not self._putters:
                return None
            ev, entity = self._putters.popleft()  # capacity 0: straight from the blocked sender
            self.wait.add(self.env.now - entity.entered)
            ev.succeed()
            return entity
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
        self.offered = self.lost = 0

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
        self.lost = 0
        self._since = env.now

    def arrive(self) -> None:
        self.arrivals += 1
        self.wip.add(1)

    def depart(self, entity: Entity) -> None:
        self.departures += 1
        self.wip.add(-1)
        self.lead_time.add(self.env.now - entity.created)

    def lose(self, entity: Entity) -> None:
        """*entity* left the system unserved (a loss system turned it away)."""
        self.lost += 1
        self.wip.add(-1)

    def reset_statistics(self) -> None:
        self.wip.reset()
        self.lead_time.reset()
        self.arrivals = self.departures = self.lost = 0
        self._since = self.env.now

    def kpis(self) -> dict[str, float]:
        """``throughput`` [1/s], ``wip`` [units], ``lead_time`` [s], ``arrival_rate`` [1/s], ``lost`` [units],
        ``blocking_probability`` [-] (lost / arrivals; NaN without arrivals)."""
        span = self.env.now - self._since
        return {"throughput": self.departures / span if span > 0 else math.nan,
                "arrival_rate": self.arrivals / span if span > 0 else math.nan,
                "wip": self.wip.value(), "lead_time": self.lead_time.value(), "lost": float(self.lost),
                "blocking_probability": self.lost / self.arrivals if self.arrivals else math.nan}


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
