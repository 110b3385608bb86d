"""Scoring detectors on labelled telemetry: pointwise rates and NAB windows after each change point.

Pointwise (every sample is a decision, summed over files as the SKAB protocol does):
precision ``TP/(TP+FP)``, recall ``TP/(TP+FN)``, F1, the false-alarm rate ``FAR = FP/(FP+TN)`` and the
missed-alarm rate ``MAR = FN/(FN+TP)``.  Always report FAR next to F1: an alarm that is always on has recall 1
and precision ``p`` (the anomalous share), so ``F1 = 2p/(1+p)`` - 0.67 at ``p = 0.5`` - with ``FAR = 1``.

NAB-style (Numenta Anomaly Benchmark, as the SKAB benchmark applies it to change points): a window of
``window`` samples starts at each true change point (cut at the next one) and is followed by a tail of
``window // 4`` samples where a late detection still earns something.  The first detection at sample ``p`` in
window or tail scores

``(A_tp - A_fp) / (1 + exp(5 y / (window / 4))) + A_fp``,  ``y = p - (cp + window)``,

about ``A_tp`` at the change point, ``(A_tp + A_fp) / 2`` at the window's end and tending to ``A_fp`` beyond;
later detections in the same window count nothing; a window without detection costs ``A_fn``; every detection
outside windows and tails costs ``A_fp``.  The score is normalized,
``100 (S - S_null) / (S_perfect - S_null)`` with ``S_null = N A_fn`` (never detect) and ``S_perfect = N A_tp``,
summed over files before normalizing.  Detections are change points, not alarm states: give the samples where
the alarm state changes (:func:`state_changes`: raised or cleared, SKAB's ``|diff|`` of the predicted labels,
since its labels mark both where an anomaly starts and where it ends) or only where it was raised
(:func:`rising_edges`).  SKAB's own evaluation uses a window of 30 s.  Profiles (``A_tp``, ``A_fp``, ``A_fn``):
``standard`` (1, -0.11, -1), ``reward_low_FP`` (1, -0.22, -1), ``reward_low_FN`` (1, -0.11, -2).

References: A. Lavin and S. Ahmad, "Evaluating real-time anomaly detection algorithms - the Numenta Anomaly
Benchmark", IEEE ICMLA 2015; I. D. Katser and V. O. Kozitsin, "Skoltech Anomaly Benchmark (SKAB)", Kaggle 2020.
"""

from __future__ import annotations

import math

import numpy as np

from sim.exceptions import ConfigurationError

__all__ = ["NAB_PROFILES", "nab_score", "pointwise_scores", "rising_edges", "state_changes"]

#: (A_tp, A_fp, A_fn) per NAB profile.
NAB_PROFILES = {"standard": (1.0, -0.11, -1.0), "reward_low_FP": (1.0, -0.22, -1.0),
                "reward_low_FN": (1.0, -0.11, -2.0)}


def _series(values, what):
    if isinstance(values, (list, tuple)) and values and np.ndim(values[0]) >= 1:
        return [np.asarray(v).astype(bool).ravel() for v in values]
    return [np.asarray(values).astype(bool).ravel()]


def _pairs(y_true, y_pred):
    trues, preds = _series(y_true, "y_true"), _series(y_pred, "y_pred")
    if len(trues) != len(preds) or any(a.size != b.size for a, b in zip(trues, preds)):
        raise ConfigurationError(f"labels and predictions differ in shape ({[a.size for a in trues]} vs "
                                 f"{[b.size for b in preds]}); give one prediction per labelled sample")
    return trues, preds


def pointwise_scores(y_true, y_pred) -> dict:
    """Pointwise confusion counts and rates, summed over files.

    Parameters
    ----------
    y_true, y_pred : array_like of bool, or lists of them (one per file)
        Labels (True = anomalous) and alarm states per sample.

    Returns
    -------
    dict
        ``tp``, ``fp``, ``tn``, ``fn``, ``precision``, ``recall``, ``f1``, ``far``, ``mar`` (NaN where undefined).
    """
    trues, preds = _pairs(y_true, y_pred)
    tp = sum(int((t & p).sum()) for t, p in zip(trues, preds))
    fp = sum(int((~t & p).sum()) for t, p in zip(trues, preds))
    tn = sum(int((~t & ~p).sum()) for t, p in zip(trues, preds))
    fn = sum(int((t & ~p).sum()) for t, p in zip(trues, preds))

    def ratio(a, b):
        return a / b if b else math.nan

    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    f1 = ratio(2 * tp, 2 * tp + fp + fn)  # = 2PR/(P+R); 0 when nothing was found, even with no alarm at all
    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn, "precision": precision, "recall": recall, "f1": f1,
            "far": ratio(fp, fp + tn), "mar": ratio(fn, fn + tp)}


def rising_edges(alarm) -> np.ndarray:
    """True where an alarm mask switches on (the raise samples): NAB's detections."""
    a = np.asarray(alarm).astype(bool).ravel()
    return a & ~np.r_[False, a[:-1]]


def state_changes(alarm) -> np.ndarray:
    """True where an alarm mask changes (raised or cleared; an alarm on at the first sample counts): the change
    points the SKAB evaluation reads from predicted labels (``|diff|``, first value = the first label)."""
    a = np.asarray(alarm).astype(bool).ravel()
    return a ^ np.r_[False, a[:-1]]


def _nab_raw(cps, det, window, a_tp, a_fp, a_fn):
    n = det.size
    starts = np.flatnonzero(cps)
    tail = window // 4
    slow = max(window / 4.0, 1e-12)
    covered = np.zeros(n, dtype=bool)
    score = 0.0
    for k, cp in enumerate(starts):
        stop = starts[k + 1] if k + 1 < starts.size else n
        end = min(cp + window + tail, stop)
        covered[cp:end] = True
        hits = np.flatnonzero(det[cp:end])
        if hits.size == 0:
            score += a_fn
        else:
            y = float(cp + hits[0] - (cp + window))
            score += (a_tp - a_fp) / (1.0 + math.exp(min(5.0 * y / slow, 700.0))) + a_fp
    score += a_fp * int((det & ~covered).sum())
    return score, starts.size


def nab_score(changepoints, detections, *, window: int, profiles=None) -> dict:
    """NAB scores (see the module docstring), summed over files and normalized to 0..100 per profile.

    Parameters
    ----------
    changepoints : array_like of bool, or a list of them (one per file)
        True at each true change point.
    detections : array_like of bool, or a list of them
        True at each detection (:func:`state_changes` or :func:`rising_edges` of the alarm state).
    window : int
        Window length after each change point [samples].
    profiles : sequence of str, optional
        Names from ``NAB_PROFILES`` (all by default).

    Returns
    -------
    dict
        Profile name -> ``{"score": normalized, "raw": S, "null": S_null, "perfect": S_perfect, "windows": N}``.
    """
    if int(window) != window or window < 1:
        raise ConfigurationError(f"window = {window!r} must be a positive number of samples")
    names = list(NAB_PROFILES) if profiles is None else list(profiles)
    unknown = [p for p in names if p not in NAB_PROFILES]
    if unknown:
        raise ConfigurationError(f"unknown NAB profiles {unknown}; choose from {list(NAB_PROFILES)}")
    cps, dets = _pairs(changepoints, detections)
    out = {}
    for name in names:
        a_tp, a_fp, a_fn = NAB_PROFILES[name]
        raw, n_windows = 0.0, 0
        for c, d in zip(cps, dets):
            s, w = _nab_raw(c, d, int(window), a_tp, a_fp, a_fn)
            raw += s
            n_windows += w
        null, perfect = n_windows * a_fn, n_windows * a_tp
        score = 100.0 * (raw - null) / (perfect - null) if n_windows else math.nan
        out[name] = {"score": score, "raw": raw, "null": null, "perfect": perfect, "windows": n_windows}
    return out
