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

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from calibration._kernels import estimator_kernels
from calibration.base import BaseCalibrator, check_is_fitted
from calibration.data import CalibrationData
from calibration.objective import robust_noise_std
from sim.exceptions import CalibrationError, ConfigurationError

__all__ = ["JointUKF", "UkfStep"]


@dataclass(frozen=True)
class UkfStep:
    """What :meth:`JointUKF.step` saw on a block of samples.

    Attributes
    ----------
    times : ndarray (k,)
        Sample times [s since the filter's ``origin_``].
    predicted : ndarray (k, A, m)
        One-step predicted measurement (unscented mean) per sample, asset and channel [SI].
    residual : ndarray (k, A, m)
        Measurement minus prediction, the innovation [SI]; NaN where the channel was not measured.
    spread : ndarray (k, A, m)
        Expected standard deviation of the innovation, ``sqrt(S_cc)`` of the innovation covariance
        ``S = H P H^T + R`` the update uses [SI].
    params : ndarray (k, A, p)
        Tracked parameter estimates after each sample [SI].
    params_std : ndarray (k, A, p)
        Their standard deviations [SI].
    """

    times: np.ndarray
    predicted: np.ndarray
    residual: np.ndarray
    spread: np.ndarray
    params: np.ndarray
    params_std: np.ndarray


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

    Online use (the live twin): :meth:`start` sets the filter up on a first window without filtering, and
    :meth:`step` filters plain arrays block by block, returning each sample's innovation and its expected spread
    (:class:`UkfStep`).  The filter state is read through ``mean_``, ``covariance_``, ``base_params_``,
    ``origin_``, ``last_time_``, ``spec_``, ``channels_`` and :meth:`filter_state`, and moved only by
    :meth:`set_model_params`; after unpickling, :meth:`attach` gives it its model back.
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
        self.start(model, data, params=params, x0=x0)
        self._step_through(_as_windows(data)[0])
        return self

    def start(self, model, data, *, params=None, x0=None) -> "JointUKF":
        """Set the filter up on *data* (a window, or one per asset) without filtering any sample.

        The prior is *params* / *x0* (dict, or one per asset); measured states start at their first value in
        *data*; the filter's time zero (:attr:`origin_`) is the window start and its channels are the window's
        outputs.  :meth:`step` then filters samples from the first one on.  Returns self.
        """
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
        self.track_ = None
        self._store(np.empty(0), np.empty((0, n_assets, nth)), np.empty((0, n_assets, nth)))
        return self

    def partial_fit(self, model, data) -> "JointUKF":
        """Continue filtering with new data (times continue from the last sample)."""
        check_is_fitted(self, "states_")
        self._model = model  # (not pickled)
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
        times = (first.start - self._origin).total_seconds() + first.t
        if times.size and times[0] <= self._last:
            raise ConfigurationError(f"the new window starts at {first.start}, not after the last filtered sample "
                                     f"({self._stamp(self._last)}); pass windows in time order without overlap")
        Y = np.ascontiguousarray(np.stack([w.outputs for w in windows], axis=1))  # [k, A, m]
        U = np.ascontiguousarray(np.stack([w.inputs for w in windows], axis=1))
        if not np.isfinite(U).all():
            raise CalibrationError("the windows hold non-finite inputs; CalibrationData.from_frame carries inputs "
                                   "forward over quarantined gaps - build the windows with it")
        est, sd, _, _ = self._filter(times, Y, U, innovations=False)
        self._store(times, est, sd)

    def step(self, times, Y, U, *, held=None) -> "UkfStep":
        """Filter the samples at *times* for every asset and report each sample's innovation.

        Parameters
        ----------
        times : ndarray (k,)
            Strictly increasing sample times after the last filtered one [s since :attr:`origin_`].
        Y : ndarray (k, A, m)
            Measured channels in the filter's channel order (:attr:`channels_`) [SI]; NaN: not measured.
        U : ndarray (k, A, nu)
            Inputs [SI], finite.
        held : array_like of bool (A,), optional
            Assets whose tracked parameters are *held* over this block: they enter the update as consider
            parameters (Schmidt-Kalman filter) - the states are updated with the optimal gain, which accounts for
            the parameters' uncertainty, but the parameters' estimates and their own covariance block are not,
            and their random walk goes on (their spread grows).  For a plant whose data are known not to describe
            the parameters, e.g. while an alarm says a fault acts that the model does not have: the fault is then
            not learned into them.  None: no asset is held.

        Returns
        -------
        UkfStep
            Predicted measurements, innovations, their expected spread and the parameter estimates per sample.

        Notes
        -----
        Per sample, the filter predicts, then draws the sigma points again from the predicted mean and covariance
        and updates with them, so the reported spread is exactly the update's ``sqrt(S_cc)`` (compiled in
        ``calibration._kernels.ukf_track``).  :meth:`fit` / :meth:`partial_fit` reuse the propagated sigma points
        for the update (one draw per sample); the two differ by the process noise added in between (relative
        ~1e-5 on smooth models).  Blocks do not matter: one call or many over the same samples give the same
        numbers to the bit.  No parameter track is kept (``track_`` is what :meth:`fit` and :meth:`partial_fit`
        record); the learned attributes (``params_``, ``states_`` ...) are updated.  Call :meth:`start` (or
        :meth:`fit`) first.
        """
        check_is_fitted(self, "states_")
        times = np.ascontiguousarray(times, dtype=np.float64).reshape(-1)
        Y = np.ascontiguousarray(Y, dtype=np.float64)
        U = np.ascontiguousarray(U, dtype=np.float64)
        n_a, m, nu = self._z.shape[0], len(self._channels), self._spec.nu
        k = times.shape[0]
        if Y.shape != (k, n_a, m) or U.shape != (k, n_a, nu):
            raise ConfigurationError(f"the filter tracks {n_a} assets with {m} channels and {nu} inputs; got "
                                     f"measurements of shape {Y.shape} and inputs of shape {U.shape} for {k} samples; "
                                     f"pass Y[k, assets, channels] and U[k, assets, inputs]")
        if k and times[0] <= self._last:
            raise ConfigurationError(f"the block starts at {self._stamp(times[0])}, not after the last filtered "
                                     f"sample ({self._stamp(self._last)}); pass samples in time order once")
        if k > 1 and not np.all(np.diff(times) > 0):
            raise ConfigurationError("sample times must increase strictly within a block; sort the samples and drop "
                                     "repeated times")
        if not np.isfinite(U).all():
            raise CalibrationError("the inputs hold non-finite values; carry the last input forward over gaps")
        est, sd, predicted, spread = self._filter(times, Y, U, innovations=True, held=self._held_mask(held, n_a))
        self._store(np.empty(0), est[:0], sd[:0])
        return UkfStep(times.copy(), predicted, Y - predicted, spread, est, sd)

    @staticmethod
    def _held_mask(held, n_a) -> np.ndarray:
        """The per-asset bool mask of :meth:`step`'s *held* (all False for None)."""
        if held is None:
            return np.zeros(n_a, dtype=np.bool_)
        mask = np.asarray(held)
        if mask.shape != (n_a,) or mask.dtype.kind not in "bi" or not np.isin(mask, (0, 1)).all():
            raise ConfigurationError(f"held = {held!r}: give one bool per asset ({n_a} assets), True where the "
                                     f"tracked parameters are held over the block")
        return np.ascontiguousarray(mask, dtype=np.bool_)

    def _filter(self, times, Y, U, *, innovations, held=None):
        """Run the compiled filter over the samples; returns ``est, sd`` [k, A, nth] and, with *innovations*,
        ``predicted, spread`` [k, A, m] (else None).  *held*: the per-asset mask of :meth:`_held_mask` (None:
        no asset held)."""
        k, n_a = times.shape[0], self._z.shape[0]
        nth, m = len(self.parameters), len(self._channels)
        est = np.empty((k, n_a, nth))
        sd = np.empty_like(est)
        status = np.zeros(3, dtype=np.int64)
        kernels = estimator_kernels(self._model)
        args = (self._z, self._P, self._R, self._base_p, np.array(self._p_idx, dtype=np.int64),
                np.array(self._y_idx, dtype=np.int64), self._lo, self._hi, self._q_states, float(self.param_walk),
                Y, U, times, float(self._last), self._u_prev, self._wm, self._wc, self._gamma,
                float(self.max_step), self.noise_std is None, float(self.forgetting),
                np.zeros(n_a, dtype=np.bool_) if held is None else held, est, sd)
        if innovations:
            predicted = np.empty((k, n_a, m))
            spread = np.empty((k, n_a, m))
            last = kernels.ukf_track(*args, predicted, spread, status)
        else:
            predicted = spread = None
            kernels.ukf_run(*args, status)
            last = times[-1] if k else self._last
        if status[0] != 0:
            self._diverged(status, times)
        self._last = float(last)
        return est, sd, predicted, spread

    def _diverged(self, status, times):
        code, a, j = (int(v) for v in status)
        reason = {2: "a sigma point made a state non-finite (the model diverged)",
                  3: "its covariance lost positive definiteness",
                  5: "the estimate became non-finite"}[code]
        raise CalibrationError(
            f"the filter diverged at {self._stamp(times[j])} for asset {a}: {reason}; lower the parameter prior "
            f"spread (param_std) or the process noise, shorten max_step (now {self.max_step} s), or check the "
            f"data of that asset")

    # ------------------------------------------------------------ filter state
    @property
    def spec_(self):
        """The :class:`~sim.physics.ModelSpec` of the filtered model."""
        check_is_fitted(self, "states_")
        return self._spec

    @property
    def channels_(self) -> tuple:
        """Measured output channels, in the order of the measurement arrays."""
        check_is_fitted(self, "states_")
        return tuple(self._channels)

    @property
    def origin_(self) -> pd.Timestamp:
        """Time zero of the filter's times (the first window's start)."""
        check_is_fitted(self, "states_")
        return self._origin

    @property
    def last_time_(self) -> float:
        """Time of the last filtered sample [s since :attr:`origin_`]; NaN before the first."""
        check_is_fitted(self, "states_")
        return float(self._last)

    @property
    def mean_(self) -> np.ndarray:
        """Filter mean ``z[A, nx + p]``: the states, then the tracked parameters [SI] (a copy)."""
        check_is_fitted(self, "states_")
        return self._z.copy()

    @property
    def covariance_(self) -> np.ndarray:
        """Filter covariance ``P[A, n, n]`` of :attr:`mean_` [SI] (a copy)."""
        check_is_fitted(self, "states_")
        return self._P.copy()

    @property
    def base_params_(self) -> np.ndarray:
        """Every model parameter per asset ``[A, np]`` in spec order; tracked ones at their prior [SI] (a copy)."""
        check_is_fitted(self, "states_")
        return self._base_p.copy()

    def filter_state(self) -> dict:
        """Copies of every array the filter carries from sample to sample: ``mean`` ``[A, n]``, ``covariance``
        ``[A, n, n]``, ``noise_variance`` ``[A, m]``, ``base_params`` ``[A, np]``, ``last_inputs`` ``[A, nu]`` [SI]
        and ``last_time`` ``[1]`` [s]; equal arrays, the same filter bit for bit (the live tracker hashes them)."""
        check_is_fitted(self, "states_")
        return {"mean": self._z.copy(), "covariance": self._P.copy(), "noise_variance": self._R.copy(),
                "base_params": self._base_p.copy(), "last_inputs": self._u_prev.copy(),
                "last_time": np.array([self._last])}

    def set_model_params(self, values: dict, *, asset: int | None = None) -> "JointUKF":
        """Set model parameters of the filter (e.g. a promoted recalibration) for one *asset* or all.

        A tracked parameter moves its estimate (its spread is kept); any other one its fixed value [SI].
        Unknown names raise.  Returns self.
        """
        check_is_fitted(self, "states_")
        nx = self._spec.nx
        n_a = self._z.shape[0]
        if asset is not None and not 0 <= asset < n_a:
            raise ConfigurationError(f"asset = {asset}: the filter tracks assets 0 .. {n_a - 1}")
        assets = range(n_a) if asset is None else [asset]
        for name, value in values.items():
            i = self._spec.index("params", name)
            for a in assets:
                self._base_p[a, i] = float(value)
                if name in self.parameters:
                    self._z[a, nx + list(self.parameters).index(name)] = float(value)
        self._store(np.empty(0), np.empty((0, n_a, 0)), np.empty((0, n_a, 0)))
        return self

    def attach(self, model) -> "JointUKF":
        """Give an unpickled filter its model back (compiled kernels are not pickled); returns self."""
        check_is_fitted(self, "states_")
        if model.spec.name != self._spec.name:
            raise ConfigurationError(f"the filter tracks model {self._spec.name!r}, not {model.spec.name!r}; attach "
                                     f"the model it was started with")
        self._model = model
        return self

    def _stamp(self, time):
        return self._origin + pd.Timedelta(seconds=float(time))

    def _store(self, times, est, sd):
        """Append the samples (if any) to ``track_`` and set the learned attributes from the filter state."""
        zq = stats.norm.ppf(0.5 + self.confidence / 2)
        k, n_a = est.shape[0], est.shape[1]
        if k:
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
