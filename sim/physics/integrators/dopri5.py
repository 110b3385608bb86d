"""Adaptive Dormand-Prince 5(4) with error control, dense output, events and stiffness detection.

Coefficients: J. R. Dormand and P. J. Prince, "A family of embedded Runge-Kutta
formulae", J. Comp. Appl. Math. 6 (1980); the fourth-order dense output and the
stiffness test (``h * |lambda| > 3.25`` fifteen times) follow E. Hairer,
S. P. Norsett, G. Wanner, *Solving Ordinary Differential Equations I*, 2nd ed.,
section II.6 and IV.2 (code DOPRI5).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from sim.exceptions import ConfigurationError
from sim.physics.integrators.base import Integrator, check_step_budget
from sim.physics.kernels import bind_kernels

__all__ = ["DormandPrince"]


@dataclass(frozen=True)
class DormandPrince(Integrator):
    """Adaptive Dormand-Prince 5(4) ("DOPRI5", the method behind ``solve_ivp``'s RK45).

    Each asset of a fleet chooses its own steps; error per step is kept below
    ``atol + rtol * |x|`` (RMS over states).  State events are located on the
    4th-order dense output without extra right-hand-side evaluations.  A stiff
    problem (Hairer's test ``h |lambda| > 3.25`` on 15 accepted steps) or a
    collapsing step raises :class:`~sim.exceptions.StiffnessError` that points
    to :class:`SolveIVP` with BDF/Radau.  When the step is repeatedly limited by
    stability rather than accuracy (stiffness), the integration goes on and a
    :class:`~sim.exceptions.StiffnessWarning` names the asset.

    Parameters
    ----------
    rtol, atol : float
        Relative and absolute tolerance [-, unit of the states].
    max_step : float
        Longest step [s].
    first_step : float
        First step [s]; 0 chooses it automatically.
    event_time_tol : float
        Width [s] to which event crossings are bracketed.
    max_steps : int
        Step budget per asset and sample interval (``Model.simulate``) or call
        (``Fleet.advance``), rejected steps included; running out raises
        :class:`~sim.exceptions.StepBudgetError` naming the state that limits the step.
    """

    rtol: float = 1e-6
    atol: float = 1e-9
    max_step: float = math.inf
    first_step: float = 0.0
    event_time_tol: float = 1e-9
    max_steps: int = 1_000_000

    name = "dopri5"

    def __post_init__(self):
        for key in ("rtol", "atol", "max_step", "event_time_tol"):
            value = getattr(self, key)
            if not (isinstance(value, numbers.Real) and value > 0):
                raise ConfigurationError(f"DormandPrince {key} must be > 0, got {value!r}")
        if not self.rtol >= 1e-14:
            raise ConfigurationError(f"DormandPrince rtol = {self.rtol} is below what float64 can deliver; use >= 1e-14")
        if not self.first_step >= 0:
            raise ConfigurationError(f"DormandPrince first_step must be >= 0 s (0 chooses it), got {self.first_step!r}")
        check_step_budget("DormandPrince", self.max_steps)

    def options(self) -> np.ndarray:
        return np.array([self.rtol, self.atol, min(self.max_step, 1e300), self.first_step, self.event_time_tol,
                         float(self.max_steps)], dtype=np.float64)

    def kernels(self, model):
        """Kernels of :mod:`sim.physics.kernels.dopri5` bound to *model* (compiled on first use, cached by numba)."""
        from sim.physics.kernels import dopri5 as template  # imported on first use: keeps `import sim` light

        return bind_kernels(template, model)
