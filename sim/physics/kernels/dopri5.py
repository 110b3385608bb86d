"""Kernel template of the Dormand-Prince 5(4) integrator (:class:`sim.physics.DormandPrince`), bound per model.

The kernels honour the contract of :mod:`sim.physics.integrators.base`
(``advance`` and ``simulate``).  Each asset chooses its own steps; ``opts``
holds ``[rtol, atol, max_step, first_step, event_time_tol, max_steps]``.

Coefficients: J. R. Dormand and P. J. Prince, "A family of embedded Runge-Kutta
formulae", J. Comp. Appl. Math. 6 (1980); the fourth-order dense output and the
stiffness test (``h * |lambda| > 3.25`` fifteen times) follow E. Hairer,
S. P. Norsett, G. Wanner, *Solving Ordinary Differential Equations I*, 2nd ed.,
section II.6 and IV.2 (code DOPRI5).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.physics.kernels.events import ILLINOIS_MAX_ITERATIONS, armed, crossed, illinois_bracket, illinois_fraction
from sim.physics.kernels.placeholders import N_INPUTS, N_PARAMS, N_STATES, output, rhs
from sim.physics.kernels.tuples import (combine1, combine2, combine3, combine4, combine5, combine6, difference, dot,
                                        error_norm, first_nonfinite, interpolate, largest_error_share, load_row,
                                        store_row, store_sample, zeros_like)

__all__ = ["advance", "simulate"]

A21 = 1.0 / 5.0
A31, A32 = 3.0 / 40.0, 9.0 / 40.0
A41, A42, A43 = 44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0
A51, A52, A53, A54 = 19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0
A61, A62, A63, A64, A65 = 9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0
B1, B3, B4, B5, B6 = 35.0 / 384.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0
E1, E3, E4, E5, E6, E7 = (71.0 / 57600.0, -71.0 / 16695.0, 71.0 / 1920.0, -17253.0 / 339200.0, 22.0 / 525.0,
                          -1.0 / 40.0)
C2, C3, C4, C5 = 0.2, 0.3, 0.8, 8.0 / 9.0
# dense output: b_j(theta) = P_j1 theta + P_j2 theta^2 + P_j3 theta^3 + P_j4 theta^4
P1 = (1.0, -8048581381.0 / 2820520608.0, 8663915743.0 / 2820520608.0, -12715105075.0 / 11282082432.0)
P3 = (0.0, 131558114200.0 / 32700410799.0, -68118460800.0 / 10900136933.0, 87487479700.0 / 32700410799.0)
P4 = (0.0, -1754552775.0 / 470086768.0, 14199869525.0 / 1410260304.0, -10690763975.0 / 1880347072.0)
P5 = (0.0, 127303824393.0 / 49829197408.0, -318862633887.0 / 49829197408.0, 701980252875.0 / 199316789632.0)
P6 = (0.0, -282668133.0 / 205662961.0, 2019193451.0 / 616988883.0, -1453857185.0 / 822651844.0)
P7 = (0.0, 40617522.0 / 29380423.0, -110615467.0 / 29380423.0, 69997945.0 / 29380423.0)


@njit(cache=True, inline="always")
def _poly(c, th):
    return th * (c[0] + th * (c[1] + th * (c[2] + th * c[3])))


@njit(cache=True, inline="always")
def _dense(x0, h, th, k1, k3, k4, k5, k6, k7):
    return combine6(x0, h, _poly(P1, th), k1, _poly(P3, th), k3, _poly(P4, th), k4, _poly(P5, th), k5,
                    _poly(P6, th), k6, _poly(P7, th), k7)


@njit(cache=True, inline="always")
def _uat(uj, uj1, w):
    return interpolate(uj, uj1, w)


@njit(cache=True)
def _step(x, p, uj, uj1, w0, dw, h, k1):
    k2 = rhs(combine1(x, h, A21, k1), p, _uat(uj, uj1, w0 + C2 * dw))
    k3 = rhs(combine2(x, h, A31, k1, A32, k2), p, _uat(uj, uj1, w0 + C3 * dw))
    k4 = rhs(combine3(x, h, A41, k1, A42, k2, A43, k3), p, _uat(uj, uj1, w0 + C4 * dw))
    k5 = rhs(combine4(x, h, A51, k1, A52, k2, A53, k3, A54, k4), p, _uat(uj, uj1, w0 + C5 * dw))
    ysti = combine5(x, h, A61, k1, A62, k2, A63, k3, A64, k4, A65, k5)
    k6 = rhs(ysti, p, _uat(uj, uj1, w0 + dw))
    x1 = combine5(x, h, B1, k1, B3, k3, B4, k4, B5, k5, B6, k6)
    k7 = rhs(x1, p, _uat(uj, uj1, w0 + dw))
    err = combine6(zeros_like(k1), h, E1, k1, E3, k3, E4, k4, E5, k5, E6, k6, E7, k7)
    return x1, err, k3, k4, k5, k6, k7, ysti


@njit(cache=True)
def _locate(x, p, uj, uj1, w0, dwdt, h, k1, k3, k4, k5, k6, k7, g0, g1, out_index, level, direction, time_tol):
    # step fraction of the event crossing, on the dense output (see sim.physics.kernels.events)
    lo, hi, g_lo, g_hi, side = 0.0, 1.0, g0, g1, 0
    for _ in range(ILLINOIS_MAX_ITERATIONS):
        if (hi - lo) * h <= time_tol:
            break
        th = illinois_fraction(lo, hi, g_lo, g_hi)
        g_th = output(_dense(x, h, th, k1, k3, k4, k5, k6, k7), p, _uat(uj, uj1, w0 + th * h * dwdt))[out_index] - level
        lo, hi, g_lo, g_hi, side = illinois_bracket(lo, hi, g_lo, g_hi, side, th, g_th, direction)
    return hi


@njit(cache=True)
def _first_step(x, p, uj, uj1, w0, dwdt, k1, rtol, atol, span, max_step):
    d0 = error_norm(x, x, x, rtol, atol)
    d1 = error_norm(k1, x, x, rtol, atol)
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    h0 = min(h0, span, max_step)
    k2 = rhs(combine1(x, h0, 1.0, k1), p, _uat(uj, uj1, w0 + h0 * dwdt))
    d2 = error_norm(difference(k2, k1), x, x, rtol, atol) / h0
    if max(d1, d2) <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** 0.2
    return min(100.0 * h0, h1, span, max_step)


@njit(cache=True)
def _run(x, p, uj, uj1, tj, dtj, linear, t0, t1, t_stop, opts, h_in, ev_out, ev_level, ev_dir, ev_active, a,
         g, check, stiff):
    # Integrate one asset from t0 towards t1 with adaptive steps (never clipped to t_stop); stop at the first
    # armed crossing (check=True) or at t_stop, evaluating the dense output there.
    # Returns (code, t_end, x_end, event_or_state_index, step, value): code 2 - state index diverged to value in the
    # step from t_end, x_end its last finite states; code 4 (step collapsed) and 5 (step budget spent) - index is
    # the state with the largest share of the last error estimate and value its value at t_end.
    rtol, atol, max_step, first, time_tol, max_steps = opts[0], opts[1], opts[2], opts[3], opts[4], opts[5]
    m = ev_out.shape[0]
    dwdt = 1.0 / dtj if linear else 0.0
    w0 = (t0 - tj) * dwdt
    k1 = rhs(x, p, _uat(uj, uj1, w0))
    h = h_in if h_in > 0.0 else (first if first > 0.0 else _first_step(x, p, uj, uj1, w0, dwdt, k1, rtol, atol,
                                                                       t1 - t0, max_step))
    if check:
        y = output(x, p, _uat(uj, uj1, w0))
        for j in range(m):
            g[j] = y[ev_out[j]] - ev_level[j]
    t = t0
    n_stiff = 0
    n_nonstiff = 0
    rejected = False
    steps = 0
    x1 = x
    err = zeros_like(x)
    while t < t1:
        if steps >= max_steps:
            worst = largest_error_share(err, x, x1, rtol, atol)
            return 5, t, x, worst, h, x[worst] if worst >= 0 else math.nan
        h = min(h, max_step)
        last = t + h >= t1 - 1e-12 * max(1.0, abs(t1))
        if last:
            h = t1 - t
        if h <= 16.0 * 2.22e-16 * max(abs(t), 1.0):
            worst = largest_error_share(err, x, x1, rtol, atol)
            return 4, t, x, worst, h, x[worst] if worst >= 0 else math.nan
        w0 = (t - tj) * dwdt
        x1, err, k3, k4, k5, k6, k7, ysti = _step(x, p, uj, uj1, w0, h * dwdt, h, k1)
        steps += 1
        en = error_norm(err, x, x1, rtol, atol)
        if not math.isfinite(en):
            bad = first_nonfinite(x1)
            if h > 1e-6 * max(1.0, abs(t)) and bad >= 0:
                h *= 0.25  # try again smaller before declaring divergence
                rejected = True
                continue
            if bad < 0:  # the states are finite but their error estimate is not
                bad = largest_error_share(err, x, x1, rtol, atol)
            return 2, t, x, bad, h, x1[bad]
        if en > 1.0:
            h *= max(0.2, 0.9 * en ** -0.2)
            rejected = True
            continue
        # accepted: stiffness test (Hairer's DOPRI5)
        den = dot(difference(x1, ysti), difference(x1, ysti))
        if den > 0.0:
            lam = h * math.sqrt(dot(difference(k7, k6), difference(k7, k6)) / den)
            if lam > 3.25:
                n_nonstiff = 0
                n_stiff += 1
                if n_stiff == 15:
                    stiff[0] = 1.0  # reported as a warning: the explicit method still converges, slowly
            else:
                n_nonstiff += 1
                if n_nonstiff == 6:
                    n_stiff = 0
        t_new = t1 if last else t + h
        # events on the accepted step, located on the dense output
        hit_th = 2.0
        hit_j = -1
        if check:
            y = output(x1, p, _uat(uj, uj1, w0 + h * dwdt))
            for j in range(m):
                if not ev_active[a, j]:
                    continue
                g1 = y[ev_out[j]] - ev_level[j]
                if crossed(g[j], g1, ev_dir[j]):
                    hi = _locate(x, p, uj, uj1, w0, dwdt, h, k1, k3, k4, k5, k6, k7, g[j], g1, ev_out[j],
                                 ev_level[j], ev_dir[j], time_tol)
                    if hi < hit_th:
                        hit_th = hi
                        hit_j = j
        t_hit = t + hit_th * h if hit_j >= 0 else 1e300
        if t_stop < t1 and t_stop <= t_new and t_stop < t_hit:
            th = (t_stop - t) / h
            return 0, t_stop, _dense(x, h, th, k1, k3, k4, k5, k6, k7), -1, h, math.nan
        if hit_j >= 0:
            xe = x1 if hit_th >= 1.0 else _dense(x, h, hit_th, k1, k3, k4, k5, k6, k7)
            return 1, t_hit, xe, hit_j, h, math.nan
        bad = first_nonfinite(x1)
        if bad >= 0:
            return 2, t, x, bad, h, x1[bad]
        fac = 0.9 * en ** -0.2 if en > 0.0 else 10.0
        fac = min(10.0, max(0.2, fac))
        if rejected:
            fac = min(1.0, fac)
        rejected = False
        x = x1
        k1 = k7
        t = t_new
        if check:
            for j in range(m):
                g[j] = y[ev_out[j]] - ev_level[j]
        h = h * fac
    return 0, t1, x, -1, h, math.nan


@njit(cache=True)
def _failed(status, report, code, a, index, t_end, x_end, h, value):
    # fill status and report (see sim.physics.integrators.base) from a failed _run
    status[0] = code
    status[1] = a
    status[2] = index
    report[0] = value
    if code == 2:  # diverged in the step from t_end, where x_end was last finite
        report[1] = t_end + h
        report[2] = x_end[index]
        report[3] = t_end
    else:
        report[1] = t_end
        report[2] = h
        report[3] = math.nan


@njit(cache=True)
def advance(x, p, u, t0, t1, opts, ev_out, ev_level, ev_dir, ev_active, status, report):
    n = x.shape[0]
    m = ev_out.shape[0]
    status[0] = 0
    status[1] = -1
    status[2] = -1
    if not t1 > t0:
        return t0
    g = np.empty(max(m, 1))
    stiff = np.zeros(1)
    status[3] = -1
    xs = np.empty_like(x)
    ends = np.empty(n)
    best_t = t1
    best_a = -1
    best_j = -1
    for a in range(n):
        ua = load_row(u, a, N_INPUTS)
        check = m > 0 and armed(ev_active, a)
        code, te, xe, j, h, value = _run(load_row(x, a, N_STATES), load_row(p, a, N_PARAMS), ua, ua, t0, 1.0, False,
                                         t0, t1, best_t, opts, 0.0, ev_out, ev_level, ev_dir, ev_active, a, g, check,
                                         stiff)
        if stiff[0] > 0.0 and status[3] < 0:
            status[3] = a
        if code >= 2:
            _failed(status, report, code, a, j, te, xe, h, value)
            return te
        if code == 1 and te < best_t:
            best_t = te
            best_a = a
            best_j = j
        store_row(xs, a, xe)
        ends[a] = te
    for a in range(n):
        if ends[a] != best_t:  # integrated past the earliest event: redo on the same steps, stop there
            ua = load_row(u, a, N_INPUTS)
            code, te, xe, j, _h, _value = _run(load_row(x, a, N_STATES), load_row(p, a, N_PARAMS), ua, ua, t0, 1.0,
                                               False, t0, t1, best_t, opts, 0.0, ev_out, ev_level, ev_dir, ev_active,
                                               a, g, False, stiff)
            store_row(xs, a, xe)
        store_row(x, a, load_row(xs, a, N_STATES))
    if best_a >= 0:
        status[0] = 1
        status[1] = best_a
        status[2] = best_j
        return best_t
    return t1


@njit(cache=True)
def simulate(x0, p, t, u, linear, opts, y, status, report):
    n = x0.shape[0]
    k = t.shape[0]
    status[0] = 0
    status[1] = -1
    status[2] = -1
    m0 = np.zeros(0, dtype=np.int64)
    l0 = np.zeros(0)
    act = np.zeros((n, 0), dtype=np.bool_)
    g = np.empty(1)
    stiff = np.zeros(1)
    status[3] = -1
    for a in range(n):
        x = load_row(x0, a, N_STATES)
        pa = load_row(p, a, N_PARAMS)
        store_sample(y, a, 0, output(x, pa, load_row(u, 0, N_INPUTS)))
        h = 0.0
        for j in range(k - 1):
            uj = load_row(u, j, N_INPUTS)
            uj1 = load_row(u, j + 1, N_INPUTS) if linear else uj
            code, te, x, idx, h, value = _run(x, pa, uj, uj1, t[j], t[j + 1] - t[j], linear != 0, t[j], t[j + 1],
                                              t[j + 1], opts, h, m0, l0, m0, act, a, g, False, stiff)
            if stiff[0] > 0.0 and status[3] < 0:
                status[3] = a
            if code >= 2:
                _failed(status, report, code, a, idx, te, x, h, value)
                return j + 1
            store_sample(y, a, j + 1, output(x, pa, load_row(u, j + 1, N_INPUTS)))
    return k
