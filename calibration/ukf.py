"""Joint state-parameter estimation with an unscented Kalman filter over the fleet kernel.

The filter state is ``z = [model states, chosen parameters]``; parameters follow a
random walk.  All ``2 n + 1`` sigma points - of every asset when a fleet is
filtered - are propagated in *one* integrator kernel call and their outputs
computed in *one* output kernel call, and the filter algebra runs batched over
the assets, so that a fleet of assets costs little more per sample than one.
The propagated sigma points are reused for the measurement update (no redraw,
as in filterpy).  The measurement noise can be estimated from the innovations
(Sage-Husa, with a forgetting factor), so that no noise level has to be guessed.

References: Wan & van der Merwe, "The unscented Kalman filter for nonlinear
estimation", IEEE AS-SPCC (2000) (scaled sigma points); Sage & Husa, "Adaptive
filtering with unknown prior statistics", JACC (1969).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from calibration._kernels import estimator_kernels
from calibration.base import BaseCalibrator, check_is_fitted
from calibration.data import CalibrationData
from calibration.objective import robust_noise_std
from sim.exceptions import CalibrationError, ConfigurationError

__all__ = ["JointUKF"]


class JointUKF(BaseCalibrator):
    """Unscented Kalman filter on states and parameters, for one asset or a fleet.

    Parameters
    ----------
    parameters : sequence of str
        Model parameters estimated jointly with the states.
    param_std : dict
        name → prior standard deviation of each parameter [SI] (default 30 % of the prior value).
    param_walk : float
        Relative random-walk standard deviation of the parameters per second [1/sqrt(s)].
    state_std : float or dict
        Process-noise standard deviation of the states per second [state unit/sqrt(s)]:
        one value for all states, or state name → value (others 0).
    initial_state_std : float or dict
        Standard deviation of the initial states [state unit]: one value, or state
        name → value (others 1.0).
    noise_std : dict or None
        channel → measurement noise [SI]; None estimates it from the innovations,
        starting from a robust estimate from the first window's sample-to-sample differences.
    forgetting : float
        Forgetting factor of the innovation-based noise estimate (close to 1).
    alpha, beta, kappa : float
        Sigma-point scaling.
    max_step : float
        Integrator step [s].
    confidence : float
        Level of the reported intervals.

    Notes
    -----
    ``fit(model, data)`` filters one asset.  Given a sequence of windows (one per
    asset, same sample times and channels) it filters the fleet at once; every
    learned value then has a leading asset axis (``params_[name]`` is an array)
    and ``track_`` has an ``asset`` column.
    """

    def __init__(self, parameters=("thermal_resistance_housing_ambient",), *, param_std=None, param_walk=1e-6,
                 state_std=1e-3, initial_state_std=1.0, noise_std=None, forgetting=0.995, alpha=1e-3, beta=2.0,
                 kappa=0.0, max_step=1.0, confidence=0.95):
        self.parameters = parameters
        self.param_std = param_std
        self.param_walk = param_walk
        self.state_std = state_std
        self.initial_state_std = initial_state_std
        self.noise_std = noise_std
        self.forgetting = forgetting
        self.alpha = alpha
        self.beta = beta
        self.kappa = kappa
        self.max_step = max_step
        self.confidence = confidence

    # --------------------------------------------------------------- public
    def fit(self, model, data, *, params=None, x0=None) -> "JointUKF":
        """Filter through *data* (a window, or one window per asset) from the prior (*params*, *x0*)."""
        windows, single = _as_windows(data)
        spec = model.spec
        n_assets = len(windows)
        params = _per_asset(params, n_assets, "params")
        x0 = _per_asset(x0, n_assets, "x0")
        self._model, self._spec, self._single = model, spec, single
        self._p_idx = [spec.index("params", n) for n in self.parameters]
        self._channels = list(windows[0].output_names)
        self._y_idx = [spec.index("outputs", n) for n in self._channels]
        self._base_p = np.array([spec.vector("params", p) for p in params])
        x = np.array([_start_states(spec, w, x) for w, x in zip(windows, x0)])
        nx, nth = spec.nx, len(self._p_idx)
        self._z = np.concatenate([x, self._base_p[:, self._p_idx]], axis=1)
        pstd = np.array([[(self.param_std or {}).get(n, 0.3 * abs(bp[i])) for n, i in zip(self.parameters, self._p_idx)]
                         for bp in self._base_p])
        x_std = _state_values(spec, self.initial_state_std, 1.0)
        self._P = np.stack([np.diag(np.concatenate([x_std, ps]) ** 2) for ps in pstd])
        self._q_states = _state_values(spec, self.state_std, 0.0) ** 2
        if self.noise_std is not None:
            missing = [c for c in self._channels if c not in self.noise_std]
            if missing:
                raise CalibrationError(f"noise_std lacks the channels {missing}; give one value per measured output")
            self._R = np.tile([float(self.noise_std[c]) ** 2 for c in self._channels], (n_assets, 1))
        else:
            self._R = np.array([robust_noise_std(w.outputs) ** 2 for w in windows])
        self._lo = np.array([spec.params[i].bounds[0] for i in self._p_idx])
        self._hi = np.array([spec.params[i].bounds[1] for i in self._p_idx])
        self._origin = windows[0].start
        self._last = np.nan
        self._u_prev = np.zeros((n_assets, spec.nu))
        self._weights(nx + nth)
        self._run = estimator_kernels(model).ukf_run
        self.track_ = None
        self._step_through(windows)
        return self

    def partial_fit(self, model, data) -> "JointUKF":
        """Continue filtering with new data (times continue from the last sample)."""
        check_is_fitted(self, "states_")
        self._model, self._run = model, estimator_kernels(model).ukf_run  # (not pickled)
        windows, _ = _as_windows(data)
        if len(windows) != self._z.shape[0]:
            raise ConfigurationError(f"the filter tracks {self._z.shape[0]} assets but got {len(windows)} windows")
        self._step_through(windows)
        return self

    def __getstate__(self):
        # compiled kernels cannot be pickled; partial_fit takes the model again
        return {k: v for k, v in self.__dict__.items() if k not in ("_model", "_run")}

    # ----------------------------------------------------------------- filter
    def _weights(self, n):
        lam = self.alpha ** 2 * (n + self.kappa) - n
        wm = np.full(2 * n + 1, 1.0 / (2 * (n + lam)))
        wc = wm.copy()
        wm[0] = lam / (n + lam)
        wc[0] = wm[0] + 1 - self.alpha ** 2 + self.beta
        self._wm, self._wc, self._gamma = wm, wc, float(np.sqrt(n + lam))

    def _step_through(self, windows):
        first = windows[0]
        for w in windows[1:]:
            if w.t.shape != first.t.shape or not np.array_equal(w.t, first.t) or w.start != first.start \
                    or list(w.output_names) != self._channels:
                raise ConfigurationError("the windows of a fleet must share sample times, start and output channels; "
                                         "resample them onto one grid first")
        if list(first.output_names) != self._channels:
            raise ConfigurationError(f"the filter was started on the channels {self._channels}, got "
                                     f"{list(first.output_names)}")
        nth = len(self.parameters)
        times = (first.start - self._origin).total_seconds() + first.t
        if times.size and times[0] <= self._last:
            raise ConfigurationError(f"the new window starts at {first.start}, not after the last filtered sample "
                                     f"({self._stamp(self._last)}); pass windows in time order without overlap")
        Y = np.ascontiguousarray(np.stack([w.outputs for w in windows], axis=1))  # [k, A, m]
        U = np.ascontiguousarray(np.stack([w.inputs for w in windows], axis=1))
        if not np.isfinite(U).all():
            raise CalibrationError("the windows hold non-finite inputs; CalibrationData.from_frame carries inputs "
                                   "forward over quarantined gaps - build the windows with it")
        est = np.empty((times.size, len(windows), nth))
        sd = np.empty_like(est)
        status = np.zeros(3, dtype=np.int64)
        self._run(self._z, self._P, self._R, self._base_p, np.array(self._p_idx, dtype=np.int64),
                  np.array(self._y_idx, dtype=np.int64), self._lo, self._hi, self._q_states, float(self.param_walk),
                  Y, U, times, float(self._last), self._u_prev, self._wm, self._wc, self._gamma,
                  float(self.max_step), self.noise_std is None, float(self.forgetting), est, sd, status)
        if status[0] != 0:
            code, a, j = (int(v) for v in status)
            reason = {2: "a sigma point made a state non-finite (the model diverged)",
                      3: "its covariance lost positive definiteness",
                      5: "the estimate became non-finite"}[code]
            raise CalibrationError(
                f"the filter diverged at {self._stamp(times[j])} for asset {a}: {reason}; lower the parameter prior "
                f"spread (param_std) or the process noise, shorten max_step (now {self.max_step} s), or check the "
                f"data of that asset")
        self._last = float(times[-1]) if times.size else self._last
        self._store(times, est, sd)

    def _stamp(self, time):
        return self._origin + pd.Timedelta(seconds=float(time))

    def _store(self, times, est, sd):
        zq = stats.norm.ppf(0.5 + self.confidence / 2)
        k, n_a, _ = est.shape
        cols = {"time": np.repeat(self._origin + pd.to_timedelta(times, unit="s"), n_a)}
        if not self._single:
            cols["asset"] = np.tile(np.arange(n_a), k)
        for i, name in enumerate(self.parameters):
            cols[name] = est[:, :, i].ravel()
            cols[f"{name}.ci_low"] = (est[:, :, i] - zq * sd[:, :, i]).ravel()
            cols[f"{name}.ci_high"] = (est[:, :, i] + zq * sd[:, :, i]).ravel()
        part = pd.DataFrame(cols)
        self.track_ = part if self.track_ is None else pd.concat([self.track_, part], ignore_index=True)
        nx = self._spec.nx
        one = (lambda v: float(v[0])) if self._single else (lambda v: np.array(v, dtype=float))
        sd_now = np.sqrt(np.clip(np.diagonal(self._P, axis1=1, axis2=2), 0, None))
        self.params_ = {n: one(self._z[:, nx + i]) for i, n in enumerate(self.parameters)}
        self.intervals_ = {n: (one(self._z[:, nx + i] - zq * sd_now[:, nx + i]),
                               one(self._z[:, nx + i] + zq * sd_now[:, nx + i])) for i, n in enumerate(self.parameters)}
        self.stderr_ = {n: one(sd_now[:, nx + i]) for i, n in enumerate(self.parameters)}
        self.states_ = {s.name: one(self._z[:, i]) for i, s in enumerate(self._spec.states)}
        self.noise_std_ = {c: one(np.sqrt(self._R[:, j])) for j, c in enumerate(self._channels)}


def _as_windows(data):
    if isinstance(data, CalibrationData):
        return [data], True
    windows = list(data)
    if not windows or not all(isinstance(w, CalibrationData) for w in windows):
        raise ConfigurationError("pass a CalibrationData window, or a non-empty sequence of them (one per asset)")
    return windows, False


def _per_asset(value, n_assets, what):
    if value is None or isinstance(value, dict):
        return [value] * n_assets
    value = list(value)
    if len(value) != n_assets:
        raise ConfigurationError(f"{what}: got {len(value)} entries for {n_assets} assets; give one dict per asset "
                                 f"or one dict for all")
    return value


def _state_values(spec, value, missing):
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(spec.names("states")))
        if unknown:
            raise ConfigurationError(f"{unknown} are not states of {spec.name!r}; states: {list(spec.names('states'))}")
        return np.array([float(value.get(s.name, missing)) for s in spec.states])
    return np.full(spec.nx, float(value))


def _start_states(spec, window, x0):
    x = spec.vector("states", x0)
    for j, name in enumerate(window.output_names):  # start measured states at their first value
        if name in spec.names("states") and (x0 is None or name not in x0):
            col = window.outputs[:, j]
            if np.isfinite(col).any():
                x[spec.index("states", name)] = col[np.isfinite(col)][0]
    return x
