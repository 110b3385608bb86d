"""Time-weighted state records and the KPIs computed from them.

Definitions (planned time = observed horizon; no shift calendar yet)

* availability A = (planned time - unplanned downtime) / planned time, where
  unplanned downtime is the time spent failed (waiting for the crew and in
  repair) and tripped (motor cooling after an over-temperature trip);
* performance P = output / (ideal rate x operating time), with the ideal rate at the
  rated maximum speed and operating time = planned time - unplanned downtime; jams
  (micro-stops) and running below the rated speed lower P;
* quality Q = good output / output;
* OEE = A x P x Q;
* MTBF = running time / number of failures [s]; MTTR = repair time (crew
  waiting included) / number of repairs [s];
* throughput = good output / planned time [1/s]; energy per unit = electrical
  energy / output [J].
"""

from __future__ import annotations

import math

import simpy

from sim.exceptions import ConfigurationError

__all__ = ["StateRecorder"]


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
        self._since = env.now
        self._start = env.now
        self.time_in = {s: 0.0 for s in self.states}
        self.entries = {s: 0 for s in self.states}
        self.entries[initial] = 1

    def _check(self, state: str) -> None:
        if state not in self.states:
            raise ConfigurationError(f"unknown state {state!r}; allowed states: {', '.join(self.states)}")

    def set(self, state: str) -> None:
        """Enter *state* now."""
        if state == self.state:
            return
        self._check(state)
        now = self.env.now
        self.time_in[self.state] += now - self._since
        self._since = now
        self.state = state
        self.entries[state] += 1

    def reset(self) -> None:
        """Forget everything recorded so far (warm-up deletion)."""
        self.time_in = {s: 0.0 for s in self.states}
        self.entries = {s: 0 for s in self.states}
        self.entries[self.state] = 1
        self._since = self._start = self.env.now

    def durations(self) -> dict[str, float]:
        """Time [s] spent in each state up to now (the current state included)."""
        out = dict(self.time_in)
        out[self.state] += self.env.now - self._since
        return out

    @property
    def observed(self) -> float:
        """Length [s] of the observation period."""
        return self.env.now - self._start


def safe_ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan
