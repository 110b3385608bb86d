"""Physics errors (issue 13 item 8): each names the culprit truthfully - value, rule and fix."""

import math

import numpy as np
import pytest

import sim.exceptions as errors
from sim.physics import MOTOR_THERMAL, PUMP, RK4, DormandPrince, Fleet
from tests.models_for_tests import BLOWUP, STIFF

pytestmark = pytest.mark.kernel

SPEC = MOTOR_THERMAL.spec


def motor_inputs(k, **over):
    return np.tile(SPEC.vector("inputs", over), (k, 1))


# ------------------------------------------------------------------------------------ divergence
@pytest.mark.parametrize("integrator", [RK4(max_step=0.01), RK4(max_step=0.3)], ids=["rk4-fine", "rk4-coarse"])
def test_a_fleet_divergence_carries_the_offending_and_the_last_finite_value(integrator):
    fleet = Fleet(BLOWUP, n=3, states=np.array([[0.1], [1.0], [0.2]]), integrator=integrator)
    with pytest.raises(errors.DivergenceError) as info:
        fleet.advance(5.0)
    err = info.value
    assert (err.asset, err.variable) == (1, "x")
    assert not math.isfinite(err.value)  # the value it took, not a placeholder NaN
    assert math.isfinite(err.last_finite_value) and err.last_finite_value > 1.0
    assert err.last_finite_time < err.time <= err.last_finite_time + integrator.max_step + 1e-12
    assert 0.9 < err.time < 2.0  # x(0) = 1 blows up at t = 1 s; a coarse step overshoots it
    assert f"{err.last_finite_value}" in str(err) and "asset 1" in str(err)


def test_a_simulate_divergence_carries_the_offending_and_the_last_finite_value():
    t = np.linspace(0.0, 2.0, 5)
    with pytest.raises(errors.DivergenceError) as info:
        BLOWUP.simulate(np.array([[0.1], [1.0]]), [0.0], t, np.zeros((5, 1)), integrator=RK4(max_step=0.01))
    err = info.value
    assert (err.asset, err.variable) == (1, "x")
    assert not math.isfinite(err.value) and math.isfinite(err.last_finite_value)
    assert err.last_finite_time < err.time and 0.9 < err.time < 1.1


def test_a_dormand_prince_failure_names_the_state():
    with pytest.raises((errors.DivergenceError, errors.StiffnessError)) as info:
        Fleet(BLOWUP, states=np.array([1.0]), integrator=DormandPrince()).advance(5.0)
    err = info.value
    assert err.variable == "x" and math.isfinite(err.time) and not math.isnan(err.value)
    assert "'x'" in str(err)


# ------------------------------------------------------------------------------------ stiffness and step budgets
def test_a_collapsing_step_names_the_state_with_the_largest_error():
    # x' = x^2 from x = 1: DOPRI5 shrinks its step towards the singularity at t = 1 s until it collapses
    with pytest.raises(errors.StiffnessError) as info:
        BLOWUP.simulate(np.array([1.0]), [0.0], [0.0, 2.0], np.zeros((2, 1)),
                        integrator=DormandPrince(rtol=1e-6, atol=1e-300))
    err = info.value
    assert err.variable == "x" and err.asset == 0 and 0.99 < err.time < 1.01
    assert "'x'" in str(err) and "BDF" in str(err)


def test_dormand_prince_running_out_of_steps_names_the_limiting_state_and_the_budget():
    with pytest.raises(errors.StepBudgetError) as info:
        STIFF.simulate(np.array([1.0, 0.0]), [1e4], [0.0, 5.0], np.zeros((2, 1)),
                       integrator=DormandPrince(max_steps=200))
    err = info.value
    assert err.variable == "x2" and err.max_steps == 200  # the fast mode limits the explicit step
    assert "max_steps=200" in str(err) and "max_steps=400" in str(err)


def test_rk4_with_a_step_too_small_for_its_budget_raises_instead_of_taking_one_step():
    fleet = Fleet(MOTOR_THERMAL, integrator=RK4(max_step=1e-30))
    before = fleet.states.copy()
    with pytest.raises(errors.StepBudgetError, match=r"1e\+30 steps.*max_steps = 100000000.*RK4\(max_step="):
        fleet.advance(1.0)
    np.testing.assert_array_equal(fleet.states, before)
    assert fleet.time == 0.0
    with pytest.raises(errors.StepBudgetError, match="max_steps"):
        MOTOR_THERMAL.simulate(SPEC.vector("states"), SPEC.vector("params"), [0.0, 1.0], motor_inputs(2),
                               integrator=RK4(max_step=1e-30))


def test_rk4_step_budget_bounds_every_call():
    fleet = Fleet(MOTOR_THERMAL, integrator=RK4(max_step=1.0, max_steps=10))
    fleet.advance(10.0)  # ten steps: inside the budget
    with pytest.raises(errors.StepBudgetError, match=r"11 steps.*max_steps = 10.*max_steps=22"):
        fleet.advance(21.0)
    with pytest.raises(errors.StepBudgetError):
        MOTOR_THERMAL.simulate(SPEC.vector("states"), SPEC.vector("params"), np.arange(0.0, 31.0, 10.0),
                               motor_inputs(4), integrator=RK4(max_step=1.0, max_steps=25))


@pytest.mark.parametrize("settings", [{"max_steps": 0}, {"max_steps": 2.5}, {"max_step": math.nan},
                                      {"event_time_tol": math.inf}])
def test_rk4_settings_are_validated(settings):
    with pytest.raises(errors.ConfigurationError, match=next(iter(settings))):
        RK4(**settings)


# ------------------------------------------------------------------------------------ parameters
def test_a_parameter_out_of_bounds_names_asset_variable_value_and_bounds_in_plain_numbers():
    params = np.tile(PUMP.spec.vector("params"), (2, 1))
    params[1, PUMP.spec.index("params", "head_coefficient_0")] = -3000.0
    with pytest.raises(errors.ParameterBoundsError) as info:
        Fleet(PUMP, params=params)
    err = info.value
    assert (err.asset, err.variable, err.value, err.bounds) == (1, "head_coefficient_0", -3000.0, (0.1, 1e4))
    assert "np.float64" not in str(err) and "is -3000.0 m" in str(err) and "[0.1, 10000.0]" in str(err)


# ------------------------------------------------------------------------------------ end times
@pytest.mark.parametrize("t_end", [math.inf, math.nan, -1.0])
def test_an_invalid_end_time_is_blamed_on_the_time(t_end):
    fleet = Fleet(MOTOR_THERMAL)
    with pytest.raises(errors.InvalidTimeError, match="t_end") as info:
        fleet.advance(t_end)
    assert "parameters" not in str(info.value)
    assert fleet.time == 0.0


def test_non_finite_sample_times_are_blamed_on_the_times():
    with pytest.raises(errors.InvalidTimeError, match=r"t\[1\] = inf"):
        MOTOR_THERMAL.simulate(SPEC.vector("states"), SPEC.vector("params"), [0.0, math.inf], motor_inputs(2))


# ------------------------------------------------------------------------------------ inputs
@pytest.mark.parametrize("current", [1e200, -50.0])
def test_an_input_out_of_bounds_is_blamed_on_the_input(current):
    rule = r"input 'motor_current' of asset 0 is .* A.*outside its bounds \[0.0, 10000.0\] A"
    with pytest.raises(errors.InputBoundsError, match=rule) as info:
        Fleet(MOTOR_THERMAL, inputs={"motor_current": current})
    err = info.value
    assert (err.asset, err.variable, err.value, err.bounds) == (0, "motor_current", current, (0.0, 1e4))
    assert "parameters" not in str(err)
    fleet = Fleet(MOTOR_THERMAL, n=2)
    with pytest.raises(errors.InputBoundsError, match="motor_current"):
        fleet.set_input(1, "motor_current", current)
    fleet.inputs[1, 0] = current  # written directly: checked when the fleet advances
    with pytest.raises(errors.InputBoundsError, match=r"asset 1 .* at t = 0.0 s") as info:
        fleet.advance(10.0)
    assert info.value.asset == 1 and fleet.time == 0.0
    u = motor_inputs(3, motor_current=5.0)
    u[1, 0] = current
    with pytest.raises(errors.InputBoundsError, match=r"motor_current.*t = 10.0 s"):
        MOTOR_THERMAL.simulate(SPEC.vector("states"), SPEC.vector("params"), [0.0, 10.0, 20.0], u)


def test_a_non_finite_input_is_blamed_on_the_input():
    fleet = Fleet(MOTOR_THERMAL)
    fleet.inputs[0, 1] = math.nan
    with pytest.raises(errors.NonFiniteStateError, match="ambient_temperature") as info:
        fleet.advance(1.0)
    assert info.value.variable == "ambient_temperature" and "parameters" not in str(info.value)


def test_located_errors_keep_their_attributes_when_simpy_copies_them():
    err = errors.InputBoundsError("message", asset=2, variable="motor_current", value=-50.0, time=3.0,
                                  bounds=(0.0, 1e4))
    copy = type(err)(*err.args)  # what SimPy does when a process fails
    assert (copy.asset, copy.variable, copy.value, copy.time, copy.bounds, str(copy)) == (
        2, "motor_current", -50.0, 3.0, (0.0, 1e4), "message")
