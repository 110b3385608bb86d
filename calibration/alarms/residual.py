"""A multivariate detector on the physics twin's residuals (measurement minus prediction) per asset.

Where a physics model covers the channels, the twin removes what the operating point explains (load, ambient,
the run's warm-up) and the residuals are what is left: noise while the plant behaves as modelled, a shift or a
drift when it does not.  Per sample, the residual vector ``r`` is standardized by its expected spread and the
statistic is the squared Mahalanobis distance

``d² = (r - mu)ᵀ S⁻¹ (r - mu)``

with ``mu`` the normal-window bias (``center=True``) and ``S`` either the diagonal of the expected variances
(``covariance="diagonal"``: the twin's noise levels, given as ``spread`` or estimated) or the full normal-window
covariance (``covariance="full"``: residuals that move together, e.g. two sensors sharing a model error).  Under
normal operation ``d²`` is about chi-square with ``m`` degrees of freedom; the threshold is still calibrated on
the normal window (cross-fitted), since real residuals are neither Gaussian nor white.

For slow drifts set ``smoothing`` (an EWMA of the statistic, carried across blocks); 0.1 reacts to a shift of
about one spread within some 20 samples.

Missing channels in a sample are set to their normal bias (no evidence); a sample with no finite channel scores
NaN.

References: H. Hotelling (1947); C. A. Lowry et al., "A multivariate EWMA control chart", Technometrics 34 (1992);
R. Isermann, *Fault-diagnosis systems* (2006), ch. 10 (parity equations and residual evaluation).
"""

from __future__ import annotations

import numpy as np

from calibration.alarms.detector import BlockDetector
from sim.exceptions import ConfigurationError

__all__ = ["ResidualDetector", "residual_frame"]

COVARIANCES = ("diagonal", "full")
CALIBRATIONS = ("empirical", "chi2")


class ResidualDetector(BlockDetector):
    """Squared Mahalanobis distance of standardized residuals, calibrated to a false-alarm rate.

    Parameters
    ----------
    spread : float, sequence of float or None
        Expected standard deviation of each channel's residual in normal operation [unit of the channel]
        (e.g. the twin's estimated noise level); None: estimated on the normal window.
    covariance : {"diagonal", "full"}
        Channels independent (diagonal) or correlated as in the normal window (full).
    center : bool
        Subtract the normal-window mean residual (a model bias) before scoring.
    calibration : {"empirical", "chi2"}
        How ``threshold_`` is set: on the normal window (cross-fitted quantile), or from the chi-square law with
        ``m`` degrees of freedom (scaled by ``lam / (2 - lam)`` under ``input_smoothing``) - exact when the
        twin's ``spread`` is right and the residuals are white, and immune to the few effective samples of a
        smoothed, autocorrelated normal window.  Needs ``spread``, a diagonal covariance and no ``smoothing``.
    false_alarm_rate : float
        Target fraction of normal samples above the threshold, in (0, 0.5].
    input_smoothing : float or None
        EWMA weight of the newest sample for the channels before scoring (a MEWMA chart; the model is fitted on
        the smoothed normal window too): sustained small shifts accumulate, noise averages out; None: raw.
    smoothing : float or None
        EWMA weight of the newest sample for the statistic (None: no smoothing).
    n_folds : int
        Contiguous folds of the normal window for the cross-fitted calibration.
    max_missing : float
        Largest fraction of unusable (missing or quarantined) rows a normal window may have.

    Notes
    -----
    Learned attributes: ``channels_``, ``model_`` (``mean``, ``scale``, ``precision``, stacked over assets),
    ``part_weight_``, ``threshold_``, ``level_``, ``ewma_``.
    """

    _part_names = ("d2",)
    _normalize_parts = False  # the statistic stays a squared Mahalanobis distance (about chi-square, m dof)

    def __init__(self, *, spread=None, covariance="diagonal", center=True, calibration="empirical",
                 false_alarm_rate=0.01, input_smoothing=None, smoothing=None, n_folds=5, max_missing=0.2):
        self.spread = spread
        self.covariance = covariance
        self.center = center
        self.calibration = calibration
        self.false_alarm_rate = false_alarm_rate
        self.input_smoothing = input_smoothing
        self.smoothing = smoothing
        self.n_folds = n_folds
        self.max_missing = max_missing

    def _check_settings(self):
        if self.calibration not in CALIBRATIONS:
            raise ConfigurationError(f"calibration = {self.calibration!r}: choose one of {list(CALIBRATIONS)}")
        if self.calibration == "chi2" and (self.spread is None or self.smoothing is not None
                                         or self.covariance != "diagonal"):
            raise ConfigurationError(
                f"calibration = 'chi2' needs the residual spread from the twin (spread = {self.spread!r}), a diagonal "
                f"covariance (got {self.covariance!r}) and no statistic smoothing (smoothing = {self.smoothing!r}): "
                f"only then is the statistic chi-square; use calibration = 'empirical' otherwise")
        if self.covariance not in COVARIANCES:
            raise ConfigurationError(f"covariance = {self.covariance!r}: choose one of {list(COVARIANCES)}")
        if self.spread is not None:
            s = np.asarray(self.spread, dtype=float)
            if not np.all(np.isfinite(s)) or np.any(s <= 0):
                raise ConfigurationError(f"spread = {self.spread!r} must be positive finite standard deviations "
                                         f"(one per channel or one for all), or None to estimate them")

    def _analytic_threshold(self, rate):
        if self.calibration != "chi2":
            return None
        from scipy.stats import chi2

        m = self.model_["active"].sum(axis=1)
        lam = 1.0 if self.input_smoothing is None else float(self.input_smoothing)
        # an EWMA of white residuals has the variance lam / (2 - lam) of one residual (asymptotically)
        return chi2.ppf(1.0 - rate, m) * lam / (2.0 - lam)

    def _fit_one(self, X):
        n, m = X.shape
        mean = X.mean(axis=0) if self.center else np.zeros(m)
        if self.spread is None:
            scale = X.std(axis=0, ddof=1)
            # a residual constant in the normal window gives no spread to compare with: left out (z = 0)
            active = (scale > 1e-9 * np.maximum(1.0, np.abs(X.mean(axis=0)))).astype(float)
            scale = np.where(active > 0, scale, 1.0)
        else:
            spread = np.atleast_1d(np.asarray(self.spread, dtype=float))
            if spread.size not in (1, m):
                raise ConfigurationError(f"spread has {spread.size} values for {m} channels; give one expected "
                                         f"residual spread per channel (in channel order) or one for all")
            scale = np.broadcast_to(spread, (m,)).copy()
            active = np.ones(m)
        if self.covariance == "full":
            Z = (X - mean) / scale * active
            corr = Z.T @ Z / max(n - 1, 1)
            corr += 1e-9 * np.trace(corr) / m * np.eye(m)
            precision = np.linalg.inv(corr)
            precision = 0.5 * (precision + precision.T)
        else:
            precision = np.eye(m)
        return {"mean": mean, "scale": scale, "active": active, "precision": precision}

    @staticmethod
    def _z(model, X):
        z = (X - model["mean"][:, None, :]) / model["scale"][:, None, :] * model["active"][:, None, :]
        return np.where(np.isfinite(z), z, 0.0)

    def _parts(self, model, X):
        z = self._z(model, X)
        return (np.matmul(z, model["precision"]) * z).sum(axis=2)[..., None]

    def _part_contributions(self, model, X):
        z = self._z(model, X)
        return (np.matmul(z, model["precision"]) * z)[..., None]


def residual_frame(measured, predicted, *, suffix="_residual"):
    """One asset's detector input: twin residuals where the twin predicts a channel, raw values elsewhere.

    Parameters
    ----------
    measured : pandas.DataFrame
        Measured channels (SI), one column per channel.
    predicted : pandas.DataFrame
        The physics twin's prediction of some of them, same index.
    suffix : str
        Appended to the name of a residual column (``winding_temperature_residual``).

    Returns
    -------
    pandas.DataFrame
        ``measured - predicted`` for the channels the twin covers, then the uncovered channels unchanged; feed it
        to one :class:`~calibration.alarms.PCADetector` per asset (multivariate over both kinds).
    """
    import pandas as pd

    if not isinstance(measured, pd.DataFrame) or not isinstance(predicted, pd.DataFrame):
        raise ConfigurationError(f"measured and predicted must be DataFrames (got {type(measured).__name__} and "
                                 f"{type(predicted).__name__}); name the channels in the columns")
    unknown = [c for c in predicted.columns if c not in measured.columns]
    if unknown:
        raise ConfigurationError(f"the twin predicts {unknown}, which the measured frame lacks "
                                 f"(measured: {list(measured.columns)}); predict measured channels only")
    if not measured.index.equals(predicted.index):
        raise ConfigurationError("measured and predicted have different indexes; align the prediction to the "
                                 "measurement times first (e.g. predicted.reindex(measured.index))")
    covered = list(predicted.columns)
    out = (measured[covered] - predicted[covered]).add_suffix(suffix)
    rest = [c for c in measured.columns if c not in covered]
    return pd.concat([out, measured[rest]], axis=1)
