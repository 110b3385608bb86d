"""Classical fixed-step fourth-order Runge-Kutta with sub-stepping and event location."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from sim.exceptions import ConfigurationError
from sim.physics.integrators.base import Integrator, check_step_budget
from sim.physics.kernels import bind_kernels

__all__ = ["RK4"]


@dataclass(frozen=True)
class RK4(Integrator):
    """Classical fixed-step fourth-order Runge-Kutta with sub-stepping.

    Every asset of a fleet takes the same step grid ``t0 + k * max_step`` (the
    last step ends exactly at the target time); state events are located
    inside a step by the Illinois method on the step fraction, each trial one
    RK4 step from the step start.

    Parameters
    ----------
    max_step : float
        Longest step [s]; intervals are split into sub-steps no longer than this.
    event_time_tol : float
        Width [s] to which a state-event crossing is bracketed.
    max_steps : int
        Step budget per call (``Fleet.advance``, ``Model.simulate``): a call that
        needs more steps raises :class:`~sim.exceptions.StepBudgetError` before
        it steps, instead of running for hours.
    """

    max_step: float = 1.0
    event_time_tol: float = 1e-9
    max_steps: int = 100_000_000

    name = "rk4"

    def __post_init__(self):
        if not (isinstance(self.max_step, numbers.Real) and math.isfinite(self.max_step) and self.max_step > 0):
            raise ConfigurationError(f"RK4 max_step must be a finite positive time [s], got {self.max_step!r}; "
                                     f"pass e.g. RK4(max_step=1.0)")
        if not (isinstance(self.event_time_tol, numbers.Real) and 0 < self.event_time_tol < math.inf):
            raise ConfigurationError(f"RK4 event_time_tol must be a finite positive time [s], got "
                                     f"{self.event_time_tol!r}; pass e.g. RK4(event_time_tol=1e-9)")
        check_step_budget("RK4", self.max_steps)

    def options(self) -> np.ndarray:
        return np.array([self.max_step, self.event_time_tol, self.max_steps], dtype=np.float64)

    def kernels(self, model):
        """Kernels of :mod:`sim.physics.kernels.rk4` bound to *model* (compiled on first use, cached by numba)."""
        from sim.physics.kernels import rk4 as template  # imported on first use: keeps `import sim` light

        return bind_kernels(template, model)
