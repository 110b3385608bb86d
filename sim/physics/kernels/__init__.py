"""Compiled kernels as templates: integrator code written once, bound to each model's ``rhs`` and ``output``.

* :mod:`~sim.physics.kernels.placeholders` - the names a template is written against.
* :func:`bind_kernels` - a template's kernels compiled for one model (see :mod:`~sim.physics.kernels.binding`).
* :mod:`~sim.physics.kernels.tuples`, :mod:`~sim.physics.kernels.events` - helpers for template code.
* :mod:`~sim.physics.kernels.rk4`, :mod:`~sim.physics.kernels.dopri5` - the integrators' templates;
  :func:`~sim.physics.kernels.rk4.rk4_step` is the RK4 step other templates (the estimators of
  :mod:`calibration`) reuse.
"""

from sim.physics.kernels.binding import bind_kernels, is_kernel_template

__all__ = ["bind_kernels", "is_kernel_template"]
