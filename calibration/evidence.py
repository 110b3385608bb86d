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

__all__ = ["MisspecificationWarning", "difference_noise_std", "evidence_strength", "fit_evidence",
           "fitted_observations_hash", "ljung_box", "misspecification_evidence", "observations_hash",
           "segmented_ljung_box"]


class MisspecificationWarning(UserWarning):
    """The model cannot explain the data: residuals far above the noise level, or not white.

    The fitted parameters are then the best a wrong model can do, and their intervals
    (which assume the model is right) are not reliable.
    """


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


def difference_noise_std(values, segments=None) -> float:
    r"""Noise standard deviation of a measured series from its second differences, independent of any model.

    ``d_i = y_{i+1} - 2 y_i + y_{i-1}`` of white noise has variance ``6 sigma^2``; the
    scale is taken robustly (``1.4826 MAD / sqrt(6)``) so that the steps and bends of
    the signal itself, which touch few differences, do not count.  Differences are
    taken within *segments* (row ranges ``[i0, i1)``) and over finite neighbours only.
    Returns NaN with fewer than 10 differences; a smooth signal sampled too coarsely
    for its dynamics gives an estimate that is too high (the test then errs on the
    side of not warning).
    """
    y = np.asarray(values, dtype=float)
    parts = []
    for i0, i1 in (segments or [(0, y.size)]):
        seg = y[i0:i1]
        d = seg[2:] - 2 * seg[1:-1] + seg[:-2]
        parts.append(d[np.isfinite(d)])
    d = np.concatenate(parts) if parts else np.empty(0)
    if d.size < 10:
        return math.nan
    mad = float(np.median(np.abs(d - np.median(d))))
    if mad == 0.0:  # quantized or constant: fall back on the standard deviation
        return float(np.std(d)) / math.sqrt(6.0)
    return 1.4826 * mad / math.sqrt(6.0)


def segmented_ljung_box(residuals, segments=None, lags: int | None = None) -> dict:
    """Ljung-Box over a residual series made of several windows: lag products never cross a window edge.

    ``rho_k = sum_{pairs i, i+k in one window} r_i r_{i+k} / sum r_i^2`` (mean removed,
    finite pairs only), ``Q = n (n + 2) sum_k rho_k^2 / (n - k)``, chi-squared with
    ``lags`` degrees of freedom (default ``min(10, n // 5)``).  Returns ``q``, ``df``,
    ``p``, ``n`` and ``rho1`` (the lag-1 autocorrelation); NaN where there are too few values.
    """
    x = np.asarray(residuals, dtype=float)
    ok = np.isfinite(x)
    n = int(ok.sum())
    h = int(lags) if lags is not None else max(1, min(10, n // 5))
    if n <= h + 1:
        return {"q": math.nan, "df": h, "p": math.nan, "n": n, "rho1": math.nan}
    x = np.where(ok, x - x[ok].mean(), 0.0)
    den = float(x @ x)
    if den == 0.0:
        return {"q": 0.0, "df": h, "p": 1.0, "n": n, "rho1": 0.0}
    rho = np.zeros(h)
    for i0, i1 in (segments or [(0, x.size)]):
        seg, good = x[i0:i1], ok[i0:i1]
        for k in range(1, min(h, seg.size - 1) + 1):
            pair = good[k:] & good[:-k]
            rho[k - 1] += float(np.sum((seg[k:] * seg[:-k])[pair]))
    rho /= den
    k = np.arange(1, h + 1)
    q = float(n * (n + 2) * np.sum(rho ** 2 / (n - k)))
    return {"q": q, "df": h, "p": float(stats.chi2.sf(q, h)), "n": n, "rho1": float(rho[0])}


def misspecification_evidence(residuals, measured, output_names, *, noise_std=None, segments=None,
                              rms_ratio: float = 2.0, whiteness_alpha: float = 1e-3,
                              min_autocorrelation: float = 0.2) -> dict:
    """Can the model explain the data?  Residual level against the noise level, and residual whiteness.

    Parameters
    ----------
    residuals, measured : ndarray (k, m)
        Model minus measurement, and the measurements [SI]; NaN where not accepted.
    output_names : sequence of str
    noise_std : dict or None
        Declared noise standard deviation per channel [SI]; otherwise estimated from the
        measurements alone by :func:`difference_noise_std` (never from the residuals, which
        would make the test circular).
    segments : list of (int, int), optional
        Row ranges of the windows (gaps in between).
    rms_ratio : float
        A channel whose residual RMS exceeds ``rms_ratio`` times its noise level is not explained.
    whiteness_alpha, min_autocorrelation : float
        A channel's residuals are not white when the Ljung-Box test rejects whiteness at level
        ``whiteness_alpha`` *and* the lag-1 autocorrelation exceeds ``min_autocorrelation`` in
        size: with thousands of samples the test alone flags correlations too small to matter.

    Returns
    -------
    dict
        ``misspecified`` (bool), ``reasons`` (list of str, empty when explained), ``thresholds``, and
        ``channels``: name → ``rmse``, ``noise_std``, ``noise_source`` ("declared" or "estimated"),
        ``rms_ratio``, ``ljung_box_q``, ``ljung_box_df``, ``ljung_box_p``, ``lag1_autocorrelation``, ``n``.
    """
    resid = np.asarray(residuals, dtype=float)
    meas = np.asarray(measured, dtype=float)
    channels, reasons = {}, []
    for j, name in enumerate(output_names):
        r = resid[:, j]
        finite = np.isfinite(r)
        if finite.sum() < 3:
            continue
        rmse = float(np.sqrt(np.mean(r[finite] ** 2)))
        if noise_std is not None and name in noise_std:
            sigma, source = float(noise_std[name]), "declared"
        else:
            sigma, source = difference_noise_std(meas[:, j], segments), "estimated"
        ratio = rmse / sigma if (math.isfinite(sigma) and sigma > 0) else math.nan
        lb = segmented_ljung_box(r, segments)
        channels[name] = {"rmse": rmse, "noise_std": sigma, "noise_source": source, "rms_ratio": ratio,
                          "ljung_box_q": lb["q"], "ljung_box_df": lb["df"], "ljung_box_p": lb["p"],
                          "lag1_autocorrelation": lb["rho1"], "n": lb["n"]}
        if math.isfinite(ratio) and ratio > rms_ratio:
            reasons.append(f"{name}: residual RMS {rmse:.4g} is {ratio:.3g} times the {source} noise level "
                           f"{sigma:.4g} (limit {rms_ratio:g})")
        if lb["p"] < whiteness_alpha and abs(lb["rho1"]) > min_autocorrelation:
            reasons.append(f"{name}: residuals are not white (Ljung-Box Q = {lb['q']:.4g} on {lb['df']} lags, "
                           f"p = {lb['p']:.2g} < {whiteness_alpha:g}; lag-1 autocorrelation {lb['rho1']:.3f})")
    return {"misspecified": bool(reasons), "reasons": reasons, "channels": channels,
            "thresholds": {"rms_ratio": float(rms_ratio), "whiteness_alpha": float(whiteness_alpha),
                           "min_autocorrelation": float(min_autocorrelation)}}
