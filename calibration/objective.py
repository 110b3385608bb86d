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

from calibration.window import simulate_window
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
            y = self._run(x, p)
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
                y = self._run(x, p)
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

    def _run(self, x, p) -> np.ndarray:
        """All outputs ``y[m, k, ny]`` of the members (states *x*, parameters *p*): :func:`simulate_window`."""
        return simulate_window(self.model, p, self.data, x0=x, max_step=self.integrator.max_step,
                               final_state=False).outputs

    def final_state(self, theta) -> np.ndarray:
        """States at the window end (the twin continues from here)."""
        x, p = self.unpack(theta)
        return simulate_window(self.model, p, self.data, x0=x, max_step=self.integrator.max_step).final_states[0]


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


class StackedData:
    """Several windows (experiments) seen as one: outputs stacked in time, per-window times and hashes kept.

    Only what the calibrator reads of a ``CalibrationData`` is provided; the
    windows themselves are in ``windows``.
    """

    def __init__(self, windows):
        self.windows = tuple(windows)
        first = self.windows[0]
        self.input_names, self.output_names = first.input_names, first.output_names
        self.t = np.concatenate([w.t for w in self.windows])
        self.window = np.concatenate([np.full(w.t.size, k) for k, w in enumerate(self.windows)])
        self.outputs = np.vstack([w.outputs for w in self.windows])
        self.start = min(w.start for w in self.windows)
        self.end = max(w.end for w in self.windows)
        self.source_hash = "+".join(sorted({w.source_hash for w in self.windows if w.source_hash}))
        self.n_filled = sum(w.n_filled for w in self.windows)

    @property
    def content_hash(self) -> str:
        import hashlib

        return hashlib.sha256("|".join(w.content_hash for w in self.windows).encode()).hexdigest()

    @property
    def n_observations(self) -> int:
        return int(np.isfinite(self.outputs).sum())


class StackedObjective(WeightedObjective):
    """One objective over several windows: the parameters are shared, each window has its own initial states.

    ``theta = [parameters, states of window 0, states of window 1, ...]``; the
    estimated states are named ``<state>@<window>``.  Residuals, costs and the
    Jacobian are those of the windows side by side (each window one fleet call).
    """

    def __init__(self, model, windows, names, states, base_params, base_states_list, *, max_step):
        self.parts = [WeightedObjective(model, w, names, states, base_params, x, max_step=max_step)
                      for w, x in zip(windows, base_states_list)]
        first = self.parts[0]
        self.model, self.spec, self.data = model, first.spec, StackedData(windows)
        self.names, self.states = list(names), [f"{s}@{k}" for k in range(len(windows)) for s in states]
        self.theta_names = self.names + self.states
        self.p_idx, self.s_idx, self.out_idx = first.p_idx, first.s_idx, first.out_idx
        self.base_p, self.base_x = first.base_p, first.base_x
        npar = len(self.names)
        self.lo = np.concatenate([first.lo[:npar]] + [p.lo[npar:] for p in self.parts])
        self.hi = np.concatenate([first.hi[:npar]] + [p.hi[npar:] for p in self.parts])
        self.theta0 = np.concatenate([first.theta0[:npar]] + [p.theta0[npar:] for p in self.parts])
        self.mask = np.vstack([p.mask for p in self.parts])
        self.n_obs = int(self.mask.sum())
        self.sigma = np.ones(len(self.data.output_names))
        self.integrator = first.integrator
        self.n_evaluations = 0
        self.n_failed = 0
        ns = len(states)
        self._cols = [list(range(npar)) + list(range(npar + k * ns, npar + (k + 1) * ns)) for k in range(len(windows))]

    def _sync(self):
        for part in self.parts:
            part.sigma = self.sigma

    def unpack(self, thetas):
        """States and parameters of the first window (the record's initial state)."""
        return self.parts[0].unpack(np.atleast_2d(thetas)[:, self._cols[0]])

    def simulate(self, thetas) -> np.ndarray:
        thetas = np.atleast_2d(thetas)
        self.n_evaluations += thetas.shape[0]
        return np.concatenate([p.simulate(thetas[:, c]) for p, c in zip(self.parts, self._cols)], axis=1)

    def costs(self, thetas) -> np.ndarray:
        self._sync()
        thetas = np.atleast_2d(np.asarray(thetas, float))
        before = sum(p.n_failed for p in self.parts)
        total = sum(p.costs(thetas[:, c]) for p, c in zip(self.parts, self._cols))
        self.n_evaluations += thetas.shape[0]
        self.n_failed += int(np.sum(~np.isfinite(total))) if sum(p.n_failed for p in self.parts) > before else 0
        return total

    def final_state(self, theta) -> np.ndarray:
        """States at the end of the last window."""
        return self.parts[-1].final_state(np.asarray(theta)[self._cols[-1]])
