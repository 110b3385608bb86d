"""Streaming statistics and KPI definitions: exact against brute force, memory flat in run length."""

import math
import sys

import numpy as np
import pytest
import simpy

from sim.exceptions import ConfigurationError
from sim.kpi import MACHINE_STATES, StateRecorder, Tally, TimeAverage, machine_kpis


def test_tally_matches_numpy():
    x = np.random.default_rng(3).lognormal(size=10_001)
    t = Tally()
    for v in x:
        t.add(float(v))
    assert t.n == x.size and t.value() == pytest.approx(x.mean(), rel=1e-12)
    assert t.variance == pytest.approx(x.var(ddof=1), rel=1e-10)
    assert (t.min, t.max) == (x.min(), x.max())
    t.reset()
    assert math.isnan(t.value()) and math.isnan(t.variance)


def test_time_average_and_state_shares_against_brute_force():
    env = simpy.Environment()
    level = TimeAverage(env)
    rec = StateRecorder(env, MACHINE_STATES, "running")
    rng = np.random.default_rng(5)
    steps = rng.exponential(1.0, 2000)
    values = rng.integers(0, 10, 2000)
    shares = rng.uniform(0, 1, 2000)

    def proc(env):
        for dt, v, s in zip(steps, values, shares):
            level.set(float(v))
            rec.set_shares("running", float(s), "starved")
            yield env.timeout(float(dt))

    env.process(proc(env))
    env.run()
    assert level.value() == pytest.approx(np.sum(values * steps) / steps.sum(), rel=1e-12)
    d = rec.durations()
    assert d["running"] == pytest.approx(np.sum(shares * steps), rel=1e-12)
    assert d["starved"] == pytest.approx(np.sum((1 - shares) * steps), rel=1e-12)
    assert sum(d.values()) == pytest.approx(rec.observed, rel=1e-12)


def test_memory_is_flat_in_run_length():
    env = simpy.Environment()
    rec = StateRecorder(env, MACHINE_STATES, "running")
    level, tally = TimeAverage(env), Tally()

    def proc(env, n):
        for k in range(n):
            rec.set(MACHINE_STATES[k % 4])
            level.add(1 if k % 2 else -1)
            tally.add(float(k))
            yield env.timeout(1.0)

    def size():
        return sum(sys.getsizeof(o) for o in (rec.time_in, rec.entries, rec.__dict__, level, tally))

    env.process(proc(env, 100))
    env.run()
    small = size()
    env.process(proc(env, 100_000))
    env.run()
    assert size() == small


def test_oee_is_a_times_p_times_q_and_definitions_hold():
    d = {"running": 600.0, "starved": 50.0, "jammed": 30.0, "down": 40.0, "in_repair": 60.0,
         "in_maintenance": 20.0, "off_shift": 200.0}
    k = machine_kpis(d, output=2800.0, good=2750.0, ideal_rate=5.0, failures=2, energy=1e6, maintenance_cost=10.0)
    planned = 1000.0 - 200.0
    operating = planned - 120.0
    assert k["availability"] == pytest.approx(operating / planned)
    assert k["performance"] == pytest.approx(2800.0 / (5.0 * operating))
    assert k["quality"] == pytest.approx(2750.0 / 2800.0)
    assert k["oee"] == pytest.approx(k["availability"] * k["performance"] * k["quality"])
    assert k["oee"] == pytest.approx(2750.0 / (5.0 * planned))
    assert k["mtbf"] == pytest.approx(operating / 2) and k["mttr"] == pytest.approx(50.0)
    assert k["unplanned_downtime"] == pytest.approx(100.0) and k["energy_per_unit"] == pytest.approx(1e6 / 2800)


def test_unknown_state_is_named():
    env = simpy.Environment()
    with pytest.raises(ConfigurationError, match="'broken'"):
        StateRecorder(env, MACHINE_STATES, "broken")
    rec = StateRecorder(env, MACHINE_STATES, "idle")
    with pytest.raises(ConfigurationError, match="allowed states"):
        rec.set("sleeping")
