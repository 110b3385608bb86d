"""Drift detectors on residual streams: two-sided CUSUM and Page-Hinkley.

Both follow the estimator contract (``__init__`` stores settings, ``fit`` learns
the in-control reference, ``partial_fit`` consumes new residuals and returns
``self``; learned values end in ``_``).  When a detector fires it records *why*
(statistic, threshold, time, direction) in ``alarms_`` so that the
recalibration it triggers can be traced.

References: E. S. Page, "Continuous inspection schemes", Biometrika 41 (1954);
D. C. Montgomery, *Introduction to Statistical Quality Control*, 7th ed., 9.1
(tabular CUSUM with k = delta/2, h = 4..5 sigma); Gama et al., "A survey on
concept drift adaptation", ACM Comput. Surv. 46 (2014) (Page-Hinkley test).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calibration.base import BaseCalibrator, check_is_fitted
from sim.exceptions import CalibrationError

__all__ = ["DriftAlarm", "CusumDetector", "PageHinkleyDetector"]


@dataclass(frozen=True)
class DriftAlarm:
    """Why a detector fired."""

    detector: str
    time: float
    index: int
    direction: str
    statistic: float
    threshold: float
    onset: float = math.nan  # estimated change point: when the alarming statistic last left zero [s]

    @property
    def reason(self) -> str:
        since = f", shift began near t = {self.onset:g} s" if math.isfinite(self.onset) else ""
        return (f"{self.detector}: residual mean shifted {self.direction} at t = {self.time:g} s "
                f"(statistic {self.statistic:.3g} > threshold {self.threshold:.3g}{since})")


def _as_series(residuals, times):
    r = np.asarray(residuals, dtype=float).ravel()
    t = np.arange(r.size, dtype=float) if times is None else np.asarray(times, dtype=float).ravel()
    if t.shape != r.shape:
        raise CalibrationError(f"times ({t.size}) and residuals ({r.size}) must have the same length")
    ok = np.isfinite(r)
    return r[ok], t[ok]


class CusumDetector(BaseCalibrator):
    """Two-sided tabular CUSUM on standardized residuals.

    Parameters
    ----------
    k : float
        Allowance in units of the in-control standard deviation (half the shift to detect).
    h : float
        Decision threshold in the same units.
    reset : bool
        Restart the sums after an alarm (so later drifts are detected too).
    """

    def __init__(self, k=0.5, h=5.0, reset=True):
        self.k = k
        self.h = h
        self.reset = reset

    def fit(self, residuals, times=None) -> "CusumDetector":
        """Learn the in-control mean and standard deviation from a reference window."""
        r, _ = _as_series(residuals, times)
        if r.size < 10:
            raise CalibrationError(f"CUSUM needs at least 10 finite in-control residuals, got {r.size}")
        self.mean_ = float(r.mean())
        self.std_ = float(r.std(ddof=1)) or 1e-12
        self.upper_ = self.lower_ = 0.0
        self._zero_up = self._zero_down = math.nan
        self.n_seen_ = 0
        self.alarms_: list[DriftAlarm] = []
        return self

    def partial_fit(self, residuals, times=None) -> "CusumDetector":
        """Consume new residuals; alarms go to ``alarms_``."""
        check_is_fitted(self, "mean_")
        r, t = _as_series(residuals, times)
        z = (r - self.mean_) / self.std_
        for zi, ti in zip(z, t):
            if self.upper_ == 0.0:
                self._zero_up = float(ti)
            if self.lower_ == 0.0:
                self._zero_down = float(ti)
            self.upper_ = max(0.0, self.upper_ + zi - self.k)
            self.lower_ = max(0.0, self.lower_ - zi - self.k)
            for stat, direction, onset in ((self.upper_, "up", self._zero_up), (self.lower_, "down", self._zero_down)):
                if stat > self.h:
                    self.alarms_.append(DriftAlarm("CUSUM", float(ti), self.n_seen_, direction, stat, self.h, onset))
                    if self.reset:
                        self.upper_ = self.lower_ = 0.0
                    break
            self.n_seen_ += 1
        return self

    @property
    def drift_detected_(self) -> bool:
        return bool(getattr(self, "alarms_", []))


class PageHinkleyDetector(BaseCalibrator):
    """Page-Hinkley test for a shift of the residual mean (both directions).

    Parameters
    ----------
    delta : float
        Tolerated deviation from the running mean [unit of the residuals].
    threshold : float
        Alarm threshold lambda [unit of the residuals x samples].
    reset : bool
        Restart after an alarm.
    """

    def __init__(self, delta=0.005, threshold=50.0, reset=True):
        self.delta = delta
        self.threshold = threshold
        self.reset = reset

    def fit(self, residuals=None, times=None) -> "PageHinkleyDetector":
        self._restart()
        self.n_seen_ = 0
        self.alarms_: list[DriftAlarm] = []
        if residuals is not None:
            self.partial_fit(residuals, times)
            self.alarms_ = []
        return self

    def _restart(self):
        self.count_ = 0
        self.mean_ = 0.0
        self.cum_up_ = self.min_up_ = 0.0
        self.cum_down_ = self.max_down_ = 0.0
        self._at_min_up = self._at_max_down = math.nan

    def partial_fit(self, residuals, times=None) -> "PageHinkleyDetector":
        check_is_fitted(self, "mean_")
        r, t = _as_series(residuals, times)
        for ri, ti in zip(r, t):
            self.count_ += 1
            self.mean_ += (ri - self.mean_) / self.count_
            self.cum_up_ += ri - self.mean_ - self.delta
            if self.cum_up_ <= self.min_up_ or self.count_ == 1:
                self.min_up_, self._at_min_up = min(self.min_up_, self.cum_up_), float(ti)
            self.cum_down_ += ri - self.mean_ + self.delta
            if self.cum_down_ >= self.max_down_ or self.count_ == 1:
                self.max_down_, self._at_max_down = max(self.max_down_, self.cum_down_), float(ti)
            up, down = self.cum_up_ - self.min_up_, self.max_down_ - self.cum_down_
            if up > self.threshold or down > self.threshold:
                stat, direction, onset = (up, "up", self._at_min_up) if up >= down else \
                    (down, "down", self._at_max_down)
                self.alarms_.append(DriftAlarm("Page-Hinkley", float(ti), self.n_seen_, direction, stat,
                                               self.threshold, onset))
                if self.reset:
                    self._restart()
            self.n_seen_ += 1
        return self

    @property
    def drift_detected_(self) -> bool:
        return bool(getattr(self, "alarms_", []))


def average_run_length_cusum(k: float, h: float, shift: float = 0.0) -> float:
    """Siegmund's approximation of the CUSUM average run length for a mean shift (in sigma)."""
    d = shift - k
    b = h + 1.166
    if abs(d) < 1e-12:
        return b * b
    return (math.exp(-2 * d * b) + 2 * d * b - 1) / (2 * d * d)
