"""Batched model kernels that estimators need and the integrators do not provide (a kernel template).

* ``observe(x, p, u, y)`` - outputs ``y[n, 1, ny]`` of *n* members, each with its
  own states, parameters **and inputs** (``Model.simulate`` shares inputs; the
  filter of a fleet of assets does not).
* ``final_state(x, p, t, u, max_step, status) -> k`` - the states at ``t[-1]``
  of a zero-order-hold RK4 run on the sample grid, stepped exactly as the RK4
  ``simulate`` kernel steps (so the end state matches the fitted outputs).
* ``ukf_run(...)`` - the joint state-parameter UKF of :mod:`calibration.ukf` over a
  window, for every asset of a fleet: sigma points, RK4 propagation, outputs and
  the filter algebra in one compiled loop (numpy per sample cost ~0.5 ms of
  interpreter overhead; this loop costs microseconds).
* ``ukf_track(...)`` - the same filter, stepped predict-only then update-only per
  sample, writing each sample's predicted measurement and innovation spread
  (what :meth:`calibration.JointUKF.step` reports; the live twin's tracker).

The module is a kernel template (:mod:`sim.physics.kernels`): ``rhs``, ``output``,
``rk4_step`` and the sizes are bound per model by :func:`sim.physics.bind_kernels`
(see :func:`estimator_kernels`).
"""

from __future__ import annotations

import math
import sys

import numpy as np
from numba import njit

from sim.physics import bind_kernels
from sim.physics.kernels.placeholders import N_INPUTS, N_OUTPUTS, N_PARAMS, N_STATES, output
from sim.physics.kernels.rk4 import rk4_step
from sim.physics.kernels.tuples import first_nonfinite, load_row, store_row, store_sample

__all__ = ["estimator_kernels"]


@njit(cache=True)
def observe(x, p, u, y):
    for a in range(x.shape[0]):
        store_sample(y, a, 0, output(load_row(x, a, N_STATES), load_row(p, a, N_PARAMS), load_row(u, a, N_INPUTS)))


@njit(cache=True)
def final_state(x, p, t, u, max_step, status):
    status[0] = 0
    status[1] = -1
    status[2] = -1
    for j in range(t.shape[0] - 1):
        dt = t[j + 1] - t[j]
        nsub = max(1, int(math.ceil(dt / max_step - 1e-9)))
        h = dt / nsub
        uj = load_row(u, j, N_INPUTS)
        for a in range(x.shape[0]):
            xt = load_row(x, a, N_STATES)
            for s in range(nsub):
                xt = rk4_step(xt, load_row(p, a, N_PARAMS), uj, uj, uj, h)
            bad = first_nonfinite(xt)
            if bad >= 0:
                status[0] = 2
                status[1] = a
                status[2] = bad
                return j + 1
            store_row(x, a, xt)
    return t.shape[0]


@njit(cache=True)
def _cholesky(M, L):
    """Lower Cholesky factor of the symmetric matrix M into L; False where M is not positive definite."""
    n = M.shape[0]
    for i in range(n):
        for j in range(n):
            L[i, j] = 0.0
    for i in range(n):
        for j in range(i + 1):
            s = M[i, j]
            for k in range(j):
                s -= L[i, k] * L[j, k]
            if i == j:
                if not s > 0.0:
                    return False
                L[i, i] = math.sqrt(s)
            else:
                L[i, j] = s / L[j, j]
    return True


@njit(cache=True)
def _root(P, M, L):
    """A square root of the covariance P (symmetrized; relative jitter where only semi-definite)."""
    n = P.shape[0]
    for i in range(n):
        for j in range(n):
            M[i, j] = 0.5 * (P[i, j] + P[j, i])
    jitter = 1e-12
    for attempt in range(12):
        if _cholesky(M, L):
            return True
        for i in range(n):
            M[i, i] += jitter * max(abs(M[i, i]), 1e-300)
        jitter *= 10.0
    return False


@njit(cache=True)
def ukf_run(z, P, R, base_p, p_idx, y_idx, lo, hi, q_states, param_walk, Y, U, times, last, u_prev, wm, wc, gamma,
            max_step, adapt, forgetting, held, est, sd, status):
    """Joint UKF over the samples ``times[k]`` for every asset (see calibration/ukf.py).

    z[A, n], P[A, n, n], R[A, m] (diagonal noise variances), base_p[A, np] are updated in
    place; Y[k, A, m] (NaN = not measured), U[k, A, nu]; ``last`` < times[0] continues a
    run whose last inputs were u_prev[A, nu] (``last`` = nan: no predict before the first
    sample).  ``held[A]`` (bool): the asset's parameters are *consider* parameters in the
    update (Schmidt-Kalman): the states get the optimal gain, the parameters' mean and
    their own covariance block are not updated (their cross-covariance with the states
    is, exactly as the optimal update does it); their random walk goes on.
    Writes est/sd[k, A, nth].  status: [code, asset, sample]; code 2 a sigma
    point became non-finite, 3 the covariance lost definiteness, 5 the estimate became
    non-finite.
    """
    n_a, n = z.shape
    nth = p_idx.shape[0]
    nx = n - nth
    ns = 2 * n + 1
    m = y_idx.shape[0]
    status[0] = 0
    pts = np.empty((ns, n))
    xs = np.empty((ns, nx))
    pw = np.empty((ns, base_p.shape[1]))
    yfull = np.empty((ns, 1, N_OUTPUTS))
    ys = np.empty((ns, m))
    M = np.empty((n, n))
    L = np.empty((n, n))
    Sm = np.empty((m, m))
    Ls = np.empty((m, m))
    C = np.empty((n, m))
    K = np.empty((n, m))
    ymean = np.empty(m)
    innov = np.empty(m)
    obs = np.empty(m, dtype=np.int64)
    for a in range(n_a):
        t_prev = last
        for j in range(times.shape[0]):
            za = z[a]
            Pa = P[a]
            if not _root(Pa, M, L):
                status[0] = 3
                status[1] = a
                status[2] = j
                return
            for i in range(n):
                pts[0, i] = za[i]
            for c in range(n):
                for i in range(n):
                    pts[1 + c, i] = za[i] + gamma * L[i, c]
                    pts[1 + n + c, i] = za[i] - gamma * L[i, c]
            for s in range(ns):
                for i in range(nx):
                    xs[s, i] = pts[s, i]
                for i in range(base_p.shape[1]):
                    pw[s, i] = base_p[a, i]
                for k in range(nth):
                    pw[s, p_idx[k]] = min(max(pts[s, nx + k], lo[k]), hi[k])
            dt = times[j] - t_prev
            if dt > 0.0:  # predict (false for nan: the first sample of a run)
                nsub = max(1, int(math.ceil(dt / max_step - 1e-9)))
                h = dt / nsub
                ua = load_row(u_prev, a, N_INPUTS)
                for s in range(ns):
                    xt = load_row(xs, s, N_STATES)
                    ps = load_row(pw, s, N_PARAMS)
                    for q in range(nsub):
                        xt = rk4_step(xt, ps, ua, ua, ua, h)
                    if first_nonfinite(xt) >= 0:
                        status[0] = 2
                        status[1] = a
                        status[2] = j
                        return
                    store_row(xs, s, xt)
                    for i in range(nx):
                        pts[s, i] = xs[s, i]
                for i in range(n):
                    acc = 0.0
                    for s in range(ns):
                        acc += wm[s] * pts[s, i]
                    za[i] = acc
                for i in range(n):
                    for k in range(i + 1):
                        acc = 0.0
                        for s in range(ns):
                            acc += wc[s] * (pts[s, i] - za[i]) * (pts[s, k] - za[k])
                        Pa[i, k] = acc
                        Pa[k, i] = acc
                for i in range(nx):
                    Pa[i, i] += q_states[i] * dt
                for k in range(nth):
                    Pa[nx + k, nx + k] += (param_walk * za[nx + k]) ** 2 * dt
            mo = 0
            for c in range(m):
                if math.isfinite(Y[j, a, c]):
                    obs[mo] = c
                    mo += 1
            if mo > 0:  # update with the measured channels
                ub = load_row(U[j], a, N_INPUTS)
                for s in range(ns):
                    store_sample(yfull, s, 0, output(load_row(xs, s, N_STATES), load_row(pw, s, N_PARAMS), ub))
                    for c in range(m):
                        ys[s, c] = yfull[s, 0, y_idx[c]]
                for c in range(m):
                    acc = 0.0
                    for s in range(ns):
                        acc += wm[s] * ys[s, c]
                    ymean[c] = acc
                for c in range(mo):
                    cc = obs[c]
                    for d in range(c + 1):
                        dd = obs[d]
                        acc = 0.0
                        for s in range(ns):
                            acc += wc[s] * (ys[s, cc] - ymean[cc]) * (ys[s, dd] - ymean[dd])
                        Sm[c, d] = acc
                        Sm[d, c] = acc
                    for i in range(n):
                        acc = 0.0
                        for s in range(ns):
                            acc += wc[s] * (pts[s, i] - za[i]) * (ys[s, cc] - ymean[cc])
                        C[i, c] = acc
                    innov[c] = Y[j, a, cc] - ymean[cc]
                for c in range(mo):
                    Sm[c, c] += R[a, obs[c]]
                if not _cholesky(Sm[:mo, :mo], Ls[:mo, :mo]):
                    status[0] = 3
                    status[1] = a
                    status[2] = j
                    return
                # K = C S^-1: solve L L^T K^T = C^T row by row of C
                for i in range(n):
                    for c in range(mo):
                        acc = C[i, c]
                        for d in range(c):
                            acc -= Ls[c, d] * K[i, d]
                        K[i, c] = acc / Ls[c, c]
                    for c in range(mo - 1, -1, -1):
                        acc = K[i, c]
                        for d in range(c + 1, mo):
                            acc -= Ls[d, c] * K[i, d]
                        K[i, c] = acc / Ls[c, c]
                n_upd = nx if held[a] else n  # held: the parameters' mean and own block stay (Schmidt)
                for i in range(n_upd):
                    acc = 0.0
                    for c in range(mo):
                        acc += K[i, c] * innov[c]
                    za[i] += acc
                for i in range(n):
                    for k in range(min(i + 1, n_upd)):
                        acc = 0.0
                        for c in range(mo):
                            acc += K[i, c] * C[k, c]
                        Pa[i, k] -= acc
                        if k != i:
                            Pa[k, i] -= acc
                if adapt:  # Sage-Husa on the diagonal of R
                    for c in range(mo):
                        cc = obs[c]
                        r_old = R[a, cc]
                        r_new = (1.0 - forgetting) * (innov[c] ** 2 - (Sm[c, c] - r_old)) + forgetting * r_old
                        R[a, cc] = max(r_new, forgetting * r_old)
            for i in range(n):
                if not math.isfinite(za[i]):
                    status[0] = 5
                    status[1] = a
                    status[2] = j
                    return
            for k in range(nth):
                est[j, a, k] = za[nx + k]
                sd[j, a, k] = math.sqrt(max(Pa[nx + k, nx + k], 0.0))
            t_prev = times[j]
            for i in range(u_prev.shape[1]):
                u_prev[a, i] = U[j, a, i]


@njit(cache=True)
def ukf_track(z, P, R, base_p, p_idx, y_idx, lo, hi, q_states, param_walk, Y, U, times, last, u_prev, wm, wc, gamma,
              max_step, adapt, forgetting, held, est, sd, predicted, spread, status):
    """The joint UKF over ``times[k]`` for every asset, writing the innovation statistics of each sample.

    Arguments as :func:`ukf_run`; in addition ``predicted[k, A, m]`` receives the predicted
    measurement (unscented mean) and ``spread[k, A, m]`` the square root of the innovation variance
    ``S_cc = sum_s wc_s (y_s - ybar)^2 + R_c`` [SI] before each update.  Returns the last filtered time.
    """
    n_a, n = z.shape
    nth = p_idx.shape[0]
    nx = n - nth
    ns = 2 * n + 1
    m = y_idx.shape[0]
    nan_row = np.full((1, n_a, m), np.nan)
    one_t = np.empty(1)
    est1 = np.empty((1, n_a, nth))
    sd1 = np.empty((1, n_a, nth))
    M = np.empty((n, n))
    L = np.empty((n, n))
    pts = np.empty((ns, n))
    pw = np.empty((ns, base_p.shape[1]))
    yfull = np.empty((ns, 1, N_OUTPUTS))
    ys = np.empty((ns, m))
    for j in range(times.shape[0]):
        one_t[0] = times[j]
        ukf_run(z, P, R, base_p, p_idx, y_idx, lo, hi, q_states, param_walk, nan_row, U[j:j + 1], one_t, last,
                u_prev, wm, wc, gamma, max_step, adapt, forgetting, held, est1, sd1, status)  # predict only
        if status[0] != 0:
            status[2] = j
            return last
        for a in range(n_a):
            if not _root(P[a], M, L):
                status[0] = 3
                status[1] = a
                status[2] = j
                return last
            for i in range(n):
                pts[0, i] = z[a, i]
            for c in range(n):
                for i in range(n):
                    pts[1 + c, i] = z[a, i] + gamma * L[i, c]
                    pts[1 + n + c, i] = z[a, i] - gamma * L[i, c]
            ua = load_row(U[j], a, N_INPUTS)
            for s in range(ns):
                for i in range(base_p.shape[1]):
                    pw[s, i] = base_p[a, i]
                for k in range(nth):
                    pw[s, p_idx[k]] = min(max(pts[s, nx + k], lo[k]), hi[k])
                store_sample(yfull, s, 0, output(load_row(pts, s, N_STATES), load_row(pw, s, N_PARAMS), ua))
                for c in range(m):
                    ys[s, c] = yfull[s, 0, y_idx[c]]
            for c in range(m):
                mean = 0.0
                for s in range(ns):
                    mean += wm[s] * ys[s, c]
                var = 0.0
                for s in range(ns):
                    var += wc[s] * (ys[s, c] - mean) ** 2
                predicted[j, a, c] = mean
                spread[j, a, c] = math.sqrt(max(var + R[a, c], 0.0))
        ukf_run(z, P, R, base_p, p_idx, y_idx, lo, hi, q_states, param_walk, Y[j:j + 1], U[j:j + 1], one_t,
                times[j], u_prev, wm, wc, gamma, max_step, adapt, forgetting, held, est1, sd1, status)  # update only
        if status[0] != 0:
            status[2] = j
            return last
        for a in range(n_a):
            for k in range(nth):
                est[j, a, k] = est1[0, a, k]
                sd[j, a, k] = sd1[0, a, k]
        last = times[j]
    return last


class _EstimatorKernels:
    """Quacks like an integrator for ``Model.kernels`` so the bound kernels are kept on the model."""

    @staticmethod
    def kernel_key():
        return "calibration-estimators"

    @staticmethod
    def kernels(model):
        return bind_kernels(sys.modules[__name__], model)


def estimator_kernels(model):
    """The compiled ``observe``, ``final_state``, ``ukf_run`` and ``ukf_track`` kernels of *model* (bound once per model)."""
    return model.kernels(_EstimatorKernels())
