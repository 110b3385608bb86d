"""A data-driven normal-behaviour model: PCA with Hotelling's T² and the squared prediction error Q.

Fitted on a normal window of channels that no physics model covers, PCA finds the directions the channels move
in together (a temperature and a current rising through a run) and the residual subspace in which normal data
has almost no variance.  Two statistics per sample, on channels standardized with the normal mean and spread:

* ``T² = sum_k t_k² / lambda_k`` over the retained components: how far the sample lies *within* the normal
  correlation structure (a large but coherent excursion);
* ``Q = ||z - P_k P_kᵀ z||²`` (SPE): how far it lies *off* it (a broken correlation: a sensor fault, a leak).

The detector statistic is ``T² / mean(T²) + Q / mean(Q)`` with both means taken out of fold on the normal
window, so each part counts about 1 in normal operation; ``use="t2"`` or ``"q"`` uses one part alone.  A
drift along the normal correlations (all channels moving as they did in the normal window, within its range)
raises neither part much; a step along them raises T²; a break of them raises Q.

Missing channels in a sample are set to their normal mean (z = 0) before scoring; a sample with no finite
channel scores NaN.

References: J. E. Jackson, *A user's guide to principal components* (1991), ch. 1-2; S. J. Qin, "Statistical
process monitoring: basics and beyond", J. Chemometrics 17 (2003); P. Miller et al., "Contribution plots",
Chemometrics Intell. Lab. Syst. 1998.
"""

from __future__ import annotations

import numpy as np

from calibration.alarms.detector import BlockDetector
from sim.exceptions import ConfigurationError

__all__ = ["PCADetector"]

STATISTICS = {"combined": (1.0, 1.0), "t2": (1.0, 0.0), "q": (0.0, 1.0)}


class PCADetector(BlockDetector):
    """PCA normal-behaviour model with Hotelling T² and Q, calibrated to a false-alarm rate.

    Parameters
    ----------
    n_components : int or float
        Retained principal components: an integer count, or a fraction of the standardized variance to explain
        (0.9: the fewest components that explain 90 %).  At least one component is kept in the residual
        subspace so that Q is defined.
    use : {"combined", "t2", "q"}
        What the detector statistic sums (see the module docstring).
    false_alarm_rate : float
        Target fraction of normal samples above the threshold, in (0, 0.5].
    input_smoothing : float or None
        EWMA weight of the newest sample for the channels before scoring (a MEWMA chart; the model is fitted on
        the smoothed normal window too): sustained small shifts accumulate, noise averages out; None: raw.
    smoothing : float or None
        EWMA weight of the newest sample for the statistic (0.05-0.2 for slow drifts; None: no smoothing).
    n_folds : int
        Contiguous folds of the normal window for the cross-fitted calibration.
    max_missing : float
        Largest fraction of unusable (missing or quarantined) rows a normal window may have.

    Notes
    -----
    Learned attributes: ``channels_``, ``model_`` (stacked over assets: ``mean``, ``scale``, ``active`` (0 for a
    channel constant in the normal window, left out), ``t2_matrix``,
    ``q_matrix``, ``loadings``, ``eigenvalues``, ``retained``), ``part_weight_``, ``threshold_`` (one per
    asset), ``level_`` (normal mean of the statistic), ``ewma_`` (stream state).
    """

    _part_names = ("t2", "q")

    def __init__(self, *, n_components=0.9, use="combined", false_alarm_rate=0.01, input_smoothing=0.2,
                 smoothing=None, n_folds=5, max_missing=0.2):
        self.n_components = n_components
        self.use = use
        self.false_alarm_rate = false_alarm_rate
        self.input_smoothing = input_smoothing
        self.smoothing = smoothing
        self.n_folds = n_folds
        self.max_missing = max_missing

    def _check_settings(self):
        if self.use not in STATISTICS:
            raise ConfigurationError(f"use = {self.use!r}: choose one of {list(STATISTICS)}")
        k = self.n_components
        if isinstance(k, bool) or not isinstance(k, (int, float, np.integer, np.floating)) or k <= 0 or (
                isinstance(k, (float, np.floating)) and k >= 1.0 and int(k) != k):
            raise ConfigurationError(f"n_components = {k!r} must be a positive integer count or a fraction of "
                                     f"variance in (0, 1), e.g. 0.9")

    def _part_mask(self):
        return np.array(STATISTICS[self.use])

    def _fit_one(self, X):
        n, m = X.shape
        if m < 2:
            raise ConfigurationError(f"PCA needs at least 2 channels, got {m}; for one channel use ResidualDetector")
        mean = X.mean(axis=0)
        scale = X.std(axis=0, ddof=1)
        # a channel constant in the normal window says nothing about normal variation (and one quantum of change
        # would be infinitely many spreads): it is left out of the statistic, as constant_channels() reports
        active = (scale > 1e-9 * np.maximum(1.0, np.abs(mean))).astype(float)
        scale = np.where(active > 0, scale, 1.0)
        Z = (X - mean) / scale * active
        _, sv, vt = np.linalg.svd(Z, full_matrices=False)
        lam = np.zeros(m)
        lam[:sv.size] = sv ** 2 / (n - 1)
        P = np.zeros((m, m))
        P[:, :vt.shape[0]] = vt.T
        if vt.shape[0] < m:  # fewer rows than channels: complete the basis
            q, _ = np.linalg.qr(np.concatenate([P[:, :vt.shape[0]], np.eye(m)], axis=1))
            P = q[:, :m]
        k = self.n_components
        if isinstance(k, (float, np.floating)) and k < 1.0:
            share = np.cumsum(lam) / lam.sum()
            k = int(np.searchsorted(share, k) + 1)
        k = int(min(max(k, 1), m - 1))
        retained = np.zeros(m)
        retained[:k] = 1.0
        inv = np.where(lam > 0, 1.0 / np.where(lam > 0, lam, 1.0), 0.0) * retained
        return {"mean": mean, "scale": scale, "active": active, "loadings": P, "eigenvalues": lam, "retained": retained,
                "t2_matrix": (P * inv) @ P.T, "q_matrix": (P * (1.0 - retained)) @ P.T}

    def constant_channels(self) -> list:
        """Channels constant in the normal window (per asset for a fleet): left out of the statistic."""
        flat = self.model_["active"] == 0
        names = [[c for c, f in zip(self.channels_, row) if f] for row in flat]
        return names[0] if self.single_ else names

    @staticmethod
    def _z(model, X):
        z = (X - model["mean"][:, None, :]) / model["scale"][:, None, :] * model["active"][:, None, :]
        return np.where(np.isfinite(z), z, 0.0)

    def _parts(self, model, X):
        z = self._z(model, X)
        a = np.matmul(z, model["t2_matrix"])
        e = np.matmul(z, model["q_matrix"])
        return np.stack([(a * z).sum(axis=2), (e * e).sum(axis=2)], axis=2)

    def _part_contributions(self, model, X):
        z = self._z(model, X)
        a = np.matmul(z, model["t2_matrix"])
        e = np.matmul(z, model["q_matrix"])
        return np.stack([a * z, e * e], axis=3)

