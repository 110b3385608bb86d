"""The co-simulation clock terminates: located events, re-arms, zero-length steps, the horizon (issue 13 item 1).

Every run here goes through :class:`StepGuard`, an environment that fails the
test after a bounded number of SimPy steps, so a clock that spins at one
instant fails fast instead of hanging the test session.
"""

import dataclasses
import math

import numpy as np
import pytest

from sim.clock import CoSimulation
from sim.exceptions import ClockStalledError, ConfigurationError
from sim.physics import MOTOR_THERMAL, TANK, Fleet, StateEvent
from tests.helpers import StepGuard

G = 9.80665


def tank_fleet(*, cross_section, valve_area, discharge_coefficient, level0, full, low):
    return Fleet(TANK, states=np.array([level0, 0.0]),
                 params={"cross_section": cross_section, "valve_area": valve_area,
                         "discharge_coefficient": discharge_coefficient},
                 inputs={"inflow": 0.0, "valve_opening": 0.0},
                 events=(StateEvent("full", "level", full, +1), StateEvent("low", "level", low, -1)))


def fill_and_drain(env, tank, inflow, cycles, log):
    """Fill with the valve shut until 'full', then open the valve, stop the inflow and re-arm 'low'."""
    for _ in range(cycles):
        tank.set_input(0, "inflow", inflow)
        tank.set_input(0, "valve_opening", 0.0)
        hit = yield tank.wait_for(0, "full")
        log.append(("full", env.now, hit.time, tank.fleet.time))
        tank.set_input(0, "inflow", 0.0)
        tank.set_input(0, "valve_opening", 1.0)
        hit = yield tank.wait_for(0, "low")
        log.append(("low", env.now, hit.time, tank.fleet.time))


def analytic_event_times(*, cross_section, valve_area, discharge_coefficient, level0, full, low, inflow, cycles,
                         start=0.0):
    """Exact event times [s]: linear filling ``A dh/dt = Q_in``, Torricelli draining ``sqrt(h)`` linear in t."""
    k = discharge_coefficient * valve_area * math.sqrt(2 * G) / cross_section
    drain = 2 * (math.sqrt(full) - math.sqrt(low)) / k
    times, t, level = [], start, level0
    for _ in range(cycles):
        t += (full - level) * cross_section / inflow
        times.append(t)
        t += drain
        times.append(t)
        level = low
    return times


# Round numbers for which today's (pre-fix) clock spun forever at t = 488.33 s: the drain's end was located at
# fleet time T, but env.timeout(T - now) landed one rounding step below T, the process re-armed 'full' there and
# the master's wake-ups rescheduled each other without end.
SPUN = dict(cross_section=1.2, valve_area=0.003, discharge_coefficient=0.65, level0=0.6, full=3.3, low=0.7)


def run_fill_and_drain(tank_args, inflow, cycles, *, horizon=None, env=None, lookahead=3600.0):
    env = env if env is not None else StepGuard()
    cosim = CoSimulation(env)
    tank = cosim.add_physics(tank_fleet(**tank_args), lookahead=lookahead)
    log = []
    env.process(fill_and_drain(env, tank, inflow, cycles, log))
    expected = analytic_event_times(**tank_args, inflow=inflow, cycles=cycles, start=env.now)
    cosim.run(horizon if horizon is not None else expected[-1] + 100.0)
    return log, expected, tank


def assert_on_one_clock(log):
    """The clock, the hit and the fleet agree exactly at every event (one source of truth for 'now')."""
    for name, now, hit_time, fleet_time in log:
        assert now == hit_time == fleet_time, (name, now, hit_time, fleet_time)


def test_rearming_at_a_located_crossing_terminates():
    log, expected, _ = run_fill_and_drain(SPUN, inflow=0.015, cycles=3)
    assert [e[0] for e in log] == ["full", "low"] * 3
    assert_on_one_clock(log)
    np.testing.assert_allclose([e[1] for e in log], expected, rtol=1e-9, atol=1e-7)


def test_one_hundred_tank_threshold_runs_terminate():
    """The issue's reproduction: 100 random tanks filled to 'full', drained to 'low' (4 of 100 spun before)."""
    rng = np.random.default_rng(13)
    for _ in range(100):
        low = rng.uniform(0.1, 1.0)
        args = dict(cross_section=rng.uniform(0.5, 5.0), valve_area=rng.uniform(5e-4, 5e-3),
                    discharge_coefficient=rng.uniform(0.5, 0.9), low=low, full=low + rng.uniform(0.5, 3.0),
                    level0=rng.uniform(0.0, low))
        log, expected, _ = run_fill_and_drain(args, inflow=rng.uniform(1e-3, 5e-2), cycles=3)
        assert len(log) == 6
        assert_on_one_clock(log)
        np.testing.assert_allclose([e[1] for e in log], expected, rtol=1e-9, atol=1e-6)


# ------------------------------------------------------------------------------------------------ the watchdog
def filled_tank(cosim, name="tank"):
    """A tank standing above its 'full' level, so that 'full' is already met whenever it is armed."""
    return cosim.add_physics(tank_fleet(cross_section=1.0, valve_area=0.002, discharge_coefficient=0.6, level0=2.0,
                                        full=1.5, low=0.5), name=name)


def test_rearming_a_met_threshold_fires_at_once_and_time_goes_on():
    cosim = CoSimulation(StepGuard())
    tank = filled_tank(cosim)
    times = []

    def proc(env):
        for _ in range(5):  # by design: already met, so each wait succeeds at once, at the same instant
            hit = yield tank.wait_for(0, "full")
            times.append((env.now, hit.time))
        yield env.timeout(10.0)
        hit = yield tank.wait_for(0, "full")
        times.append((env.now, hit.time))

    cosim.env.process(proc(cosim.env))
    cosim.run(100.0)
    assert times == [(0.0, 0.0)] * 5 + [(10.0, 10.0)]
    assert len(tank.history) == 6


def test_rearming_a_met_threshold_forever_raises_clock_stalled():
    cosim = CoSimulation(StepGuard(initial_time=42.5), max_stalled_wakes=50)
    tank = filled_tank(cosim)

    def proc(env):
        while True:
            yield tank.wait_for(0, "full")

    cosim.env.process(proc(cosim.env))
    with pytest.raises(ClockStalledError, match=r"stuck at t = 42\.5 s: 51 wake-ups .*tank\[0\]\.full .*let time "
                                                r"pass before re-arming") as info:
        cosim.run(100.0)
    assert (info.value.time, info.value.wakes) == (42.5, 51)
    assert "tank[0].full (level already met)" in info.value.events


def test_two_masters_on_one_environment_raise_clock_stalled_instead_of_spinning():
    env = StepGuard()
    first, second = CoSimulation(env), CoSimulation(env)
    tanks = [c.add_physics(tank_fleet(cross_section=1.0, valve_area=0.002, discharge_coefficient=0.6, level0=0.2,
                                      full=1.5, low=0.1), lookahead=60.0) for c in (first, second)]
    for tank in tanks:
        tank.set_input(0, "inflow", 0.01)
        tank.wait_for(0, "full")
    with pytest.raises(ClockStalledError, match=r"two CoSimulation objects share one simpy.Environment") as info:
        first.run(1000.0)
    assert info.value.wakes == 1001 and "tank[0].full" in info.value.events


def test_max_stalled_wakes_must_be_a_positive_integer():
    with pytest.raises(ConfigurationError, match="max_stalled_wakes = 0 must be an integer >= 1"):
        CoSimulation(max_stalled_wakes=0)


# ------------------------------------------------------------------------------------- zero-length steps, horizon
def test_a_lookahead_below_the_clock_resolution_still_advances():
    """At t = 1e17 s a step of the clock is 16 s, so now + 1 s == now: every wake-up must still move time on."""
    start = 1e17
    cosim = CoSimulation(StepGuard(initial_time=start))
    motor = cosim.add_physics(Fleet(MOTOR_THERMAL, states=np.array([300.0, 299.0]), time=start,
                                    events=(StateEvent("hot", "winding_temperature", 1e4, +1),)), lookahead=1.0)
    motor.wait_for(0, "hot")
    cosim.run(start + 1600.0)
    assert cosim.env.now == motor.fleet.time == start + 1600.0
    assert cosim.n_advances == 100  # one clock step each


def test_zero_delays_and_zero_length_runs_around_rearms_terminate():
    log, _, tank = run_fill_and_drain(SPUN, inflow=0.015, cycles=1)
    cosim = tank.master
    now = cosim.env.now

    def proc(env):
        for _ in range(3):
            yield env.timeout(0.0)
            tank.set_input(0, "inflow", 0.015)
            tank.set_input(0, "valve_opening", 0.0)
            tank.wait_for(0, "full")
            tank.cancel_wait(0, "full")
        yield tank.wait_for(0, "full")
        log.append(("full", env.now, None, tank.fleet.time))

    cosim.env.process(proc(cosim.env))
    cosim.run(now)  # zero-length run: nothing happens
    assert cosim.env.now == now and len(log) == 2
    cosim.run(now + 1000.0)
    assert [e[0] for e in log] == ["full", "low", "full"]
    assert log[-1][1] == log[-1][3]


def first_full_time(**run_args):
    log, _, _ = run_fill_and_drain(SPUN, inflow=0.015, cycles=1, **run_args)
    return log[0][1]


def test_an_event_exactly_at_the_horizon_fires_once_at_the_horizon():
    horizon = first_full_time()
    env = StepGuard()
    log, _, tank = run_fill_and_drain(SPUN, inflow=0.015, cycles=1, horizon=horizon, env=env)
    # the run stops exactly at the horizon; the crossing there fires once, in this run or (like SimPy's events at
    # run(until)'s time) in the next, at the horizon to round-off (the last step to the horizon is a shorter one)
    assert env.now == tank.fleet.time == horizon
    tank.master.run(horizon + 5000.0)
    assert [e[0] for e in log] == ["full", "low"] and [h.event.name for h in tank.history] == ["full", "low"]
    assert log[0][1] == pytest.approx(horizon, abs=1e-9)
    assert_on_one_clock(log)


def test_an_event_at_the_horizon_cancelled_before_the_next_run_does_not_fire():
    horizon = first_full_time()
    log, _, tank = run_fill_and_drain(SPUN, inflow=0.015, cycles=1, horizon=horizon)
    tank.cancel_wait(0, "full")
    tank.master.run(horizon + 5000.0)
    assert log == [] and len(tank.history) == 0


def test_a_crossing_no_delay_reaches_is_moved_onto_the_clock():
    """A located time that SimPy's now + delay cannot hit (a rounding tie) fires one float below it, with the fleet."""
    now, tie = 2.4375929982791575, 237.4223143556807  # every now + delay rounds away from tie

    class TieFleet(Fleet):
        def advance(self, t_end):
            hit = super().advance(t_end)
            if hit is None:
                return None
            self.time = tie  # pretend the crossing was located exactly at the tie
            return dataclasses.replace(hit, time=tie)

    env = StepGuard(initial_time=now)
    cosim = CoSimulation(env)
    fleet = TieFleet(TANK, states=np.array([0.5, 0.0]), params={"cross_section": 1.0}, time=now,
                     inputs={"inflow": 0.01, "valve_opening": 0.0}, events=(StateEvent("full", "level", 2.85, +1),))
    tank = cosim.add_physics(fleet)
    seen = []

    def proc(env):
        hit = yield tank.wait_for(0, "full")
        seen.append((env.now, hit.time, tank.fleet.time))
        yield tank.wait_for(0, "full")  # re-armed at the moved crossing: met, fires at once
        seen.append((env.now,))

    env.process(proc(env))
    cosim.run(300.0)
    below = math.nextafter(tie, 0.0)
    assert seen == [(below, below, below), (below,)]
