"""Property tests of the co-simulation clock: random thresholds and re-arms always terminate, on time.

A tank is driven through a random list of target levels: above the current
level it fills (valve shut, constant inflow: the level is linear in time),
below it drains (no inflow, valve open: Torricelli, ``sqrt(h)`` is linear in
time), and a target equal to the current level re-arms the event just fired.
Both phases have closed-form event times, so every located event is checked
against the analytic time, and the clock, the hit and the fleet must agree
exactly at each one.
"""

import math

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sim.clock import CoSimulation, _delay_to
from sim.physics import TANK, Fleet, StateEvent
from tests.helpers import StepGuard

G = 9.80665

LEVELS = st.lists(st.floats(0.05, 4.0), min_size=2, max_size=4, unique=True)


@st.composite
def scenarios(draw):
    levels = sorted(draw(LEVELS))
    return dict(
        start=draw(st.one_of(st.just(0.0), st.floats(0.0, 1e5))),
        cross_section=draw(st.floats(0.5, 5.0)),
        valve_area=draw(st.floats(1e-3, 5e-3)),
        discharge_coefficient=draw(st.floats(0.5, 0.9)),
        inflow=draw(st.floats(5e-3, 5e-2)),
        level0=draw(st.floats(0.01, 4.0)),
        levels=levels,
        targets=draw(st.lists(st.integers(0, len(levels) - 1), min_size=2, max_size=8)),
        lookahead=draw(st.sampled_from([60.0, 600.0, 3600.0, 1e6]) | st.floats(30.0, 1e4)),
        noise_period=draw(st.none() | st.floats(10.0, 200.0)),
    )


def analytic_times(sc):
    """Event times [s] of the script: fill ``dh/dt = Q_in / A``, drain ``d sqrt(h)/dt = -k / 2``."""
    k = sc["discharge_coefficient"] * sc["valve_area"] * math.sqrt(2 * G) / sc["cross_section"]
    t, level, times = sc["start"], sc["level0"], []
    for i in sc["targets"]:
        target = sc["levels"][i]
        if target > level:
            t += (target - level) * sc["cross_section"] / sc["inflow"]
        elif target < level:
            t += 2 * (math.sqrt(level) - math.sqrt(target)) / k
        times.append(t)
        level = target
    return times


def run_script(sc):
    env = StepGuard(sc["start"], max_steps=200_000)
    cosim = CoSimulation(env)
    events = [StateEvent(f"{d}{i}", "level", h, s) for i, h in enumerate(sc["levels"])
              for d, s in (("up", +1), ("down", -1))]
    fleet = Fleet(TANK, states=np.array([sc["level0"], 0.0]), events=events, time=sc["start"],
                  params={"cross_section": sc["cross_section"], "valve_area": sc["valve_area"],
                          "discharge_coefficient": sc["discharge_coefficient"]},
                  inputs={"inflow": 0.0, "valve_opening": 0.0})
    tank = cosim.add_physics(fleet, lookahead=sc["lookahead"])
    log = []

    def script(env):
        level, name = sc["level0"], None
        for i in sc["targets"]:
            target = sc["levels"][i]
            if target != level:
                filling = target > level
                tank.set_input(0, "inflow", sc["inflow"] if filling else 0.0)
                tank.set_input(0, "valve_opening", 0.0 if filling else 1.0)
                name = f"{'up' if filling else 'down'}{i}"
            hit = yield tank.wait_for(0, name)  # same target: re-arm the event that just fired
            log.append((env.now, hit.time, tank.fleet.time))
            level = target

    def noise(env):
        while True:
            yield env.timeout(sc["noise_period"])

    env.process(script(env))
    if sc["noise_period"] is not None:
        env.process(noise(env))
    expected = analytic_times(sc)
    horizon = expected[-1] + 10.0
    cosim.run(horizon)
    return log, expected, env, tank, horizon


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sc=scenarios())
def test_random_thresholds_and_rearms_terminate_at_the_analytic_times(sc):
    # a first target equal to the start level has nothing to re-arm: start just off it
    if sc["levels"][sc["targets"][0]] == sc["level0"]:
        sc["level0"] = sc["level0"] * (1 + 1e-6)
    log, expected, env, tank, horizon = run_script(sc)
    assert len(log) == len(expected)
    for now, hit_time, fleet_time in log:
        assert now == hit_time  # the clock stands where the event was located
        assert fleet_time == now
    # the clock adds no error; what is left is RK4's at 1 s steps on Torricelli's sqrt(h) (up to ~1.2e-6 s seen
    # after several low-level drains) and the event locator's tolerance
    np.testing.assert_allclose([e[0] for e in log], expected, rtol=1e-9, atol=1e-5)
    assert env.now == horizon == tank.fleet.time


TIMES = st.floats(0.0, 1e12) | st.floats(0.0, 10.0)


@settings(max_examples=500, deadline=None)
@given(now=TIMES, span=st.floats(0.0, 1e9) | st.floats(0.0, 1e3) | st.floats(0.0, 1e-3))
def test_delays_land_on_absolute_times_or_the_step_below(now, span):
    at = now + span
    delay, landing = _delay_to(now, at)
    assert delay >= 0.0
    assert landing == now + delay  # the sum SimPy computes
    event("rounding tie" if landing != at else "exact")
    if landing != at:  # a rounding tie: no delay lands on *at*; take the float just below it
        assert landing == math.nextafter(at, 0.0) > now
        low = high = at - now
        for _ in range(8):
            low, high = math.nextafter(low, 0.0), math.nextafter(high, math.inf)
            assert now + low != at and now + high != at


@st.composite
def rounding_ties(draw):
    """(now, at) with no float delay landing on *at*: *at* in [136, 256) has an odd mantissa and *now* in [2, 4)
    an odd number of half steps of *at*, so ``now + delay`` is always halfway between two floats."""
    at = 128.0 + (2 * draw(st.integers(2 ** 47, 2 ** 51 - 1)) + 1) * 2.0 ** -45
    now = (2 * draw(st.integers(2 ** 46, 2 ** 47 - 1)) + 1) * 2.0 ** -46
    return now, at


@settings(max_examples=200, deadline=None)
@given(times=rounding_ties())
def test_a_rounding_tie_lands_on_the_float_just_below_the_target(times):
    now, at = times
    delay, landing = _delay_to(now, at)
    assert landing == now + delay == math.nextafter(at, 0.0)


def test_simpy_misses_where_the_tie_lands_below():
    # 2.4375929982791575 + d rounds away from 237.4223143556807 for every float d (SimPy's sum lands a step above)
    now, at = 2.4375929982791575, 237.4223143556807
    assert now + (at - now) != at
    assert _delay_to(now, at)[1] == math.nextafter(at, 0.0)


def test_run_until_stops_exactly_at_until():
    # pairs where SimPy's own now + (until - now) lands one rounding step off until
    for now, until in ((2.4375929982791575, 237.4223143556807), (9.730498312350107, 942.7954569810848)):
        cosim = CoSimulation()
        motor = cosim.add_physics(Fleet(TANK))
        cosim.run(now)
        cosim.run(until)
        assert cosim.env.now == until == motor.fleet.time
