"""The compiled per-channel pass equals the vectorized reference, and chunking is invisible.

Streams (frame, quarantine with reasons, gaps, counts) from the fast path are compared
with those of ``reference_gates.ReferenceGates`` on data with injected faults: NaN,
nulls, infinity, overflow in SI, out of range, spikes, stuck runs, duplicated, late,
far-late, future and unparseable stamps, per-channel clock offsets.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.exceptions import DataQualityWarning
from sim.telemetry import ChannelMap, read_frame, read_parquet
from sim.telemetry.gates import collect
from tests.sim.telemetry.reference_gates import ReferenceGates

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


@pytest.fixture
def reference(monkeypatch):
    """Run the reference gates instead of the compiled pass (inside ``with reference():``)."""
    from contextlib import contextmanager

    @contextmanager
    def swap():
        with monkeypatch.context() as m:
            m.setattr(collect, "ChannelGates", ReferenceGates)
            yield
    return swap


@pytest.mark.parametrize("lateness", [0.0, 2.0])
@pytest.mark.parametrize("offset", [0.0, -0.5])
def test_fast_path_equals_reference_on_faulty_data(reference, lateness, offset):
    frame = faulty_frame(600, seed=int(lateness))
    cmap = channel_map(lateness=lateness, offset=offset)
    fast = gate(read_frame, frame, cmap, chunksize=128)
    with reference():
        slow = gate(read_frame, frame, cmap, chunksize=128)
    assert_same(fast, slow)
    gates_hit = fast.counts.loc["TOTAL"]
    for name in ("timestamp_unparseable", "timestamp_future", "timestamp_duplicate", "timestamp_non_monotonic",
                 "missing", "non_finite", "out_of_range", "stuck", "spike"):
        assert gates_hit[name] > 0, name
    assert fast.quarantine["reason"].str.contains("overflows to infinity when converted to SI").any()


@pytest.mark.parametrize("chunksize", [1, 7, 64, 10_000])
def test_parquet_chunks_are_invisible_and_equal_the_reference(tmp_path, reference, chunksize):
    path = tmp_path / "faulty.parquet"
    faulty_frame(300, seed=3).to_parquet(path, row_group_size=100)  # NaN is written as null
    cmap = channel_map()
    whole = gate(read_parquet, path, cmap, chunksize=10_000)
    assert_same(gate(read_parquet, path, cmap, chunksize=chunksize), whole)
    with reference():
        assert_same(gate(read_parquet, path, cmap, chunksize=chunksize), whole)
    assert whole.counts.loc["TOTAL", "missing"] > 0
    assert whole.quarantine.loc[whole.quarantine["gate"] == "missing", "raw_value"].eq("nan").all()


def reversed_frame(rows, **columns):
    """A wide table whose *rows* stamps arrive in reverse (1 s apart), C0 = row % 7, then *columns*."""
    stamps = T0 + np.arange(rows, dtype=np.int64)[::-1] * S
    return pd.DataFrame({"timestamp": pd.DatetimeIndex(stamps.view("datetime64[ns]")).tz_localize("UTC"),
                         "C0": np.arange(rows, dtype=float) % 7, **columns})


def test_reorder_buffer_grows_beyond_its_first_room(reference):
    rows = 2000  # arrive in reverse within the lateness: the buffer holds them all until the end
    frame = reversed_frame(rows, C1=1.0, C2=1.0, C3=1.0)
    cmap = channel_map(lateness=rows + 1.0, stuck=0, spike=0)
    fast = gate(read_frame, frame, cmap, chunksize=300)
    assert fast.counts.loc["TOTAL", "accepted"] == 4 * rows and fast.frame.index.is_monotonic_increasing
    with reference():
        assert_same(fast, gate(read_frame, frame, cmap, chunksize=300))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(seconds=st.lists(st.integers(0, 60), min_size=1, max_size=80),
       values=st.lists(st.sampled_from([1.0, 1.0, 1.1, 0.9, 5.0, -3.0, np.nan, np.inf, 1e300, 500.0]),
                       min_size=80, max_size=80),
       lateness=st.sampled_from([0.0, 1.0, 5.0]), chunksize=st.sampled_from([1, 3, 16, 100]),
       stuck=st.sampled_from([0, 2, 4]), spike=st.sampled_from([0, 3, 5]),
       min_deviation=st.sampled_from([0.0, 0.5, 50.0]), offset=st.sampled_from([0.0, 2.5]))
def test_fast_path_equals_reference_for_any_input(seconds, values, lateness, chunksize, stuck, spike, min_deviation,
                                                  offset):
    n = len(seconds)
    frame = pd.DataFrame({"timestamp": pd.DatetimeIndex((T0 + np.asarray(seconds, np.int64) * S).view(
        "datetime64[ns]")).tz_localize("UTC")})
    for k in range(4):
        frame[f"C{k}"] = np.roll(values, k)[:n]
    cmap = channel_map(lateness=lateness, stuck=stuck, spike=spike, min_deviation=min_deviation, offset=offset,
                       period=2.0)
    fast = gate(read_frame, frame, cmap, chunksize=chunksize)
    whole = gate(read_frame, frame, cmap, chunksize=1000)
    assert_same(fast, whole)
    original = collect.ChannelGates  # (hypothesis runs many examples per test: no function-scoped fixture)
    collect.ChannelGates = ReferenceGates
    try:
        slow = gate(read_frame, frame, cmap, chunksize=chunksize)
    finally:
        collect.ChannelGates = original
    assert_same(fast, slow)
