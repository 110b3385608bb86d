"""Slow, obviously-correct reference implementations used as test oracles."""

from __future__ import annotations

import numpy as np
from scipy.linalg import expm


def motor_thermal_matrices(p):
    """State-space form dx/dt = A x + b of the two-node motor model for constant inputs."""
    r_wh, c_w, r_ha, c_h, r_cu = p
    a = np.array([[-1 / (r_wh * c_w), 1 / (r_wh * c_w)],
                  [1 / (r_wh * c_h), -1 / (r_wh * c_h) - 1 / (r_ha * c_h)]])
    return a, r_cu


def motor_step_response(p, x0, current, t_amb, t):
    """Exact solution x(t) for constant current [A] and ambient [K] by the matrix exponential."""
    a, r_cu = motor_thermal_matrices(p)
    b = np.array([r_cu * current ** 2 / p[1], t_amb / (p[2] * p[3])])
    x_ss = -np.linalg.solve(a, b)
    return np.array([x_ss + expm(a * ti) @ (np.asarray(x0) - x_ss) for ti in np.atleast_1d(t)])


def rk4_python(rhs, x0, p, u, h, n_steps):
    """Pure-Python classical RK4 with a Python right-hand side ``rhs(x, p, u) -> tuple``."""
    x = [float(v) for v in x0]
    nx = len(x)
    p = tuple(float(v) for v in p)
    u = tuple(float(v) for v in u)

    def f(xx):
        return list(rhs(tuple(xx), p, u))

    for _ in range(n_steps):
        k1 = f(x)
        k2 = f([x[i] + 0.5 * h * k1[i] for i in range(nx)])
        k3 = f([x[i] + 0.5 * h * k2[i] for i in range(nx)])
        k4 = f([x[i] + h * k3[i] for i in range(nx)])
        x = [x[i] + h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]) for i in range(nx)]
    return np.array(x)


# ---------------------------------------------------------------------------------------------------------------
# Independent transcriptions of the model-library equations (NumPy, one asset, dict-named parameters).
# They are written from the docstrings' equations, not from the kernels, so a typo in either shows up.
G = 9.80665


def _named(spec, kind, values):
    return dict(zip(spec.names(kind), np.asarray(values, dtype=float)))


def pump_oracle(spec, x, p, u):
    """(dx/dt, outputs) of the centrifugal pump."""
    X, P, U = _named(spec, "states", x), _named(spec, "params", p), _named(spec, "inputs", u)
    s = U["shaft_speed"] / P["reference_speed"]
    q = X["flow"]
    wear = 1 - P["impeller_wear_head_loss"] * X["impeller_wear"]
    head = wear * (P["head_coefficient_0"] * s ** 2 + P["head_coefficient_1"] * s * q
                   + P["head_coefficient_2"] * q * abs(q))
    system = U["static_head"] + (P["pipe_resistance"] + X["strainer_resistance"]) * q * abs(q)
    ratio = q / (s * P["bep_flow"]) if s > 1e-9 else 0.0
    eta = (P["bep_efficiency"] * (1 - P["impeller_wear_efficiency_loss"] * X["impeller_wear"]) * ratio * (2 - ratio)
           if s > 1e-9 else P["min_efficiency"])
    eta = float(np.clip(eta, P["min_efficiency"], 1.0))
    dx = [G * (head - system) / P["pipe_inertance"],
          P["impeller_wear_rate"] * s ** 3,
          P["fouling_rate"] * abs(q),
          P["bearing_wear_rate"] * s * (1 + P["bearing_off_bep_factor"] * (ratio - 1) ** 2) if s > 1e-9 else 0.0]
    hyd = P["density"] * G * q * head
    shaft = abs(hyd) / eta
    y = [q, head, P["density"] * G * head + U["suction_pressure"], hyd, shaft, shaft - hyd, eta,
         shaft / (P["motor_efficiency"] * np.sqrt(3) * P["line_voltage"] * P["power_factor"]),
         P["vibration_base"] * s ** 2 + P["vibration_wear_gain"] * X["bearing_wear"] * s,
         X["impeller_wear"], X["strainer_resistance"], X["bearing_wear"]]
    return np.array(dx), np.array(y)


def bearing_oracle(spec, x, p, u):
    X, P, U = _named(spec, "states", x), _named(spec, "params", p), _named(spec, "inputs", u)
    revs_per_s = abs(U["shaft_speed"]) / (2 * np.pi)
    life_revs = 1e6 * (P["dynamic_load_rating"] / U["radial_load"]) ** P["life_exponent"] if U["radial_load"] > 0 \
        else np.inf
    a_t = np.exp((X["bearing_temperature"] - P["reference_temperature"]) / P["temperature_sensitivity"])
    friction = P["friction_coefficient"] * U["radial_load"] * P["bore_radius"] * abs(U["shaft_speed"])
    dx = [revs_per_s / life_revs * a_t,
          (friction - (X["bearing_temperature"] - U["ambient_temperature"]) / P["thermal_resistance"])
          / P["heat_capacity"]]
    s = abs(U["shaft_speed"]) / P["reference_speed"]
    y = [X["damage"], X["bearing_temperature"],
         P["vibration_base"] * s + P["vibration_damage_gain"] * X["damage"] ** 2 * s, friction]
    return np.array(dx), np.array(y)


def tank_oracle(spec, x, p, u):
    X, P, U = _named(spec, "states", x), _named(spec, "params", p), _named(spec, "inputs", u)
    q_out = U["valve_opening"] * P["discharge_coefficient"] * P["valve_area"] * np.sqrt(2 * G * max(X["level"], 0))
    dx = [(U["inflow"] - q_out) / P["cross_section"], q_out]
    y = [X["level"], P["cross_section"] * X["level"], q_out, X["drained_volume"]]
    return np.array(dx), np.array(y)


def compressor_oracle(spec, x, p, u):
    X, P, U = _named(spec, "states", x), _named(spec, "params", p), _named(spec, "inputs", u)
    eta = P["clean_efficiency"] * (1 - P["efficiency_fouling_loss"] * X["fouling"])
    lift = U["pressure_ratio"] ** ((P["heat_capacity_ratio"] - 1) / P["heat_capacity_ratio"]) - 1
    m_dot = (U["load"] * P["rated_mass_flow"] * (1 - P["flow_fouling_loss"] * X["fouling"])
             * U["inlet_pressure"] / P["reference_pressure"] * P["reference_temperature"] / U["inlet_temperature"])
    t_ss = U["inlet_temperature"] * (1 + lift / eta)
    w = P["specific_heat"] * U["inlet_temperature"] * lift / eta
    dx = [U["load"] * (P["asymptotic_fouling"] - X["fouling"]) / P["fouling_time_constant"],
          (t_ss - X["discharge_temperature"]) / P["thermal_time_constant"]]
    return np.array(dx), np.array([X["discharge_temperature"], m_dot, m_dot * w, eta, X["fouling"], w])


def motor_losses_oracle(spec, x, p, u):
    """Two-node motor with no-load losses while energised and R_cu(T_w), from docs/models.md (not the kernel)."""
    P = _named(spec, "params", p)
    X, U = _named(spec, "states", x), _named(spec, "inputs", u)
    t_w, t_h = X["winding_temperature"], X["housing_temperature"]
    r_cu = P["copper_loss_resistance"] * (1 + P["copper_temperature_coefficient"]
                                          * (t_w - P["copper_reference_temperature"]))
    copper = r_cu * U["motor_current"] ** 2
    no_load = P["no_load_loss"] if U["motor_current"] > P["energised_current"] else 0.0
    share = P["no_load_loss_winding_share"]
    q_wh = (t_w - t_h) / P["thermal_resistance_winding_housing"]
    q_ha = (t_h - U["ambient_temperature"]) / P["thermal_resistance_housing_ambient"]
    dx = [(copper + share * no_load - q_wh) / P["heat_capacity_winding"],
          (q_wh + (1 - share) * no_load - q_ha) / P["heat_capacity_housing"]]
    return np.array(dx), np.array([t_w, t_h, copper + no_load])


def motor_oracle(spec, x, p, u):
    a, r_cu = motor_thermal_matrices(p)
    current, t_amb = u
    dx = a @ np.asarray(x) + np.array([r_cu * current ** 2 / p[1], t_amb / (p[2] * p[3])])
    return dx, np.array([x[0], x[1], r_cu * current ** 2])
