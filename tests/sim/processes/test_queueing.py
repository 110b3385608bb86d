"""Acceptance: the library's own parts against queueing theory (fixed seeds, t-intervals over replications)."""

import dataclasses
import math

import pytest
import simpy

from sim.processes import (Constant, EntityBuffer, FailureMode, FlowBufferParams, FlowLine, FlowStation,
                           FlowStationParams, Machine, MachineParams, machine_process)
from sim.replications import ReplicationPlan, compare, replicate
from sim.streams import RandomStreams
from tests.sim.processes.queueing_models import MMc, Shop, machine_repair_availability

ERLANG_C_WQ = 1.0787  # M/M/3, lambda 2.4, mu 1
ERLANG_C_L = 4.9888


def erlang_c_wait(lam, mu, c):
    a = lam / mu
    rho = a / c
    tail = a ** c / math.factorial(c) / (1 - rho)
    p_wait = tail / (sum(a ** k / math.factorial(k) for k in range(c)) + tail)
    return p_wait / (c * mu - lam)


def test_erlang_c_reference_value():
    assert erlang_c_wait(2.4, 1.0, 3) == pytest.approx(ERLANG_C_WQ, abs=1e-4)


@pytest.mark.slow
def test_mm3_mean_wait_interval_contains_erlang_c_and_littles_law_holds():
    plan = ReplicationPlan(replications=20, seed=2024, warmup=1000.0, run_length=20000.0)
    res = replicate(MMc, plan)
    wait = res.interval("wait")
    assert wait.n == 20 and wait.half_width < 0.05
    assert wait.contains(ERLANG_C_WQ), wait
    assert res.interval("wip").contains(ERLANG_C_L)
    assert res.interval("utilisation").contains(0.8)
    t = res.table
    little = (t["wip"] - t["arrival_rate"] * t["lead_time"]) / t["wip"]
    assert little.abs().max() < 2e-3  # L = lambda W per replication (boundary effects only)


@pytest.mark.slow
def test_machine_repair_shop_availability_interval_contains_the_analytic_value():
    theory = machine_repair_availability()
    assert theory == pytest.approx(0.96741, abs=1e-5)
    res = replicate(Shop, ReplicationPlan(replications=10, seed=7, warmup=1000.0, run_length=50000.0))
    avail = res.interval("availability")
    assert avail.contains(theory), avail
    assert avail.half_width < 2e-3
    assert res.interval("preemptions").mean > 0  # repairs did bump side jobs


def test_common_random_numbers_shrink_the_paired_interval():
    # M/M/1 at rho 0.8: does a 5 % faster server cut the wait?  Arrivals and work are drawn per source,
    # so with CRN both scenarios see the same customers (across seeds 1-6 the ratio was 0.25-0.53)
    builds = {"mu=1.00": lambda s: MMc(s, lam=0.8, c=1), "mu=1.05": lambda s: MMc(s, lam=0.8, mu=1.05, c=1)}
    plan = ReplicationPlan(replications=10, seed=3, warmup=200.0, run_length=3000.0)
    crn = compare(builds, plan, baseline="mu=1.00").difference("mu=1.05", "wait")
    ind = compare(builds, dataclasses.replace(plan, crn=False), baseline="mu=1.00").difference("mu=1.05", "wait")
    assert crn.mean < 0 and crn.high < 0  # the gain is significant with CRN
    assert crn.half_width < 0.7 * ind.half_width, (crn, ind)


def test_deterministic_entity_line_leaves_at_the_bottleneck_cycle_time():
    env = simpy.Environment()
    streams = RandomStreams(0)
    cycles = (2.0, 5.0, 3.0)
    buffers = [EntityBuffer(env, 2, name=f"b{k}") for k in range(2)]
    times = []

    class Recorder:
        def put(self, entity):
            times.append(env.now)

    machines = [Machine(env, MachineParams(f"m{k}", cycle_time=Constant(c), idle_state="starved"), streams=streams)
                for k, c in enumerate(cycles)]
    inlets = [None] + buffers
    outlets = buffers + [Recorder()]
    for m, i, o in zip(machines, inlets, outlets):
        env.process(machine_process(env, m, inlet=i, outlet=o))
    env.run(until=5000.0)
    gaps = {round(b - a, 12) for a, b in zip(times[5:], times[6:])}
    assert gaps == {5.0}
    first = machines[0].kpis()
    assert machines[0].recorder.durations()["blocked"] > 0.5 * env.now  # the fast first machine waits
    assert machines[2].recorder.durations()["starved"] > 0.3 * env.now
    assert first["oee"] == pytest.approx(first["availability"] * first["performance"] * first["quality"])


def test_deterministic_flow_line_gives_exactly_the_bottleneck_rate():
    env = simpy.Environment()
    rates = (6.0, 4.0, 5.5, 6.0)
    stations = [FlowStation(env, FlowStationParams(f"s{k}", rate=r, max_speed=1.0, motor=None),
                            streams=RandomStreams(0)) for k, r in enumerate(rates)]
    line = FlowLine(env, stations, [FlowBufferParams(f"b{k}", 100.0) for k in range(3)])
    line.changed()
    env.run(until=3600.0)
    k = stations[-1].kpis()
    assert k["throughput"] == 4.0  # exactly 1 / bottleneck cycle time (0.25 s)
    assert line.level == [100.0, 0.0, 0.0]
    for st in stations:
        ks = st.kpis()
        assert ks["oee"] == pytest.approx(ks["availability"] * ks["performance"] * ks["quality"], rel=1e-12)
    # the first station is blocked once its buffer is full; the downstream ones run at the bottleneck's pace
    d0 = stations[0].recorder.durations()
    assert d0["blocked"] == pytest.approx((3600.0 - 50.0) * (1 - 4.0 / 6.0), rel=1e-9)
    d2 = stations[2].recorder.durations()
    assert d2["running"] == pytest.approx(3600.0 * 4.0 / 5.5, rel=1e-9)


def test_failing_machine_oee_identity_and_mtbf():
    env = simpy.Environment()
    mode = FailureMode("wear", scale=500.0, shape=2.0, repair_time=Constant(50.0))
    m = Machine(env, MachineParams("m", cycle_time=Constant(4.0), failure_modes=(mode,)), streams=RandomStreams(3))
    env.process(machine_process(env, m))
    env.run(until=200_000.0)
    k = m.kpis()
    assert k["oee"] == pytest.approx(k["availability"] * k["performance"] * k["quality"], rel=1e-12)
    mean_life = 500.0 * math.gamma(1.5)
    assert k["mtbf"] == pytest.approx(mean_life, rel=0.05)
    assert k["mttr"] == pytest.approx(50.0, rel=0.01)  # a repair may be cut by the horizon
