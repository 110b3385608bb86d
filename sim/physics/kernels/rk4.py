"""Kernel template of the classical RK4 integrator (:class:`sim.physics.RK4`); bound per model by ``bind_kernels``.

The kernels honour the contract of :mod:`sim.physics.integrators.base`
(``advance`` and ``simulate``).  Every asset of a fleet takes the same step grid
``t0 + k * max_step`` (the last step ends exactly at the target time), which
lets independent assets overlap in the processor's pipeline.  ``opts`` holds
``[max_step, event_time_tol, max_steps]``; a call needing more than
``max_steps`` steps stops before it starts (``advance``) or at the sample where
the budget would run out (``simulate``) with status code 5.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.physics.kernels.events import (ILLINOIS_MAX_ITERATIONS, any_armed, armed, crossed, illinois_bracket,
                                        illinois_fraction)
from sim.physics.kernels.placeholders import N_INPUTS, N_PARAMS, N_STATES, output, rhs
from sim.physics.kernels.tuples import combine1, combine4, first_nonfinite, interpolate, load_row, store_row, \
    store_sample

__all__ = ["advance", "rk4_step", "simulate", "step_count"]


@njit(cache=True, inline="always")
def rk4_step(x, p, u0, um, u1, h):
    """One RK4 step of length *h* [s] from the states *x*, inputs at the start, middle and end of the step."""
    k1 = rhs(x, p, u0)
    k2 = rhs(combine1(x, 0.5 * h, 1.0, k1), p, um)
    k3 = rhs(combine1(x, 0.5 * h, 1.0, k2), p, um)
    k4 = rhs(combine1(x, h, 1.0, k3), p, u1)
    return combine4(x, h / 6.0, 1.0, k1, 2.0, k2, 2.0, k3, 1.0, k4)


@njit(cache=True)
def step_count(t0, t1, max_step):
    """Number of steps of at most *max_step* [s] from *t0* to *t1*; a last step shorter than 1e-12 s is merged."""
    n = int(math.ceil((t1 - t0) / max_step))
    if n > 1 and t0 + (n - 1) * max_step >= t1 - 1e-12 * max(1.0, abs(t1)):
        n -= 1
    return max(n, 1)


@njit(cache=True)
def locate(x, p, u, h, g0, g1, out_index, level, direction, time_tol):
    """Step fraction [-] at which the event ``output[out_index] - level`` crosses zero inside the step *h*."""
    lo, hi, g_lo, g_hi, side = 0.0, 1.0, g0, g1, 0
    for _ in range(ILLINOIS_MAX_ITERATIONS):
        if (hi - lo) * h <= time_tol:
            break
        th = illinois_fraction(lo, hi, g_lo, g_hi)
        g_th = output(rk4_step(x, p, u, u, u, th * h), p, u)[out_index] - level
        lo, hi, g_lo, g_hi, side = illinois_bracket(lo, hi, g_lo, g_hi, side, th, g_th, direction)
    return hi


@njit(cache=True)
def diverged(status, report, a, bad, states, time, x, last_time):
    """Report that state *bad* of asset *a* became ``states[bad]`` at *time*, last finite (``x[a, bad]``) at
    *last_time*."""
    status[0] = 2
    status[1] = a
    status[2] = bad
    report[0] = states[bad]
    report[1] = time
    report[2] = x[a, bad]
    report[3] = last_time


@njit(cache=True)
def over_budget(status, report, index, time, steps_needed):
    """Report that *steps_needed* steps from *time* (sample *index*, -1 for advance) exceed the step budget."""
    status[0] = 5
    status[1] = -1
    status[2] = index
    report[0] = math.nan
    report[1] = time
    report[2] = steps_needed
    report[3] = math.nan


@njit(cache=True)
def advance(x, p, u, t0, t1, opts, ev_out, ev_level, ev_dir, ev_active, status, report):
    """Advance the fleet in place from *t0* towards *t1* [s]; see :mod:`sim.physics.integrators.base`."""
    max_step = opts[0]
    time_tol = opts[1]
    max_steps = opts[2]
    n = x.shape[0]
    m = ev_out.shape[0]
    status[0] = 0
    status[1] = -1
    status[2] = -1
    if not t1 > t0:
        return t0
    if (t1 - t0) / max_step > max_steps + 1.0:  # tested as a float: the count may not fit an integer
        over_budget(status, report, -1, t0, np.ceil((t1 - t0) / max_step))  # np: a float, math.ceil an int
        return t0
    n_steps = step_count(t0, t1, max_step)
    if n_steps > max_steps:
        over_budget(status, report, -1, t0, n_steps)
        return t0
    if m == 0 or not any_armed(ev_active):
        for k in range(n_steps):
            tk = t0 + k * max_step
            h = max_step if k < n_steps - 1 else t1 - tk
            for a in range(n):
                ua = load_row(u, a, N_INPUTS)
                xt = rk4_step(load_row(x, a, N_STATES), load_row(p, a, N_PARAMS), ua, ua, ua, h)
                bad = first_nonfinite(xt)
                if bad >= 0:
                    diverged(status, report, a, bad, xt, tk + h, x, tk)
                    return tk
                store_row(x, a, xt)
        return t1
    g = np.empty((n, m))
    for a in range(n):
        y = output(load_row(x, a, N_STATES), load_row(p, a, N_PARAMS), load_row(u, a, N_INPUTS))
        for j in range(m):
            g[a, j] = y[ev_out[j]] - ev_level[j]
    xnew = np.empty_like(x)
    for k in range(n_steps):
        tk = t0 + k * max_step
        h = max_step if k < n_steps - 1 else t1 - tk
        for a in range(n):
            ua = load_row(u, a, N_INPUTS)
            xt = rk4_step(load_row(x, a, N_STATES), load_row(p, a, N_PARAMS), ua, ua, ua, h)
            bad = first_nonfinite(xt)
            if bad >= 0:
                diverged(status, report, a, bad, xt, tk + h, x, tk)
                return tk
            store_row(xnew, a, xt)
        best = 2.0
        best_a = -1
        best_j = -1
        for a in range(n):
            if not armed(ev_active, a):
                continue
            pa = load_row(p, a, N_PARAMS)
            ua = load_row(u, a, N_INPUTS)
            y = output(load_row(xnew, a, N_STATES), pa, ua)
            for j in range(m):
                if not ev_active[a, j]:
                    continue
                g1 = y[ev_out[j]] - ev_level[j]
                if crossed(g[a, j], g1, ev_dir[j]):
                    th = locate(load_row(x, a, N_STATES), pa, ua, h, g[a, j], g1, ev_out[j], ev_level[j], ev_dir[j],
                                time_tol)
                    if th < best:
                        best = th
                        best_a = a
                        best_j = j
        if best_a >= 0:
            for a in range(n):
                ua = load_row(u, a, N_INPUTS)
                store_row(x, a, rk4_step(load_row(x, a, N_STATES), load_row(p, a, N_PARAMS), ua, ua, ua, best * h))
            status[0] = 1
            status[1] = best_a
            status[2] = best_j
            return tk + best * h
        for a in range(n):
            xt = load_row(xnew, a, N_STATES)
            store_row(x, a, xt)
            if armed(ev_active, a):
                y = output(xt, load_row(p, a, N_PARAMS), load_row(u, a, N_INPUTS))
                for j in range(m):
                    g[a, j] = y[ev_out[j]] - ev_level[j]
    return t1


@njit(cache=True)
def simulate(x0, p, t, u, linear, opts, y, status, report):
    """Outputs ``y[n, k, ny]`` on the sample grid *t*; see :mod:`sim.physics.integrators.base`."""
    max_step = opts[0]
    max_steps = opts[2]
    n = x0.shape[0]
    k = t.shape[0]
    status[0] = 0
    status[1] = -1
    status[2] = -1
    x = x0.copy()
    for a in range(n):
        store_sample(y, a, 0, output(load_row(x, a, N_STATES), load_row(p, a, N_PARAMS), load_row(u, 0, N_INPUTS)))
    steps = 0.0
    for j in range(k - 1):
        dt = t[j + 1] - t[j]
        if dt / max_step - 1e-9 > max_steps - steps:  # tested as a float: the count may not fit an integer
            over_budget(status, report, j, t[j], steps + np.ceil(dt / max_step - 1e-9))
            return j + 1
        nsub = max(1, int(math.ceil(dt / max_step - 1e-9)))
        steps += nsub
        h = dt / nsub
        uj = load_row(u, j, N_INPUTS)
        uj1 = load_row(u, j + 1, N_INPUTS)
        for s in range(nsub):
            if linear:
                w0 = s / nsub
                wm = (s + 0.5) / nsub
                w1 = (s + 1.0) / nsub
                ua = interpolate(uj, uj1, w0)
                um = interpolate(uj, uj1, wm)
                ub = interpolate(uj, uj1, w1)
            else:
                ua = uj
                um = uj
                ub = uj
            for a in range(n):
                xt = rk4_step(load_row(x, a, N_STATES), load_row(p, a, N_PARAMS), ua, um, ub, h)
                bad = first_nonfinite(xt)
                if bad >= 0:
                    diverged(status, report, a, bad, xt, t[j] + (s + 1) * h, x, t[j] + s * h)
                    return j + 1
                store_row(x, a, xt)
        for a in range(n):
            store_sample(y, a, j + 1, output(load_row(x, a, N_STATES), load_row(p, a, N_PARAMS), uj1))
    return k
