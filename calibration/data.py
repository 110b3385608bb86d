"""Calibration data: a window of telemetry laid out for a model (inputs, measured outputs).

How a window is cut (:func:`window_bounds`): by ``start`` and ``end`` dates, by the
``last`` span of the data (or a span from ``start`` / up to ``end``); a window that
asks for more than the data cover warns (:class:`~sim.exceptions.DataQualityWarning`).

How a window is split (:meth:`CalibrationData.from_frame`): an input that is unknown
(quarantined or not sampled) for longer than ``max_gap`` is a *gap*.  Holding the
last input across it would feed the model an input it never had and bias the
estimates, so the rows inside a gap are dropped and the data are split there into
windows (``segments``); :class:`~calibration.LeastSquaresCalibrator` fits them as
several experiments with shared parameters, each window with its own initial
states.  Shorter holes (up to ``max_gap``) are bridged by carrying the last
accepted input forward, as before, and counted in ``n_filled``.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from sim.exceptions import CalibrationError, ConfigurationError, DataQualityWarning
from sim.physics.spec import ModelSpec

__all__ = ["CalibrationData", "window_bounds"]

#: Default gap threshold, in median sample intervals of the window.
GAP_INTERVALS = 10.0


@dataclass(frozen=True)
class CalibrationData:
    """Inputs and measurements of one window, on the model's variable order.

    Attributes
    ----------
    t : ndarray (k,)
        Sample times [s] since the window start.
    inputs : ndarray (k, nu)
        Model inputs in SI, held from ``t[j]`` to ``t[j+1]`` (zero-order hold).
    outputs : ndarray (k, m)
        Measured outputs in SI; NaN where no accepted value exists.
    input_names, output_names : tuple of str
        Model variable names of the columns.
    start, end : pandas.Timestamp
        UTC time of the first and last sample.
    source_hash : str
        Content hash of the telemetry the window was cut from ("" if unknown).
    n_filled : int
        Number of input values carried forward over quarantined holes (at most ``max_gap`` long).
    segment_starts : tuple of int
        Row indices where a new window starts after a gap (empty: no gap; the data are one window).
    gaps : tuple of dict
        One entry per gap: ``{"start", "end"`` (ISO times of the last row before and the first row after
        it), ``"duration_s"`` [s], ``"channels"`` (the inputs unknown over it), ``"rows_dropped"}``.
    max_gap : float
        The gap threshold the data were split with [s] (``inf``: never split).
    """

    t: np.ndarray
    inputs: np.ndarray
    outputs: np.ndarray
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    start: pd.Timestamp
    end: pd.Timestamp
    source_hash: str = ""
    n_filled: int = 0
    segment_starts: tuple = ()
    gaps: tuple = ()
    max_gap: float = math.inf

    @property
    def content_hash(self) -> str:
        """sha256 over times, inputs and outputs: identifies the exact data a fit used."""
        h = hashlib.sha256()
        for arr in (self.t, self.inputs, self.outputs):
            h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
        h.update(("|".join(self.input_names) + "/" + "|".join(self.output_names)).encode())
        if self.segment_starts:  # the same rows split differently are different data for a fit
            h.update(("split:" + ",".join(map(str, self.segment_starts))).encode())
        return h.hexdigest()

    @property
    def n_observations(self) -> int:
        return int(np.isfinite(self.outputs).sum())

    @property
    def n_windows(self) -> int:
        """Number of windows the gaps split the data into (1 without gaps)."""
        return len(self.segment_starts) + 1

    @property
    def segments(self) -> list[tuple[int, int]]:
        """Row ranges ``[i0, i1)`` of the windows between gaps."""
        edges = [0, *self.segment_starts, self.t.size]
        return list(zip(edges[:-1], edges[1:]))

    def split(self) -> tuple["CalibrationData", ...]:
        """The windows between gaps, each with its own time origin (``t[0] == 0``), start and end."""
        if not self.segment_starts:
            return (self,)
        index = self.start + pd.to_timedelta(self.t, unit="s")
        out = []
        for i0, i1 in self.segments:
            t = self.t[i0:i1] - self.t[i0]
            filled = 0  # carried-forward counts are not kept per row; the whole count stays on the parent
            out.append(replace(self, t=t, inputs=self.inputs[i0:i1], outputs=self.outputs[i0:i1],
                               start=index[i0], end=index[i1 - 1], n_filled=filled, segment_starts=(), gaps=()))
        return tuple(out)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, spec: ModelSpec, *, outputs, source_hash: str = "",
                   start=None, end=None, last=None, max_gap=None) -> "CalibrationData":
        """Cut a window out of a wide SI frame (UTC DatetimeIndex, one column per variable) and split it at gaps.

        Parameters
        ----------
        frame : DataFrame
            Columns named after the model's inputs and the chosen outputs [SI].
        spec : ModelSpec
        outputs : sequence of str
            Measured outputs to calibrate against.
        source_hash : str
            Content hash of the telemetry (recorded).
        start, end : timestamp-like, optional
            Window limits (inclusive); naive times are taken as UTC.
        last : pandas.Timedelta or str, optional
            Window length (``"6h"``): the last span of the data, or the span up to *end* / from *start*.
            See :func:`window_bounds`; a window longer than the data warns.
        max_gap : float, str or pandas.Timedelta, optional
            An input unknown for longer than this [s] is a gap: the rows inside it are dropped and the
            data are split there (``float("inf")``: bridge every gap by holding the last input, the old
            behaviour).  Default: ten median sample intervals of the window.

        Notes
        -----
        Quarantined input values (NaN) over holes up to *max_gap* are carried forward from the last
        accepted value; rows before every input has a value are dropped.
        """
        outputs = tuple(outputs)
        if not outputs:
            raise ConfigurationError("choose at least one measured output to calibrate against")
        for name in outputs:
            spec.index("outputs", name)
        needed = list(spec.names("inputs")) + list(outputs)
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise CalibrationError(
                f"telemetry lacks the channels {missing} that model {spec.name!r} needs; map them in the "
                f"channel map (available channels: {list(frame.columns)})")
        if last is not None or start is not None or end is not None:
            start, end = window_bounds(frame.index, start=start, end=end, last=last)
        window = frame.loc[start:end] if (start is not None or end is not None) else frame
        if window.empty:
            raise CalibrationError(f"the calibration window [{start}, {end}] holds no telemetry rows; "
                                   f"the data cover {frame.index.min()} .. {frame.index.max()}")
        input_names = list(spec.names("inputs"))
        inputs = window[input_names]
        first = inputs.ffill().notna().all(axis=1)
        if not first.any():
            raise CalibrationError(f"no row of the window has a value for every input {input_names}; "
                                   f"every value may have been quarantined - see the data-quality report")
        keep = (first.cumsum() > 0).to_numpy().copy()
        secs = (window.index - window.index[0]).total_seconds().to_numpy(dtype=np.float64)
        limit = _gap_seconds(max_gap, secs)
        dropped, breaks, gaps = _find_gaps(inputs.to_numpy(dtype=np.float64), secs, input_names, limit, keep)
        keep &= ~dropped
        filled = inputs.ffill()[keep]
        n_filled = int(inputs[keep].isna().sum().sum())
        meas = window.loc[keep, list(outputs)]
        index = filled.index
        rows = np.flatnonzero(keep)
        pos = np.searchsorted(rows, breaks)  # a break is the first kept row after a gap
        segment_starts = tuple(sorted({int(p) for p in pos if 0 < p < rows.size}))
        t = (index - index[0]).total_seconds().to_numpy(dtype=np.float64)
        return cls(t=t, inputs=filled.to_numpy(dtype=np.float64), outputs=meas.to_numpy(dtype=np.float64),
                   input_names=spec.names("inputs"), output_names=outputs, start=index[0], end=index[-1],
                   source_hash=source_hash, n_filled=n_filled, segment_starts=segment_starts,
                   gaps=tuple(_describe(g, window.index) for g in gaps), max_gap=limit)


def _gap_seconds(max_gap, secs) -> float:
    """The gap threshold [s]: given, or ten median sample intervals."""
    if max_gap is None:
        d = np.diff(secs)
        d = d[d > 0]
        return GAP_INTERVALS * float(np.median(d)) if d.size else math.inf
    if isinstance(max_gap, (str, pd.Timedelta)):
        value = pd.Timedelta(max_gap).total_seconds()
    elif isinstance(max_gap, (int, float, np.integer, np.floating)) and not isinstance(max_gap, bool):
        value = float(max_gap)
    else:
        raise ConfigurationError(f"max_gap = {max_gap!r} must be seconds, a pandas Timedelta or a string such as "
                                 f"'15min'")
    if not value > 0:
        raise ConfigurationError(f"max_gap = {max_gap!r} must be > 0 s; use float('inf') never to split")
    return value


def _find_gaps(u, secs, names, limit, valid_rows):
    """Rows inside gaps, the rows that start a new window, and the gaps (as row pairs) of inputs *u*."""
    n = secs.size
    intervals = []  # (last accepted row, next accepted row, channel) of holds longer than limit
    for c, name in enumerate(names):
        ok = np.flatnonzero(np.isfinite(u[:, c]))
        if ok.size == 0:
            continue
        hold = np.diff(secs[ok])
        for k in np.flatnonzero(hold > limit):
            intervals.append((int(ok[k]), int(ok[k + 1]), name))
        if n - 1 > ok[-1] and secs[-1] - secs[ok[-1]] > limit:  # unknown to the end of the window
            intervals.append((int(ok[-1]), n, name))
    dropped = np.zeros(n, dtype=bool)
    merged: list[dict] = []
    for a, b, name in sorted(intervals):
        if merged and a < merged[-1]["next"]:
            merged[-1]["next"] = max(merged[-1]["next"], b)
            merged[-1]["channels"].add(name)
        else:
            merged.append({"after": a, "next": b, "channels": {name}})
    gaps = []
    for g in merged:
        a, b = g["after"], g["next"]
        if b < n and not valid_rows[b]:  # inside the rows before every input has a value: dropped anyway
            continue
        dropped[a + 1:b] = True
        gaps.append({**g, "duration": (secs[b] if b < n else secs[-1]) - secs[a], "rows_dropped": int(b - a - 1)})
    breaks = np.array([g["next"] for g in gaps if g["next"] < n], dtype=np.int64)
    return dropped, breaks, gaps


def _describe(gap, index) -> dict:
    b = gap["next"]
    return {"start": index[gap["after"]].isoformat(), "end": index[b].isoformat() if b < len(index) else None,
            "duration_s": float(gap["duration"]), "channels": sorted(gap["channels"]),
            "rows_dropped": int(gap["rows_dropped"])}


def window_bounds(index: pd.DatetimeIndex, *, start=None, end=None, last=None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The window ``(start, end)`` asked for, warning when it reaches beyond the data.

    Parameters
    ----------
    index : DatetimeIndex
        Sample times of the data.
    start, end : timestamp-like, optional
        Window limits; naive times are taken in the index's time zone (UTC for telemetry).
    last : pandas.Timedelta or str, optional
        Window length: with *end*, the span before it; with *start*, the span after it; alone,
        the last span of the data.  All three together are ambiguous and rejected.

    Notes
    -----
    A window that starts before the first sample or ends after the last one by more
    than one median sample interval warns (:class:`~sim.exceptions.DataQualityWarning`):
    the fit will rest on less data than was asked for.
    """
    if len(index) == 0:
        raise CalibrationError("no telemetry rows to cut a window from")
    tz = getattr(index, "tz", None)

    def stamp(value, what):
        try:
            ts = pd.Timestamp(value)
        except (TypeError, ValueError) as err:
            raise ConfigurationError(f"{what} = {value!r} is not a date/time; give an ISO time such as "
                                     f"'2026-07-14T06:00:00Z'") from err
        if tz is not None and ts.tzinfo is None:
            ts = ts.tz_localize(tz)
        elif tz is None and ts.tzinfo is not None:
            ts = ts.tz_convert("UTC").tz_localize(None)
        return ts

    start = None if start is None else stamp(start, "start")
    end = None if end is None else stamp(end, "end")
    if last is not None:
        if isinstance(last, (int, float, np.integer, np.floating)) or not isinstance(last, (str, pd.Timedelta)):
            raise ConfigurationError(f"last = {last!r} needs a unit: give a pandas Timedelta or a string such as "
                                     f"'6h' (a config's window_h hours -> pd.Timedelta(hours=window_h))")
        span = pd.Timedelta(last)
        if not span > pd.Timedelta(0):
            raise ConfigurationError(f"last = {last!r} must be a positive time span")
        if start is not None and end is not None:
            raise ConfigurationError(f"give at most two of start ({start}), end ({end}) and last ({last}); all three "
                                     f"together are ambiguous")
        if start is not None:
            end = start + span
        else:
            end = index[-1] if end is None else end
            start = end - span
    if start is not None and end is not None and start > end:
        raise ConfigurationError(f"the window starts ({start}) after it ends ({end}); swap them")
    step = pd.Series(index).diff().median() if len(index) > 1 else pd.Timedelta(0)
    before = (index[0] - start) if start is not None else pd.Timedelta(0)
    after = (end - index[-1]) if end is not None else pd.Timedelta(0)
    if before > step or after > step:
        asked = (end if end is not None else index[-1]) - (start if start is not None else index[0])
        lo = max(start, index[0]) if start is not None else index[0]
        hi = min(end, index[-1]) if end is not None else index[-1]
        covered = max(hi - lo, pd.Timedelta(0))
        warnings.warn(f"the calibration window {start} .. {end} ({asked / pd.Timedelta(hours=1):.3g} h) is longer "
                      f"than the data: they cover {index[0]} .. {index[-1]}, so the fit rests on "
                      f"{covered / pd.Timedelta(hours=1):.3g} h; shorten the window or supply the missing telemetry",
                      DataQualityWarning, stacklevel=3)
    return start, end
