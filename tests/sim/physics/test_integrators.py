import math
import warnings

import numpy as np
import pytest

from sim.exceptions import ConfigurationError, NonFiniteStateError, StiffnessError, StiffnessWarning
from sim.physics import RK4, TANK, DormandPrince, Fleet, SolveIVP, StateEvent
from sim.physics.kernels import dopri5
from tests.models_for_tests import BLOWUP, STIFF, tank_level_exact

pytestmark = pytest.mark.kernel  # also run with NUMBA_DISABLE_JIT=1: covers the kernel templates' paths

TANK_P = TANK.spec.vector("params")
AREA, VALVE, CD = TANK_P


def tank_error(integrator, horizon=600.0):
    fleet = Fleet(TANK, states={"level": 2.0}, inputs={"inflow": 0.0, "valve_opening": 1.0}, integrator=integrator)
    fleet.advance(horizon)
    return abs(fleet.states[0, 0] - tank_level_exact(2.0, horizon, area=AREA, valve_area=VALVE, cd=CD))


def riccati_error(integrator, horizon=0.5):
    """x' = x^2, x(0) = 1: x(t) = 1 / (1 - t)."""
    fleet = Fleet(BLOWUP, states=np.array([1.0]), integrator=integrator)
    fleet.advance(horizon)
    return abs(fleet.states[0, 0] - 1.0 / (1.0 - horizon))


def observed_order(errors, steps):
    return np.polyfit(np.log(steps), np.log(errors), 1)[0]


def test_rk4_converges_at_fourth_order():
    steps = np.array([0.05, 0.025, 0.0125])
    errors = [riccati_error(RK4(max_step=h)) for h in steps]
    assert observed_order(errors, steps) == pytest.approx(4.0, abs=0.15)


def test_dormand_prince_converges_at_fifth_order_on_fixed_steps():
    steps = np.array([0.05, 0.025, 0.0125])
    # huge tolerances: every step is accepted, max_step pins the step size
    errors = [riccati_error(DormandPrince(rtol=1e6, atol=1e6, first_step=h, max_step=h)) for h in steps]
    assert observed_order(errors, steps) == pytest.approx(5.0, abs=0.2)


def test_dormand_prince_error_follows_the_tolerance():
    errs = [tank_error(DormandPrince(rtol=tol, atol=tol * 1e-3)) for tol in (1e-4, 1e-7, 1e-10)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 1e-8


def test_dense_output_and_error_coefficients_match_scipy():
    from scipy.integrate._ivp.rk import RK45

    ns = vars(dopri5)
    ours_p = np.array([ns["P1"], [0, 0, 0, 0], ns["P3"], ns["P4"], ns["P5"], ns["P6"], ns["P7"]])
    np.testing.assert_allclose(ours_p, RK45.P, rtol=1e-15)
    ours_e = np.array([ns["E1"], 0.0, ns["E3"], ns["E4"], ns["E5"], ns["E6"], ns["E7"]])
    np.testing.assert_allclose(np.abs(ours_e), np.abs(RK45.E), rtol=1e-15)
    np.testing.assert_allclose([ns["B1"], 0, ns["B3"], ns["B4"], ns["B5"], ns["B6"]], RK45.B, rtol=1e-15)


@pytest.mark.parametrize("integrator", [RK4(max_step=1.0), DormandPrince(rtol=1e-10, atol=1e-12)],
                         ids=["rk4", "dopri5"])
def test_event_time_matches_the_analytic_crossing(integrator):
    c = CD * VALVE * math.sqrt(2 * 9.80665) / (2 * AREA)
    exact = (math.sqrt(2.0) - math.sqrt(0.5)) / c
    fleet = Fleet(TANK, states={"level": 2.0}, inputs={"inflow": 0.0}, integrator=integrator,
                  events=[StateEvent("low_level", "level", 0.5, -1)])
    hit = fleet.advance(10 * exact)
    assert hit is not None and hit.event.name == "low_level"
    assert hit.time == pytest.approx(exact, abs=1e-6)
    assert fleet.states[0, 0] == pytest.approx(0.5, abs=1e-9)


def test_dormand_prince_fleet_stops_all_assets_at_the_earliest_event():
    levels = np.array([[2.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    integ = DormandPrince(rtol=1e-10, atol=1e-12)
    fleet = Fleet(TANK, states=levels, inputs={"inflow": 0.0}, integrator=integ,
                  events=[StateEvent("low", "level", 0.5, -1)])
    hit = fleet.advance(1e4)
    assert hit.asset == 1
    for a, h0 in enumerate(levels[:, 0]):
        exact = tank_level_exact(h0, hit.time, area=AREA, valve_area=VALVE, cd=CD)
        assert fleet.states[a, 0] == pytest.approx(exact, abs=1e-7)


def test_stiffness_is_reported_and_bdf_solves_it():
    x0 = np.array([1.0, 0.0])
    with pytest.warns(StiffnessWarning, match="BDF"):
        y = STIFF.simulate(x0, [1e4], [0.0, 5.0], np.zeros((2, 1)), integrator=DormandPrince())
    # x1 = e^-t exactly; x2 follows it after a fast transient
    assert y[0, -1, 0] == pytest.approx(math.exp(-5.0), rel=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yb = STIFF.simulate(x0, [1e4], [0.0, 5.0], np.zeros((2, 1)),
                            integrator=SolveIVP("BDF", rtol=1e-8, atol=1e-12))
    assert yb[0, -1, 0] == pytest.approx(math.exp(-5.0), rel=1e-6)
    assert yb[0, -1, 1] == pytest.approx(math.exp(-5.0) * 1e4 / (1e4 - 1), rel=1e-5)


@pytest.mark.parametrize("integrator", [RK4(max_step=0.01), DormandPrince()], ids=["rk4", "dopri5"])
def test_blow_up_is_reported_with_asset_and_time(integrator):
    fleet = Fleet(BLOWUP, n=3, states=np.array([[0.1], [1.0], [0.2]]), integrator=integrator)
    with pytest.raises((NonFiniteStateError, StiffnessError)) as err:
        fleet.advance(5.0)
    assert err.value.asset == 1
    assert 0.95 < err.value.time < 1.05  # x0 = 1 blows up at t = 1 s
    assert "asset 1" in str(err.value)


def test_bad_integrator_settings_are_named():
    with pytest.raises(ConfigurationError, match="max_step"):
        RK4(max_step=-1.0)
    with pytest.raises(ConfigurationError, match="rtol"):
        DormandPrince(rtol=0.0)
    with pytest.raises(ConfigurationError, match="method"):
        SolveIVP(method="Euler")
