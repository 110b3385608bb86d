r"""Air compressor with fouling: discharge temperature, mass flow and power.

Fouling of the compressor stage follows the asymptotic Kern-Seaton law
(fouling factor F [-] tends to F_inf with time constant tau_f, slower at part
load), and lowers isentropic efficiency and mass flow.  With inlet temperature
T_in [K] (the ambient load), pressure ratio pi, load fraction l in [0, 1] and
k = (gamma - 1) / gamma::

    dF/dt    = l (F_inf - F) / tau_f
    eta_is   = eta_0 (1 - a_eta F)
    m_dot    = l m_0 (1 - a_m F) (p_in / p_ref) (T_ref / T_in)        inlet density scaling
    T_d,ss   = T_in (1 + (pi^k - 1) / eta_is)
    dT_d/dt  = (T_d,ss - T_d) / tau_T                                  thermal lag of the discharge line
    P        = m_dot c_p T_in (pi^k - 1) / eta_is

So fouling raises discharge temperature *and* power per unit mass at constant
ambient; a warmer inlet raises the discharge temperature in proportion to T_in
(eta unchanged) and lowers mass flow; a drifting temperature sensor changes the
*measured* T_d only, not power or flow.  The three are separable from
discharge temperature, power and flow together.

What it leaves out (the same kind of omission as the motor's missing no-load
losses): power is ``m_dot w``, so an unloaded compressor (l = 0) draws no
power here, while an unloaded screw or piston compressor draws 20-30 % of its
full-load power (mechanical friction, the unloaded pressure ratio), and the
drive motor's own losses are not in P.  Part load is pure flow scaling (no
load/unload cycling, no inlet-throttling efficiency loss).  Also left out:
humidity and condensate, intercooling and after-cooling, a pressure ratio that
follows the net (it is an input), variable gamma and c_p, and any recovery of
fouling (washing is a state reset by a process).

References: Saravanamuttoo et al., *Gas Turbine Theory*, 7th ed., ch. 4
(compressor performance, isentropic efficiency); Kern & Seaton, Brit. Chem.
Eng. 4 (1959) 258 (asymptotic fouling); Diakunchak, J. Eng. Gas Turbines Power
114 (1992) 161 (compressor fouling effects).
"""

from __future__ import annotations

from numba import njit

from sim.physics.model import Model
from sim.physics.spec import ModelSpec, Var

__all__ = ["COMPRESSOR_SPEC", "COMPRESSOR", "compressor_rhs", "compressor_output"]

COMPRESSOR_SPEC = ModelSpec(
    name="compressor",
    version="1.0",
    doc="Air compressor with asymptotic fouling; discharge temperature, mass flow, power.",
    states=(
        Var("fouling", "1", "Fouling factor (0 clean)", 0.0, (0.0, 10.0), "F"),
        Var("discharge_temperature", "K", "Air temperature in the discharge line", 400.0, (150.0, 1200.0), "T_d"),
    ),
    inputs=(
        Var("inlet_temperature", "K", "Air temperature at the inlet (ambient)", 293.15, (150.0, 500.0), "T_in"),
        Var("inlet_pressure", "Pa", "Absolute pressure at the inlet", 101325.0, (1e3, 1e7), "p_in"),
        Var("pressure_ratio", "1", "Discharge over inlet pressure", 3.0, (1.0, 100.0), "pi"),
        Var("load", "1", "Load fraction (0 unloaded, 1 full load)", 1.0, (0.0, 1.0), "l"),
    ),
    outputs=(
        Var("discharge_temperature", "K", "Air temperature in the discharge line", symbol="T_d"),
        Var("mass_flow", "kg/s", "Air mass flow", symbol="m_dot"),
        Var("power", "W", "Shaft power", symbol="P"),
        Var("isentropic_efficiency", "1", "Isentropic efficiency", symbol="eta_is"),
        Var("fouling", "1", "Fouling factor", symbol="F"),
        Var("specific_power", "J/kg", "Shaft power per unit mass flow", symbol="w"),
    ),
    params=(
        Var("clean_efficiency", "1", "Isentropic efficiency when clean", 0.82, (0.05, 1.0), "eta_0"),
        Var("rated_mass_flow", "kg/s", "Mass flow at full load and reference inlet", 1.2, (1e-6, 1e4), "m_0"),
        Var("efficiency_fouling_loss", "1", "Relative efficiency lost per unit fouling", 0.08, (0.0, 1.0), "a_eta"),
        Var("flow_fouling_loss", "1", "Relative mass flow lost per unit fouling", 0.05, (0.0, 1.0), "a_m"),
        Var("asymptotic_fouling", "1", "Fouling factor approached at full load", 1.0, (0.0, 10.0), "F_inf"),
        Var("fouling_time_constant", "s", "Kern-Seaton time constant at full load", 30.0 * 86400.0, (1.0, 1e12),
            "tau_f"),
        Var("thermal_time_constant", "s", "Lag of the discharge temperature", 120.0, (1e-3, 1e7), "tau_T"),
        Var("heat_capacity_ratio", "1", "gamma = c_p / c_v of the gas", 1.4, (1.01, 2.0), "gamma"),
        Var("specific_heat", "J/(kg*K)", "c_p of the gas", 1005.0, (100.0, 2e4), "c_p"),
        Var("reference_temperature", "K", "Inlet temperature of the rating", 293.15, (150.0, 500.0), "T_ref"),
        Var("reference_pressure", "Pa", "Inlet pressure of the rating", 101325.0, (1e3, 1e7), "p_ref"),
    ),
)


@njit(cache=True)
def _performance(x, p, u):
    f = x[0]
    t_in, p_in, ratio, load = u[0], u[1], u[2], u[3]
    eta = p[0] * (1.0 - p[2] * f)
    kappa = (p[7] - 1.0) / p[7]
    lift = ratio ** kappa - 1.0
    m_dot = load * p[1] * (1.0 - p[3] * f) * (p_in / p[10]) * (p[9] / t_in)
    t_ss = t_in * (1.0 + lift / eta)
    w = p[8] * t_in * lift / eta
    return eta, m_dot, t_ss, w


@njit(cache=True)
def compressor_rhs(x, p, u):
    """d/dt of fouling [1/s] and discharge temperature [K/s]."""
    _eta, _m, t_ss, _w = _performance(x, p, u)
    return (u[3] * (p[4] - x[0]) / p[5], (t_ss - x[1]) / p[6])


@njit(cache=True)
def compressor_output(x, p, u):
    """Discharge temperature [K], mass flow [kg/s], power [W], efficiency [-], fouling [-], specific power [J/kg]."""
    eta, m_dot, _t_ss, w = _performance(x, p, u)
    return (x[1], m_dot, m_dot * w, eta, x[0], w)


COMPRESSOR = Model(COMPRESSOR_SPEC, compressor_rhs, compressor_output)
