r"""Open tank drained through a valve (Torricelli outflow), with a drained-volume counter.

With level h [m], tank cross-section A [m^2], inflow Q_in [m^3/s], valve opening
s in [0, 1], discharge coefficient c_d and valve area a [m^2]::

    Q_out  = s c_d a sqrt(2 g max(h, 0))
    dh/dt  = (Q_in - Q_out) / A
    dV_out/dt = Q_out

The drained volume V_out makes the mass balance checkable:
``A (h(t) - h(0)) + V_out(t) = integral of Q_in dt``.

What it leaves out: evaporation and leaks (the balance is exact, so any
unmeasured loss shows up as a fitted valve area), the valve's flow
characteristic (the flow area is linear in the opening s; real valves are
equal-percentage or quick-opening), outflow inertia, a varying cross-section
(A is constant), and density or temperature effects.  There is no loss that
flows at zero opening, so a closed tank holds its level exactly.

Reference: Bird, Stewart, Lightfoot, *Transport Phenomena*, 2nd ed., 7.1 (macroscopic mass balance).
"""

from __future__ import annotations

import math

from numba import njit

from sim.physics.model import Model
from sim.physics.spec import ModelSpec, Var

__all__ = ["TANK_SPEC", "TANK", "tank_rhs", "tank_output"]

G = 9.80665

TANK_SPEC = ModelSpec(
    name="tank",
    version="1.0",
    doc="Open tank with valve outflow (Torricelli) and a drained-volume counter.",
    states=(
        Var("level", "m", "Liquid level above the outlet", 1.0, (-1.0, 1e3), "h"),
        Var("drained_volume", "m^3", "Volume that left through the valve since t0", 0.0, (-1.0, 1e12), "V_out"),
    ),
    inputs=(
        Var("inflow", "m^3/s", "Volumetric inflow", 0.0, (-1e3, 1e3), "Q_in"),
        Var("valve_opening", "1", "Outlet valve opening (0 closed, 1 open)", 1.0, (0.0, 1.0), "s"),
    ),
    outputs=(
        Var("level", "m", "Liquid level", symbol="h"),
        Var("volume", "m^3", "Liquid volume A h", symbol="V"),
        Var("outflow", "m^3/s", "Volumetric outflow through the valve", symbol="Q_out"),
        Var("drained_volume", "m^3", "Volume drained since t0", symbol="V_out"),
    ),
    params=(
        Var("cross_section", "m^2", "Tank cross-section", 2.0, (1e-6, 1e6), "A"),
        Var("valve_area", "m^2", "Flow area of the fully open valve", 0.002, (0.0, 1e3), "a"),
        Var("discharge_coefficient", "1", "Valve discharge coefficient", 0.62, (0.0, 1.0), "c_d"),
    ),
)


@njit(cache=True)
def _outflow(x, p, u):
    return u[1] * p[2] * p[1] * math.sqrt(2.0 * G * max(x[0], 0.0))


@njit(cache=True)
def tank_rhs(x, p, u):
    """d/dt of level [m/s] and drained volume [m^3/s]."""
    q_out = _outflow(x, p, u)
    return ((u[0] - q_out) / p[0], q_out)


@njit(cache=True)
def tank_output(x, p, u):
    """Level [m], volume [m^3], outflow [m^3/s], drained volume [m^3]."""
    return (x[0], p[0] * x[0], _outflow(x, p, u), x[1])


TANK = Model(TANK_SPEC, tank_rhs, tank_output)
