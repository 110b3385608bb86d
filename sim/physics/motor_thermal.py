r"""Two-node thermal model of an electric motor (winding, housing, ambient), with and without no-load losses.

:data:`MOTOR_THERMAL` - copper losses only.  The copper losses heat the
winding; heat flows through the winding insulation into the housing and from
the housing to the ambient air::

    C_w dT_w/dt = R_cu I^2 - (T_w - T_h) / R_wh
    C_h dT_h/dt = (T_w - T_h) / R_wh - (T_h - T_a) / R_ha

with T_w winding temperature [K], T_h housing temperature [K], T_a ambient
temperature [K], I motor current [A], R_cu copper-loss resistance [ohm] (all
phases lumped, so that R_cu I^2 is the total heat input [W]), R_wh and R_ha
thermal resistances [K/W], C_w and C_h heat capacities [J/K].  The model is
linear in the states; for a constant input its step response is a sum of two
exponentials (used as the test oracle).  At steady state
T_w = T_a + R_cu I^2 (R_wh + R_ha).

:data:`MOTOR_THERMAL_LOSSES` - the same two nodes plus the *no-load losses*
(iron losses and friction/windage, IEC 60034-2-1) and the temperature rise of
the copper resistance::

    P_cu = R_cu (1 + alpha (T_w - T_ref)) I^2                   copper losses [W]
    P_0  = P_nl  if I > I_0 else 0                              no-load losses while energised [W]
    C_w dT_w/dt = P_cu + k_0 P_0 - (T_w - T_h) / R_wh
    C_h dT_h/dt = (T_w - T_h) / R_wh + (1 - k_0) P_0 - (T_h - T_a) / R_ha

with P_nl the no-load loss [W] (iron + friction + windage at the operating
speed), k_0 in [0, 1] the share of it that heats the winding node (iron losses
sit in the stator core next to the winding, friction in the bearings on the
frame; 0.5 by default), I_0 the current above which the motor counts as
energised [A] (a stopped motor has no iron losses; an idling one draws its
magnetising current), alpha the temperature coefficient of the winding
resistance [1/K] (0.00393 for copper; 0 keeps R_cu constant) and T_ref the
temperature at which R_cu holds [K].  With P_nl = 0 and alpha = 0 it gives
exactly the numbers of :data:`MOTOR_THERMAL` (tested bit for bit).  At steady
state with alpha = 0 and the motor energised::

    T_w = T_a + (R_cu I^2 + P_nl) (R_wh + R_ha) - (1 - k_0) P_nl R_wh

**Scaling symmetry.**  Only temperatures are measured, never heat flows: the
map from (I, T_a) to (T_w, T_h) is unchanged when every heat flow is scaled by
the same factor c > 0::

    (R_cu, P_nl, C_w, C_h, R_wh, R_ha) -> (c R_cu, c P_nl, c C_w, c C_h, R_wh / c, R_ha / c)

(alpha, T_ref, k_0 and I_0 are unchanged).  So temperatures alone can never
determine all of them: a fit that frees them all is singular (one flat
direction), and a fit that frees a wrong subset moves the error into the
others.  Fix one heat-flow scale from a measurement of another kind: the
copper-loss resistance R_cu from the winding's DC resistance (IEC 60034-2-1:
R_cu = 1.5 R_line-line for a star or delta winding at the reference
temperature) is the usual choice; the motor's rated losses (nameplate
efficiency) or the winding mass times the specific heat of copper (C_w) also
do.  With R_cu fixed, winding temperature and current identify R_wh, C_w,
R_ha, C_h and P_nl if the record holds loaded, idling (energised, little
current) and - ideally - stopped periods.  k_0 is only weakly identified by
the winding temperature alone (it trades against R_wh); fix it from design
knowledge (0.5 when unknown) unless the housing temperature is measured too.
I_0 and T_ref are plant facts, never fitted; alpha is the material constant.

What the models leave out: the rotor as a thermal node (rotor copper losses are
lumped into R_cu I^2, so slip-dependent losses are not separated); the speed
dependence of friction, windage (~ n^3) and iron losses (~ f^1.5..2) on a
variable-speed drive (P_nl holds at one operating speed; a speed input would be
needed); cooling that depends on speed (a shaft-mounted fan: R_ha grows as the
motor slows) and stray-load losses beyond R_cu I^2; radiation (linearised into
R_ha); a distributed winding (the hot spot lies a few kelvin above the mean
winding temperature T_w; IEC 60034-1 thermal classes allow for it).
:data:`MOTOR_THERMAL` also leaves out the no-load losses and the temperature
rise of R_cu (copper resistance grows 0.393 %/K: about 30 % between 20 and
100 degC), which :data:`MOTOR_THERMAL_LOSSES` models.

Defaults describe a 15 kW, 400 V induction motor driving a conveyor: winding
time constant about a minute, housing about 45 min.
"""

from __future__ import annotations

from numba import njit

from sim.physics.model import Model
from sim.physics.spec import ModelSpec, Var

__all__ = ["MOTOR_THERMAL_SPEC", "MOTOR_THERMAL", "motor_thermal_rhs", "motor_thermal_output",
           "MOTOR_THERMAL_LOSSES_SPEC", "MOTOR_THERMAL_LOSSES", "motor_thermal_losses_rhs",
           "motor_thermal_losses_output"]

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

MOTOR_THERMAL_LOSSES_SPEC = ModelSpec(
    name="motor_thermal_losses",
    version="1.0",
    doc="Two-node motor thermal model with no-load (iron, friction, windage) losses and R_cu(T).",
    states=MOTOR_THERMAL_SPEC.states,
    inputs=MOTOR_THERMAL_SPEC.inputs,
    outputs=MOTOR_THERMAL_SPEC.outputs[:2] + (
        Var("heat_loss", "W", "Total losses: copper R_cu(T_w) I^2 plus no-load losses while energised",
            symbol="P_loss"),
    ),
    params=MOTOR_THERMAL_SPEC.params + (
        Var("no_load_loss", "W", "Iron + friction + windage losses while energised, at the operating speed", 0.0,
            (0.0, 1e6), "P_nl"),
        Var("no_load_loss_winding_share", "1", "Share of the no-load losses heating the winding node (rest: "
            "housing)", 0.5, (0.0, 1.0), "k_0"),
        Var("energised_current", "A", "Current above which the motor is energised (no-load losses flow)", 1.0,
            (0.0, 1e4), "I_0"),
        Var("copper_temperature_coefficient", "1/K", "Temperature coefficient of R_cu (0.00393 for copper; 0: "
            "constant)", 0.0, (0.0, 0.01), "alpha"),
        Var("copper_reference_temperature", "K", "Winding temperature at which R_cu holds", 293.15,
            (150.0, 800.0), "T_ref"),
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


@njit(cache=True)
def _losses(x, p, u):
    """Copper losses R_cu (1 + alpha (T_w - T_ref)) I^2 [W] and no-load losses [W] of the loss model."""
    current = u[0]
    copper = p[4] * (1.0 + p[8] * (x[0] - p[9])) * current * current
    no_load = p[5] if current > p[7] else 0.0
    return copper, no_load


@njit(cache=True)
def motor_thermal_losses_rhs(x, p, u):
    """Time derivatives [K/s] of winding and housing temperature, with no-load losses and R_cu(T_w)."""
    t_w, t_h, t_a = x[0], x[1], u[1]
    r_wh, c_w, r_ha, c_h, share = p[0], p[1], p[2], p[3], p[6]
    copper, no_load = _losses(x, p, u)
    q_wh = (t_w - t_h) / r_wh  # heat flow winding -> housing [W]
    # with no_load = 0 and alpha = 0 every sum below adds an exact 0.0: the numbers of motor_thermal_rhs
    return ((copper + share * no_load - q_wh) / c_w,
            (q_wh + (1.0 - share) * no_load - (t_h - t_a) / r_ha) / c_h)


@njit(cache=True)
def motor_thermal_losses_output(x, p, u):
    """Outputs: winding temperature [K], housing temperature [K], total losses [W]."""
    copper, no_load = _losses(x, p, u)
    return (x[0], x[1], copper + no_load)


MOTOR_THERMAL_LOSSES = Model(MOTOR_THERMAL_LOSSES_SPEC, motor_thermal_losses_rhs, motor_thermal_losses_output)
