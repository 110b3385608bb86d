"""Re-arming a met threshold fires at once (kept); wait_for_crossing waits for the signal to leave it first."""

import math

import numpy as np
import pytest

from sim.clock import CoSimulation
from sim.exceptions import ConfigurationError
from sim.physics import TANK, Fleet, StateEvent
from sim.processes.thresholds import wait_for_crossing

G = 9.80665
AREA, VALVE, CD = 1.0, 0.002, 0.6
H0, FULL, BELOW = 2.0, 1.5, 1.4  # start above 'full'; 'below_full' is the release, 0.1 m lower
INFLOW, SWITCH = 0.01, 400.0  # at SWITCH [s] the valve closes and INFLOW [m^3/s] fills the tank


def tank(cosim, events=None):
    fleet = Fleet(TANK, states=np.array([H0, 0.0]),
                  params={"cross_section": AREA, "valve_area": VALVE, "discharge_coefficient": CD},
                  inputs={"inflow": 0.0, "valve_opening": 1.0},
                  events=events or (StateEvent("full", "level", FULL, +1),
                                    StateEvent("below_full", "level", BELOW, -1)))
    return cosim.add_physics(fleet, name="tank")


def drain_time(h0, h1):
    """Torricelli: sqrt(h) falls linearly at k / 2, k = c_d a sqrt(2 g) / A."""
    k = CD * VALVE * math.sqrt(2 * G) / AREA
    return 2 * (math.sqrt(h0) - math.sqrt(h1)) / k


def run(proc):
    cosim = CoSimulation()
    component = tank(cosim)
    log = []

    def operator(env):
        yield env.timeout(SWITCH)
        component.set_input(0, "valve_opening", 0.0)
        component.set_input(0, "inflow", INFLOW)

    cosim.env.process(proc(cosim.env, component, log))
    cosim.env.process(operator(cosim.env))
    cosim.run(5000.0)
    return log


def test_plain_wait_for_fires_at_once_on_a_met_threshold():
    def proc(env, component, log):
        hit = yield component.wait_for(0, "full")
        log.append(hit.time)

    assert run(proc) == [0.0]


def test_wait_for_crossing_waits_until_the_signal_left_and_came_back():
    def proc(env, component, log):
        hit = yield from wait_for_crossing(component, 0, "full", release="below_full")
        log.append((hit.event.name, hit.time, component.output(0, "level")))

    assert drain_time(H0, BELOW) < SWITCH  # the tank drains below the release before it is refilled
    assert SWITCH < drain_time(H0, 0.0)  # ... and is not empty yet
    h_switch = (math.sqrt(H0) - CD * VALVE * math.sqrt(2 * G) / AREA * SWITCH / 2) ** 2
    expected = SWITCH + (FULL - h_switch) * AREA / INFLOW
    [(name, time, level)] = run(proc)
    assert name == "full" and time == pytest.approx(expected, abs=1e-3) and level == pytest.approx(FULL, abs=1e-6)


def test_wait_for_crossing_without_a_met_threshold_is_plain_wait_for():
    def proc(env, component, log):
        yield env.timeout(SWITCH - 1.0)  # level below 'full' now
        hit = yield from wait_for_crossing(component, 0, "full", release="below_full")
        log.append(hit.time)

    [time] = run(proc)
    assert time > SWITCH


@pytest.mark.parametrize("events, match", [
    ((StateEvent("full", "level", FULL, +1), StateEvent("below_full", "level", FULL, -1)), "strictly below"),
    ((StateEvent("full", "level", FULL, +1), StateEvent("below_full", "level", BELOW, +1)), "opposite direction"),
    ((StateEvent("full", "level", FULL, +1), StateEvent("below_full", "outflow", 0.001, -1)), "same output"),
    ((StateEvent("full", "level", FULL, 0), StateEvent("below_full", "level", BELOW, -1)), "direction 0"),
])
def test_a_release_that_cannot_mark_leaving_is_refused(events, match):
    cosim = CoSimulation()
    component = tank(cosim, events)
    gen = wait_for_crossing(component, 0, "full", release="below_full")
    with pytest.raises(ConfigurationError, match=match):
        next(gen)
