"""The living twin's filter on an FMU plant: the joint state-parameter UKF with its sigma points run by the FMU.

:class:`FmuJointUKF` is :class:`calibration.JointUKF` - same hyperparameters, same public API (``start``,
``step``, ``mean_``, ``covariance_``, ``set_model_params`` ...), same algebra step for step as the compiled
``calibration._kernels.ukf_track`` - whose two model evaluations go through an :class:`sim.fmu.FmuModel`
instead of numba kernels:

* **predict**: each sigma point ``(x_s, theta_s)`` is a run of the FMU from the last sample time to this one:
  reset, the states' start values set to ``x_s``, the parameters to ``theta_s`` (clipped into their bounds),
  the inputs held at the last sample's values, initialize, ``ceil(dt / max_step)`` communication steps, and the
  states read back (:meth:`sim.fmu.FmuModel.final_states`);
* **observe**: each sigma point drawn from the predicted mean and covariance is initialized at the sample time
  with this sample's inputs, and its outputs read (:meth:`sim.fmu.FmuModel.simulate` on one sample).

:class:`FmuFleetTracker` is :class:`scenarios.live.tracking.FleetTracker` with this filter, so the live service,
checkpoints, monitors and the board use it unchanged; :func:`tracker_for` picks it when the model is an FMU.

Why re-initialization rather than ``get/setFMUstate`` or an ensemble of instances
-------------------------------------------------------------------------------
A sigma point is an arbitrary point of the state space.  ``setFMUstate`` only returns an FMU to a state it has
been in, and FMI 2/3 Co-Simulation does not let a state be written in step mode, so neither a snapshot nor a set
of running instances (an ensemble Kalman filter) can be *moved* to the corrected state after a measurement
update.  What every FMU does allow - with or without ``canGetAndSetFMUstate``, Co-Simulation or Model Exchange -
is to start from given start values: the states an :class:`~sim.fmu.FmuModel` names are exactly those
(``states=...``), which is also how it is calibrated.  So each sigma point is a fresh, short run of the one
reused instance (reset + initialize, 5-30 us for compiled FMUs).  It is deterministic (same data, same numbers,
serial or parallel, unlike an ensemble's random draws), needs ``2 n + 1`` runs per sample instead of the tens
to hundreds of members an EnKF needs for the same covariance, and agrees with the numba filter on the same
equations to the accuracy of the model evaluations.  The condition is the one the calibrators already have:
the named states must be the FMU's whole dynamic state (an FMU with hidden states that its start values do not
set is filtered as if they restarted at each sample).

Cost: ``2 (2 n + 1)`` FMU runs per sample and asset (``n`` = states + tracked parameters), in Python - about
1-3 ms per sample for a small pythonfmu FMU; fine for minute or second telemetry of a few assets, not for the
fleets the numba kernels track.
"""

from __future__ import annotations

import numpy as np

from calibration import JointUKF
from sim.exceptions import CalibrationError, ConfigurationError, ModelError
from scenarios.live.tracking import FleetTracker

__all__ = ["FmuFleetTracker", "FmuJointUKF", "is_fmu_model", "tracker_for"]


def is_fmu_model(model) -> bool:
    """Whether *model* is an FMU model (:class:`sim.fmu.FmuModel`) rather than a numba :class:`sim.physics.Model`."""
    from sim.fmu import FmuModel

    return isinstance(model, FmuModel)


class FmuJointUKF(JointUKF):
    """:class:`calibration.JointUKF` over an :class:`sim.fmu.FmuModel` (see the module docstring).

    Same parameters, learned attributes and public methods as :class:`~calibration.JointUKF`; ``max_step`` is the
    longest FMU communication step [s] within a sample interval.
    """

    def start(self, model, data, *, params=None, x0=None) -> "FmuJointUKF":
        if not is_fmu_model(model):
            raise ConfigurationError(f"FmuJointUKF filters an FMU (sim.fmu.FmuModel), got {model!r}; use "
                                     f"calibration.JointUKF for a numba model")
        super().start(model, data, params=params, x0=x0)
        missing = [v.name for i, v in enumerate(self._spec.params) if not np.isfinite(self._base_p[:, i]).all()]
        if missing:
            raise ConfigurationError(f"{self._spec.name}: the FMU gives no usable start value for the parameters "
                                     f"{missing}; pass them in params (the prior)")
        return self

    # ------------------------------------------------------------------ the filter
    def _filter(self, times, Y, U, *, innovations, held=None):
        k, n_a = times.shape[0], self._z.shape[0]
        nth, m = len(self.parameters), len(self._channels)
        est = np.empty((k, n_a, nth))
        sd = np.empty_like(est)
        predicted = np.empty((k, n_a, m)) if innovations else None
        spread = np.empty((k, n_a, m)) if innovations else None
        for j in range(k):
            for a in range(n_a):
                self._predict(a, j, times, self._last, self._u_prev[a])
                pts, ys = self._observe(a, j, times, U[j, a])
                if innovations:
                    mean = self._wm @ ys
                    var = self._wc @ (ys - mean) ** 2
                    predicted[j, a] = mean
                    spread[j, a] = np.sqrt(np.maximum(var + self._R[a], 0.0))
                self._update(a, j, times, pts, ys, Y[j, a], held=held is not None and bool(held[a]))
                if not np.isfinite(self._z[a]).all():
                    self._diverged(np.array([5, a, j]), times)
                nx = self._spec.nx
                est[j, a] = self._z[a, nx:]
                sd[j, a] = np.sqrt(np.maximum(np.diagonal(self._P[a])[nx:], 0.0))
                self._u_prev[a] = U[j, a]
            self._last = float(times[j])
        return est, sd, predicted, spread

    def _sigma_points(self, a, j, times):
        L = _root(self._P[a])
        if L is None:
            self._diverged(np.array([3, a, j]), times)
        z = self._z[a]
        gl = self._gamma * L
        return np.vstack([z, z + gl.T, z - gl.T])  # [2 n + 1, n]: column c of L is sigma point 1 + c (and 1 + n + c)

    def _member_params(self, a, pts):
        nx = self._spec.nx
        pw = np.repeat(self._base_p[a:a + 1], pts.shape[0], axis=0)
        pw[:, self._p_idx] = np.clip(pts[:, nx:], self._lo, self._hi)
        return pw

    def _predict(self, a, j, times, t_prev, u_prev):
        dt = times[j] - t_prev
        if not dt > 0.0:  # the first sample of a run (t_prev = nan): nothing to predict
            return
        nx = self._spec.nx
        pts = self._sigma_points(a, j, times)
        if nx:
            u = np.repeat(u_prev[None, :], 2, axis=0)
            try:
                pts[:, :nx] = self._model.final_states(pts[:, :nx], self._member_params(a, pts),
                                                       np.array([t_prev, times[j]]), u, float(self.max_step))
            except ModelError as err:
                self._failed(err, a, j, times)
            if not np.isfinite(pts[:, :nx]).all():
                self._diverged(np.array([2, a, j]), times)
        z = self._wm @ pts
        d = pts - z
        P = (self._wc * d.T) @ d
        P[np.diag_indices(nx)] += self._q_states * dt
        walk = (float(self.param_walk) * z[nx:]) ** 2 * dt
        P[nx + np.arange(len(self._p_idx)), nx + np.arange(len(self._p_idx))] += walk
        self._z[a] = z
        self._P[a] = P

    def _observe(self, a, j, times, u):
        pts = self._sigma_points(a, j, times)
        nx = self._spec.nx
        try:
            y = self._model.simulate(pts[:, :nx], self._member_params(a, pts), times[j:j + 1], u[None, :])[:, 0, :]
        except ModelError as err:
            self._failed(err, a, j, times)
        return pts, y[:, self._y_idx]

    def _update(self, a, j, times, pts, ys, y, *, held=False):
        obs = np.flatnonzero(np.isfinite(y))
        if not obs.size:
            return
        z = self._z[a]
        ymean = self._wm @ ys
        dy = ys[:, obs] - ymean[obs]
        S = (self._wc * dy.T) @ dy
        C = (self._wc * (pts - z).T) @ dy
        innov = y[obs] - ymean[obs]
        r_old = self._R[a, obs].copy()
        S[np.diag_indices(obs.size)] += r_old
        try:
            Ls = np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            self._diverged(np.array([3, a, j]), times)
        K = np.linalg.solve(Ls.T, np.linalg.solve(Ls, C.T)).T  # C S^-1
        dz = K @ innov
        KC = K @ C.T
        if held:  # held parameters (Schmidt, as the compiled filter): mean and own covariance block stay
            nx = self._spec.nx
            dz[nx:] = 0.0
            KC[nx:, nx:] = 0.0
        self._z[a] = z + dz
        low = np.tril(KC)
        self._P[a] -= low + np.tril(KC, -1).T
        if self.noise_std is None:  # Sage-Husa on the diagonal of R (as the compiled filter)
            f = float(self.forgetting)
            r_new = (1.0 - f) * (innov ** 2 - (np.diagonal(S) - r_old)) + f * r_old
            self._R[a, obs] = np.maximum(r_new, f * r_old)

    def _failed(self, err, a, j, times):
        raise CalibrationError(f"the FMU run of a sigma point failed at {self._stamp(times[j])} for asset {a}: {err}; "
                               f"narrow the parameter prior spread (param_std) or the bounds of the FMU model so "
                               f"that every sigma point stays where the FMU is defined") from err


def _root(P):
    """Lower Cholesky factor of the symmetrized *P*, with the compiled filter's relative jitter; None if none."""
    M = 0.5 * (P + P.T)
    jitter = 1e-12
    for _ in range(12):
        try:
            return np.linalg.cholesky(M)
        except np.linalg.LinAlgError:
            M = M.copy()
            M[np.diag_indices_from(M)] += jitter * np.maximum(np.abs(np.diagonal(M)), 1e-300)
            jitter *= 10.0
    return None


class FmuFleetTracker(FleetTracker):
    """:class:`~scenarios.live.tracking.FleetTracker` of an FMU plant: the filter is :class:`FmuJointUKF`.

    Parameters as :class:`~scenarios.live.tracking.FleetTracker`; *model* is an :class:`sim.fmu.FmuModel` whose
    ``states`` name the FMU's states (their start values) and whose ``outputs`` include *channels*.
    """

    def __init__(self, model, channels, *, n_assets: int = 1, filter: JointUKF | None = None, params=None,
                 x0=None):
        if not is_fmu_model(model):
            raise ConfigurationError(f"FmuFleetTracker tracks an FMU (sim.fmu.FmuModel), got {model!r}; use "
                                     f"FleetTracker (or tracker_for) for a numba model")
        super().__init__(model, channels, n_assets=n_assets, filter=filter, params=params, x0=x0)

    def new_filter(self) -> FmuJointUKF:
        return FmuJointUKF(**self.filter.get_params())


def tracker_for(model, channels, *, n_assets: int = 1, filter: JointUKF | None = None, params=None,
                x0=None) -> FleetTracker:
    """The live tracker of *model*: :class:`FmuFleetTracker` for an FMU model, else
    :class:`~scenarios.live.tracking.FleetTracker` (arguments as theirs)."""
    cls = FmuFleetTracker if is_fmu_model(model) else FleetTracker
    return cls(model, channels, n_assets=n_assets, filter=filter, params=params, x0=x0)

