"""Repair crews with priorities and preemption, and the work they do.

A :class:`Crew` wraps ``simpy.PreemptiveResource``: a request carries a
priority (lower is more urgent) and may preempt.  Semantics, fixed here and
tested:

* a preempting request bumps exactly **one** member's current job - the one
  with the least urgent priority, among those the most recently requested -
  and only if that job is less urgent than the request (SimPy's rule;
  salabim bumps them all);
* bumped work is **resumed** later with the remaining duration (preempt-resume);
* requests of equal priority are served first come, first served.

Default priorities (:data:`PRIORITIES`): off-shift 0 (the calendar takes a
member away), repair 1, maintenance 2, other work 3.
"""

from __future__ import annotations

import math
from types import MappingProxyType

import simpy

from sim.exceptions import ConfigurationError, SimulationError
from sim.kpi import TimeAverage

__all__ = ["PRIORITIES", "Crew", "Job", "side_work"]

PRIORITIES = MappingProxyType({"off_shift": 0, "repair": 1, "maintenance": 2, "other": 3})


class Job:
    """Progress of one crew job: work left [s] and when the current stint started (None while waiting)."""

    __slots__ = ("remaining", "started")

    def __init__(self, remaining: float):
        self.remaining = float(remaining)
        self.started: float | None = None

    def remaining_at(self, now: float) -> float:
        """Work left at time *now* [s]."""
        if self.started is None:
            return self.remaining
        return max(0.0, self.remaining - (now - self.started))


class Crew:
    """A crew of *size* interchangeable members.

    Parameters
    ----------
    env : simpy.Environment
    size : int
        Number of members (>= 1).
    name : str
    labour_rate : float
        Cost of one member at work per second [currency/s] (for maintenance cost).
    """

    def __init__(self, env: simpy.Environment, size: int, *, name: str = "crew", labour_rate: float = 0.0):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigurationError(f"crew {name!r}: size = {size!r} must be an integer >= 1; a line needs at "
                                     f"least one crew member")
        if not (math.isfinite(labour_rate) and labour_rate >= 0):
            raise ConfigurationError(f"crew {name!r}: labour_rate = {labour_rate!r} must be finite and >= 0")
        self.env = env
        self.name = name
        self.size = size
        self.labour_rate = float(labour_rate)
        self.resource = simpy.PreemptiveResource(env, capacity=size)
        self.busy = TimeAverage(env)
        self.preemptions = 0
        self.work_time = {kind: 0.0 for kind in PRIORITIES if kind != "off_shift"}

    def reset_statistics(self) -> None:
        """Forget utilisation and counters (warm-up deletion)."""
        self.busy.reset()
        self.preemptions = 0
        self.work_time = dict.fromkeys(self.work_time, 0.0)

    def labour_cost(self) -> float:
        """Cost of all work done since the last reset [currency]."""
        return self.labour_rate * sum(self.work_time.values())

    def work(self, duration: float, *, kind: str = "repair", priority: int | None = None, preempt: bool = True,
             on_start=None, on_stop=None, job: Job | None = None):
        """Generator: get a member, work *duration* [s], release; preempted work resumes later.

        Use as ``yield from crew.work(...)`` inside a process.  *on_start* and
        *on_stop* are called (without arguments) whenever a member starts or
        stops (done or bumped).  *job*, when given, is kept up to date with the
        work left (for snapshots).  Returns the time [s] from the call until done.
        """
        if kind not in self.work_time:
            raise ConfigurationError(f"crew {self.name!r}: unknown kind of work {kind!r}; known: "
                                     f"{sorted(self.work_time)}")
        if not (duration >= 0 and math.isfinite(duration)):
            raise ConfigurationError(f"crew {self.name!r}: work duration = {duration!r} must be finite and >= 0 s")
        priority = PRIORITIES[kind] if priority is None else priority
        env = self.env
        t0 = env.now
        remaining = float(duration)
        job = job if job is not None else Job(remaining)
        job.remaining = remaining
        while True:
            req = self.resource.request(priority=priority, preempt=preempt)
            started = None
            try:
                yield req
                started = job.started = env.now
                self.busy.add(1)
                if on_start is not None:
                    on_start()
                yield env.timeout(remaining)
                remaining = 0.0
            except simpy.Interrupt as irq:
                if not isinstance(irq.cause, simpy.resources.resource.Preempted):
                    self._stop(req, started, on_stop, kind)
                    raise
                self.preemptions += 1
                remaining = max(0.0, remaining - (env.now - started))
            job.remaining, job.started = remaining, None
            self._stop(req, started, on_stop, kind)
            if remaining <= 0.0:
                return env.now - t0

    def _stop(self, req, started, on_stop, kind: str) -> None:
        if req.triggered:
            self.resource.release(req)
        else:  # interrupted while queued: leave the queue
            req.cancel()
        if started is None:
            return
        self.busy.add(-1)
        self.work_time[kind] += self.env.now - started
        if on_stop is not None:
            on_stop()

    def hold(self, until: simpy.Event, *, priority: int = 0, preempt: bool = True):
        """Generator: take one member away until *until* succeeds (off shift); not counted as work.

        A member in the middle of a job is bumped only with *preempt* (the
        job resumes later); otherwise the hold waits for the next free member.
        """
        req = self.resource.request(priority=priority, preempt=preempt)
        try:
            yield req
            yield until
        except simpy.Interrupt as irq:  # pragma: no cover - only a more urgent hold can bump a hold
            raise SimulationError(f"crew {self.name!r}: an off-shift hold was preempted by {irq.cause}; give "
                                  f"off-shift holds the most urgent priority (0)") from None
        finally:
            if req.triggered:
                self.resource.release(req)
            else:
                req.cancel()


def side_work(env: simpy.Environment, crew: Crew, duration, *, sampler=None, priority: int | None = None):
    """Process: low-priority jobs of *duration* [s] one after the other (preempt-resume).

    *sampler*, when given, is called for each job's duration instead.
    """
    while True:
        d = sampler() if sampler is not None else duration
        yield from crew.work(d, kind="other", priority=priority)
