r"""Rolling-bearing degradation: fatigue damage (Lundberg-Palmgren life, Miner's rule) and friction heating.

With rotational speed omega [rad/s], equivalent radial load P [N], basic dynamic
load rating C [N] and life exponent p (3 for ball, 10/3 for roller bearings), the
rating life is L10 = (C/P)^p million revolutions.  Damage accumulates linearly
(Palmgren-Miner), faster when the bearing runs hot (lubricant viscosity falls;
the life-modification factor is modelled as ``exp((T - T_ref) / T_a)``)::

    dD/dt     = omega / (2 pi) / (1e6 (C/P)^p) * exp((T_b - T_ref) / T_a)
    C_b dT_b/dt = mu P r omega - (T_b - T_amb) / R_b

Outputs: damage D [-] (1 = rated life consumed, the failure threshold for a
state event), bearing temperature T_b [K], vibration velocity RMS
``v = v0 s + v_d D^2 s`` with s = omega / omega_ref [m/s], friction power [W].

What it leaves out: friction is the load-dependent term ``mu P r omega`` only.
The load-independent (viscous, "no-load") friction torque of Palmgren's model,
``M_0 = 1e-7 f_0 (nu n)^(2/3) d_m^3`` (lubricant viscosity nu, speed n, pitch
diameter d_m), is missing - the same kind of omission as the motor's no-load
losses: at light load and high speed it dominates the heating, so this model
then runs too cool.  Also left out: the fatigue load limit and contamination
and lubrication factors of ISO 281's modified life (only the temperature factor
``exp((T - T_ref) / T_a)``), lubricant ageing, the frequency content of the
vibration (RMS only), and the shaft and housing as separate thermal nodes.

References: ISO 281:2007 (rating life); Harris & Kotzalas, *Rolling Bearing
Analysis*, 5th ed., ch. 8 (friction) and 11 (fatigue life).
"""

from __future__ import annotations

import math

from numba import njit

from sim.physics.model import Model
from sim.physics.spec import ModelSpec, Var

__all__ = ["BEARING_SPEC", "BEARING", "bearing_rhs", "bearing_output"]

BEARING_SPEC = ModelSpec(
    name="bearing",
    version="1.0",
    doc="Rolling bearing: Miner fatigue damage with temperature-dependent life, friction heating, vibration.",
    states=(
        Var("damage", "1", "Consumed fraction of the rating life (Miner sum)", 0.0, (0.0, 100.0), "D"),
        Var("bearing_temperature", "K", "Outer-ring temperature", 300.0, (150.0, 800.0), "T_b"),
    ),
    inputs=(
        Var("shaft_speed", "rad/s", "Rotational speed", 308.0, (0.0, 1e4), "omega"),
        Var("radial_load", "N", "Equivalent dynamic bearing load", 2000.0, (0.0, 1e8), "P"),
        Var("ambient_temperature", "K", "Temperature around the bearing housing", 298.15, (150.0, 500.0), "T_amb"),
    ),
    outputs=(
        Var("damage", "1", "Consumed fraction of the rating life", symbol="D"),
        Var("bearing_temperature", "K", "Outer-ring temperature", symbol="T_b"),
        Var("vibration_rms", "m/s", "Housing vibration velocity, RMS", symbol="v"),
        Var("friction_power", "W", "Power dissipated by bearing friction", symbol="P_f"),
    ),
    params=(
        Var("dynamic_load_rating", "N", "Basic dynamic load rating C", 30700.0, (1.0, 1e9), "C"),
        Var("life_exponent", "1", "3 for ball, 10/3 for roller bearings", 3.0, (1.0, 5.0), "p"),
        Var("reference_temperature", "K", "Temperature of the rated life", 343.15, (200.0, 600.0), "T_ref"),
        Var("temperature_sensitivity", "K", "Temperature rise that shortens life by a factor e", 15.0,
            (0.1, 1e3), "T_a"),
        Var("friction_coefficient", "1", "Coefficient of friction referred to the bore", 0.0015, (0.0, 0.1), "mu"),
        Var("bore_radius", "m", "Radius at which friction acts", 0.0225, (1e-4, 2.0), "r"),
        Var("heat_capacity", "J/K", "Heat capacity of bearing and housing", 2000.0, (1.0, 1e8), "C_b"),
        Var("thermal_resistance", "K/W", "Bearing-to-ambient thermal resistance", 0.5, (1e-4, 1e3), "R_b"),
        Var("reference_speed", "rad/s", "Speed of the vibration reference", 308.9, (1.0, 1e4), "omega_ref"),
        Var("vibration_base", "m/s", "Vibration RMS of a new bearing at reference speed", 1.0e-3, (0.0, 1.0), "v0"),
        Var("vibration_damage_gain", "m/s", "Vibration RMS added at D = 1", 6.0e-3, (0.0, 1.0), "v_d"),
    ),
)


@njit(cache=True)
def bearing_rhs(x, p, u):
    """d/dt of damage [1/s] and bearing temperature [K/s]."""
    t_b = x[1]
    omega, load, t_amb = u[0], u[1], u[2]
    if load > 0.0:
        life_rev = 1e6 * (p[0] / load) ** p[1]
        d_dot = abs(omega) / (2.0 * math.pi) / life_rev * math.exp((t_b - p[2]) / p[3])
    else:
        d_dot = 0.0
    heat = p[4] * load * p[5] * abs(omega)
    return (d_dot, (heat - (t_b - t_amb) / p[7]) / p[6])


@njit(cache=True)
def bearing_output(x, p, u):
    """Damage [-], bearing temperature [K], vibration RMS [m/s], friction power [W]."""
    s = abs(u[0]) / p[8]
    return (x[0], x[1], p[9] * s + p[10] * x[0] * x[0] * s, p[4] * u[1] * p[5] * abs(u[0]))


BEARING = Model(BEARING_SPEC, bearing_rhs, bearing_output)
