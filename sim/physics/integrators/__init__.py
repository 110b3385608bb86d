"""Integrators as small strategy objects, one per file (see ``base`` for the kernel contract)."""

from sim.physics.integrators.base import Integrator
from sim.physics.integrators.dopri5 import DormandPrince
from sim.physics.integrators.rk4 import RK4
from sim.physics.integrators.scipy_ivp import SolveIVP

__all__ = ["DormandPrince", "Integrator", "RK4", "SolveIVP"]
