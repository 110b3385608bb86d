"""Maximum-likelihood failure and repair time distributions from event logs with right-censoring.

Durations that ended in the event (a failure, a finished repair) contribute
their density; durations cut off by the end of the log or a preventive action
(right-censored) contribute their survival function.  The fit itself is
``scipy.stats`` (``CensoredData`` + ``fit``); the standard errors come from the
observed information (numerical Hessian of the negative log-likelihood in
log-parameters), with intervals by the delta method on the log scale.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from calibration.base import BaseCalibrator, check_is_fitted
from sim.exceptions import CalibrationError, ConfigurationError

__all__ = ["SurvivalMLE"]

_DISTRIBUTIONS = {
    # name: (scipy distribution, parameter names, packing from (shape, scale))
    "weibull": (stats.weibull_min, ("shape", "scale")),
    "lognormal": (stats.lognorm, ("sigma", "scale")),
    "exponential": (stats.expon, ("scale",)),
}


class SurvivalMLE(BaseCalibrator):
    """Fit a lifetime distribution to durations, some right-censored.

    Parameters
    ----------
    distribution : str
        ``weibull`` (shape k, scale lambda [s]), ``lognormal`` (sigma, scale = exp(mu) [s]) or
        ``exponential`` (scale = mean [s]).
    confidence : float
        Level of the intervals.
    """

    def __init__(self, distribution="weibull", confidence=0.95):
        self.distribution = distribution
        self.confidence = confidence

    def fit(self, durations, observed=None) -> "SurvivalMLE":
        """*durations* [s] > 0; *observed* [bool] is False where the duration was censored."""
        if self.distribution not in _DISTRIBUTIONS:
            raise ConfigurationError(f"distribution {self.distribution!r} unknown; choose one of "
                                     f"{sorted(_DISTRIBUTIONS)}")
        d = np.asarray(durations, dtype=float).ravel()
        obs = np.ones(d.size, bool) if observed is None else np.asarray(observed, dtype=bool).ravel()
        if obs.shape != d.shape:
            raise CalibrationError(f"durations ({d.size}) and observed ({obs.size}) differ in length")
        if not np.all(np.isfinite(d)) or np.any(d <= 0):
            bad = d[~(np.isfinite(d) & (d > 0))][0]
            raise CalibrationError(f"durations must be finite and > 0 s; found {bad}; drop or fix that record")
        dist, names = _DISTRIBUTIONS[self.distribution]
        if obs.sum() < len(names):
            raise CalibrationError(f"only {int(obs.sum())} uncensored durations for {len(names)} parameters of a "
                                   f"{self.distribution} distribution; collect more events")
        data = stats.CensoredData(uncensored=d[obs], right=d[~obs])
        fitted = dist.fit(data, floc=0)
        theta = np.array([fitted[0], fitted[2]]) if len(names) == 2 else np.array([fitted[1]])

        def nll(log_theta):
            th = np.exp(log_theta)
            args = (th[0], 0.0, th[1]) if len(names) == 2 else (0.0, th[0])
            return -(dist.logpdf(d[obs], *args).sum() + dist.logsf(d[~obs], *args).sum())

        z = np.log(theta)
        hess = _hessian(nll, z)
        try:
            cov_log = np.linalg.inv(hess)
        except np.linalg.LinAlgError as err:
            raise CalibrationError(f"the likelihood is flat at the estimate {dict(zip(names, theta))}: "
                                   f"the data cannot determine the parameters") from err
        se_log = np.sqrt(np.maximum(np.diag(cov_log), 0.0))
        zq = stats.norm.ppf(0.5 + self.confidence / 2)
        self.params_ = dict(zip(names, theta.tolist()))
        self.covariance_log_ = cov_log
        self.stderr_ = dict(zip(names, (theta * se_log).tolist()))
        self.intervals_ = {n: (float(v * math.exp(-zq * s)), float(v * math.exp(zq * s)))
                           for n, v, s in zip(names, theta, se_log)}
        self.n_events_, self.n_censored_ = int(obs.sum()), int((~obs).sum())
        self.log_likelihood_ = -float(nll(z))
        self.aic_ = 2 * len(names) - 2 * self.log_likelihood_
        self._frozen = dist(*((theta[0], 0.0, theta[1]) if len(names) == 2 else (0.0, theta[0])))
        return self

    def mean(self) -> float:
        """Mean duration [s] of the fitted distribution."""
        check_is_fitted(self)
        return float(self._frozen.mean())

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        check_is_fitted(self)
        return self._frozen.rvs(size=n, random_state=rng)


def _hessian(f, z, rel=1e-4):
    n = z.size
    h = rel * np.maximum(np.abs(z), 1.0)
    out = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            ei, ej = np.zeros(n), np.zeros(n)
            ei[i], ej[j] = h[i], h[j]
            val = (f(z + ei + ej) - f(z + ei - ej) - f(z - ei + ej) + f(z - ei - ej)) / (4 * h[i] * h[j])
            out[i, j] = out[j, i] = val
    return out
