"""Classical fixed-step fourth-order Runge-Kutta with sub-stepping and event location."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from sim.exceptions import ConfigurationError
from sim.physics.integrators.base import TEMPLATE_HEADER, Integrator, illinois

__all__ = ["RK4", "RK4_STEP"]

RK4_STEP = '''
@njit(cache=True, inline='always')
def rk4_step(x, p, u0, um, u1, h):
    k1 = _rhs(x, p, u0)
    k2 = _rhs(_acc1(x, 0.5 * h, 1.0, k1), p, um)
    k3 = _rhs(_acc1(x, 0.5 * h, 1.0, k2), p, um)
    k4 = _rhs(_acc1(x, h, 1.0, k3), p, u1)
    return _acc4(x, h / 6.0, 1.0, k1, 2.0, k2, 2.0, k3, 1.0, k4)
'''
"""One RK4 step in rendered kernel code (inputs at the start, middle and end of the step); shared by the
integrator's kernels and the estimators' (:mod:`calibration._kernels`)."""

_TEMPLATE = TEMPLATE_HEADER + '''
''' + RK4_STEP + '''


@njit(cache=True)
def _n_steps(t0, t1, max_step):
    n = int(math.ceil((t1 - t0) / max_step))
    if n > 1 and t0 + (n - 1) * max_step >= t1 - 1e-12 * max(1.0, abs(t1)):
        n -= 1
    return max(n, 1)


@njit(cache=True)
def _locate(x, p, u, h, g0, g1, out_index, level, direction, time_tol):
''' + illinois("_out(rk4_step(x, p, u, u, u, th * h), p, u)[out_index] - level") + '''

@njit(cache=True)
def advance(x, p, u, t0, t1, opts, ev_out, ev_level, ev_dir, ev_active, status):
    max_step = opts[0]
    time_tol = opts[1]
    n = x.shape[0]
    m = ev_out.shape[0]
    status[0] = 0
    status[1] = -1
    status[2] = -1
    if not t1 > t0:
        return t0
    n_steps = _n_steps(t0, t1, max_step)
    if m == 0 or not _any_armed(ev_active):
        for k in range(n_steps):
            tk = t0 + k * max_step
            h = max_step if k < n_steps - 1 else t1 - tk
            for a in range(n):
                ua = _lu(u, a)
                xt = rk4_step(_lx(x, a), _lp(p, a), ua, ua, ua, h)
                bad = _bad(xt)
                if bad >= 0:
                    status[0] = 2
                    status[1] = a
                    status[2] = bad
                    return tk
                _sx(x, a, xt)
        return t1
    g = np.empty((n, m))
    for a in range(n):
        y = _out(_lx(x, a), _lp(p, a), _lu(u, a))
        for j in range(m):
            g[a, j] = y[ev_out[j]] - ev_level[j]
    xnew = np.empty_like(x)
    for k in range(n_steps):
        tk = t0 + k * max_step
        h = max_step if k < n_steps - 1 else t1 - tk
        for a in range(n):
            ua = _lu(u, a)
            xt = rk4_step(_lx(x, a), _lp(p, a), ua, ua, ua, h)
            bad = _bad(xt)
            if bad >= 0:
                status[0] = 2
                status[1] = a
                status[2] = bad
                return tk
            _sx(xnew, a, xt)
        best = 2.0
        best_a = -1
        best_j = -1
        for a in range(n):
            if not _armed(ev_active, a):
                continue
            pa = _lp(p, a)
            ua = _lu(u, a)
            y = _out(_lx(xnew, a), pa, ua)
            for j in range(m):
                if not ev_active[a, j]:
                    continue
                g1 = y[ev_out[j]] - ev_level[j]
                if _crossed(g[a, j], g1, ev_dir[j]):
                    th = _locate(_lx(x, a), pa, ua, h, g[a, j], g1, ev_out[j], ev_level[j], ev_dir[j], time_tol)
                    if th < best:
                        best = th
                        best_a = a
                        best_j = j
        if best_a >= 0:
            for a in range(n):
                ua = _lu(u, a)
                _sx(x, a, rk4_step(_lx(x, a), _lp(p, a), ua, ua, ua, best * h))
            status[0] = 1
            status[1] = best_a
            status[2] = best_j
            return tk + best * h
        for a in range(n):
            xt = _lx(xnew, a)
            _sx(x, a, xt)
            if _armed(ev_active, a):
                y = _out(xt, _lp(p, a), _lu(u, a))
                for j in range(m):
                    g[a, j] = y[ev_out[j]] - ev_level[j]
    return t1


@njit(cache=True)
def simulate(x0, p, t, u, linear, opts, y, status):
    max_step = opts[0]
    n = x0.shape[0]
    k = t.shape[0]
    status[0] = 0
    status[1] = -1
    status[2] = -1
    x = x0.copy()
    for a in range(n):
        _sy(y, a, 0, _out(_lx(x, a), _lp(p, a), _lu(u, 0)))
    for j in range(k - 1):
        dt = t[j + 1] - t[j]
        nsub = max(1, int(math.ceil(dt / max_step - 1e-9)))
        h = dt / nsub
        uj = _lu(u, j)
        uj1 = _lu(u, j + 1)
        for s in range(nsub):
            if linear:
                w0 = s / nsub
                wm = (s + 0.5) / nsub
                w1 = (s + 1.0) / nsub
                ua = _lerp(uj, uj1, w0)
                um = _lerp(uj, uj1, wm)
                ub = _lerp(uj, uj1, w1)
            else:
                ua = uj
                um = uj
                ub = uj
            for a in range(n):
                _sx(x, a, rk4_step(_lx(x, a), _lp(p, a), ua, um, ub, h))
        for a in range(n):
            xt = _lx(x, a)
            bad = _bad(xt)
            if bad >= 0:
                status[0] = 2
                status[1] = a
                status[2] = bad
                return j + 1
            _sy(y, a, j + 1, _out(xt, _lp(p, a), uj1))
    return k
'''


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
    """

    max_step: float = 1.0
    event_time_tol: float = 1e-9

    name = "rk4"

    def __post_init__(self):
        if not (isinstance(self.max_step, numbers.Real) and math.isfinite(self.max_step) and self.max_step > 0):
            raise ConfigurationError(f"RK4 max_step must be a finite positive time [s], got {self.max_step!r}; "
                                     f"pass e.g. RK4(max_step=1.0)")
        if not self.event_time_tol > 0:
            raise ConfigurationError(f"RK4 event_time_tol must be > 0 s, got {self.event_time_tol!r}")

    def options(self) -> np.ndarray:
        return np.array([self.max_step, self.event_time_tol], dtype=np.float64)

    def kernels(self, model):
        """Compiled kernels for *model* (rendered once per model, cached on disk by numba)."""
        from sim.physics._codegen import load_generated_module, render_helpers

        s = model.spec
        return load_generated_module(_TEMPLATE, tag=f"rk4_{s.name}", rhs=model.rhs, output=model.output,
                                     helpers=render_helpers(s.nx, s.np, s.nu, s.ny, max_terms=4))
