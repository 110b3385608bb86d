"""The co-simulation clock terminates: located events, re-arms, zero-length steps, the horizon (issue 13 item 1).

Every run here goes through :class:`StepGuard`, an environment that fails the
test after a bounded number of SimPy steps, so a clock that spins at one
instant fails fast instead of hanging the test session.
"""

import math

import numpy as np
import pytest
import simpy

from sim.clock import CoSimulation
from sim.exceptions import ClockStalledError, ConfigurationError
from sim.physics import MOTOR_THERMAL, TANK, Fleet, StateEvent

G = 9.80665


class StepGuard(simpy.Environment):
    """A ``simpy.Environment`` that fails after *max_steps* steps (a spinning clock never ends a run)."""

    def __init__(self, initial_time=0.0, max_steps=20_000):
        super().__init__(initial_time)
        self.max_steps = max_steps
        self.n_steps = 0

    def step(self):
        self.n_steps += 1
        if self.n_steps > self.max_steps:
            raise AssertionError(f"the clock spun: {self.n_steps} SimPy steps, time stuck near t = {self.now!r} s")
        super().step()


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
