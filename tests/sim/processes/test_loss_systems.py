"""Loss systems (issue 17): arrivals that find every server busy are lost and counted; the blocking probability of
M/M/c/c matches Erlang's B formula."""

import math

import pytest
import simpy

from sim.exceptions import ConfigurationError
from sim.processes import (Entity, EntityBuffer, SystemStats)
from sim.replications import ReplicationPlan, replicate
from tests.sim.processes.queueing_models import MMc


def erlang_b(offered_load: float, servers: int) -> float:
    """Erlang's blocking probability B(c, a) by the stable recursion B(k) = a B(k-1) / (k + a B(k-1))."""
    b = 1.0
    for k in range(1, servers + 1):
        b = offered_load * b / (k + offered_load * b)
    return b


class LossSystem(MMc):
    """M/M/c/c: Poisson arrivals (rate *lam* [1/s]) at *c* servers (rate *mu* [1/s]) with no waiting room."""

    def __init__(self, streams, lam=2.4, mu=1.0, c=3, waiting_room=0):
        super().__init__(streams, lam, mu, c, capacity=waiting_room, overflow="lose")
        self.entrance = self.queue

    def kpis(self):
        k = self.stats.kpis()
        k["buffer_blocking_probability"] = self.entrance.blocking_probability
        busy = sum(m.recorder.durations()["running"] for m in self.servers)
        k["busy_servers"] = busy / self.servers[0].recorder.observed
        return k


def test_erlang_b_reference_values():
    explicit = 2.4 ** 3 / 6 / sum(2.4 ** k / math.factorial(k) for k in range(4))  # (a^c / c!) / sum a^k / k!
    assert erlang_b(2.4, 3) == pytest.approx(explicit, rel=1e-12) and explicit == pytest.approx(0.26841, abs=1e-5)
    assert erlang_b(1.0, 1) == pytest.approx(0.5)


@pytest.mark.parametrize("lam, c", [(2.4, 3), (0.5, 1)])
def test_blocking_probability_matches_erlang_b(lam, c):
    plan = ReplicationPlan(replications=8, seed=11, warmup=200.0, run_length=6000.0)
    res = replicate(lambda s: LossSystem(s, lam=lam, c=c), plan)
    blocking = res.interval("blocking_probability")
    theory = erlang_b(lam, c)
    assert blocking.contains(theory), (blocking, theory)
    assert blocking.half_width < 0.015
    t = res.table
    assert (t["blocking_probability"] == t["buffer_blocking_probability"]).all()  # both counters agree
    # carried load = offered load x (1 - B): the mean number of busy servers
    assert res.interval("busy_servers").contains(lam * (1 - theory))


def test_lost_entities_leave_the_system_and_are_counted():
    env = simpy.Environment()
    stats = SystemStats(env)
    entrance = EntityBuffer(env, 1, overflow="lose", stats=stats)
    for k in range(4):
        stats.arrive()
        assert entrance.put(Entity(k, 0.0)) is None  # never blocks the sender
    assert len(entrance) == 1 and entrance.lost == 3 and entrance.offered == 4 and stats.lost == 3
    env.run(until=10.0)
    assert stats.wip.value() == pytest.approx(1.0)  # the lost ones are out of the work in process
    assert entrance.blocking_probability == 0.75
    entrance.reset_statistics()
    assert entrance.offered == entrance.lost == 0 and math.isnan(entrance.blocking_probability)


def test_a_loss_system_with_waiting_room_loses_less():
    """M/M/1/2 (one place to wait): blocking pi_2 = r^2 / (1 + r + r^2) at r = lam / mu."""
    plan = ReplicationPlan(replications=6, seed=5, warmup=200.0, run_length=6000.0)
    res = replicate(lambda s: LossSystem(s, lam=0.5, c=1, waiting_room=1), plan)
    r = 0.5
    assert res.interval("blocking_probability").contains(r ** 2 / (1 + r + r ** 2))


def test_bad_overflow_is_named():
    with pytest.raises(ConfigurationError, match="overflow = 'drop'"):
        EntityBuffer(simpy.Environment(), 0, overflow="drop")
