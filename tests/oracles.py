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
