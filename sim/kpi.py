"""Time-weighted state records, streaming statistics and the KPIs computed from them.

Every accumulator here keeps O(1) memory however long the run (no traces),
and has ``reset()`` for warm-up deletion.

Machine states (:data:`MACHINE_STATES`)
---------------------------------------
``running`` producing at the nominal rate; ``idle`` able to run, nothing to
do (no order, entity server with an empty queue); ``starved`` able to run,
upstream buffer empty; ``blocked`` able to run, downstream buffer full;
``jammed`` micro-stop cleared by the operator; ``tripped`` motor protection
stopped it, cooling; ``down`` failed, waiting for a crew member or a spare
part; ``in_repair`` failed, crew at work; ``in_maintenance`` planned or
condition-triggered maintenance (waiting for the crew included);
``off_shift`` outside the shift calendar.  A flow station running at a
fraction f of its nominal rate because a neighbour is slower is recorded as
f ``running`` and 1 - f ``starved`` (or ``blocked``): running time is then
the *equivalent full-rate time*, output / nominal rate.

KPI definitions (:func:`machine_kpis`)
--------------------------------------
* planned time = observed time - ``off_shift`` time [s];
* downtime = ``tripped`` + ``down`` + ``in_repair`` + ``in_maintenance`` [s]
  (unplanned downtime: the same without ``in_maintenance``);
* operating time = planned time - downtime [s];
* availability A = operating time / planned time;
* performance P = output / (ideal rate x operating time); the ideal rate is
  the rated maximum, so micro-stops (jams), starving, blocking, idling and
  running below the rated speed all lower P;
* quality Q = good output / output;
* OEE = A x P x Q = good output / (ideal rate x planned time) (holds exactly);
* MTBF = operating time / failures [s]; MTTR = (``down`` + ``in_repair``) /
  repairs [s] (waiting for crew and parts included);
* throughput = good output / observed time [1/s];
* WIP = time average of the number of units in the system [units];
* lead time = mean time from entering to leaving the system [s];
* energy per unit = electrical energy / output [J];
* maintenance cost = labour (crew busy time x rate) + parts + fixed costs
  per intervention [currency].
"""

from __future__ import annotations

import math

import simpy

from sim.exceptions import ConfigurationError

__all__ = ["MACHINE_STATES", "DOWN_STATES", "StateRecorder", "Tally", "TimeAverage", "machine_kpis", "safe_ratio"]

MACHINE_STATES = ("running", "idle", "starved", "blocked", "jammed", "tripped", "down", "in_repair",
                  "in_maintenance", "off_shift")
DOWN_STATES = ("tripped", "down", "in_repair", "in_maintenance")


class StateRecorder:
    """Accumulates the time spent in each discrete state; memory is flat in run length.

    Parameters
    ----------
    env : simpy.Environment
        The clock.
    states : sequence of str
        Allowed state names.
    initial : str
        State at ``env.now``.
    """

    def __init__(self, env: simpy.Environment, states, initial: str):
        self.env = env
        self.states = tuple(states)
        self._check(initial)
        self.state = initial
        self._shares: tuple | None = None
        self._since = env.now
        self._start = env.now
        self.time_in = {s: 0.0 for s in self.states}
        self.entries = {s: 0 for s in self.states}
        self.entries[initial] = 1

    def _check(self, state: str) -> None:
        if state not in self.states:
            raise ConfigurationError(f"unknown state {state!r}; allowed states: {', '.join(self.states)}")

    def _close(self, now: float) -> None:
        dt = now - self._since
        if self._shares is None:
            self.time_in[self.state] += dt
        else:
            for s, w in self._shares:
                self.time_in[s] += w * dt
            self._shares = None
        self._since = now

    def set(self, state: str) -> None:
        """Enter *state* now."""
        if state == self.state and self._shares is None:
            return
        if state not in self.time_in:
            self._check(state)
        self._close(self.env.now)
        if state != self.state:
            self.state = state
            self.entries[state] += 1

    def set_shares(self, main: str, share: float, rest: str) -> None:
        """Split time from now on: fraction *share* in *main*, the remainder in *rest*.

        Used by flow stations that run at part of their nominal rate (``running``
        0.8, ``starved`` 0.2).  ``state`` reports *main*.
        """
        if share >= 1.0:
            self.set(main)
            return
        if share <= 0.0:
            self.set(rest)
            return
        self._check(main)
        self._check(rest)
        self._close(self.env.now)
        if main != self.state:
            self.state = main
            self.entries[main] += 1
        self._shares = ((main, share), (rest, 1.0 - share))

    def reset(self) -> None:
        """Forget everything recorded so far (warm-up deletion)."""
        self.time_in = {s: 0.0 for s in self.states}
        self.entries = {s: 0 for s in self.states}
        self.entries[self.state] = 1
        self._since = self._start = self.env.now

    def durations(self) -> dict[str, float]:
        """Time [s] spent in each state up to now (the current state included)."""
        out = dict(self.time_in)
        dt = self.env.now - self._since
        if self._shares is None:
            out[self.state] += dt
        else:
            for s, w in self._shares:
                out[s] += w * dt
        return out

    @property
    def observed(self) -> float:
        """Length [s] of the observation period."""
        return self.env.now - self._start


class Tally:
    """Running count, mean, variance, min and max of observations (Welford); O(1) memory."""

    __slots__ = ("n", "mean", "_m2", "min", "max")

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        """Forget all observations."""
        self.n = 0
        self.mean = 0.0
        self._m2 = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, x: float) -> None:
        """Record observation *x*."""
        self.n += 1
        d = x - self.mean
        self.mean += d / self.n
        self._m2 += d * (x - self.mean)
        if x < self.min:
            self.min = x
        if x > self.max:
            self.max = x

    @property
    def variance(self) -> float:
        """Sample variance (n - 1 denominator); NaN below two observations."""
        return self._m2 / (self.n - 1) if self.n > 1 else math.nan

    def value(self) -> float:
        """Mean of the observations; NaN when there are none."""
        return self.mean if self.n else math.nan


class TimeAverage:
    """Time average of a piecewise-constant level (queue length, WIP, busy crew); O(1) memory.

    Parameters
    ----------
    env : simpy.Environment
        The clock.
    level : float
        Level at ``env.now``.
    """

    __slots__ = ("env", "level", "_area", "_since", "_start", "max")

    def __init__(self, env: simpy.Environment, level: float = 0.0):
        self.env = env
        self.level = float(level)
        self._area = 0.0
        self._since = self._start = env.now
        self.max = self.level

    def set(self, level: float) -> None:
        """The level is *level* from now on."""
        now = self.env.now
        self._area += self.level * (now - self._since)
        self._since = now
        self.level = level
        if level > self.max:
            self.max = level

    def add(self, delta: float) -> None:
        """Change the level by *delta* now."""
        self.set(self.level + delta)

    def reset(self) -> None:
        """Forget the past; the current level stays (warm-up deletion)."""
        self._area = 0.0
        self._since = self._start = self.env.now
        self.max = self.level

    def integral(self) -> float:
        """Integral of the level over the observation period [level x s]."""
        return self._area + self.level * (self.env.now - self._since)

    def value(self) -> float:
        """Time average since the start or the last reset; NaN for an empty period."""
        return safe_ratio(self.integral(), self.env.now - self._start)


def safe_ratio(num: float, den: float) -> float:
    """``num / den``, or NaN when *den* is not positive."""
    return num / den if den > 0 else math.nan


def machine_kpis(durations: dict, *, output: float, good: float, ideal_rate: float, failures: int,
                 energy: float = 0.0, maintenance_cost: float = 0.0) -> dict[str, float]:
    """KPIs of one machine from its state durations and counters (definitions in the module docstring).

    Parameters
    ----------
    durations : dict
        Time [s] per state of :data:`MACHINE_STATES` (missing states count 0).
    output, good : float
        Units produced and good units produced [units].
    ideal_rate : float
        Output rate at the rated maximum speed [1/s].
    failures : int
        Number of failures (each followed by one repair).
    energy : float
        Electrical energy used [J].
    maintenance_cost : float
        Labour, parts and fixed costs of repairs and maintenance [currency].
    """
    observed = sum(durations.values())
    d = {s: durations.get(s, 0.0) for s in MACHINE_STATES}
    planned = observed - d["off_shift"]
    downtime = sum(d[s] for s in DOWN_STATES)
    operating = planned - downtime
    availability = safe_ratio(operating, planned)
    performance = safe_ratio(output, ideal_rate * operating)
    quality = safe_ratio(good, output)
    return {
        "availability": availability,
        "performance": performance,
        "quality": quality,
        "oee": availability * performance * quality,
        "throughput": safe_ratio(good, observed),
        "output": float(output),
        "good_output": float(good),
        "failures": float(failures),
        "mtbf": safe_ratio(operating, failures),
        "mttr": safe_ratio(d["down"] + d["in_repair"], failures),
        "unplanned_downtime": downtime - d["in_maintenance"],
        "maintenance_time": d["in_maintenance"],
        "energy_per_unit": safe_ratio(energy, output),
        "maintenance_cost": float(maintenance_cost),
    }
