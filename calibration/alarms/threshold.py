"""Thresholds calibrated on a normal window to a target false-alarm rate.

A detector's statistic is computed on a window known to be normal; the threshold is the value that the statistic
exceeds with probability ``false_alarm_rate`` on fresh normal data.

* With enough samples (at least ``min_exceedances`` expected exceedances, ``n * rate >= min_exceedances``) the
  threshold is the conformal empirical quantile: the ``ceil((n + 1) (1 - rate))``-th smallest value.  For i.i.d.
  (exchangeable) normal data the false-alarm rate on a new sample is then at most ``rate`` and at least
  ``rate - 1 / (n + 1)`` in expectation.
* A short window has too few samples in the tail for a quantile (a 1e-3 target from 300 samples is a guess).
  Then the upper tail is extrapolated by peaks over a threshold with an exponential tail (a generalized Pareto
  law of shape 0, which fits chi-square-like statistics): above the ``1 - p_u`` quantile ``u`` with
  ``p_u = max(min_exceedances / n, 0.1)`` the excesses are modelled as exponential with the mean excess ``beta``
  and ``threshold = u + beta ln(p_u / rate)``.  For statistics with lighter tails (Gaussian) this is conservative:
  the realized rate is below the target.

References: V. Vovk et al., *Algorithmic learning in a random world* (2005), conformal quantiles;
S. Coles, *An introduction to statistical modeling of extreme values* (2001), 4.3 (peaks over threshold).
"""

from __future__ import annotations

import math

import numpy as np

from sim.exceptions import CalibrationError, ConfigurationError

__all__ = ["calibrate_threshold", "check_rate", "binomial_interval"]


def check_rate(false_alarm_rate, name: str = "false_alarm_rate") -> float:
    """Validate a probability in (0, 0.5] and return it as a float."""
    try:
        rate = float(false_alarm_rate)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} = {false_alarm_rate!r} must be a number in (0, 0.5], e.g. 0.01") from None
    if not 0.0 < rate <= 0.5:
        raise ConfigurationError(f"{name} = {false_alarm_rate!r} must lie in (0, 0.5] (a fraction of normal samples "
                                 f"allowed above the threshold), e.g. 0.01 for one normal sample in a hundred")
    return rate


def calibrate_threshold(statistic, false_alarm_rate: float = 0.01, *, min_exceedances: int = 10) -> float:
    """The threshold that *statistic* (normal data) exceeds with probability *false_alarm_rate*.

    Parameters
    ----------
    statistic : array_like
        Detector statistic on a normal window, one value per sample; non-finite values are ignored.
    false_alarm_rate : float
        Target fraction of normal samples above the threshold, in (0, 0.5].
    min_exceedances : int
        Below this many expected exceedances (``n * rate``) the tail is extrapolated (exponential
        peaks-over-threshold) instead of read as an empirical quantile.

    Returns
    -------
    float
        The threshold [unit of the statistic].
    """
    rate = check_rate(false_alarm_rate)
    s = np.asarray(statistic, dtype=float).ravel()
    s = np.sort(s[np.isfinite(s)])
    n = s.size
    if n < 20:
        raise CalibrationError(f"calibrating a threshold needs at least 20 finite normal samples, got {n}; fit on a "
                               f"longer normal window")
    if int(min_exceedances) != min_exceedances or min_exceedances < 1:
        raise ConfigurationError(f"min_exceedances = {min_exceedances!r} must be a positive integer, e.g. 10")
    if n * rate >= min_exceedances:
        k = math.ceil((n + 1) * (1.0 - rate))
        return float(s[min(k, n) - 1])
    p_u = max(min_exceedances / n, 0.1)
    u = float(np.quantile(s, 1.0 - p_u))
    excess = s[s > u] - u
    beta = float(excess.mean()) if excess.size else 0.0
    if beta <= 0.0:  # a flat tail (a discrete statistic): the largest value seen is the only honest bound
        return float(s[-1])
    return u + beta * math.log(p_u / rate)


def binomial_interval(count: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson interval of a rate from *count* successes in *n* trials."""
    from scipy.stats import beta

    a = 1.0 - confidence
    lo = 0.0 if count == 0 else float(beta.ppf(a / 2, count, n - count + 1))
    hi = 1.0 if count == n else float(beta.ppf(1 - a / 2, count + 1, n - count))
    return lo, hi
