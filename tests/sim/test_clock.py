"""Co-simulation master: physics advanced from event to event, state events as SimPy events."""

import numpy as np
import pytest
import simpy
from scipy.optimize import brentq

from sim.clock import CoSimulation
from sim.exceptions import ConfigurationError, SimulationError
from sim.physics import MOTOR_THERMAL, RK4, Fleet, StateEvent
from tests.oracles import motor_step_response

TRIP = StateEvent("hot", "winding_temperature", 340.0, +1)
COOL = StateEvent("cool", "winding_temperature", 320.0, -1)
P = MOTOR_THERMAL.spec.vector("params", None)


def exact_crossing(current, level=340.0, x0=(300.0, 299.0), t_max=20000.0):
    """Time [s] the exact solution (matrix exponential) reaches *level*."""
    return brentq(lambda t: motor_step_response(P, list(x0), current, 298.15, [t])[0, 0] - level, 0.0, t_max,
                  xtol=1e-9)


def motor_fleet(n=1, **kw):
    return Fleet(MOTOR_THERMAL, n=n, states=np.array([300.0, 299.0]), events=(TRIP, COOL), **kw)


def cycling(env, motor, asset, log, current=40.0):
    """Bang-bang: heat until 'hot', cool until 'cool', forever."""
    while True:
        motor.set_input(asset, "motor_current", current)
        hit = yield motor.wait_for(asset, "hot")
        log.append(("hot", asset, env.now, motor.output(asset, "winding_temperature")))
        motor.set_input(asset, "motor_current", 0.0)
        yield motor.wait_for(asset, "cool")
        log.append(("cool", asset, env.now, motor.output(asset, "winding_temperature")))


def run_cycling(lookahead, horizon=6 * 3600.0, noise=None):
    cosim = CoSimulation()
    motor = cosim.add_physics(motor_fleet(2), lookahead=lookahead)
    log = []
    cosim.env.process(cycling(cosim.env, motor, 0, log))
    cosim.env.process(cycling(cosim.env, motor, 1, log, current=35.0))
    if noise:
        cosim.env.process(noise(cosim.env))
    cosim.run(horizon)
    return log, motor


def test_state_events_fire_at_the_crossing_and_outputs_sit_on_the_level():
    log, motor = run_cycling(3600.0)
    assert len(log) > 10
    for name, _, _, value in log:
        assert value == pytest.approx(340.0 if name == "hot" else 320.0, abs=1e-6)
    # the first crossing agrees with the exact solution of the linear model
    first = next(e for e in log if e[0] == "hot" and e[1] == 0)
    assert first[2] == pytest.approx(exact_crossing(40.0), abs=1e-3)


@pytest.mark.parametrize("lookahead", [1.0, 60.0, 86400.0])
def test_results_do_not_depend_on_the_lookahead(lookahead):
    ref, m_ref = run_cycling(600.0)
    log, m = run_cycling(lookahead)
    assert [e[:2] for e in log] == [e[:2] for e in ref]
    np.testing.assert_allclose([e[2] for e in log], [e[2] for e in ref], rtol=0, atol=1e-7)
    np.testing.assert_allclose(m.fleet.states, m_ref.fleet.states, rtol=1e-12)


def test_unrelated_events_do_not_change_the_trajectory():
    def noise(env):
        while True:
            yield env.timeout(7.3)

    ref, _ = run_cycling(3600.0)
    log, _ = run_cycling(3600.0, noise=noise)
    np.testing.assert_allclose([e[2] for e in log], [e[2] for e in ref], rtol=0, atol=1e-6)


def test_physics_advances_once_per_instant_not_per_tick():
    cosim = CoSimulation()
    motor = cosim.add_physics(motor_fleet(1), lookahead=3600.0)
    log = []
    cosim.env.process(cycling(cosim.env, motor, 0, log))
    cosim.run(24 * 3600.0)
    # one advance per discrete instant (crossings, input changes) or per lookahead, never per step
    assert cosim.n_advances <= 2 * len(log) + 24 + 5


def test_unwatched_fleets_follow_lazily_and_exactly():
    cosim = CoSimulation()
    fleet = Fleet(MOTOR_THERMAL, states=np.array([300.0, 299.0]), integrator=RK4(max_step=0.5))
    motor = cosim.add_physics(fleet)

    def proc(env):
        motor.set_input(0, "motor_current", 25.0)
        yield env.timeout(1000.0)

    cosim.env.process(proc(cosim.env))
    cosim.run(1000.0)
    assert cosim.n_advances == 0
    exact = motor_step_response(P, [300.0, 299.0], 25.0, 298.15, [1000.0])[0]
    np.testing.assert_allclose(motor.fleet.states[0], exact, rtol=1e-9)


def test_two_fleets_the_earliest_crossing_wins():
    cosim = CoSimulation()
    fast = cosim.add_physics(Fleet(MOTOR_THERMAL, states=np.array([300.0, 299.0]), events=(TRIP,),
                                   inputs={"motor_current": 60.0}), name="fast")
    slow = cosim.add_physics(Fleet(MOTOR_THERMAL, states=np.array([300.0, 299.0]), events=(TRIP,),
                                   inputs={"motor_current": 30.0}), name="slow")
    times = {}

    def watch(env, comp, key):
        yield comp.wait_for(0, "hot")
        times[key] = env.now

    cosim.env.process(watch(cosim.env, slow, "slow"))
    cosim.env.process(watch(cosim.env, fast, "fast"))
    cosim.run(7200.0)
    assert times["fast"] < times["slow"]
    assert times["fast"] == pytest.approx(exact_crossing(60.0), abs=1e-3)
    assert times["slow"] == pytest.approx(exact_crossing(30.0), abs=1e-3)
    assert fast.fleet.time == slow.fleet.time == 7200.0


def test_set_state_resets_wear_and_components_need_unique_names():
    cosim = CoSimulation()
    motor = cosim.add_physics(motor_fleet(1))
    motor.set_state(0, "winding_temperature", 350.0)
    assert motor.output(0, "winding_temperature") == 350.0
    with pytest.raises(ConfigurationError, match="already attached"):
        cosim.add_physics(motor_fleet(1))
    with pytest.raises(ConfigurationError, match="lookahead"):
        cosim.add_physics(motor_fleet(1), lookahead=0.0, name="other")
    with pytest.raises(ConfigurationError, match="finite"):
        motor.set_state(0, "winding_temperature", float("nan"))


def test_level_already_met_fires_at_once_and_run_cannot_go_back():
    cosim = CoSimulation(simpy.Environment(initial_time=10.0))
    motor = cosim.add_physics(Fleet(MOTOR_THERMAL, states=np.array([350.0, 320.0]), events=(TRIP,), time=10.0))
    ev = motor.wait_for(0, "hot")
    assert ev.triggered and ev.value.time == 10.0
    with pytest.raises(SimulationError, match="before the current time"):
        cosim.run(5.0)
