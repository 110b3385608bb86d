"""Wide tables with injected faults and comparisons of gated streams, shared by the fast-path test modules."""

import warnings

import numpy as np
import pandas as pd

from sim.exceptions import DataQualityWarning
from sim.telemetry import ChannelMap

T0 = pd.Timestamp("2024-01-01", tz="UTC").value
NOW = pd.Timestamp("2024-06-01", tz="UTC")
S = 1_000_000_000


def channel_map(*, lateness=2.0, stuck=5, spike=7, min_deviation=0.5, offset=0.0, period=1.0):
    units = [("A", "A", 30.0), ("degC", "K", 60.0), ("bar", "Pa", 4.0), ("hp", "W", 15.0)]
    channels = {}
    for k, (unit, si, level) in enumerate(units):
        entry = {"column": f"C{k}", "unit": unit, "si_unit": si, "lateness": lateness, "period": period,
                 "clock_offset": offset if k == 1 else 0.0}
        if k < 3:  # ch3 has no range, so that 1e307 hp overflows in W
            entry["range"] = [-10 * level, 10 * level]
        if stuck:
            entry["stuck"] = {"samples": stuck, "tolerance": 0.0}
        if spike:
            entry["spike"] = {"window": spike, "threshold": 4.0, "min_deviation": min_deviation * level / 30}
        channels[f"ch{k}"] = entry
    return ChannelMap.from_dict({"channels": channels})


def faulty_frame(rows, seed=0):
    """A wide table at 1 s with about 3 % of every kind of fault."""
    rng = np.random.default_rng(seed)
    stamps = T0 + np.arange(rows, dtype=np.int64) * S
    k = max(rows // 30, 1)
    stamps[rng.integers(1, rows, k)] -= int(1.5 * S)  # late, within the lateness
    stamps[rng.integers(1, rows, k)] -= 40 * S  # far too late
    dup = rng.integers(1, rows, k)
    stamps[dup] = stamps[dup - 1]
    stamps[rng.integers(0, rows, 2)] += 10**9 * S  # far in the future
    time = pd.Series(pd.DatetimeIndex(stamps.view("datetime64[ns]")).tz_localize("UTC"))
    time[rng.integers(0, rows, 2)] = pd.NaT
    data = {"timestamp": time}
    for c, level in enumerate((30.0, 60.0, 4.0, 15.0)):
        x = level * (1 + 0.01 * np.round(rng.standard_normal(rows), 1))
        x[rng.integers(0, rows, k)] = np.nan
        x[rng.integers(0, rows, k)] = np.inf
        x[rng.integers(0, rows, k)] = 100 * level  # out of range
        x[rng.integers(0, rows, k)] *= 1.3  # spikes
        start = rows // 2
        x[start:start + 12] = x[start]  # stuck
        data[f"C{c}"] = x
    data["C3"][rng.integers(0, rows, 2)] = 1e307  # in range for no channel; hp -> W would overflow
    return pd.DataFrame(data)


def gate(reader, source, cmap, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return reader(source, cmap, now=NOW, **kwargs)


def assert_same(a, b):
    pd.testing.assert_frame_equal(a.frame, b.frame)
    pd.testing.assert_frame_equal(a.quarantine.reset_index(drop=True), b.quarantine.reset_index(drop=True))
    pd.testing.assert_frame_equal(a.gaps, b.gaps)
    pd.testing.assert_frame_equal(a.counts, b.counts)
    a.check_accounting()


def reversed_frame(rows, **columns):
    """A wide table whose *rows* stamps arrive in reverse (1 s apart), C0 = row % 7, then *columns*."""
    stamps = T0 + np.arange(rows, dtype=np.int64)[::-1] * S
    return pd.DataFrame({"timestamp": pd.DatetimeIndex(stamps.view("datetime64[ns]")).tz_localize("UTC"),
                         "C0": np.arange(rows, dtype=float) % 7, **columns})
