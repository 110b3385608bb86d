"""The data-quality alarm: too many quarantined samples in a sliding window, and no fit on that data.

Telemetry gates quarantine values they cannot trust (a stuck sensor, spikes, values out of range, a broken
link); the stream holds NaN there.  A burst of them is itself an alarm - the detector is blind on those
channels and anything fitted on that data would learn the fault.  :class:`QualityMonitor` keeps, per asset and
channel, the fraction of quarantined samples among the last ``window`` samples; when the largest fraction
exceeds ``max_fraction`` it raises an alarm with ``source="data_quality"`` (top channels: the worst fractions),
through the same :class:`~calibration.alarms.logic.AlarmLogic` as the detectors (hysteresis: it clears below
``clear_fraction * max_fraction``).

While that alarm is up, and for the window that raised it, fitting is not allowed: ``fit_allowed_`` gives the
flag per sample of the last block, :meth:`QualityMonitor.fit_allowed` answers for a time range (a calibration
or normal window a service is about to fit on).  The detectors refuse a normal window with too many unusable
rows by themselves (``max_missing``).
"""

from __future__ import annotations

import math

import numpy as np

from calibration.alarms.logic import AlarmEvent, AlarmLogic
from sim.exceptions import ConfigurationError

__all__ = ["QualityMonitor"]


class QualityMonitor:
    """Sliding-window share of quarantined samples per channel, with an alarm and a ``fit_allowed`` flag.

    Parameters
    ----------
    channels : sequence of str
        Channel names (the last axis of the flags).
    assets : sequence of str, optional
        Asset names (one by default).
    window : int
        Samples in the sliding window.
    max_fraction : float
        Largest tolerated share of quarantined samples of a channel in the window, in (0, 1).
    clear_fraction : float
        The alarm clears below ``clear_fraction * max_fraction``.
    min_on, min_off : int
        Samples above / below to raise / clear.
    keep : int
        Number of past unfit intervals remembered per asset (for :meth:`fit_allowed`).
    """

    def __init__(self, channels, *, assets=None, window=60, max_fraction=0.2, clear_fraction=0.5, min_on=1,
                 min_off=None, keep=100):
        channels = [str(c) for c in ([channels] if isinstance(channels, str) else channels)]
        if not channels:
            raise ConfigurationError("channels is empty; name the channels whose quarantine flags are given")
        if int(window) != window or window < 1:
            raise ConfigurationError(f"window = {window!r} must be a positive number of samples, e.g. 60")
        if not 0.0 < float(max_fraction) < 1.0:
            raise ConfigurationError(f"max_fraction = {max_fraction!r} must lie in (0, 1), e.g. 0.2 (a fifth of the "
                                     f"window quarantined)")
        self.window = int(window)
        self.max_fraction = float(max_fraction)
        self.keep = int(keep)
        self.logic = AlarmLogic(self.max_fraction, assets=assets, channels=channels, clear_fraction=clear_fraction,
                                min_on=min_on, min_off=self.window if min_off is None else min_off,
                                onset_reference=1.0 - 1e-9, source="data_quality")
        A, m = len(self.logic.assets), len(channels)
        self._flags = np.zeros((A, 0, m))  # the last window - 1 rows of flags
        self._times = np.zeros(0)
        self._intervals = [[] for _ in range(A)]  # per asset: [start, end] with end = inf while up
        self.fit_allowed_ = np.ones((A, 0), dtype=bool)

    @property
    def channels(self) -> list[str]:
        return list(self.logic.config["channels"])

    def fractions(self, flags) -> np.ndarray:
        """Window shares ``(A, n, m)`` for a block of flags ``(A, n, m)`` after the buffered rows (no update)."""
        full = np.concatenate([self._flags, flags], axis=1)
        c = np.concatenate([np.zeros((full.shape[0], 1, full.shape[2])), np.cumsum(full, axis=1)], axis=1)
        k = self._flags.shape[1]
        hi = np.arange(k + 1, full.shape[1] + 1)
        lo = np.maximum(hi - self.window, 0)
        return (c[:, hi] - c[:, lo]) / self.window

    def update(self, times, quarantined) -> list[AlarmEvent]:
        """Consume a block of quarantine flags and return the data-quality events.

        Parameters
        ----------
        times : array_like, shape (n,)
            Sample times [s], increasing.
        quarantined : array_like of bool, shape (n, m) or (A, n, m)
            True where a value was quarantined or is missing (e.g. ``np.isnan(block)`` of a stream's frame).
        """
        t = np.asarray(times, dtype=float).ravel()
        q = np.asarray(quarantined, dtype=bool).astype(float)
        A, m = len(self.logic.assets), len(self.channels)
        if q.ndim == 2:
            q = q[None]
        if q.shape != (A, t.size, m):
            raise ConfigurationError(f"quarantined has shape {np.shape(quarantined)}; expected ({A}, {t.size}, {m}) "
                                     f"for the assets {self.logic.assets} and channels {self.channels}")
        fresh = t > (self._times[-1] if self._times.size else -math.inf)
        t, q = t[fresh], q[:, fresh]
        frac = self.fractions(q)
        events = self.logic.update(t, frac.max(axis=2), frac)
        allowed = ~self.logic.last_active_
        all_times = np.concatenate([self._times, t])
        all_flags = np.concatenate([self._flags, q], axis=1).any(axis=2)
        for e in events:
            i = self.logic.assets.index(e.asset)
            if e.kind == "raised":  # unfit from the first quarantined sample of the window that raised it
                j = int(np.searchsorted(all_times, e.time))
                lo = max(j - self.window + 1, 0)
                start = float(all_times[lo + int(np.argmax(all_flags[i, lo:j + 1]))])
                self._intervals[i].append([start, math.inf])
                self._intervals[i] = self._intervals[i][-self.keep:]
                allowed[i, (t >= start) & (t <= e.time)] = False
            elif e.kind == "cleared" and self._intervals[i]:
                self._intervals[i][-1][1] = float(e.time)
        self.fit_allowed_ = allowed
        keep = self.window - 1
        self._flags = np.concatenate([self._flags, q], axis=1)[:, max(self._flags.shape[1] + q.shape[1] - keep, 0):]
        self._times = all_times[max(all_times.size - keep, 0):] if keep else np.zeros(0)
        return events

    def fit_allowed(self, start: float, end: float, asset=0) -> bool:
        """Whether a fit on ``[start, end]`` is allowed: no data-quality alarm of the asset overlaps the range."""
        i = self.logic._index(asset)
        return not any(lo <= end and start <= hi for lo, hi in self._intervals[i])

    # ---------------------------------------------------------------- checkpoint
    def state_dict(self) -> dict:
        return {"type": "QualityMonitor", "window": self.window, "max_fraction": self.max_fraction,
                "keep": self.keep, "logic": self.logic.state_dict(), "flags": self._flags.tolist(),
                "times": self._times.tolist(),
                "intervals": [[[lo, repr(hi) if math.isinf(hi) else hi] for lo, hi in iv] for iv in self._intervals]}

    @classmethod
    def from_state(cls, state: dict) -> "QualityMonitor":
        if state.get("type") != "QualityMonitor":
            raise ConfigurationError(f"state of a {state.get('type')!r} is not a QualityMonitor checkpoint")
        cfg = state["logic"]["config"]
        mon = cls(cfg["channels"], assets=cfg["assets"], window=state["window"], max_fraction=state["max_fraction"],
                  keep=state["keep"])
        mon.logic = AlarmLogic.from_state(state["logic"])
        A, m = len(cfg["assets"]), len(cfg["channels"])
        mon._flags = np.asarray(state["flags"], dtype=float).reshape(A, -1, m)
        mon._times = np.asarray(state["times"], dtype=float)
        mon._intervals = [[[float(lo), float(hi)] for lo, hi in iv] for iv in state["intervals"]]
        return mon
