"""The weighted least-squares objective of one calibration problem, evaluated in batches.

Every evaluation goes through *one* fleet kernel call: the parameter vectors to
evaluate (Jacobian perturbations, multi-start candidates, a differential-evolution
population, profile points) are the members of the fleet.  No penalty value is
ever substituted for a failed evaluation: the local solver gets a
:class:`~sim.exceptions.CalibrationError` that names the reason, and the global
stage gets ``inf`` (so a failed candidate can never win) and counts it.
"""

from __future__ import annotations

import math

import numpy as np

from calibration._kernels import estimator_kernels
from sim.exceptions import CalibrationError, ModelError
from sim.physics.integrators import RK4

__all__ = ["WeightedObjective", "robust_noise_std"]


class WeightedObjective:
    """``r(theta) = (y_model(theta) - y_measured) / sigma`` over the accepted measurements.

    Parameters
    ----------
    model : sim.physics.Model
    data : CalibrationData
    names, states : list of str
        Estimated parameters, then estimated initial states (order of ``theta``).
    base_params, base_states : ndarray
        Full parameter and initial-state vectors; ``theta`` overwrites its entries.
    max_step : float
        RK4 step [s].
    """

    def __init__(self, model, data, names, states, base_params, base_states, *, max_step):
        spec = model.spec
        self.model, self.data, self.spec = model, data, spec
        self.names, self.states = list(names), list(states)
        self.theta_names = self.names + self.states
        self.p_idx = [spec.index("params", n) for n in self.names]
        self.s_idx = [spec.index("states", n) for n in self.states]
        self.out_idx = [spec.index("outputs", n) for n in data.output_names]
        self.base_p, self.base_x = np.asarray(base_params, float), np.asarray(base_states, float)
        bounds = [spec.params[i].bounds for i in self.p_idx] + [spec.states[i].bounds for i in self.s_idx]
        self.lo = np.array([b[0] for b in bounds], dtype=float)
        self.hi = np.array([b[1] for b in bounds], dtype=float)
        self.theta0 = np.clip(np.concatenate([self.base_p[self.p_idx], self.base_x[self.s_idx]]), self.lo, self.hi)
        self.mask = np.isfinite(data.outputs)
        self.n_obs = int(self.mask.sum())
        self.sigma = np.ones(len(data.output_names))
        self.integrator = RK4(max_step=max_step)
        self.n_evaluations = 0
        self.n_failed = 0

    @property
    def n_theta(self) -> int:
        return self.theta0.size

    def describe(self, theta) -> str:
        return "{" + ", ".join(f"{n}: {v:.6g}" for n, v in zip(self.theta_names, theta)) + "}"

    def unpack(self, thetas):
        """States ``x[m, nx]`` and parameters ``p[m, np]`` of the members *thetas* ``[m, n_theta]``."""
        thetas = np.atleast_2d(thetas)
        m = thetas.shape[0]
        p = np.tile(self.base_p, (m, 1))
        x = np.tile(self.base_x, (m, 1))
        p[:, self.p_idx] = thetas[:, :len(self.p_idx)]
        x[:, self.s_idx] = thetas[:, len(self.p_idx):]
        return x, p

    # ----------------------------------------------------------- evaluation
    def simulate(self, thetas) -> np.ndarray:
        """Measured-channel outputs ``y[m, k, n_out]``; a model failure raises CalibrationError."""
        x, p = self.unpack(thetas)
        self.n_evaluations += x.shape[0]
        try:
            y = self.model.simulate(x, p, self.data.t, self.data.inputs, integrator=self.integrator)
        except ModelError as err:
            a = max(getattr(err, "asset", 0), 0)
            raise CalibrationError(
                f"the model failed during the fit at {self.describe(np.atleast_2d(thetas)[a])}: {err}. No penalty "
                f"value is substituted; narrow the parameter bounds, start closer (global_search='multistart' "
                f"tries several starts) or shorten max_step (now {self.integrator.max_step} s)") from err
        return y[:, :, self.out_idx]

    def residuals(self, thetas) -> np.ndarray:
        """Weighted residuals ``[m, n_obs]``; non-finite model outputs raise CalibrationError."""
        thetas = np.atleast_2d(thetas)
        y = self.simulate(thetas)
        bad = ~np.isfinite(y) & self.mask[None]
        if bad.any():
            a, j, c = map(int, np.argwhere(bad)[0])
            raise CalibrationError(
                f"non-finite residuals: model output {self.data.output_names[c]!r} is {y[a, j, c]} at t = "
                f"{self.data.t[j]} s ({int(bad[a].sum())} of {self.n_obs} values) for {self.describe(thetas[a])}, "
                f"although every state stayed finite. No penalty value is substituted; keep the parameters in the "
                f"range where the model's outputs are defined (bounds in the model spec)")
        r = self._weighted(y)
        with np.errstate(over="ignore"):
            ss = np.einsum("ij,ij->i", r, r)
        if not np.all(np.isfinite(ss)):
            a = int(np.flatnonzero(~np.isfinite(ss))[0])
            raise CalibrationError(
                f"the weighted residuals overflow (their sum of squares is {ss[a]}) at {self.describe(thetas[a])}: "
                f"the model's outputs grow without bound there. No penalty value is substituted; narrow the "
                f"parameter bounds or shorten max_step (now {self.integrator.max_step} s) if the integrator is "
                f"unstable")
        return r

    def _weighted(self, y):
        r = (y - self.data.outputs[None]) / self.sigma[None, None, :]
        return r[:, self.mask]

    def costs(self, thetas) -> np.ndarray:
        """``0.5 * sum(r^2)`` of every member; failed or non-finite members get ``inf`` (and are counted)."""
        thetas = np.atleast_2d(np.asarray(thetas, float))
        out = np.full(thetas.shape[0], np.inf)
        alive = np.arange(thetas.shape[0])
        while alive.size:
            x, p = self.unpack(thetas[alive])
            self.n_evaluations += alive.size
            try:
                y = self.model.simulate(x, p, self.data.t, self.data.inputs, integrator=self.integrator)
            except ModelError as err:  # drop the failed member, evaluate the rest again
                a = getattr(err, "asset", -1)
                if not 0 <= a < alive.size:  # the error names no member: find the failures one by one
                    if alive.size > 1:
                        out[alive] = np.concatenate([self.costs(thetas[k:k + 1]) for k in alive])
                    else:
                        self.n_failed += 1
                    break
                self.n_failed += 1
                alive = np.delete(alive, a)
                continue
            r = self._weighted(y[:, :, self.out_idx])
            c = 0.5 * np.einsum("ij,ij->i", r, r)
            ok = np.isfinite(c)
            self.n_failed += int((~ok).sum())
            out[alive[ok]] = c[ok]
            break
        return out

    def jacobian(self, theta, rel_step: float) -> np.ndarray:
        """Central differences, all ``2 n_theta`` perturbed copies in one fleet call."""
        n = theta.size
        lo, hi = self.lo, self.hi
        h = rel_step * np.maximum(np.abs(theta), 1e-8)
        h = np.minimum(h, np.maximum((hi - lo) / 4, 1e-12))
        thetas = np.tile(theta, (2 * n, 1))
        idx = np.arange(n)
        thetas[2 * idx, idx] = np.minimum(theta + h, hi)
        thetas[2 * idx + 1, idx] = np.maximum(theta - h, lo)
        r = self.residuals(thetas)
        steps = thetas[2 * idx, idx] - thetas[2 * idx + 1, idx]
        return ((r[0::2] - r[1::2]) / steps[:, None]).T

    def final_state(self, theta) -> np.ndarray:
        """States at the window end (the twin continues from here)."""
        x, p = self.unpack(theta)
        status = np.full(4, -1, dtype=np.int64)
        data = self.data
        estimator_kernels(self.model).final_state(x, p, data.t, np.ascontiguousarray(data.inputs),
                                                  float(self.integrator.max_step), status)
        if status[0] != 0:  # pragma: no cover - the fit itself would have failed first
            raise CalibrationError(f"the model diverged after the fit at {self.describe(theta)}")
        return x[0]


def robust_noise_std(outputs: np.ndarray) -> np.ndarray:
    """Per-channel noise scale from first differences (MAD), robust to steps and slow trends.

    Used to weight channels of different units before the residuals give a better
    estimate; 1.0 where a channel has fewer than three finite differences or is constant.
    """
    out = np.ones(outputs.shape[1])
    for j in range(outputs.shape[1]):
        col = outputs[:, j]
        d = np.diff(col[np.isfinite(col)])
        if d.size >= 3:
            s = 1.4826 * float(np.median(np.abs(d - np.median(d)))) / math.sqrt(2.0)
            if not s > 0:
                s = float(np.std(d)) / math.sqrt(2.0)
            if s > 0 and math.isfinite(s):
                out[j] = s
    return out
