"""An independent simulation of a motor whose heating includes constant no-load losses (not the library's kernel).

Written from the equations of a textbook two-node motor model (winding and housing nodes; copper losses
``R_cu I^2`` into the winding; no-load iron + friction losses ``P_nl`` while the motor is energised, a share
``k_0`` into the winding and the rest into the housing), not from ``sim/physics/motor_thermal.py``.  The model is
linear and the inputs are held constant between samples, so each sample interval is solved *exactly* by the
matrix exponential of the augmented system (no integrator, no step size)::

    d/dt [T_w, T_h] = A [T_w, T_h] + B [P_cu, P_0, T_a]
    [x(t + dt), u] = expm([[A, B], [0, 0]] dt) [x(t), u]

Units: temperatures [K], current [A], heat capacities [J/K], thermal resistances [K/W], losses [W], time [s].
Imports only numpy and scipy, so a bug in the library cannot hide in its own oracle.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.linalg import expm

#: The motor behind :func:`motor_with_no_load_losses`: a 15 kW motor with 550 W of no-load losses.
TRUTH = {"thermal_resistance_winding_housing": 0.025, "heat_capacity_winding": 3500.0,
         "thermal_resistance_housing_ambient": 0.07, "heat_capacity_housing": 50000.0,
         "copper_loss_resistance": 0.9, "no_load_loss": 550.0, "no_load_loss_winding_share": 0.5,
         "energised_current": 1.0}


def matrices(truth: dict) -> tuple[np.ndarray, np.ndarray]:
    """``A`` [1/s] and ``B`` (columns: copper loss [W], no-load loss [W], ambient [K]) of the two-node model."""
    r_wh, c_w = truth["thermal_resistance_winding_housing"], truth["heat_capacity_winding"]
    r_ha, c_h = truth["thermal_resistance_housing_ambient"], truth["heat_capacity_housing"]
    k0 = truth["no_load_loss_winding_share"]
    a = np.array([[-1.0 / (r_wh * c_w), 1.0 / (r_wh * c_w)],
                  [1.0 / (r_wh * c_h), -1.0 / (r_wh * c_h) - 1.0 / (r_ha * c_h)]])
    b = np.array([[1.0 / c_w, k0 / c_w, 0.0],
                  [0.0, (1.0 - k0) / c_h, 1.0 / (r_ha * c_h)]])
    return a, b


def simulate(truth: dict, x0, t: np.ndarray, current: np.ndarray, ambient: np.ndarray) -> np.ndarray:
    """States ``[k, 2]`` (winding, housing [K]) on the uniform grid *t* [s], inputs held from ``t[j]`` to ``t[j+1]``."""
    dt = float(t[1] - t[0])
    if not np.allclose(np.diff(t), dt):
        raise ValueError("simulate() needs a uniform time grid")
    a, b = matrices(truth)
    m = np.zeros((5, 5))
    m[:2, :2], m[:2, 2:] = a, b
    phi = expm(m * dt)
    step_x, step_u = phi[:2, :2], phi[:2, 2:]
    energised = current > truth["energised_current"]
    u = np.column_stack([truth["copper_loss_resistance"] * current ** 2,
                         np.where(energised, truth["no_load_loss"], 0.0), ambient])
    x = np.empty((t.size, 2))
    x[0] = x0
    for j in range(t.size - 1):
        x[j + 1] = step_x @ x[j] + step_u @ u[j]
    return x


def motor_with_no_load_losses(seed: int, *, hours: float = 24.0, period: float = 10.0, noise: float = 0.3):
    """Telemetry of :data:`TRUTH`: a motor that stops, idles (energised, 6-10 A) and runs loaded (20-34 A).

    Returns the frame (``motor_current`` [A], ``ambient_temperature`` [K], ``winding_temperature`` [K] with
    Gaussian sensor noise of standard deviation *noise* [K], UTC index every *period* s), the noise-free states
    ``[k, 2]`` and the initial states [K].
    """
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, hours * 3600.0, period)
    blocks = (t // 900).astype(int)  # a new operating point every 15 min
    n = blocks.max() + 1
    mode = rng.choice(3, size=n, p=[0.2, 0.35, 0.45])  # stopped, idling, loaded
    level = np.where(mode == 0, 0.0, np.where(mode == 1, rng.uniform(6.0, 10.0, n), rng.uniform(20.0, 34.0, n)))
    current = level[blocks]
    ambient = 293.15 + 5.0 * np.sin(2 * np.pi * (t / 86400.0 - 0.3))
    x0 = np.array([335.0, 325.0])
    states = simulate(TRUTH, x0, t, current, ambient)
    frame = pd.DataFrame({"motor_current": current, "ambient_temperature": ambient,
                          "winding_temperature": states[:, 0] + rng.normal(0.0, noise, t.size)},
                         index=pd.Timestamp("2026-06-01", tz="UTC") + pd.to_timedelta(t, unit="s"))
    return frame, states, x0
