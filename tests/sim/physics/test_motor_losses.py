"""The motor with no-load losses (issue 17): exact reduction to the copper-only model, the scaling symmetry, and a
calibration on a record made by an independent simulation (``tests/independent_motor.py``, matrix exponential)."""

import warnings

import numpy as np
import pytest

from calibration import CalibrationData, LeastSquaresCalibrator, simulate_window
from calibration.evidence import MisspecificationWarning
from sim.exceptions import IdentifiabilityWarning
from sim.physics import MOTOR_THERMAL, RK4
from sim.physics.motor_thermal import (MOTOR_THERMAL_LOSSES, MOTOR_THERMAL_LOSSES_SPEC as SPEC,
                                      motor_thermal_losses_output, motor_thermal_losses_rhs)
from tests.independent_motor import TRUTH, matrices, motor_with_no_load_losses, simulate

NOISE = 0.3  # sensor noise of the record [K]
FREE = ("thermal_resistance_winding_housing", "heat_capacity_winding", "thermal_resistance_housing_ambient",
        "heat_capacity_housing", "no_load_loss")
#: What is fixed: R_cu from a DC resistance test, the winding share from design, the energised threshold.
FIXED = {"copper_loss_resistance": TRUTH["copper_loss_resistance"], "no_load_loss_winding_share": 0.5,
         "energised_current": 1.0, "no_load_loss": 100.0}


def _inputs(rng, k):
    current = np.repeat(rng.choice([0.0, 8.0, 30.0], size=k // 60 + 1), 60)[:k]
    return np.column_stack([current, 295.0 + rng.normal(0.0, 2.0, k)])


def test_without_no_load_losses_the_loss_model_is_the_copper_only_model_bit_for_bit():
    rng = np.random.default_rng(5)
    t = np.arange(0.0, 6 * 3600.0, 10.0)
    u = _inputs(rng, t.size)
    base = MOTOR_THERMAL.spec.vector("params") * rng.uniform(0.7, 1.3, (4, MOTOR_THERMAL.spec.np))
    full = np.column_stack([base, np.tile(SPEC.vector("params")[5:], (4, 1))])
    assert full[0, 5] == 0.0 and full[0, 8] == 0.0  # the defaults: no losses, constant R_cu
    x0 = [[330.0, 320.0]] * 4
    assert np.array_equal(MOTOR_THERMAL_LOSSES.simulate(x0, full, t, u), MOTOR_THERMAL.simulate(x0, base, t, u))


def test_kernel_matches_the_independent_exact_solution():
    frame, states, x0 = motor_with_no_load_losses(3, hours=6.0)
    t = (frame.index - frame.index[0]).total_seconds().to_numpy()
    y = MOTOR_THERMAL_LOSSES.simulate(x0, SPEC.vector("params", TRUTH), t,
                                      frame[["motor_current", "ambient_temperature"]].to_numpy())[0]
    np.testing.assert_allclose(y[:, :2], states, rtol=0, atol=1e-7)  # RK4 at 1 s against the exact solution


@pytest.mark.kernel
def test_kernels_match_the_independent_state_space_form():
    """rhs = A x + B [P_cu, P_0, T_a] at random points (P_cu with R_cu(T_w)); runs with NUMBA_DISABLE_JIT=1 too."""
    rng = np.random.default_rng(8)
    for _ in range(50):
        truth = {**TRUTH, "no_load_loss": rng.uniform(0, 2000), "no_load_loss_winding_share": rng.uniform(0, 1),
                 "thermal_resistance_housing_ambient": rng.uniform(0.01, 0.2), "heat_capacity_winding":
                 rng.uniform(500, 1e4), "copper_temperature_coefficient": rng.uniform(0, 0.005)}
        x = rng.uniform(280, 420, 2)
        u = (rng.choice([0.0, 0.5, 8.0, 30.0]), rng.uniform(260, 320))
        p = SPEC.vector("params", truth)
        a, b = matrices(truth)
        p_cu = truth["copper_loss_resistance"] * (1 + truth["copper_temperature_coefficient"] * (x[0] - 293.15)) * \
            u[0] ** 2
        p_0 = truth["no_load_loss"] if u[0] > truth["energised_current"] else 0.0
        expected = a @ x + b @ np.array([p_cu, p_0, u[1]])
        np.testing.assert_allclose(motor_thermal_losses_rhs(tuple(x), tuple(p), u), expected, rtol=1e-12,
                                   atol=1e-15)
        assert motor_thermal_losses_output(tuple(x), tuple(p), u) == pytest.approx((x[0], x[1], p_cu + p_0),
                                                                                   rel=1e-12)


def test_steady_state_and_losses_output():
    p = SPEC.vector("params", {**TRUTH, "copper_temperature_coefficient": 0.0})
    for current, energised in ((25.0, True), (0.5, False)):  # below energised_current: no no-load losses
        t = np.array([0.0, 40 * 3600.0])
        y = MOTOR_THERMAL_LOSSES.simulate([300.0, 300.0], p, t, [[current, 293.15]] * 2,
                                          integrator=RK4(max_step=20.0))[0, -1]
        p_cu, p_nl = TRUTH["copper_loss_resistance"] * current ** 2, TRUTH["no_load_loss"] * energised
        r_wh, r_ha = TRUTH["thermal_resistance_winding_housing"], TRUTH["thermal_resistance_housing_ambient"]
        expected = 293.15 + (p_cu + p_nl) * (r_wh + r_ha) - 0.5 * p_nl * r_wh
        assert y[0] == pytest.approx(expected, abs=1e-6)
        assert y[1] == pytest.approx(293.15 + (p_cu + p_nl) * r_ha, abs=1e-6)
        assert y[2] == pytest.approx(p_cu + p_nl, rel=1e-12)


def test_copper_resistance_rises_with_winding_temperature():
    p = SPEC.vector("params", {"copper_temperature_coefficient": 0.00393})
    y = MOTOR_THERMAL_LOSSES.simulate([373.15, 350.0], p, [0.0], [[20.0, 293.15]])[0, 0]
    assert y[2] == pytest.approx(0.9 * (1 + 0.00393 * 80.0) * 400.0, rel=1e-12)


@pytest.mark.parametrize("scale", [0.5, 3.0])
def test_scaling_every_heat_flow_leaves_the_temperatures_unchanged(scale):
    """(R_cu, P_nl, C_w, C_h, R_wh, R_ha) -> (c R_cu, c P_nl, c C_w, c C_h, R_wh / c, R_ha / c): same T_w, T_h."""
    rng = np.random.default_rng(11)
    t = np.arange(0.0, 4 * 3600.0, 10.0)
    u = _inputs(rng, t.size)
    p = SPEC.vector("params", {**TRUTH, "copper_temperature_coefficient": 0.00393})
    q = p.copy()
    for name, power in (("copper_loss_resistance", 1), ("no_load_loss", 1), ("heat_capacity_winding", 1),
                        ("heat_capacity_housing", 1), ("thermal_resistance_winding_housing", -1),
                        ("thermal_resistance_housing_ambient", -1)):
        q[SPEC.index("params", name)] *= scale ** power
    a, b = (MOTOR_THERMAL_LOSSES.simulate([320.0, 310.0], v, t, u)[0] for v in (p, q))
    np.testing.assert_allclose(b[:, :2], a[:, :2], rtol=1e-10)
    np.testing.assert_allclose(b[:, 2], scale * a[:, 2], rtol=1e-10)  # the heat flows themselves do scale


def _fit(model, frame, end, free, params, **kwargs):
    data = CalibrationData.from_frame(frame, model.spec, outputs=["winding_temperature"], end=end)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifiabilityWarning)  # R_ha and P_nl correlate (rho ~ -0.97)
        return LeastSquaresCalibrator(free, max_step=10.0, **kwargs).fit(model, data, params=params)


def _predict(model, cal, frame, start):
    rest = CalibrationData.from_frame(frame, model.spec, outputs=["winding_temperature"], start=start)
    run = simulate_window(model, cal.model_params_, rest, x0=cal.final_state_, max_step=10.0)
    return run.outputs[0, :, 0], rest.outputs[:, 0], len(frame) - rest.t.size


@pytest.mark.parametrize("seed", [1, 2])
def test_calibrated_on_the_first_half_it_predicts_the_second_open_loop(seed):
    frame, states, _ = motor_with_no_load_losses(seed, noise=NOISE)
    half = frame.index[len(frame) // 2]
    cal = _fit(MOTOR_THERMAL_LOSSES, frame, half, FREE, FIXED, confidence=0.99)
    for name in FREE:
        low, high = cal.intervals_[name]
        assert low <= TRUTH[name] <= high, (name, TRUTH[name], cal.intervals_[name])
    predicted, measured, k = _predict(MOTOR_THERMAL_LOSSES, cal, frame, half)
    assert np.sqrt(np.mean((predicted - measured) ** 2)) < 2 * NOISE  # open loop over 12 h
    assert np.abs(predicted - states[k:, 0]).max() < 2 * NOISE


@pytest.mark.slow
def test_the_intervals_are_honest_over_twenty_records():
    """95 % intervals over 20 independent records: about 95 of the 100 cover the truth, z-scores have sd ~ 1
    (measured: 94 of 100, sd 1.07), so the single-record checks above are not a lucky seed."""
    covered, z = 0, []
    for seed in range(1, 21):
        frame, _, _ = motor_with_no_load_losses(seed, noise=NOISE)
        cal = _fit(MOTOR_THERMAL_LOSSES, frame, frame.index[len(frame) // 2], FREE, FIXED)
        for name in FREE:
            low, high = cal.intervals_[name]
            covered += low <= TRUTH[name] <= high
            z.append((cal.params_[name] - TRUTH[name]) / cal.stderr_[name])
    assert covered >= 88  # binomial(100, 0.95): 88 is 3 standard deviations below 95
    assert 0.8 < np.std(z) < 1.25


def test_the_copper_only_model_cannot_represent_no_load_heating():
    """The issue's failure: the fit absorbs the missing losses into wrong parameters and misses by kelvins."""
    frame, states, _ = motor_with_no_load_losses(1, noise=NOISE)
    half = frame.index[len(frame) // 2]
    free = FREE[:4]
    with pytest.warns(MisspecificationWarning, match="missing physical effect"):  # the fit notices
        cal = _fit(MOTOR_THERMAL, frame, half, free, {"copper_loss_resistance": TRUTH["copper_loss_resistance"]})
    assert cal.params_["thermal_resistance_housing_ambient"] > 2 * TRUTH["thermal_resistance_housing_ambient"]
    predicted, _, k = _predict(MOTOR_THERMAL, cal, frame, half)
    assert np.sqrt(np.mean((predicted - states[k:, 0]) ** 2)) > 10 * NOISE


def test_freeing_every_heat_flow_scale_is_flagged_as_unidentifiable():
    frame, _, _ = motor_with_no_load_losses(1, hours=6.0, noise=NOISE)
    data = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"])
    with pytest.warns(IdentifiabilityWarning):
        LeastSquaresCalibrator(FREE + ("copper_loss_resistance",), max_step=10.0, max_nfev=50).fit(
            MOTOR_THERMAL_LOSSES, data, params=FIXED)


def test_independent_script_is_exact_for_a_constant_input():
    """The oracle itself: its steady state is the textbook one."""
    t = np.arange(0.0, 200 * 3600.0, 3600.0)
    x = simulate(TRUTH, [293.15, 293.15], t, np.full(t.size, 20.0), np.full(t.size, 293.15))[-1]
    p_cu, p_nl = 0.9 * 400.0, 550.0
    assert x[1] == pytest.approx(293.15 + (p_cu + p_nl) * 0.07, abs=1e-9)
    assert x[0] == pytest.approx(x[1] + (p_cu + 0.5 * p_nl) * 0.025, abs=1e-9)
