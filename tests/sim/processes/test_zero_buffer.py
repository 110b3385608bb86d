"""Direct coupling without a buffer (``EntityBuffer(env, 0)``, blocking after service) against the exact
Markov chain of a two-station line with exponential times (issue 17)."""

import numpy as np
import pytest
import simpy

from sim.processes import Entity, EntityBuffer, Exponential, Machine, MachineParams, Sink, machine_process
from sim.replications import ReplicationPlan, replicate

MU1, MU2 = 1.0, 1.25  # service rates of station 1 (never starved) and station 2 (never blocked) [1/s]


def exact_throughput(mu1: float, mu2: float, capacity: int) -> float:
    """Throughput [1/s] of the two-station line from the generator of its Markov chain.

    State n = units past station 1: 0 (station 2 idle), 1 .. capacity + 1 (station 2 busy, n - 1 in the buffer),
    capacity + 2 (station 1 holds a finished unit, blocked).  Station 1 finishes at mu1 unless blocked, station 2
    at mu2 when busy.
    """
    m = capacity + 3
    q = np.zeros((m, m))
    for n in range(m):
        if n < m - 1:
            q[n, n + 1] = mu1
        if n > 0:
            q[n, n - 1] = mu2
        q[n, n] = -q[n].sum()
    a = np.vstack([q.T, np.ones(m)])
    pi = np.linalg.lstsq(a, np.r_[np.zeros(m), 1.0], rcond=None)[0]
    return mu2 * (1.0 - pi[0])


class TwoStationLine:
    """Station 1 -> buffer of *capacity* -> station 2 -> sink, exponential cycle times."""

    def __init__(self, streams, capacity=0):
        env = self.env = simpy.Environment()
        self.buffer = EntityBuffer(env, capacity, name="b")
        self.sink = Sink(env)
        self.first = Machine(env, MachineParams("s1", cycle_time=Exponential(1.0 / MU1)), streams=streams)
        self.second = Machine(env, MachineParams("s2", cycle_time=Exponential(1.0 / MU2), idle_state="starved"),
                              streams=streams)
        env.process(machine_process(env, self.first, outlet=self.buffer))
        env.process(machine_process(env, self.second, inlet=self.buffer, outlet=self.sink))
        self._since = 0.0

    @property
    def now(self):
        return self.env.now

    def run(self, until):
        self.env.run(until=until)

    def reset_statistics(self):
        self.sink.reset_statistics()
        self.first.reset_statistics()
        self._since = self.env.now

    def kpis(self):
        return {"throughput": self.sink.count / (self.env.now - self._since),
                "blocked": self.first.recorder.durations()["blocked"] / (self.env.now - self._since)}


def test_exact_chain_reference_values():
    assert exact_throughput(1.0, 1.0, 0) == pytest.approx(2 / 3, rel=1e-12)
    assert exact_throughput(1.0, 1.0, 1) == pytest.approx(3 / 4, rel=1e-12)  # 12.5 % more with one place
    # closed form of the zero-buffer line: 1 / (1/mu1 + 1/mu2 - 1/(mu1 + mu2))
    assert exact_throughput(MU1, MU2, 0) == pytest.approx(1 / (1 / MU1 + 1 / MU2 - 1 / (MU1 + MU2)), rel=1e-12)


def test_zero_buffer_hands_over_only_to_a_waiting_taker():
    env = simpy.Environment()
    buf = EntityBuffer(env, 0)
    blocked = buf.put(Entity(0, 0.0))
    assert blocked is not None and not blocked.triggered and len(buf) == 0 and buf.state()[0][0] == 0
    assert buf.take().id == 0 and blocked.triggered and buf.take() is None
    getter = buf.get()
    assert buf.put(Entity(1, 0.0)) is None and getter.value.id == 1


@pytest.mark.parametrize("capacity", [0, 1])
def test_two_station_line_throughput_matches_the_markov_chain(capacity):
    plan = ReplicationPlan(replications=8, seed=17, warmup=500.0, run_length=10000.0)
    res = replicate(lambda s: TwoStationLine(s, capacity), plan)
    th = res.interval("throughput")
    exact = exact_throughput(MU1, MU2, capacity)
    assert th.contains(exact), (th, exact)
    assert th.half_width < 0.01
    # station 1 is blocked exactly while the chain sits in its last state
    pi_blocked = _stationary(MU1, MU2, capacity)[-1]
    assert res.interval("blocked").contains(pi_blocked)


def test_the_capacity_one_advice_overstates_the_zero_buffer_line():
    assert exact_throughput(MU1, MU2, 1) / exact_throughput(MU1, MU2, 0) > 1.08


def _stationary(mu1, mu2, capacity):
    r = mu1 / mu2
    w = r ** np.arange(capacity + 3)  # the chain is birth-death: pi_n ~ (mu1 / mu2)^n
    return w / w.sum()
