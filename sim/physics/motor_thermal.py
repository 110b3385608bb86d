r"""Two-node thermal model of an electric motor (winding, housing, ambient).

The copper losses heat the winding; heat flows through the winding insulation
into the housing and from the housing to the ambient air::

    C_w dT_w/dt = R_cu I^2 - (T_w - T_h) / R_wh
    C_h dT_h/dt = (T_w - T_h) / R_wh - (T_h - T_a) / R_ha

with T_w winding temperature [K], T_h housing temperature [K], T_a ambient
temperature [K], I motor current [A], R_cu copper-loss resistance [ohm] (all
phases lumped, so that R_cu I^2 is the total heat input [W]), R_wh and R_ha
thermal resistances [K/W], C_w and C_h heat capacities [J/K].  The model is
linear in the states; for a constant input its step response is a sum of two
exponentials (used as the test oracle).  At steady state
T_w = T_a + R_cu I^2 (R_wh + R_ha).

Defaults describe a 15 kW, 400 V induction motor driving a conveyor: winding
time constant about a minute, housing about 45 min.
"""

from __future__ import annotations

from numba import njit

from sim.physics.model import Model
from sim.physics.spec import ModelSpec, Var

__all__ = ["MOTOR_THERMAL_SPEC", "MOTOR_THERMAL", "motor_thermal_rhs", "motor_thermal_output"]

MOTOR_THERMAL_SPEC = ModelSpec(
    name="motor_thermal",
    version="1.0",
    doc="Two-node (winding, housing) lumped thermal model of an electric motor.",
    states=(
        Var("winding_temperature", "K", "Mean temperature of the stator winding", 313.15, (150.0, 800.0), "T_w"),
        Var("housing_temperature", "K", "Mean temperature of the housing (frame)", 308.15, (150.0, 800.0), "T_h"),
    ),
    inputs=(
        Var("motor_current", "A", "RMS line current", 0.0, (0.0, 1e4), "I"),
        Var("ambient_temperature", "K", "Temperature of the air around the motor", 298.15, (150.0, 400.0), "T_a"),
    ),
    outputs=(
        Var("winding_temperature", "K", "Mean temperature of the stator winding", symbol="T_w"),
        Var("housing_temperature", "K", "Mean temperature of the housing", symbol="T_h"),
        Var("heat_loss", "W", "Copper losses heating the winding, R_cu I^2", symbol="P_loss"),
    ),
    params=(
        Var("thermal_resistance_winding_housing", "K/W", "Winding-to-housing thermal resistance", 0.02,
            (1e-5, 10.0), "R_wh"),
        Var("heat_capacity_winding", "J/K", "Heat capacity of the winding", 3000.0, (1.0, 1e7), "C_w"),
        Var("thermal_resistance_housing_ambient", "K/W", "Housing-to-ambient thermal resistance", 0.06,
            (1e-5, 10.0), "R_ha"),
        Var("heat_capacity_housing", "J/K", "Heat capacity of the housing", 40000.0, (1.0, 1e9), "C_h"),
        Var("copper_loss_resistance", "ohm", "Lumped resistance such that losses are R_cu I^2", 0.9,
            (0.0, 1e3), "R_cu"),
    ),
)


@njit(cache=True)
def motor_thermal_rhs(x, p, u):
    """Time derivatives [K/s] of winding and housing temperature."""
    t_w, t_h = x[0], x[1]
    current, t_a = u[0], u[1]
    r_wh, c_w, r_ha, c_h, r_cu = p[0], p[1], p[2], p[3], p[4]
    q_wh = (t_w - t_h) / r_wh  # heat flow winding -> housing [W]
    return ((r_cu * current * current - q_wh) / c_w,
            (q_wh - (t_h - t_a) / r_ha) / c_h)


@njit(cache=True)
def motor_thermal_output(x, p, u):
    """Outputs: winding temperature [K], housing temperature [K], heat loss [W]."""
    return (x[0], x[1], p[4] * u[0] * u[0])


MOTOR_THERMAL = Model(MOTOR_THERMAL_SPEC, motor_thermal_rhs, motor_thermal_output)
