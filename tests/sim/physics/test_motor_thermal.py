import numpy as np
import pytest
from scipy.optimize import brentq

from sim.exceptions import ConfigurationError, NonFiniteStateError, ParameterBoundsError
from sim.physics import MOTOR_THERMAL, MOTOR_THERMAL_SPEC as SPEC, RK4, Fleet, StateEvent
from sim.physics.motor_thermal import motor_thermal_rhs
from tests.oracles import motor_step_response, rk4_python

pytestmark = pytest.mark.kernel

P0 = SPEC.vector("params")
X0 = np.array([300.0, 299.0])
T_AMB = 298.15


@pytest.mark.slow
def test_step_response_matches_analytic_solution_at_default_step():
    fleet = Fleet(MOTOR_THERMAL, states=X0, inputs={"motor_current": 30.0, "ambient_temperature": T_AMB})
    times = [60.0, 600.0, 3600.0, 6 * 3600.0]
    for t in times:
        fleet.advance(t)
        exact = motor_step_response(P0, X0, 30.0, T_AMB, t)[0]
        rise = exact - T_AMB
        rel_err = np.abs(fleet.states[0] - exact) / np.abs(rise)
        assert rel_err.max() < 1e-6, (t, rel_err)
    # steady state: T_w = T_a + R_cu I^2 (R_wh + R_ha)
    fleet.advance(48 * 3600.0)
    p = SPEC.as_dict("params", P0)
    t_ss = T_AMB + p["copper_loss_resistance"] * 30.0 ** 2 * (
        p["thermal_resistance_winding_housing"] + p["thermal_resistance_housing_ambient"])
    assert fleet.states[0, 0] == pytest.approx(t_ss, rel=1e-9)


def test_fleet_of_different_motors_matches_each_analytic_solution():
    rng = np.random.default_rng(3)
    n = 7
    params = np.tile(P0, (n, 1)) * rng.uniform(0.7, 1.3, size=(n, SPEC.np))
    currents = rng.uniform(0.0, 40.0, n)
    inputs = np.column_stack([currents, np.full(n, T_AMB)])
    fleet = Fleet(MOTOR_THERMAL, states=np.tile(X0, (n, 1)), params=params, inputs=inputs)
    fleet.advance(1800.0)
    for a in range(n):
        exact = motor_step_response(params[a], X0, currents[a], T_AMB, 1800.0)[0]
        np.testing.assert_allclose(fleet.states[a], exact, rtol=1e-10)


def test_kernel_agrees_with_pure_python_oracle():
    u = np.array([25.0, 290.0])
    fleet = Fleet(MOTOR_THERMAL, states=X0, inputs=u, integrator=RK4(max_step=2.0))
    fleet.advance(200.0)
    oracle = rk4_python(getattr(motor_thermal_rhs, "py_func", motor_thermal_rhs), X0, P0, u, 2.0, 100)
    np.testing.assert_allclose(fleet.states[0], oracle, rtol=1e-13)


def test_simulate_series_equals_piecewise_advance():
    t = np.arange(0.0, 601.0, 10.0)
    u = np.column_stack([np.where((t // 100) % 2 == 0, 30.0, 0.0), np.full(t.size, T_AMB)])
    y = MOTOR_THERMAL.simulate(X0, P0, t, u)
    fleet = Fleet(MOTOR_THERMAL, states=X0)
    for j in range(t.size - 1):
        fleet.inputs[0] = u[j]
        fleet.advance(t[j + 1])
        np.testing.assert_allclose(fleet.states[0], y[0, j + 1, :2], rtol=1e-12)


def test_trip_event_located_at_analytic_crossing_time():
    limit = 350.0
    events = [StateEvent("overtemperature_trip", "winding_temperature", limit, +1)]
    fleet = Fleet(MOTOR_THERMAL, states=X0, inputs={"motor_current": 30.0, "ambient_temperature": T_AMB},
                  events=events)
    hit = fleet.advance(48 * 3600.0)
    assert hit is not None and hit.asset == 0 and hit.event.name == "overtemperature_trip"
    exact = brentq(lambda t: motor_step_response(P0, X0, 30.0, T_AMB, t)[0, 0] - limit, 1.0, 48 * 3600.0,
                   xtol=1e-10)
    assert hit.time == pytest.approx(exact, abs=1e-6)
    assert fleet.time == hit.time
    assert fleet.states[0, 0] >= limit and fleet.states[0, 0] - limit < 1e-6
    # the same threshold does not fire again while the winding stays above it
    assert fleet.advance(hit.time + 600.0) is None


def test_fleet_stops_at_the_earliest_crossing_and_reports_the_asset():
    inputs = np.array([[20.0, T_AMB], [35.0, T_AMB], [30.0, T_AMB]])
    fleet = Fleet(MOTOR_THERMAL, states=np.tile(X0, (3, 1)), inputs=inputs,
                  events=[StateEvent("trip", "winding_temperature", 340.0, +1)])
    hit = fleet.advance(10 * 3600.0)
    assert hit.asset == 1
    exact = brentq(lambda t: motor_step_response(P0, X0, 35.0, T_AMB, t)[0, 0] - 340.0, 1.0, 36000.0, xtol=1e-10)
    assert hit.time == pytest.approx(exact, abs=1e-6)
    # the others were advanced to the same time and are still below the limit
    assert np.all(fleet.states[[0, 2], 0] < 340.0)
    np.testing.assert_allclose(fleet.states[2], motor_step_response(P0, X0, 30.0, T_AMB, hit.time)[0], rtol=1e-9)


def test_disarmed_event_does_not_fire_and_falling_event_fires_on_cooling():
    events = [StateEvent("trip", "winding_temperature", 340.0, +1), StateEvent("reset", "winding_temperature", 320.0, -1)]
    hot = np.array([360.0, 340.0])
    fleet = Fleet(MOTOR_THERMAL, states=hot, inputs={"motor_current": 0.0, "ambient_temperature": T_AMB},
                  events=events)
    fleet.arm(0, "trip", False)
    hit = fleet.advance(5 * 3600.0)
    assert hit.event.name == "reset"
    exact = brentq(lambda t: motor_step_response(P0, hot, 0.0, T_AMB, t)[0, 0] - 320.0, 0.0, 5 * 3600.0, xtol=1e-10)
    assert hit.time == pytest.approx(exact, abs=1e-6)


def test_snapshot_restore_reproduces_the_trajectory():
    fleet = Fleet(MOTOR_THERMAL, n=2, states=X0, inputs={"motor_current": 28.0, "ambient_temperature": T_AMB})
    fleet.advance(100.0)
    snap = fleet.snapshot()
    fleet.advance(1000.0)
    first = fleet.states.copy()
    fleet.restore(snap)
    assert fleet.time == 100.0
    fleet.advance(1000.0)
    np.testing.assert_array_equal(fleet.states, first)


def test_bad_input_names_asset_variable_value_and_time():
    with pytest.raises(ParameterBoundsError, match=r"heat_capacity_housing.*asset 1.*-5"):
        params = np.tile(P0, (2, 1))
        params[1, 3] = -5.0
        Fleet(MOTOR_THERMAL, params=params)
    with pytest.raises(NonFiniteStateError) as err:
        Fleet(MOTOR_THERMAL, states=np.array([[300.0, 300.0], [np.nan, 300.0]]))
    assert err.value.asset == 1 and err.value.variable == "winding_temperature"
    fleet = Fleet(MOTOR_THERMAL)
    with pytest.raises(NonFiniteStateError, match="motor_current"):
        fleet.set_input(0, "motor_current", float("inf"))
    with pytest.raises(ConfigurationError, match="backwards"):
        fleet.advance(10.0)
        fleet.advance(5.0)
    with pytest.raises(ConfigurationError, match="max_step"):
        RK4(max_step=0.0)
    with pytest.raises(ConfigurationError, match="no input named 'current'"):
        fleet.set_input(0, "current", 3.0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_is_reported_with_asset_and_time():
    # a negative heat capacity is outside the bounds, so make the model blow up through a huge current instead
    fleet = Fleet(MOTOR_THERMAL, n=2, inputs={"motor_current": 1e4, "ambient_temperature": T_AMB},
                  params={"heat_capacity_winding": 1.0, "thermal_resistance_winding_housing": 1e-5},
                  integrator=RK4(max_step=1.0))
    with pytest.raises(NonFiniteStateError) as err:
        fleet.advance(1e4)
    assert err.value.asset == 0 and err.value.variable in ("winding_temperature", "housing_temperature")
    assert np.isfinite(err.value.time)
