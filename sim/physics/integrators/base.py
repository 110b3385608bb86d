"""The integrator strategy interface and the contract of its compiled kernels.

An integrator is a small frozen dataclass.  ``integrator.kernels(model)``
returns an object with two compiled functions of fixed signatures, so that
:class:`~sim.physics.fleet.Fleet` and :meth:`~sim.physics.model.Model.simulate`
work with any integrator:

``advance(x, p, u, t0, t1, opts, ev_out, ev_level, ev_dir, ev_active, status, report) -> t``
    Advance the fleet ``x[n, nx]`` in place from *t0* towards *t1* [s] with
    inputs ``u[n, nu]`` held constant, stopping the whole fleet at the earliest
    armed state event ``g = y[ev_out[j]] - ev_level[j]`` crossing zero in
    direction ``ev_dir[j]`` (+1 rising, -1 falling, 0 both) where
    ``ev_active[a, j]``.  Returns the time reached and fills *status* (and
    *report* on failure).
``simulate(x0, p, t, u, linear, opts, y, status, report) -> k``
    Outputs ``y[n, k, ny]`` on the sample grid ``t[k]`` with inputs ``u[k, nu]``
    shared by all assets, held (``linear = 0``) or linearly interpolated
    (``linear = 1``) between samples inside the kernel.  Returns the number of
    samples written.

``status`` has four entries: ``[code, asset, index, stiff_asset]``.  Codes: 0
reached the end, 1 event *index* of *asset*, 2 state *index* of *asset* became
non-finite, 4 the step size collapsed, 5 the step budget (``max_steps``) ran
out (*asset* -1 for a lock-step integrator; for an adaptive one *index* is the
state with the largest share of the last error estimate, -1 if unknown).
``stiff_asset`` >= 0 flags the first asset whose steps were limited by
stability (a warning, not an error).

``report`` has four floats, filled on failure: code 2 ``[value, time,
last_finite_value, last_finite_time]`` (the state became *value* at *time* [s]
and was last finite at *last_finite_time*); codes 4 and 5 ``[value, time, step,
nan]`` (the state *index* had *value* at *time*, the last step tried was *step*
[s]; for a lock-step budget *value* is NaN and *step* the number of steps the
call needed).

Model kernels take and return tuples: ``rhs(x, p, u) -> dx/dt`` and
``output(x, p, u) -> y`` (see :mod:`sim.physics.model`).  The compiled
integrators write their kernels once as templates (:mod:`sim.physics.kernels`)
and bind them to each model.
"""

from __future__ import annotations

import numbers

import numpy as np

from sim.exceptions import ConfigurationError

__all__ = ["Integrator", "STATUS_OK", "STATUS_EVENT", "STATUS_NONFINITE", "STATUS_STIFF", "STATUS_STEP",
           "STATUS_BUDGET", "check_step_budget"]

STATUS_OK, STATUS_EVENT, STATUS_NONFINITE, STATUS_STIFF, STATUS_STEP, STATUS_BUDGET = range(6)


def check_step_budget(owner: str, max_steps) -> None:
    """Raise :class:`ConfigurationError` unless *max_steps* is a whole number >= 1."""
    if isinstance(max_steps, bool) or not isinstance(max_steps, numbers.Integral) or max_steps < 1:
        raise ConfigurationError(f"{owner} max_steps must be a whole number of steps >= 1, got {max_steps!r}; pass "
                                 f"e.g. {owner}(max_steps=1_000_000)")


class Integrator:
    """Base class of integrator strategies (frozen dataclasses)."""

    name = "base"

    def options(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def kernels(self, model):  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:
        return repr(self)

    def kernel_key(self):
        """Integrators with equal keys share compiled kernels (options are passed at run time)."""
        return self.name
