"""Continuous calibration: the twin predicts the replayed telemetry, a drift detector watches the residuals,
and an alarm triggers a warm-started recalibration on the data since the shift — recorded with why.

The loop (:class:`DriftRecalibration`):

1. fit the calibrator on the first ``window_s`` of the data;
2. predict every later sample open loop from the fitted state at the window's end with the fitted
   parameters (one compiled simulation per segment, not a callback per sample);
3. average the residuals of ``output`` over blocks of ``block_s`` seconds (block means are far less
   autocorrelated than raw samples, so the detector's false-alarm rate means something) and feed them to
   the drift detector, whose in-control reference is the block means of the fit's own residuals;
4. at the first alarm, refit (``partial_fit``: warm start from the last estimate) on the window from the
   detector's change-point estimate (``DriftAlarm.onset``) to the alarm — at least ``min_window_s`` long,
   so the refit may wait for data — capped at ``window_s``; go back to 2 from that window's end.

Every recalibration is one row of ``events_``: the alarm's reason, the refit window (start, end, content
hash), the calibration record id, and the parameters before and after.  ``calibrator_.history_`` holds the
parameter track with intervals (plot it with :func:`calibration.plot_parameter_tracks`).
"""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pandas as pd

from calibration.base import BaseCalibrator
from calibration.data import CalibrationData
from calibration.drift import CusumDetector
from sim.exceptions import CalibrationError, ConfigurationError

__all__ = ["DriftRecalibration", "slice_window"]


def slice_window(data: CalibrationData, t0: float, t1: float) -> CalibrationData:
    """The samples of *data* with ``t0 <= t <= t1`` [s since ``data.start``], times restarting at 0."""
    idx = np.flatnonzero((data.t >= t0) & (data.t <= t1))
    if idx.size == 0:
        raise CalibrationError(f"no samples between t = {t0:g} s and {t1:g} s of the window starting {data.start}")
    start = data.start + pd.Timedelta(seconds=float(data.t[idx[0]]))
    return dataclasses.replace(data, t=data.t[idx] - data.t[idx[0]], inputs=data.inputs[idx],
                               outputs=data.outputs[idx], start=start,
                               end=data.start + pd.Timedelta(seconds=float(data.t[idx[-1]])))


def _block_means(t: np.ndarray, r: np.ndarray, t0: float, block_s: float):
    """Means of the finite residuals *r* over blocks ``[t0 + k block_s, t0 + (k+1) block_s)``; block end times."""
    ok = np.isfinite(r)
    k = np.floor((t[ok] - t0) / block_s).astype(np.int64)
    if k.size == 0:
        return np.empty(0), np.empty(0)
    sums = np.bincount(k, weights=r[ok])
    counts = np.bincount(k)
    full = counts > 0
    idx = np.flatnonzero(full)
    return t0 + (idx + 1) * block_s, sums[full] / counts[full]


class DriftRecalibration(BaseCalibrator):
    """Drift-triggered recalibration over a replayed telemetry window (see the module docstring).

    Parameters
    ----------
    calibrator : LeastSquaresCalibrator, optional
        Template (copied) of the batch calibrator; its ``partial_fit`` does the refits.
    detector : CusumDetector or PageHinkleyDetector, optional
        Template (copied) of the drift detector on block-mean residuals.  Default: CUSUM with k = 0.5,
        h = 8 (in-control average run length about 19,000 blocks: 130 days of 10-min blocks).
    window_s : float
        Length of the first fit and the longest refit window [s].
    min_window_s : float, optional
        Shortest refit window [s] (default ``max(window_s / 4, 10 block_s)``).
    block_s : float
        Residual averaging block [s].
    output : str, optional
        Output channel the detector watches (default: the data's first output).
    max_recalibrations : int
        Stop after this many refits (a model that cannot follow the plant should not loop forever).
    """

    def __init__(self, calibrator=None, detector=None, *, window_s=43200.0, min_window_s=None, block_s=600.0,
                 output=None, max_recalibrations=50):
        self.calibrator = calibrator
        self.detector = detector
        self.window_s = window_s
        self.min_window_s = min_window_s
        self.block_s = block_s
        self.output = output
        self.max_recalibrations = max_recalibrations

    def _check(self, data: CalibrationData) -> tuple[float, int]:
        for key in ("window_s", "block_s"):
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigurationError(f"DriftRecalibration: {key} = {value!r} must be a time > 0 [s]")
        if self.block_s * 10 > self.window_s:
            raise ConfigurationError(f"DriftRecalibration: window_s = {self.window_s} s holds fewer than 10 blocks "
                                     f"of block_s = {self.block_s} s; the detector needs >= 10 in-control block "
                                     f"means - shorten block_s or lengthen window_s")
        min_window = max(self.window_s / 4, 10 * self.block_s) if self.min_window_s is None else self.min_window_s
        if not 10 * self.block_s <= min_window <= self.window_s:
            raise ConfigurationError(f"DriftRecalibration: min_window_s = {min_window!r} must lie in "
                                     f"[10 block_s = {10 * self.block_s:g}, window_s = {self.window_s:g}] s (the "
                                     f"detector restarts from >= 10 block means of each refit)")
        output = self.output if self.output is not None else data.output_names[0]
        if output not in data.output_names:
            raise ConfigurationError(f"DriftRecalibration: output {output!r} is not calibrated against; "
                                     f"outputs are {list(data.output_names)}")
        if data.t[-1] < self.window_s:
            raise CalibrationError(f"the data span {data.t[-1]:g} s, shorter than the first window "
                                   f"window_s = {self.window_s:g} s; replay more telemetry or shorten window_s")
        return float(min_window), data.output_names.index(output)

    def fit(self, model, data: CalibrationData, *, params=None, x0=None) -> "DriftRecalibration":
        """Replay *data* through fit → predict → detect → refit; learned values end in ``_``."""
        from calibration.least_squares import LeastSquaresCalibrator

        min_window, j = self._check(data)
        cal = copy.deepcopy(self.calibrator) if self.calibrator is not None else LeastSquaresCalibrator()
        template = copy.deepcopy(self.detector) if self.detector is not None else CusumDetector(k=0.5, h=8.0)
        first = slice_window(data, 0.0, self.window_s)
        cal.fit(model, first, params=params, x0=x0)
        cal.history_ = [cal._track_row(first)]  # partial_fit appends the refits
        seg_start, seg_end = 0.0, float(self.window_s)
        events, blocks, alarms = [], [], []
        spec = model.spec
        while True:
            detector = copy.deepcopy(template)
            t_first = float(data.t[np.searchsorted(data.t, seg_start)])  # the fit window's first sample
            fit_t = t_first + cal.residuals_.index.to_numpy(dtype=float)
            ref_t, ref_r = _block_means(fit_t, cal.residuals_.iloc[:, j].to_numpy(dtype=float), seg_start,
                                        self.block_s)
            detector.fit(ref_r, ref_t)
            # open loop from the fitted state at the window's last sample, which the fit already used
            last = int(np.searchsorted(data.t, seg_end, side="right")) - 1
            if data.t.size - last < 3:
                break
            t = data.t[last:]
            pred = model.simulate(spec.vector("states", cal.final_state_), spec.vector("params", cal.model_params_),
                                  t - t[0], data.inputs[last:])[0][:, spec.names("outputs").index(
                                      data.output_names[j])]
            resid = data.outputs[last + 1:, j] - pred[1:]
            bt, br = _block_means(t[1:], resid, t[0], self.block_s)
            n_seen = len(detector.alarms_)
            detector.partial_fit(br, bt)
            blocks.append(pd.DataFrame({"time": bt, "residual": br, "segment": len(events)}))
            if len(detector.alarms_) == n_seen:
                break
            alarm = detector.alarms_[n_seen]
            alarms.append(alarm)
            onset = alarm.onset if math.isfinite(alarm.onset) else alarm.time - self.window_s
            start = max(onset, alarm.time - self.window_s, seg_end)
            end = max(alarm.time, start + min_window)
            if end > data.t[-1]:
                events.append(self._event(alarm, None, cal.params_, cal, "alarm too close to the end of the data "
                                          "to refit on min_window_s of new data"))
                break
            if len(events) >= self.max_recalibrations:
                raise CalibrationError(f"DriftRecalibration: {self.max_recalibrations} refits and the detector still "
                                       f"fires ({alarm.reason}); the model cannot follow the plant - check the "
                                       f"model structure (see calibration.Diagnosis) or raise max_recalibrations")
            before = dict(cal.params_)
            window = slice_window(data, start, end)
            cal.partial_fit(model, window)
            events.append(self._event(alarm, window, before, cal, "refit"))
            seg_start, seg_end = start, end
        self.calibrator_ = cal
        self.events_ = pd.DataFrame(events, columns=["time", "timestamp", "reason", "onset", "window_start",
                                                     "window_end", "content_hash", "record_id", "action", "before",
                                                     "after"])
        self.residuals_ = pd.concat(blocks, ignore_index=True) if blocks else \
            pd.DataFrame(columns=["time", "residual", "segment"])
        self.alarms_ = alarms
        self.params_ = dict(cal.params_)
        self.intervals_ = dict(cal.intervals_)
        self.track_ = pd.DataFrame(cal.history_)
        return self

    @staticmethod
    def _event(alarm, window, before: dict, cal, action: str) -> dict:
        return {"time": alarm.time, "timestamp": None if window is None else window.end, "reason": alarm.reason,
                "onset": alarm.onset, "window_start": None if window is None else window.start,
                "window_end": None if window is None else window.end,
                "content_hash": None if window is None else window.content_hash,
                "record_id": None if window is None else cal.record_.record_id, "action": action,
                "before": dict(before), "after": dict(cal.params_)}
