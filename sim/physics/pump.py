r"""Centrifugal pump with impeller wear, strainer fouling and bearing wear.

Hydraulics (lumped pipe inertia, Q flow [m^3/s], H head [m], s = omega/omega_ref)::

    H_pump(Q, s) = (1 - k_iw w_i) (a0 s^2 + a1 s Q + a2 Q |Q|)          affinity-consistent head curve;
                                                                        Q|Q| keeps a stopped pump resisting backflow
    H_sys(Q)     = H_st + (K_pipe + K_s) Q^2                            static head + friction + strainer
    dQ/dt        = g (H_pump - H_sys) / (L/A)                           momentum balance of the pipe

Efficiency (parabola through the best-efficiency point, which moves with speed
by the affinity laws ``Q_bep(s) = s Q_bep``), lowered by impeller wear::

    eta = eta_bep (1 - k_ie w_i) (2 r - r^2),  r = Q / (s Q_bep),  clipped to [eta_min, 1]

Degradation::

    dw_i/dt = k_wi s^3                    impeller wear (erosion grows with tip speed cubed) [1/s]
    dK_s/dt = k_f |Q|                     strainer fouling: deposit grows with throughput [s^2/m^5 per s]
    dw_b/dt = k_wb s (1 + c_b (Q/(s Q_bep) - 1)^2)   bearing wear, faster off the BEP (radial load) [1/s]

Outputs: flow [m^3/s], head [m], discharge pressure rho g H_pump + p_suction [Pa],
hydraulic power rho g Q H_pump [W], shaft power P_h / eta [W], loss power
P_shaft - P_h [W], efficiency [-], motor current P_shaft / (eta_m sqrt(3) U cos phi) [A],
vibration RMS v0 s^2 + v_w w_b s [m/s], impeller wear, strainer resistance, bearing wear.

Time scales: the flow settles with a time constant of about
``(L/A) / (g |d(H_pump - H_sys)/dQ|)``, about 1 s with the defaults.  RK4 at 1 s
steps is stable there (|lambda h| < 2.8) and exact at steady state; resolving
start-up transients to 1e-6 needs about 0.1 s steps.  Wear and fouling evolve
over days to years.

What it leaves out (the same kind of omission as the motor's missing no-load
losses: losses that do not scale with the useful work): the shaft power is
``|P_h| / eta`` only, so at shut-off (Q = 0) it is 0, while a real pump draws
30-50 % of its best-efficiency power there (disc friction, recirculation,
bearing and seal friction); and the motor current is ``P_shaft / (eta_m sqrt(3)
U cos phi)`` with constant eta_m and cos phi, so an unloaded motor draws no
current here, while a real one draws its magnetising current (30-50 % of rated).
Near shut-off the power and current outputs are therefore too low.  Also left
out: cavitation (the suction pressure only shifts the discharge pressure; no
NPSH check or head drop), viscosity and temperature of the fluid (water-like,
constant density), compressibility and water hammer (rigid-column inertia
only), check-valve and pipe dynamics beyond one lumped inertance, and the
effect of bearing wear on friction power (it raises only vibration).

References: Gulich, *Centrifugal Pumps*, 3rd ed., ch. 3-4 (affinity laws, head
and efficiency curves, wear); Karassik et al., *Pump Handbook*, 4th ed.,
ch. 2 and 12 (system curves, strainer losses).  Equations written from these;
no code was taken from other packages.
"""

from __future__ import annotations

import math

from numba import njit

from sim.physics.model import Model
from sim.physics.spec import ModelSpec, Var

__all__ = ["PUMP_SPEC", "PUMP", "pump_rhs", "pump_output"]

G = 9.80665  # standard gravity [m/s^2]

PUMP_SPEC = ModelSpec(
    name="centrifugal_pump",
    version="1.0",
    doc="Centrifugal pump on a pipe with strainer: head-flow-efficiency curves, wear and fouling.",
    states=(
        Var("flow", "m^3/s", "Volumetric flow through the pump", 0.0, (-1.0, 100.0), "Q"),
        Var("impeller_wear", "1", "Impeller wear (0 new, 1 worn out)", 0.0, (0.0, 10.0), "w_i"),
        Var("strainer_resistance", "s^2/m^5", "Head-loss coefficient of the suction strainer", 2000.0,
            (0.0, 1e12), "K_s"),
        Var("bearing_wear", "1", "Bearing wear (0 new, 1 failure)", 0.0, (0.0, 10.0), "w_b"),
    ),
    inputs=(
        Var("shaft_speed", "rad/s", "Pump shaft speed", 308.0, (0.0, 2000.0), "omega"),
        Var("static_head", "m", "Static head the pump lifts against", 10.0, (-1e3, 1e4), "H_st"),
        Var("suction_pressure", "Pa", "Gauge pressure at the pump inlet", 0.0, (-1e5, 1e8), "p_s"),
    ),
    outputs=(
        Var("flow", "m^3/s", "Volumetric flow", symbol="Q"),
        Var("head", "m", "Pump head", symbol="H"),
        Var("discharge_pressure", "Pa", "Gauge pressure at the pump outlet", symbol="p_d"),
        Var("hydraulic_power", "W", "rho g Q H delivered to the fluid", symbol="P_h"),
        Var("shaft_power", "W", "Mechanical power taken from the shaft", symbol="P_s"),
        Var("loss_power", "W", "Shaft power not delivered to the fluid", symbol="P_l"),
        Var("efficiency", "1", "Pump efficiency", symbol="eta"),
        Var("motor_current", "A", "Line current of the driving motor", symbol="I"),
        Var("vibration_rms", "m/s", "Bearing-housing vibration velocity, RMS", symbol="v"),
        Var("impeller_wear", "1", "Impeller wear", symbol="w_i"),
        Var("strainer_resistance", "s^2/m^5", "Strainer head-loss coefficient", symbol="K_s"),
        Var("bearing_wear", "1", "Bearing wear", symbol="w_b"),
    ),
    params=(
        Var("reference_speed", "rad/s", "Speed of the rated curves (2950 rpm)", 308.9, (1.0, 2000.0), "omega_ref"),
        Var("head_coefficient_0", "m", "Shut-off head at reference speed", 40.0, (0.1, 1e4), "a0"),
        Var("head_coefficient_1", "s/m^2", "Linear head-curve coefficient", 0.0, (-1e6, 1e6), "a1"),
        Var("head_coefficient_2", "s^2/m^5", "Quadratic head-curve coefficient (negative)", -20000.0,
            (-1e12, 0.0), "a2"),
        Var("bep_flow", "m^3/s", "Best-efficiency flow at reference speed", 0.03, (1e-6, 100.0), "Q_bep"),
        Var("bep_efficiency", "1", "Best efficiency", 0.78, (0.05, 1.0), "eta_bep"),
        Var("min_efficiency", "1", "Floor of the efficiency curve (keeps the shaft power finite)", 0.05,
            (1e-3, 1.0), "eta_min"),
        Var("pipe_resistance", "s^2/m^5", "Friction head-loss coefficient of the piping", 10000.0, (0.0, 1e12),
            "K_pipe"),
        Var("pipe_inertance", "1/m", "Pipe length over cross-section L/A (150 m of DN100)", 20000.0, (1e-3, 1e9),
            "L/A"),
        Var("density", "kg/m^3", "Fluid density", 998.0, (1.0, 2e4), "rho"),
        Var("impeller_wear_head_loss", "1", "Relative head lost at full impeller wear", 0.25, (0.0, 1.0), "k_iw"),
        Var("impeller_wear_efficiency_loss", "1", "Relative efficiency lost at full impeller wear", 0.15,
            (0.0, 1.0), "k_ie"),
        Var("impeller_wear_rate", "1/s", "Impeller wear rate at reference speed", 1e-8, (0.0, 1.0), "k_wi"),
        Var("fouling_rate", "1/m^6", "Strainer resistance added per volume pumped", 0.25, (0.0, 1e12), "k_f"),
        Var("bearing_wear_rate", "1/s", "Bearing wear rate at reference speed and BEP", 2e-8, (0.0, 1.0), "k_wb"),
        Var("bearing_off_bep_factor", "1", "Extra bearing wear per squared relative distance from BEP", 2.0,
            (0.0, 1e3), "c_b"),
        Var("vibration_base", "m/s", "Vibration RMS of a new pump at reference speed", 1.5e-3, (0.0, 1.0), "v0"),
        Var("vibration_wear_gain", "m/s", "Vibration RMS added at full bearing wear", 8e-3, (0.0, 1.0), "v_w"),
        Var("motor_efficiency", "1", "Efficiency of the driving motor", 0.92, (0.05, 1.0), "eta_m"),
        Var("line_voltage", "V", "Line-to-line supply voltage", 400.0, (1.0, 1e5), "U"),
        Var("power_factor", "1", "Motor power factor cos(phi)", 0.86, (0.05, 1.0), "cos_phi"),
    ),
)


@njit(cache=True)
def _pump_curves(x, p, u):
    q, w_i, k_s = x[0], x[1], x[2]
    s = u[0] / p[0]
    h_pump = (1.0 - p[10] * w_i) * (p[1] * s * s + p[2] * s * q + p[3] * q * abs(q))
    if s > 1e-9:
        r = q / (s * p[4])
        eta = p[5] * (1.0 - p[11] * w_i) * (2.0 * r - r * r)
    else:
        eta = p[6]
    eta = min(max(eta, p[6]), 1.0)
    return s, h_pump, eta


@njit(cache=True)
def pump_rhs(x, p, u):
    """d/dt of flow [m^3/s^2], impeller wear [1/s], strainer resistance [s^2/m^5/s], bearing wear [1/s]."""
    q, k_s = x[0], x[2]
    s, h_pump, _eta = _pump_curves(x, p, u)
    h_sys = u[1] + (p[7] + k_s) * q * abs(q)
    dq = G * (h_pump - h_sys) / p[8]
    dwi = p[12] * s * s * s
    dks = p[13] * abs(q)
    if s > 1e-9:
        off = q / (s * p[4]) - 1.0
        dwb = p[14] * s * (1.0 + p[15] * off * off)
    else:
        dwb = 0.0
    return (dq, dwi, dks, dwb)


@njit(cache=True)
def pump_output(x, p, u):
    """Outputs in the order of ``PUMP_SPEC.outputs`` (SI units)."""
    q, w_i, k_s, w_b = x[0], x[1], x[2], x[3]
    s, h_pump, eta = _pump_curves(x, p, u)
    rho = p[9]
    p_h = rho * G * q * h_pump
    p_shaft = abs(p_h) / eta
    current = p_shaft / (p[18] * math.sqrt(3.0) * p[19] * p[20])
    vib = p[16] * s * s + p[17] * w_b * s
    return (q, h_pump, rho * G * h_pump + u[2], p_h, p_shaft, p_shaft - p_h, eta, current, vib, w_i, k_s, w_b)


PUMP = Model(PUMP_SPEC, pump_rhs, pump_output)
