"""State tracking of the living twin: one joint state-parameter UKF per asset, vectorized over the fleet.

:class:`FleetTracker` follows every asset of a fleet with the joint UKF of
:class:`calibration.JointUKF` (states and chosen parameters, parameters on a
random walk, measurement noise estimated from the innovations).  All assets
are filtered in one compiled loop per block of samples.  Besides the filter
state it reports, per sample, asset and measured channel, the **innovation**
(measurement minus the filter's one-step prediction) and its **expected
spread** ``sqrt(S_cc)``, where ``S = H P H^T + R`` is the filter's innovation
covariance: under a healthy plant ``residual / spread`` is about standard
normal, which is what the alarm detectors take.

Why a subclass: :class:`~calibration.JointUKF` does not report its
innovations.  :class:`TrackingUKF` steps the same filter kernel
(``calibration._kernels.ukf_run``) twice per sample - once predict-only, once
update-only at the same time - and evaluates the unscented transform of the
predicted state in between; so the residual and spread are exactly the ones
the update uses.  The kernel :func:`track_run` is a kernel template (bound per
model by :func:`sim.physics.bind_kernels`), like the estimator kernels.

Everything here pickles (the compiled kernels are dropped and bound again
from the model on :meth:`FleetTracker.attach`), which is what the checkpoint
stores.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from calibration import CalibrationData, JointUKF
from calibration._kernels import _root, ukf_run
from sim.exceptions import CalibrationError, ConfigurationError
from sim.physics.kernels.placeholders import N_INPUTS, N_OUTPUTS, N_PARAMS, N_STATES, output
from sim.physics.kernels.tuples import load_row, store_sample

__all__ = ["FleetTracker", "Innovations", "TrackingUKF", "track_run", "tracking_kernels"]

NS = 1_000_000_000


# --------------------------------------------------------------------------------------------- kernel template
@njit(cache=True)
def track_run(z, P, R, base_p, p_idx, y_idx, lo, hi, q_states, param_walk, Y, U, times, last, u_prev, wm, wc, gamma,
              max_step, adapt, forgetting, est, sd, predicted, spread, status):
    """The joint UKF over ``times[k]`` for every asset, writing the innovation statistics of each sample.

    Arguments as ``calibration._kernels.ukf_run``; in addition ``predicted[k, A, m]`` receives the predicted
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
                u_prev, wm, wc, gamma, max_step, adapt, forgetting, est1, sd1, status)  # predict only
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
                times[j], u_prev, wm, wc, gamma, max_step, adapt, forgetting, est1, sd1, status)  # update only
        if status[0] != 0:
            status[2] = j
            return last
        for a in range(n_a):
            for k in range(nth):
                est[j, a, k] = est1[0, a, k]
                sd[j, a, k] = sd1[0, a, k]
        last = times[j]
    return last


class _TrackingKernels:
    """Quacks like an integrator for ``Model.kernels`` so the bound tracking kernel is kept on the model."""

    @staticmethod
    def kernel_key():
        return "live-tracking"

    @staticmethod
    def kernels(model):
        from sim.physics import bind_kernels

        return bind_kernels(sys.modules[__name__], model)


def tracking_kernels(model):
    """The compiled :func:`track_run` of *model* (bound once per model)."""
    return model.kernels(_TrackingKernels())


# ------------------------------------------------------------------------------------------------ the filter
@dataclass(frozen=True)
class Innovations:
    """What the filter saw on a block of samples.

    Attributes
    ----------
    stamps : ndarray (k,) of int64
        Sample stamps [UTC ns].
    predicted : ndarray (k, A, m)
        One-step predicted measurement per sample, asset and channel [SI].
    residual : ndarray (k, A, m)
        Measurement minus prediction [SI]; NaN where the channel was not measured.
    spread : ndarray (k, A, m)
        Expected standard deviation of the residual, ``sqrt(S_cc)`` of the innovation covariance [SI].
    params : ndarray (k, A, p)
        Tracked parameter estimates after each sample [SI].
    params_std : ndarray (k, A, p)
        Their standard deviations [SI].
    """

    stamps: np.ndarray
    predicted: np.ndarray
    residual: np.ndarray
    spread: np.ndarray
    params: np.ndarray
    params_std: np.ndarray

    @property
    def normalized(self) -> np.ndarray:
        """``residual / spread`` (about standard normal while the twin matches the plant)."""
        return self.residual / self.spread


class TrackingUKF(JointUKF):
    """:class:`calibration.JointUKF` that also reports each sample's innovation and its expected spread.

    Same hyperparameters and learned attributes as :class:`~calibration.JointUKF`; in addition
    ``innovations_`` holds the :class:`Innovations` of the last :meth:`fit`, :meth:`partial_fit` or
    :meth:`step`.  :meth:`step` continues the filter on plain arrays (no pandas, no parameter track), which is
    what the live loop calls per block.
    """

    def _step_through(self, windows):
        first = windows[0]
        for w in windows[1:]:
            if not np.array_equal(w.t, first.t) or w.start != first.start:
                raise ConfigurationError("the windows of a fleet must share sample times and start; resample them "
                                         "onto one grid first")
        if list(first.output_names) != self._channels:
            raise ConfigurationError(f"the filter was started on the channels {self._channels}, got "
                                     f"{list(first.output_names)}")
        times = (first.start - self._origin).total_seconds() + first.t
        Y = np.stack([w.outputs for w in windows], axis=1)
        U = np.stack([w.inputs for w in windows], axis=1)
        est, sd = self._filter(times, Y, U)
        self._store(times, est, sd)

    def step(self, times, Y, U) -> Innovations:
        """Filter the samples at *times* [s since the first window's start] for every asset.

        Parameters
        ----------
        times : ndarray (k,)
            Strictly increasing sample times after the last filtered one [s].
        Y : ndarray (k, A, m)
            Measured channels in the filter's channel order [SI]; NaN: not measured.
        U : ndarray (k, A, nu)
            Inputs [SI], finite.
        """
        times = np.ascontiguousarray(times, dtype=np.float64)
        est, sd = self._filter(times, np.asarray(Y, dtype=np.float64), np.asarray(U, dtype=np.float64))
        nx = self._spec.nx
        self._params_now = self._z[:, nx:].copy()
        return self.innovations_

    def _filter(self, times, Y, U):
        n_a, nth, m = self._z.shape[0], len(self.parameters), len(self._channels)
        k = times.shape[0]
        if Y.shape != (k, n_a, m) or U.shape != (k, n_a, self._spec.nu):
            raise ConfigurationError(f"the filter tracks {n_a} assets with {m} channels and {self._spec.nu} inputs; "
                                     f"got measurements of shape {Y.shape} and inputs of shape {U.shape} for "
                                     f"{k} samples")
        if k and times[0] <= self._last:
            raise ConfigurationError(f"the block starts at {self._stamp(times[0])}, not after the last filtered "
                                     f"sample ({self._stamp(self._last)}); pass samples in time order once")
        if k > 1 and not np.all(np.diff(times) > 0):
            raise ConfigurationError("sample times must increase strictly within a block")
        if not np.isfinite(U).all():
            raise CalibrationError("the inputs hold non-finite values; carry the last input forward over gaps")
        Y = np.ascontiguousarray(Y)
        U = np.ascontiguousarray(U)
        est = np.empty((k, n_a, nth))
        sd = np.empty_like(est)
        predicted = np.empty((k, n_a, m))
        spread = np.empty((k, n_a, m))
        status = np.zeros(3, dtype=np.int64)
        run = tracking_kernels(self._model).track_run
        last = run(self._z, self._P, self._R, self._base_p, np.array(self._p_idx, dtype=np.int64),
                   np.array(self._y_idx, dtype=np.int64), self._lo, self._hi, self._q_states, float(self.param_walk),
                   Y, U, times, float(self._last), self._u_prev, self._wm, self._wc, self._gamma,
                   float(self.max_step), self.noise_std is None, float(self.forgetting), est, sd, predicted, spread,
                   status)
        if status[0] != 0:
            code, a, j = (int(v) for v in status)
            reason = {2: "a sigma point made a state non-finite (the model diverged)",
                      3: "its covariance lost positive definiteness",
                      5: "the estimate became non-finite"}[code]
            raise CalibrationError(
                f"the filter diverged at {self._stamp(times[j])} for asset {a}: {reason}; lower the parameter prior "
                f"spread (param_std) or the process noise, shorten max_step (now {self.max_step} s), or check the "
                f"data of that asset")
        self._last = float(last)
        stamps = (self._origin.value + np.round(times * NS)).astype(np.int64)
        self.innovations_ = Innovations(stamps, predicted, Y - predicted, spread, est, sd)
        return est, sd


# ------------------------------------------------------------------------------------------------- the fleet
class FleetTracker:
    """Joint state-parameter tracking of *n_assets* assets of one model, block by block.

    Parameters
    ----------
    model : sim.physics.Model
        The twin's model (one per asset, same spec).
    channels : sequence of str
        Measured model outputs the filter compares, in the order of the measurement arrays.
    n_assets : int
        Number of assets tracked together.
    filter : JointUKF
        The filter's hyperparameters (its ``parameters``, noises, ``max_step`` ...); a
        :class:`TrackingUKF` with the same settings runs.
    params : dict or list of dict, optional
        Prior parameters [SI] (one dict for all assets or one per asset).
    x0 : dict or list of dict, optional
        Initial states [SI].

    Inputs that are missing (NaN) hold their last value; samples before every input of an asset has had
    a value are counted as ``skipped`` and not filtered.
    """

    def __init__(self, model, channels, *, n_assets: int = 1, filter: JointUKF | None = None, params=None,
                 x0=None):
        self.model = model
        self.channels = tuple(channels)
        self.n_assets = int(n_assets)
        self.filter = filter if filter is not None else JointUKF()
        self.params = params
        self.x0 = x0
        for name in self.channels:
            model.spec.index("outputs", name)
        if self.n_assets < 1:
            raise ConfigurationError(f"n_assets = {n_assets}: a fleet tracker needs at least one asset")
        self.ukf_: TrackingUKF | None = None
        self.u_last_ = np.full((self.n_assets, model.spec.nu), np.nan)
        self.skipped_ = 0
        self.filtered_ = 0

    # ------------------------------------------------------------------ pickling
    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "model"}

    def attach(self, model) -> "FleetTracker":
        """Give a restored (unpickled) tracker its model back; returns self."""
        if getattr(self, "ukf_", None) is not None and self.ukf_._spec.name != model.spec.name:
            raise ConfigurationError(f"the checkpoint tracks model {self.ukf_._spec.name!r}, not {model.spec.name!r}")
        self.model = model
        if self.ukf_ is not None:
            self.ukf_._model = model
        return self

    # -------------------------------------------------------------------- update
    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(self.filter.parameters)

    def update(self, stamps, Y, U) -> Innovations | None:
        """Filter a block.

        Parameters
        ----------
        stamps : ndarray (k,) of int64
            Strictly increasing sample stamps [UTC ns].
        Y : ndarray (k, A, m)
            Measurements on :attr:`channels` [SI], NaN where missing.
        U : ndarray (k, A, nu)
            Inputs [SI], NaN where missing (the last value is held).

        Returns
        -------
        Innovations or None
            None when no sample could be filtered yet (inputs never seen).
        """
        stamps = np.asarray(stamps, dtype=np.int64)
        Y = np.asarray(Y, dtype=np.float64)
        U = _hold(np.asarray(U, dtype=np.float64), self.u_last_)
        self.u_last_ = U[-1].copy() if len(U) else self.u_last_
        ready = np.isfinite(U).all(axis=(1, 2))
        if not ready.all():
            self.skipped_ += int((~ready).sum())
            stamps, Y, U = stamps[ready], Y[ready], U[ready]
        if not stamps.size:
            return None
        if self.ukf_ is None:
            self._start(stamps[:1], Y[:1], U[:1])
            if stamps.size == 1:
                self.filtered_ += 1
                return self.ukf_.innovations_
            first = self.ukf_.innovations_
            rest = self._step(stamps[1:], Y[1:], U[1:])
            self.filtered_ += stamps.size
            return _concat(first, rest)
        out = self._step(stamps, Y, U)
        self.filtered_ += stamps.size
        return out

    def _start(self, stamps, Y, U):
        spec = self.model.spec
        start = pd.Timestamp(int(stamps[0]), tz="UTC")
        windows = [CalibrationData(t=np.zeros(1), inputs=U[:, a, :].copy(), outputs=Y[:, a, :].copy(),
                                   input_names=spec.names("inputs"), output_names=self.channels, start=start,
                                   end=start) for a in range(self.n_assets)]
        ukf = TrackingUKF(**self.filter.get_params())
        if ukf.noise_std is None:
            raise ConfigurationError("the live tracker needs noise_std (channel -> measurement noise [SI]) as its "
                                     "starting noise level; the innovations then adapt it (Sage-Husa)")
        params = self.params if self.params is None or isinstance(self.params, dict) else list(self.params)
        ukf.fit(self.model, windows, params=params, x0=self.x0)
        self.ukf_ = ukf

    def _step(self, stamps, Y, U):
        times = (stamps - self.ukf_._origin.value) / NS
        return self.ukf_.step(times, Y, U)

    # --------------------------------------------------------------------- state
    def states(self) -> np.ndarray:
        """Filtered states ``[A, nx]`` [SI]."""
        return self.ukf_._z[:, :self.model.spec.nx].copy()

    def estimates(self) -> dict[str, np.ndarray]:
        """Tracked parameter name -> estimate per asset [SI]."""
        nx = self.model.spec.nx
        return {n: self.ukf_._z[:, nx + i].copy() for i, n in enumerate(self.parameters)}

    def std(self) -> dict[str, np.ndarray]:
        """Tracked parameter name -> standard deviation per asset [SI]."""
        nx = self.model.spec.nx
        var = np.diagonal(self.ukf_._P, axis1=1, axis2=2)
        return {n: np.sqrt(np.clip(var[:, nx + i], 0, None)) for i, n in enumerate(self.parameters)}

    def params_vector(self, asset: int = 0) -> dict[str, float]:
        """The full parameter set of *asset* with the tracked ones at their estimates [SI]."""
        spec = self.model.spec
        base = {v.name: float(self.ukf_._base_p[asset, i]) for i, v in enumerate(spec.params)}
        base.update({n: float(v[asset]) for n, v in self.estimates().items()})
        return base

    def set_twin_params(self, values: dict, asset: int | None = None) -> None:
        """Set parameters of the twin (a promoted recalibration): tracked ones move their filter estimate, others
        their fixed value."""
        spec = self.model.spec
        nx = spec.nx
        assets = range(self.n_assets) if asset is None else [asset]
        for name, value in values.items():
            i = spec.index("params", name)
            for a in assets:
                self.ukf_._base_p[a, i] = float(value)
                if name in self.parameters:
                    self.ukf_._z[a, nx + self.parameters.index(name)] = float(value)

    def fingerprint(self) -> str:
        """sha256 of the filter's state arrays (equal fingerprints: the same twin, bit for bit); the hash of
        nothing when no sample reached the filter yet."""
        import hashlib

        h = hashlib.sha256()
        if self.ukf_ is None:
            return h.hexdigest()
        for arr in (self.ukf_._z, self.ukf_._P, self.ukf_._R, self.ukf_._base_p, self.ukf_._u_prev,
                    np.array([self.ukf_._last])):
            h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
        return h.hexdigest()


def _hold(U: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Inputs with NaN replaced by the last finite value (from *last* before the block)."""
    if np.isfinite(U).all():
        return U
    U = U.copy()
    prev = last.copy()
    for j in range(U.shape[0]):
        bad = ~np.isfinite(U[j])
        U[j][bad] = prev[bad]
        prev = U[j]
    return U


def _concat(a: Innovations, b: Innovations) -> Innovations:
    return Innovations(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in
                         ("stamps", "predicted", "residual", "spread", "params", "params_std")))
