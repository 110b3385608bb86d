"""Shift calendars: working periods repeating with a period (a day, a week).

A :class:`ShiftCalendar` answers "is this a working time?" and "when does
that change next?" analytically, so a calendar costs two events per shift,
not a tick.  :func:`calendar_process` calls ``on_start``/``on_end`` at the
changes; :func:`crew_calendar` takes crew members away outside their shifts,
with Arena's rules: ``"wait"`` (a member finishes the current job first) or
``"preempt"`` (the job is bumped and resumed in the next shift).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import simpy

from sim.exceptions import ConfigurationError

__all__ = ["ShiftCalendar", "calendar_process", "crew_calendar"]

DAY = 86400.0
WEEK = 7 * DAY


@dataclass(frozen=True)
class ShiftCalendar:
    """Working periods ``(start, end)`` [s] within each *period* [s], repeating from time 0.

    Adjacent periods are merged (three 8-hour shifts make one 24-hour block).

    Parameters
    ----------
    shifts : sequence of (start, end)
        Offsets within the period, 0 <= start < end <= period, not overlapping.
    period : float
        Length of the repeating pattern [s] (a week by default).
    """

    shifts: tuple
    period: float = WEEK

    def __post_init__(self):
        if not (math.isfinite(self.period) and self.period > 0):
            raise ConfigurationError(f"shift calendar: period = {self.period!r} must be a finite time > 0 [s]")
        spans = sorted((float(a), float(b)) for a, b in self.shifts)
        if not spans:
            raise ConfigurationError("shift calendar: give at least one (start, end) working period; use no "
                                     "calendar for round-the-clock operation")
        merged: list[list[float]] = []
        for a, b in spans:
            if not (0 <= a < b <= self.period):
                raise ConfigurationError(f"shift calendar: shift ({a}, {b}) s must satisfy 0 <= start < end <= "
                                         f"period ({self.period} s)")
            if merged and a < merged[-1][1]:
                raise ConfigurationError(f"shift calendar: shift ({a}, {b}) s overlaps the one ending at "
                                         f"{merged[-1][1]} s")
            if merged and a == merged[-1][1]:
                merged[-1][1] = b
            else:
                merged.append([a, b])
        object.__setattr__(self, "shifts", tuple((a, b) for a, b in merged))
        edges = sorted({x for ab in merged for x in ab})
        object.__setattr__(self, "_edges", tuple(edges))

    @classmethod
    def daily(cls, start: float, end: float, *, days=(0, 1, 2, 3, 4)) -> "ShiftCalendar":
        """Work from *start* to *end* [s after midnight] on the given weekdays (0 = first day)."""
        return cls(tuple((d * DAY + start, d * DAY + end) for d in days), WEEK)

    @property
    def always_on(self) -> bool:
        return len(self.shifts) == 1 and self.shifts[0] == (0.0, self.period)

    def is_on(self, t: float) -> bool:
        """True if *t* [s] lies in a working period."""
        phase = t % self.period
        return any(a <= phase < b for a, b in self.shifts)

    def next_change(self, t: float) -> float:
        """The first time after *t* [s] at which working switches on or off (inf if never)."""
        if self.always_on:
            return math.inf
        on = self.is_on(t)
        base = math.floor(t / self.period) * self.period
        for k in range(3):
            for x in self._edges:
                candidate = base + k * self.period + x
                if candidate > t and self.is_on(candidate) != on:
                    return candidate
        return math.inf  # pragma: no cover - a calendar that is not always on changes within two periods

    def working_time(self, t0: float, t1: float) -> float:
        """Working time [s] in [t0, t1]."""
        total, t = 0.0, t0
        while t < t1:
            nxt = min(self.next_change(t), t1)
            if self.is_on(t):
                total += nxt - t
            t = nxt
        return total


def calendar_process(env: simpy.Environment, calendar: ShiftCalendar, on_start, on_end):
    """Process: call ``on_end()`` when a shift ends and ``on_start()`` when one starts (at once if off now)."""
    if not calendar.is_on(env.now):
        on_end()
    while True:
        nxt = calendar.next_change(env.now)
        if nxt == math.inf:
            return
        yield env.timeout(nxt - env.now)
        if calendar.is_on(env.now):
            on_start()
        else:
            on_end()


def crew_calendar(env: simpy.Environment, crew, calendar: ShiftCalendar, *, rule: str = "wait", members=None):
    """Process: outside *calendar*, *members* (default all) of *crew* are away.

    ``rule="wait"`` lets a member finish the current job before leaving;
    ``"preempt"`` bumps the job (resumed later with its remaining time).
    """
    if rule not in ("wait", "preempt"):
        raise ConfigurationError(f"crew calendar: rule = {rule!r} is unknown; use 'wait' or 'preempt'")
    members = crew.size if members is None else int(members)
    if not 1 <= members <= crew.size:
        raise ConfigurationError(f"crew calendar: members = {members} must lie in 1..{crew.size} (crew size)")
    while True:
        if calendar.is_on(env.now):
            nxt = calendar.next_change(env.now)
            if nxt == math.inf:
                return
            yield env.timeout(nxt - env.now)
            continue
        back = env.timeout(calendar.next_change(env.now) - env.now)
        for _ in range(members):
            env.process(crew.hold(back, priority=0, preempt=(rule == "preempt")))
        yield back
