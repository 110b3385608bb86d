"""Joint state-parameter estimation with an unscented Kalman filter over the fleet kernel.

The filter state is ``z = [model states, chosen parameters]``; parameters follow a
random walk.  All ``2 n + 1`` sigma points are propagated in *one* fleet kernel
call (each sigma point is a fleet member with its own states and parameters).
The measurement noise can be estimated from the innovations (Sage-Husa, with a
forgetting factor), so that no noise level has to be guessed.

References: Wan & van der Merwe, "The unscented Kalman filter for nonlinear
estimation", IEEE AS-SPCC (2000) (scaled sigma points); Sage & Husa, "Adaptive
filtering with unknown prior statistics", JACC (1969).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from calibration.base import BaseCalibrator, check_is_fitted
from calibration.data import CalibrationData
from sim.exceptions import CalibrationError
from sim.physics.fleet import Fleet
from sim.physics.integrators import RK4

__all__ = ["JointUKF"]


class JointUKF(BaseCalibrator):
    """Unscented Kalman filter on states and parameters.

    Parameters
    ----------
    parameters : sequence of str
        Model parameters estimated jointly with the states.
    param_std : dict
        name → prior standard deviation of each parameter [SI].
    param_walk : float
        Relative random-walk standard deviation of the parameters per second [1/sqrt(s)].
    state_std : float
        Process-noise standard deviation of the states per second [state unit/sqrt(s)].
    noise_std : dict or None
        channel → measurement noise [SI]; None estimates it from the innovations.
    forgetting : float
        Forgetting factor of the innovation-based noise estimate (close to 1).
    alpha, beta, kappa : float
        Sigma-point scaling.
    max_step : float
        Integrator step [s].
    confidence : float
        Level of the reported intervals.
    """

    def __init__(self, parameters=("thermal_resistance_housing_ambient",), *, param_std=None, param_walk=1e-6,
                 state_std=1e-3, noise_std=None, forgetting=0.995, alpha=1e-3, beta=2.0, kappa=0.0, max_step=1.0,
                 confidence=0.95):
        self.parameters = parameters
        self.param_std = param_std
        self.param_walk = param_walk
        self.state_std = state_std
        self.noise_std = noise_std
        self.forgetting = forgetting
        self.alpha = alpha
        self.beta = beta
        self.kappa = kappa
        self.max_step = max_step
        self.confidence = confidence

    def fit(self, model, data: CalibrationData, *, params=None, x0=None) -> "JointUKF":
        """Filter through *data* from the prior (*params*, *x0*); keeps the tracks in ``track_``."""
        spec = model.spec
        self._model, self._spec = model, spec
        self._p_idx = [spec.index("params", n) for n in self.parameters]
        self._y_idx = [spec.index("outputs", n) for n in data.output_names]
        self._base_p = spec.vector("params", params)
        x = spec.vector("states", x0)
        for j, name in enumerate(data.output_names):  # start measured states at their first value
            if name in spec.names("states") and (x0 is None or name not in x0):
                col = data.outputs[:, j]
                if np.isfinite(col).any():
                    x[spec.index("states", name)] = col[np.isfinite(col)][0]
        nx, nth = spec.nx, len(self._p_idx)
        self.z_ = np.concatenate([x, self._base_p[self._p_idx]])
        pstd = np.array([(self.param_std or {}).get(n, 0.3 * abs(self._base_p[i]))
                         for n, i in zip(self.parameters, self._p_idx)])
        self.P_ = np.diag(np.concatenate([np.full(nx, 1.0), pstd]) ** 2)
        m = len(self._y_idx)
        self.R_ = np.diag([(self.noise_std or {}).get(c, 1.0) ** 2 for c in data.output_names]).astype(float)
        self._channels = list(data.output_names)
        self.track_ = []
        self._last = None
        self._u_prev = data.inputs[0]
        self._lo = np.array([spec.params[i].bounds[0] for i in self._p_idx])
        self._hi = np.array([spec.params[i].bounds[1] for i in self._p_idx])
        self._m = m
        self._step_through(data)
        return self

    def partial_fit(self, model, data: CalibrationData) -> "JointUKF":
        """Continue filtering with new data (times continue from the last sample)."""
        check_is_fitted(self, "z_")
        self._step_through(data)
        return self

    # ----------------------------------------------------------------- filter
    def _sigma(self, z, P):
        n = z.size
        lam = self.alpha ** 2 * (n + self.kappa) - n
        try:
            root = np.linalg.cholesky((n + lam) * (P + P.T) / 2)
        except np.linalg.LinAlgError:
            w, v = np.linalg.eigh((P + P.T) / 2)
            root = v @ np.diag(np.sqrt(np.clip(w, 1e-300, None) * (n + lam)))
        pts = np.vstack([z, z + root.T, z - root.T])
        wm = np.full(2 * n + 1, 1.0 / (2 * (n + lam)))
        wc = wm.copy()
        wm[0] = lam / (n + lam)
        wc[0] = wm[0] + 1 - self.alpha ** 2 + self.beta
        return pts, wm, wc

    def _predict(self, dt, u):
        nx = self._spec.nx
        pts, wm, wc = self._sigma(self.z_, self.P_)
        params = np.tile(self._base_p, (pts.shape[0], 1))
        params[:, self._p_idx] = np.clip(pts[:, nx:], self._lo, self._hi)
        fleet = Fleet(self._model, states=pts[:, :nx], params=params, inputs=np.tile(u, (pts.shape[0], 1)),
                      integrator=RK4(max_step=self.max_step))
        fleet.advance(dt)
        pts = np.column_stack([fleet.states, pts[:, nx:]])
        z = wm @ pts
        d = pts - z
        q = np.concatenate([np.full(nx, self.state_std ** 2 * dt),
                            (self.param_walk * np.abs(z[nx:])) ** 2 * dt])
        self.z_, self.P_ = z, (wc[:, None] * d).T @ d + np.diag(q)
        return pts, params, wm, wc

    def _update(self, y, u):
        pts, wm, wc = self._sigma(self.z_, self.P_)
        nx = self._spec.nx
        out = self._model.output
        ys = np.empty((pts.shape[0], len(self._y_idx)))
        for k, pt in enumerate(pts):
            p = self._base_p.copy()
            p[self._p_idx] = np.clip(pt[nx:], self._lo, self._hi)
            y_all = out(tuple(pt[:nx]), tuple(p), tuple(u))
            ys[k] = [y_all[i] for i in self._y_idx]
        ok = np.isfinite(y)
        if not ok.any():
            return None
        ys, y = ys[:, ok], y[ok]
        R = self.R_[np.ix_(ok, ok)]
        y_mean = wm @ ys
        dy = ys - y_mean
        S = (wc[:, None] * dy).T @ dy + R
        C = (wc[:, None] * (pts - self.z_)).T @ dy
        K = C @ np.linalg.inv(S)
        innov = y - y_mean
        self.z_ = self.z_ + K @ innov
        self.P_ = self.P_ - K @ S @ K.T
        if self.noise_std is None:  # Sage-Husa: R from innovations
            b = self.forgetting
            Rn = (1 - b) * (np.outer(innov, innov) - (S - R)) + b * R
            diag = np.clip(np.diag(Rn), 1e-12, None)
            R_full = np.diag(np.diag(self.R_))
            R_full[np.ix_(ok, ok)] = np.diag(diag)
            self.R_ = R_full
        return innov

    def _step_through(self, data):
        import pandas as pd

        nx = self._spec.nx
        zq = stats.norm.ppf(0.5 + self.confidence / 2)
        for j in range(data.t.size):
            stamp = data.start + pd.Timedelta(seconds=float(data.t[j]))
            if self._last is not None:
                dt = (stamp - self._last).total_seconds()
                if dt > 0:
                    self._predict(dt, self._u_prev)
            self._update(data.outputs[j], data.inputs[j])
            if not np.all(np.isfinite(self.z_)):
                raise CalibrationError(f"the filter diverged at {stamp}; lower the process noise or check the data")
            self._last = stamp
            self._u_prev = data.inputs[j]
            sd = np.sqrt(np.clip(np.diag(self.P_)[nx:], 0, None))
            row = {"time": stamp}
            for k, name in enumerate(self.parameters):
                row[name] = float(self.z_[nx + k])
                row[f"{name}.ci_low"] = float(self.z_[nx + k] - zq * sd[k])
                row[f"{name}.ci_high"] = float(self.z_[nx + k] + zq * sd[k])
            self.track_.append(row)
        self.params_ = {n: float(self.z_[nx + k]) for k, n in enumerate(self.parameters)}
        sd = np.sqrt(np.clip(np.diag(self.P_)[nx:], 0, None))
        self.intervals_ = {n: (self.params_[n] - zq * s, self.params_[n] + zq * s) for n, s in zip(self.parameters, sd)}
        self.states_ = self._spec.as_dict("states", self.z_[:nx])
        self.noise_std_ = dict(zip(self._channels, np.sqrt(np.diag(self.R_)).tolist()))

