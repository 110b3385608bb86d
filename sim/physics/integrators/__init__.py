"""Integrators as small strategy objects, one per file (see ``base`` for the kernel contract)."""

from sim.physics.integrators.base import Integrator
from sim.physics.integrators.rk4 import RK4

__all__ = ["Integrator", "RK4"]
