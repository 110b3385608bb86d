"""The names a kernel template is written against; :func:`~sim.physics.kernels.bind_kernels` fills them per model.

A kernel template imports these and uses them like any global::

    from sim.physics.kernels.placeholders import N_INPUTS, N_PARAMS, N_STATES, output, rhs

In the template module itself they stay placeholders (calling them raises); in
each bound copy they are the model's kernels and the model's sizes, which numba
then sees as compile-time constants (tuple widths, array shapes).
"""

from __future__ import annotations

from sim.exceptions import ModelError

__all__ = ["N_INPUTS", "N_OUTPUTS", "N_PARAMS", "N_STATES", "output", "rhs"]

#: Number of states, inputs, outputs and parameters of the bound model (0 in the unbound template).
N_STATES = 0
N_INPUTS = 0
N_OUTPUTS = 0
N_PARAMS = 0


def rhs(x, p, u):
    """The bound model's ``rhs(x, p, u) -> dx/dt`` (see :mod:`sim.physics.model`)."""
    raise ModelError("a kernel template was called without a model; call the kernels returned by "
                     "sim.physics.bind_kernels(template, model) (or model.kernels(integrator)) instead")


def output(x, p, u):
    """The bound model's ``output(x, p, u) -> y`` (see :mod:`sim.physics.model`)."""
    raise ModelError("a kernel template was called without a model; call the kernels returned by "
                     "sim.physics.bind_kernels(template, model) (or model.kernels(integrator)) instead")
