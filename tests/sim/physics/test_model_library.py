"""Every model of the library against an independent NumPy transcription, scipy, and its balances."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from sim.exceptions import ModelError, NonFiniteStateError, ParameterBoundsError
from sim.physics import BEARING, COMPRESSOR, MODELS, MOTOR_THERMAL, PUMP, RK4, TANK, DormandPrince, Fleet
from tests import oracles

pytestmark = pytest.mark.kernel

ORACLES = {"motor_thermal": oracles.motor_oracle, "motor_thermal_losses": oracles.motor_losses_oracle,
           "centrifugal_pump": oracles.pump_oracle,
           "bearing": oracles.bearing_oracle, "tank": oracles.tank_oracle, "compressor": oracles.compressor_oracle}

# (initial state overrides, input schedule: list of (duration [s], input overrides)) exciting each model
SCENARIOS = {
    "motor_thermal": ({"winding_temperature": 300.0, "housing_temperature": 299.0},
                      [(600, {"motor_current": 30.0}), (300, {"motor_current": 0.0}), (600, {"motor_current": 25.0})]),
    "motor_thermal_losses": ({"winding_temperature": 300.0, "housing_temperature": 299.0},
                             [(600, {"motor_current": 30.0}), (300, {"motor_current": 0.0}),
                              (600, {"motor_current": 25.0})]),
    "centrifugal_pump": ({"flow": 0.0},
                         [(60, {"shaft_speed": 308.0}), (60, {"shaft_speed": 250.0, "static_head": 12.0}),
                          (60, {"shaft_speed": 308.0})]),
    "bearing": ({"bearing_temperature": 300.0},
                [(900, {"radial_load": 4000.0}), (900, {"radial_load": 8000.0, "shaft_speed": 400.0})]),
    "tank": ({"level": 0.5}, [(300, {"inflow": 0.004}), (300, {"inflow": 0.0, "valve_opening": 0.5})]),
    "compressor": ({"discharge_temperature": 300.0},
                   [(600, {"load": 1.0}), (600, {"load": 0.4, "inlet_temperature": 305.0})]),
}


# RK4 step [s] resolving each model's fastest dynamics: the pump's flow settles with a time constant of about
# 1 s (pipe inertia), so its transients need 0.1 s steps for 1e-6 accuracy (1 s steps stay stable but err 1e-4)
STEP = {"centrifugal_pump": 0.1}


def schedule(model, name, period=10.0):
    x0_over, blocks = SCENARIOS[name]
    x0 = model.spec.vector("states", x0_over)
    t, rows, now = [0.0], [], 0.0
    for duration, over in blocks:
        u = model.spec.vector("inputs", over)
        for _ in range(int(duration / period)):
            rows.append(u)
            now += period
            t.append(now)
    rows.append(rows[-1])
    return x0, np.array(t), np.array(rows)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_kernels_match_the_independent_transcription(name):
    model, spec = MODELS[name], MODELS[name].spec
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = spec.vector("states") * rng.uniform(0.8, 1.2, spec.nx) + rng.uniform(0, 0.01, spec.nx)
        p = spec.vector("params") * rng.uniform(0.8, 1.2, spec.np)
        lo = np.array([v.bounds[0] for v in spec.params])
        hi = np.array([v.bounds[1] for v in spec.params])
        p = np.clip(p, lo, hi)
        u = spec.vector("inputs") * rng.uniform(0.8, 1.2, spec.nu)
        u = np.clip(u, [v.bounds[0] for v in spec.inputs], [v.bounds[1] for v in spec.inputs])
        dx_ref, y_ref = ORACLES[name](spec, x, p, u)
        f = getattr(model.rhs, "py_func", model.rhs)
        np.testing.assert_allclose(model.rhs(tuple(x), tuple(p), tuple(u)), dx_ref, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(f(tuple(x), tuple(p), tuple(u)), dx_ref, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(model.output(tuple(x), tuple(p), tuple(u)), y_ref, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_trajectory_agrees_with_solve_ivp_on_the_transcription(name):
    """RK4 vs scipy (rtol 1e-10) on the oracle equations, zero-order-hold inputs."""
    model, spec = MODELS[name], MODELS[name].spec
    x0, t, u = schedule(model, name)
    p = spec.vector("params")
    y = model.simulate(x0, p, t, u, integrator=RK4(max_step=STEP.get(name, 1.0)))[0]
    x = x0.copy()
    ref = [ORACLES[name](spec, x, p, u[0])[1]]
    for j in range(t.size - 1):
        sol = solve_ivp(lambda _t, xx: ORACLES[name](spec, xx, p, u[j])[0], (t[j], t[j + 1]), x, method="DOP853",
                        rtol=1e-10, atol=1e-12 * np.maximum(np.abs(x), 1.0))
        x = sol.y[:, -1]
        ref.append(ORACLES[name](spec, x, p, u[j + 1])[1])
    ref = np.array(ref)
    scale = np.maximum(np.abs(ref).max(axis=0), 1e-12)
    # stated tolerance: 1e-6 of each output's range (RK4 at 1 s, global error)
    assert np.max(np.abs(y - ref) / scale) < 1e-6


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fleet_of_assets_equals_single_runs_and_both_integrators_agree(name):
    model, spec = MODELS[name], MODELS[name].spec
    x0, t, u = schedule(model, name)
    rng = np.random.default_rng(1)
    params = np.tile(spec.vector("params"), (4, 1)) * rng.uniform(0.9, 1.1, (4, spec.np))
    params = np.clip(params, [v.bounds[0] for v in spec.params], [v.bounds[1] for v in spec.params])
    rk4 = RK4(max_step=STEP.get(name, 1.0))
    fleet = model.simulate(np.tile(x0, (4, 1)), params, t, u, integrator=rk4)
    for a in range(4):
        np.testing.assert_array_equal(fleet[a], model.simulate(x0, params[a], t, u, integrator=rk4)[0])
    dp = model.simulate(np.tile(x0, (4, 1)), params, t, u, integrator=DormandPrince(rtol=1e-10, atol=1e-15))
    scale = np.maximum(np.abs(fleet).max(axis=(0, 1)), 1e-12)
    assert np.max(np.abs(fleet - dp) / scale) < 1e-6


def test_tank_conserves_mass():
    x0, t, u = schedule(TANK, "tank", period=5.0)
    y = TANK.simulate(x0, TANK.spec.vector("params"), t, u)[0]
    volume, drained = y[:, 1], y[:, 3]
    inflow = np.concatenate([[0.0], np.cumsum(u[:-1, 0] * np.diff(t))])
    np.testing.assert_allclose(volume - volume[0] + drained, inflow, atol=1e-12)


def test_pump_power_balance_and_operating_point():
    spec = PUMP.spec
    p = spec.vector("params")
    P = dict(zip(spec.names("params"), p))
    t = np.arange(0.0, 601.0, 10.0)
    u = np.tile(spec.vector("inputs"), (t.size, 1))
    y = PUMP.simulate(spec.vector("states"), p, t, u)[0]
    out = dict(zip(spec.names("outputs"), y[-1]))
    # hydraulic power is rho g Q H, shaft power = hydraulic + losses, current from shaft power
    assert out["hydraulic_power"] == pytest.approx(P["density"] * 9.80665 * out["flow"] * out["head"], rel=1e-12)
    assert out["shaft_power"] == pytest.approx(out["hydraulic_power"] + out["loss_power"], rel=1e-12)
    assert out["shaft_power"] == pytest.approx(out["hydraulic_power"] / out["efficiency"], rel=1e-12)
    # settled flow = intersection of pump curve and system curve (quadratic in Q), degradation frozen at t_end
    U = dict(zip(spec.names("inputs"), u[-1]))
    s = U["shaft_speed"] / P["reference_speed"]
    wear = 1 - P["impeller_wear_head_loss"] * out["impeller_wear"]
    a = wear * P["head_coefficient_2"] - (P["pipe_resistance"] + out["strainer_resistance"])
    b = wear * P["head_coefficient_1"] * s
    c = wear * P["head_coefficient_0"] * s * s - U["static_head"]
    q_star = (-b - np.sqrt(b * b - 4 * a * c)) / (2 * a)
    assert out["flow"] == pytest.approx(q_star, rel=1e-5)
    # strainer fouling costs flow and head loss grows
    fouled = PUMP.simulate(spec.vector("states", {"strainer_resistance": 20000.0}), p, t, u)[0]
    assert fouled[-1, 0] < y[-1, 0]


def test_compressor_separates_fouling_ambient_and_sensor_drift():
    spec = COMPRESSOR.spec
    p = spec.vector("params")
    base = dict(zip(spec.names("outputs"), COMPRESSOR.output(tuple(spec.vector("states")), tuple(p),
                                                             tuple(spec.vector("inputs")))))
    fouled = dict(zip(spec.names("outputs"), COMPRESSOR.output(tuple(spec.vector("states", {"fouling": 0.5})),
                                                               tuple(p), tuple(spec.vector("inputs")))))
    warm = dict(zip(spec.names("outputs"), COMPRESSOR.output(
        tuple(spec.vector("states")), tuple(p), tuple(spec.vector("inputs", {"inlet_temperature": 303.15})))))
    assert fouled["isentropic_efficiency"] < base["isentropic_efficiency"]
    assert fouled["specific_power"] > base["specific_power"] and fouled["mass_flow"] < base["mass_flow"]
    # a warmer inlet does not change efficiency; specific power grows in proportion to T_in
    assert warm["isentropic_efficiency"] == base["isentropic_efficiency"]
    assert warm["specific_power"] / base["specific_power"] == pytest.approx(303.15 / 293.15, rel=1e-12)


def test_bearing_damage_rate_is_lundberg_palmgren():
    spec = BEARING.spec
    p = dict(zip(spec.names("params"), spec.vector("params")))
    x = (0.0, p["reference_temperature"])
    u = (300.0, 5000.0, 298.15)
    d_dot = BEARING.rhs(x, tuple(spec.vector("params")), u)[0]
    l10_seconds = 1e6 * (p["dynamic_load_rating"] / 5000.0) ** 3 / (300.0 / (2 * np.pi))
    assert 1.0 / d_dot == pytest.approx(l10_seconds, rel=1e-12)


def test_bad_arrays_and_values_name_the_culprit():
    spec = PUMP.spec
    with pytest.raises(ModelError, match=r"shape \(k, nu\)"):
        PUMP.simulate(spec.vector("states"), spec.vector("params"), [0.0, 1.0], np.zeros((2, 2)))
    with pytest.raises(ModelError, match="x0"):
        PUMP.simulate(np.zeros(3), spec.vector("params"), [0.0, 1.0], np.zeros((2, 3)))
    bad = spec.vector("params")
    bad[spec.index("params", "bep_efficiency")] = 1.5
    with pytest.raises(ParameterBoundsError, match="bep_efficiency.*asset 0.*1.5"):
        PUMP.simulate(spec.vector("states"), bad, [0.0, 1.0], np.tile(spec.vector("inputs"), (2, 1)))
    u = np.tile(spec.vector("inputs"), (2, 1))
    u[1, 0] = np.nan
    with pytest.raises(NonFiniteStateError, match="shaft_speed.*t = 1.0"):
        PUMP.simulate(spec.vector("states"), spec.vector("params"), [0.0, 1.0], u)
    with pytest.raises(ModelError, match="shape"):
        Fleet(MOTOR_THERMAL, n=3, states=np.zeros((2, 2)))
    with pytest.raises(Exception, match="max_step"):
        RK4(max_step=0.0)
