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

The tracker uses only the filter's public API: :meth:`~calibration.JointUKF.start`,
:meth:`~calibration.JointUKF.step` (the innovations, from the compiled
``calibration._kernels.ukf_track``), :meth:`~calibration.JointUKF.set_model_params`,
:meth:`~calibration.JointUKF.attach`, :meth:`~calibration.JointUKF.filter_state`
and the ``mean_`` / ``covariance_`` / ``base_params_`` / ``origin_`` / ``spec_``
attributes.  A filter with the same API over another kind of model
(:class:`scenarios.live.fmu_tracking.FmuJointUKF`: sigma points through an FMU)
plugs in through :meth:`FleetTracker.new_filter`.

Everything here pickles (the compiled kernels are dropped and bound again
from the model on :meth:`FleetTracker.attach`), which is what the checkpoint
stores.  Checkpoints written before the public filter API (their filter is a
:class:`TrackingUKF`) load and continue unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from calibration import CalibrationData, JointUKF
from calibration.ukf import UkfStep
from sim.exceptions import ConfigurationError

__all__ = ["FleetTracker", "Innovations", "TrackingUKF"]

NS = 1_000_000_000


# ------------------------------------------------------------------------------------------------ the filter
@dataclass(frozen=True)
class Innovations(UkfStep):
    """What the filter saw on a block of samples: the :class:`calibration.ukf.UkfStep` (``times`` [s since the
    filter's origin], ``predicted``, ``residual``, ``spread``, ``params``, ``params_std``, per sample, asset and
    channel or parameter) with the samples' ``stamps`` [UTC ns, int64]."""

    stamps: np.ndarray

    @property
    def normalized(self) -> np.ndarray:
        """``residual / spread`` (about standard normal while the twin matches the plant)."""
        return self.residual / self.spread

    @classmethod
    def from_step(cls, stamps, step: UkfStep) -> "Innovations":
        """The innovations of a filter step (:class:`calibration.ukf.UkfStep`) at the sample *stamps* [UTC ns]."""
        return cls(**{f.name: getattr(step, f.name) for f in dataclasses.fields(UkfStep)},
                   stamps=np.asarray(stamps, dtype=np.int64))


class TrackingUKF(JointUKF):
    """The live tracker's filter in checkpoints written before :class:`calibration.JointUKF` had a public
    :meth:`~calibration.JointUKF.step`; kept so that such checkpoints unpickle.  Nothing is added: new trackers
    run a :class:`~calibration.JointUKF`."""


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
        The filter's hyperparameters (its ``parameters``, noises, ``max_step`` ...); a fresh filter with the same
        settings (:meth:`new_filter`) runs.
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
        self.ukf_: JointUKF | None = None
        self.u_last_ = np.full((self.n_assets, model.spec.nu), np.nan)
        self.skipped_ = 0
        self.filtered_ = 0

    # ------------------------------------------------------------------ pickling
    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "model"}

    def attach(self, model) -> "FleetTracker":
        """Give a restored (unpickled) tracker its model back; returns self."""
        if getattr(self, "ukf_", None) is not None and self.ukf_.spec_.name != model.spec.name:
            raise ConfigurationError(f"the checkpoint tracks model {self.ukf_.spec_.name!r}, not "
                                     f"{model.spec.name!r}; start the service with the model of the checkpoint or "
                                     f"without the checkpoint")
        self.model = model
        if self.ukf_ is not None:
            self.ukf_.attach(model)
        return self

    # -------------------------------------------------------------------- update
    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(self.filter.parameters)

    def new_filter(self) -> JointUKF:
        """A fresh filter with the hyperparameters of :attr:`filter` (what runs; a subclass picks its kind)."""
        return JointUKF(**self.filter.get_params())

    def update(self, stamps, Y, U, *, held=None) -> Innovations | None:
        """Filter a block.

        Parameters
        ----------
        stamps : ndarray (k,) of int64
            Strictly increasing sample stamps [UTC ns].
        Y : ndarray (k, A, m)
            Measurements on :attr:`channels` [SI], NaN where missing.
        U : ndarray (k, A, nu)
            Inputs [SI], NaN where missing (the last value is held).
        held : array_like of bool (A,), optional
            Assets whose tracked parameters are held over the block (:meth:`calibration.JointUKF.step`: consider
            parameters - the states follow the plant, the parameters' estimates stay and their spread grows by the
            random walk); the live service holds an asset's while it has an alarm up.  None: none held.

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
        times = (stamps - self.ukf_.origin_.value) / NS
        out = Innovations.from_step(stamps, self.ukf_.step(times, Y, U, held=held))
        self.filtered_ += stamps.size
        return out

    def _start(self, stamps, Y, U):
        spec = self.model.spec
        start = pd.Timestamp(int(stamps[0]), tz="UTC")
        windows = [CalibrationData(t=np.zeros(1), inputs=U[:, a, :].copy(), outputs=Y[:, a, :].copy(),
                                   input_names=spec.names("inputs"), output_names=self.channels, start=start,
                                   end=start) for a in range(self.n_assets)]
        ukf = self.new_filter()
        if ukf.noise_std is None:
            raise ConfigurationError("the live tracker needs noise_std (channel -> measurement noise [SI]) as its "
                                     "starting noise level; the innovations then adapt it (Sage-Husa)")
        params = self.params if self.params is None or isinstance(self.params, dict) else list(self.params)
        self.ukf_ = ukf.start(self.model, windows, params=params, x0=self.x0)

    # --------------------------------------------------------------------- state
    def states(self) -> np.ndarray:
        """Filtered states ``[A, nx]`` [SI]."""
        return self.ukf_.mean_[:, :self.model.spec.nx]

    def estimates(self) -> dict[str, np.ndarray]:
        """Tracked parameter name -> estimate per asset [SI]."""
        nx = self.model.spec.nx
        z = self.ukf_.mean_
        return {n: z[:, nx + i].copy() for i, n in enumerate(self.parameters)}

    def std(self) -> dict[str, np.ndarray]:
        """Tracked parameter name -> standard deviation per asset [SI]."""
        nx = self.model.spec.nx
        var = np.diagonal(self.ukf_.covariance_, axis1=1, axis2=2)
        return {n: np.sqrt(np.clip(var[:, nx + i], 0, None)) for i, n in enumerate(self.parameters)}

    def params_vector(self, asset: int = 0) -> dict[str, float]:
        """The full parameter set of *asset* with the tracked ones at their estimates [SI]."""
        spec = self.model.spec
        base_p = self.ukf_.base_params_
        base = {v.name: float(base_p[asset, i]) for i, v in enumerate(spec.params)}
        base.update({n: float(v[asset]) for n, v in self.estimates().items()})
        return base

    def set_twin_params(self, values: dict, asset: int | None = None) -> None:
        """Set parameters of the twin (a promoted recalibration): tracked ones move their filter estimate, others
        their fixed value."""
        self.ukf_.set_model_params(values, asset=asset)

    def fingerprint(self) -> str:
        """sha256 of the filter's state arrays (equal fingerprints: the same twin, bit for bit); the hash of
        nothing when no sample reached the filter yet."""
        import hashlib

        h = hashlib.sha256()
        if self.ukf_ is None:
            return h.hexdigest()
        for arr in self.ukf_.filter_state().values():
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
