"""Alignment helpers: put measurements on the times of model outputs (or on a regular grid).

Telemetry and model outputs rarely share time stamps.  These functions take a frame
indexed by time (a UTC DatetimeIndex, or float seconds such as ``stream.seconds`` or
``env.now`` values) and return values at other times of the same kind, column by
column, using only the non-NaN values of each column.  They never extrapolate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sim.exceptions import ConfigurationError

__all__ = ["zero_order_hold", "interpolate_linear", "resample", "align"]


def _axis(index: pd.Index | Sequence[float] | np.ndarray, what: str) -> tuple[np.ndarray, float]:
    """Index as float64 and the number of its units per second (1e9 for datetimes, 1 for seconds)."""
    if isinstance(index, pd.DatetimeIndex):
        if index.tz is None:
            raise ConfigurationError(f"{what} is a naive DatetimeIndex; fix: tz_localize('UTC') it first")
        return index.tz_convert("UTC").as_unit("ns").asi8.astype(np.float64), 1e9
    values = np.asarray(index)
    if values.dtype.kind not in "iuf":
        raise ConfigurationError(
            f"{what} has dtype {values.dtype}; fix: use a UTC DatetimeIndex or float seconds"
        )
    return values.astype(np.float64), 1.0


def _prepare(frame: pd.DataFrame | pd.Series, at) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, float, pd.Index]:
    frame = frame.to_frame() if isinstance(frame, pd.Series) else frame
    if not isinstance(frame, pd.DataFrame):
        raise ConfigurationError(f"frame is a {type(frame).__name__}; fix: pass a DataFrame or Series indexed by time")
    x, per_s = _axis(frame.index, "the frame's index")
    at_index = at if isinstance(at, pd.Index) else pd.Index(np.asarray(at))
    t, per_s_at = _axis(at_index, "at")
    if per_s != per_s_at:
        raise ConfigurationError(
            "the frame's index and at are of different kinds (datetimes vs seconds); fix: convert one, e.g. "
            "stream.seconds for seconds since t0"
        )
    if x.size > 1 and not (np.diff(x) > 0).all():
        raise ConfigurationError("the frame's index is not strictly increasing; fix: sort it and drop duplicates")
    return frame, x, t, per_s, at_index


def zero_order_hold(frame: pd.DataFrame | pd.Series, at, *, max_age: float | None = None) -> pd.DataFrame:
    """The last value at or before each time of *at* (NaN before the first one).

    Parameters
    ----------
    frame : pandas.DataFrame or Series
        Measurements indexed by UTC time or seconds.
    at : array-like or Index
        Times to read at, of the same kind.
    max_age : float, optional
        Hold a value at most this long [s]; NaN after that.
    """
    frame, x, t, per_s, at_index = _prepare(frame, at)
    out = np.full((t.size, frame.shape[1]), np.nan)
    for j, column in enumerate(frame.columns):
        y = frame[column].to_numpy(dtype=np.float64)
        ok = ~np.isnan(y)
        xs, ys = x[ok], y[ok]
        pos = np.searchsorted(xs, t, side="right") - 1
        held = pos >= 0
        if max_age is not None:
            held &= (t - xs[np.maximum(pos, 0)]) <= max_age * per_s
        out[held, j] = ys[pos[held]]
    return pd.DataFrame(out, index=at_index, columns=frame.columns)


def interpolate_linear(frame: pd.DataFrame | pd.Series, at, *, max_gap: float | None = None) -> pd.DataFrame:
    """Linear interpolation between the values around each time of *at* (NaN outside them).

    Parameters
    ----------
    frame : pandas.DataFrame or Series
        Measurements indexed by UTC time or seconds.
    at : array-like or Index
        Times to read at, of the same kind.
    max_gap : float, optional
        Do not bridge two values further apart than this [s]; NaN in between.
    """
    frame, x, t, per_s, at_index = _prepare(frame, at)
    out = np.full((t.size, frame.shape[1]), np.nan)
    for j, column in enumerate(frame.columns):
        y = frame[column].to_numpy(dtype=np.float64)
        ok = ~np.isnan(y)
        xs, ys = x[ok], y[ok]
        if xs.size == 0:
            continue
        out[:, j] = np.interp(t, xs, ys, left=np.nan, right=np.nan)
        if max_gap is not None and xs.size > 1:
            right = np.searchsorted(xs, t, side="left").clip(1, xs.size - 1)
            exact = np.isin(t, xs)
            wide = (xs[right] - xs[right - 1]) > max_gap * per_s
            out[wide & ~exact, j] = np.nan
    return pd.DataFrame(out, index=at_index, columns=frame.columns)


_HOW = {"linear": interpolate_linear, "hold": zero_order_hold}


def resample(frame: pd.DataFrame | pd.Series, period: float, *, how: str = "mean") -> pd.DataFrame:
    """Values on a regular grid of *period* seconds, from the first time of *frame*.

    Parameters
    ----------
    frame : pandas.DataFrame or Series
        Measurements indexed by UTC time or seconds.
    period : float
        Grid step [s], > 0.
    how : str
        ``"mean"`` of the values in ``[t, t + period)``, ``"hold"`` (last value at or
        before ``t``) or ``"linear"`` (interpolated at ``t``).
    """
    if not (isinstance(period, (int, float)) and np.isfinite(period) and period > 0):
        raise ConfigurationError(f"period {period!r} must be a positive number of seconds")
    frame = frame.to_frame() if isinstance(frame, pd.Series) else frame
    x, per_s = _axis(frame.index, "the frame's index")
    if x.size == 0:
        return frame.iloc[:0]
    steps = np.arange(0.0, (x[-1] - x[0]) / (period * per_s) + 1e-9, 1.0)
    grid_x = x[0] + steps * period * per_s
    grid = (pd.DatetimeIndex(grid_x.astype(np.int64).view("datetime64[ns]")).tz_localize("UTC")
            if per_s == 1e9 else pd.Index(grid_x))
    if how == "mean":
        bins = ((x - x[0]) // (period * per_s)).astype(np.int64)
        means = frame.groupby(bins).mean()
        return means.reindex(range(grid.size)).set_axis(grid, axis=0)
    if how not in _HOW:
        raise ConfigurationError(f"how {how!r} is not supported; fix: use 'mean', 'hold' or 'linear'")
    return _HOW[how](frame, grid)


def align(model: pd.DataFrame, measured: pd.DataFrame, *, how: str = "linear",
          max_gap: float | None = None) -> pd.DataFrame:
    """Measurements at the model's output times, next to the model outputs.

    Returns a frame indexed like *model* with, for each column ``c`` present in both,
    ``c`` (model), ``c_measured`` and ``c_residual`` (measured - model).

    Parameters
    ----------
    model : pandas.DataFrame
        Model outputs indexed by time (same kind as *measured*) [SI units].
    measured : pandas.DataFrame
        Telemetry, e.g. ``stream.frame`` [SI units].
    how : str
        ``"linear"`` or ``"hold"``.
    max_gap : float, optional
        For ``"linear"``: longest bridged pause [s]; for ``"hold"``: longest hold [s].
    """
    common = [c for c in model.columns if c in measured.columns]
    if not common:
        raise ConfigurationError(
            f"model columns {list(model.columns)} and measured columns {list(measured.columns)} share no name; "
            f"fix: name model outputs like the channels"
        )
    if how == "linear":
        read = interpolate_linear(measured[common], model.index, max_gap=max_gap)
    elif how == "hold":
        read = zero_order_hold(measured[common], model.index, max_age=max_gap)
    else:
        raise ConfigurationError(f"how {how!r} is not supported; fix: use 'linear' or 'hold'")
    parts = {}
    for c in common:
        parts[c] = model[c].to_numpy(dtype=np.float64)
        parts[f"{c}_measured"] = read[c].to_numpy()
        parts[f"{c}_residual"] = parts[f"{c}_measured"] - parts[c]
    return pd.DataFrame(parts, index=model.index)
