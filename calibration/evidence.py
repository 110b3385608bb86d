r"""Evidence for comparing models fitted to the same observations: likelihood, AIC/BIC, whiteness.

With ``r_ij`` the residual of channel ``j`` at sample ``i`` (``n_j`` finite
residuals in channel ``j``, ``n = sum_j n_j``, ``m`` channels)::

    log L = - 1/2 sum_j n_j (ln(2 pi s_j^2) + 1),  s_j^2 = RSS_j / n_j     noise estimated (profile likelihood)
    log L = - 1/2 sum_j (n_j ln(2 pi sigma_j^2) + RSS_j / sigma_j^2)       noise given (absolute_sigma=True)
    k     = fitted parameters + fitted initial states (+ m noise variances when estimated)
    AIC   = 2 k - 2 log L,   AICc = AIC + 2 k (k + 1) / (n - k - 1),   BIC = k ln(n) - 2 log L

Whiteness: Ljung-Box per channel, ``Q = n (n + 2) sum_{k=1..h} rho_k^2 / (n - k)``,
chi-squared with ``h`` degrees of freedom for white noise (Ljung and Box,
Biometrika 65, 1978); the channels' Q and degrees of freedom add up to one
test.  The residuals are regression residuals, not ARMA innovations, so no
degrees of freedom are subtracted for the fitted parameters.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from scipy import stats

from calibration.data import CalibrationData
from sim.exceptions import CalibrationError

__all__ = ["evidence_strength", "fit_evidence", "fitted_observations_hash", "ljung_box", "observations_hash"]


def ljung_box(residuals, lags: int) -> tuple[float, float]:
    """Ljung-Box ``(Q, p)`` of a residual series for lags ``1..lags``.

    ``Q = n (n + 2) sum_k rho_k^2 / (n - k)``, with ``rho_k`` the sample
    autocorrelation at lag ``k`` (mean removed); ``p`` from chi-squared with
    *lags* degrees of freedom.  Non-finite values are dropped first.
    """
    x = np.asarray(residuals, dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    if lags < 1 or n <= lags + 1:
        raise CalibrationError(f"Ljung-Box needs more samples ({n}) than lags + 1 ({lags + 1}); use fewer lags")
    x = x - x.mean()
    den = float(x @ x)
    if den == 0.0:
        return 0.0, 1.0
    k = np.arange(1, lags + 1)
    rho = np.array([float(x[j:] @ x[:-j]) for j in k]) / den
    q = float(n * (n + 2) * np.sum(rho ** 2 / (n - k)))
    return q, float(stats.chi2.sf(q, lags))


def fit_evidence(cal, lags: int | None = None) -> tuple[dict, list[dict]]:
    """Log-likelihood, AIC, AICc, BIC and Ljung-Box whiteness of a fitted least-squares calibrator.

    Returns the evidence (``n_parameters``, ``n_noise``, ``k``, ``n_obs``,
    ``log_likelihood``, ``aic``, ``aicc``, ``bic``, ``ljung_box_q``,
    ``ljung_box_df``, ``ljung_box_p``) and one whiteness row per channel
    (``channel``, ``n``, ``lags``, ``q``, ``p``, ``noise_std``).  Noise levels
    count as parameters unless the calibrator was given them as absolute.
    """
    resid = cal.residuals_.to_numpy(dtype=float)
    names = list(cal.residuals_.columns)
    known = bool(getattr(cal, "absolute_sigma", False)) and getattr(cal, "noise_std", None) is not None
    n_unknowns = len(cal.theta_names_)
    loglik, n_total, q_total, df_total = 0.0, 0, 0.0, 0
    per_channel = []
    for j, name in enumerate(names):
        r = resid[:, j]
        r = r[np.isfinite(r)]
        n_j = r.size
        rss = float(r @ r)
        if known:
            sigma = float(cal.noise_std[name])
            loglik += -0.5 * (n_j * math.log(2 * math.pi * sigma ** 2) + rss / sigma ** 2)
        else:
            var = max(rss / n_j, np.finfo(float).tiny)
            sigma = math.sqrt(var)
            loglik += -0.5 * n_j * (math.log(2 * math.pi * var) + 1.0)
        h = int(lags) if lags is not None else max(1, min(10, n_j // 5))
        q, p = ljung_box(r, h) if n_j > h + 1 else (math.nan, math.nan)
        if math.isfinite(q):
            q_total += q
            df_total += h
        per_channel.append({"channel": name, "n": n_j, "lags": h, "q": q, "p": p, "noise_std": sigma})
        n_total += n_j
    n_noise = 0 if known else len(names)
    k = n_unknowns + n_noise
    aic = 2 * k - 2 * loglik
    aicc = aic + 2 * k * (k + 1) / (n_total - k - 1) if n_total - k - 1 > 0 else math.inf
    bic = k * math.log(n_total) - 2 * loglik
    p_white = float(stats.chi2.sf(q_total, df_total)) if df_total else math.nan
    return ({"n_parameters": n_unknowns, "n_noise": n_noise, "k": k, "n_obs": n_total, "log_likelihood": loglik,
             "aic": aic, "aicc": aicc, "bic": bic, "ljung_box_q": q_total, "ljung_box_df": df_total,
             "ljung_box_p": p_white}, per_channel)


def observations_hash(data: CalibrationData) -> str:
    """sha256 of what a likelihood is computed over: sample times, measured outputs, channel names, start."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(data.t, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(data.outputs, dtype=np.float64).tobytes())
    h.update("|".join(data.output_names).encode())
    h.update(str(data.start).encode())
    return h.hexdigest()


def fitted_observations_hash(cal) -> str:
    """:func:`observations_hash` recovered from a fitted calibrator (measured = fitted - residuals)."""
    # measured = fitted - residuals, rounded so that the subtraction's last-bit noise does not matter
    measured = (cal.fitted_ - cal.residuals_).to_numpy(dtype=float)
    scale = np.nanmax(np.abs(measured)) if np.isfinite(measured).any() else 1.0
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(cal.residuals_.index.to_numpy(dtype=float)).tobytes())
    h.update(np.round(np.nan_to_num(measured / (scale or 1.0), nan=9.0), 9).tobytes())
    h.update("|".join(map(str, cal.residuals_.columns)).encode())
    h.update(str(getattr(cal, "record_", None) and cal.record_.window.get("start")).encode())
    return h.hexdigest()


def evidence_strength(margin: float) -> str:
    """A criterion margin in words (Kass and Raftery 1995): >10 very strong, >6 strong, >2 positive, else weak."""
    if margin > 10:
        return "very strong"
    if margin > 6:
        return "strong"
    if margin > 2:
        return "positive"
    return "weak"
