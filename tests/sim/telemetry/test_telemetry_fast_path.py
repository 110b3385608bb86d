"""The compiled per-channel pass equals the vectorized reference, and chunking is invisible.

Streams (frame, quarantine with reasons, gaps, counts) from the fast path are compared
with those of ``reference_gates.ReferenceGates`` on data with injected faults: NaN,
nulls, infinity, overflow in SI, out of range, spikes, stuck runs, duplicated, late,
far-late, future and unparseable stamps, per-channel clock offsets.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.telemetry import read_frame, read_parquet
from sim.telemetry.gates import collect
from tests.sim.telemetry.fast_path import S, T0, assert_same, channel_map, faulty_frame, gate, reversed_frame
from tests.sim.telemetry.reference_gates import ReferenceGates


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
