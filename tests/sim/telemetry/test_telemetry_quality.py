"""Stateful gates: reorder buffer with lateness, future stamps, clock offsets, stuck sensors, spikes, gaps."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.exceptions import ChannelMapError, DataQualityWarning
from sim.telemetry import ChannelMap, read_frame
from sim.telemetry.gates._passes import ValueState, stuck_and_spike_flags
from tests.sim.telemetry import naive

T0 = pd.Timestamp("2024-01-01", tz="UTC")
NOW = pd.Timestamp("2024-06-01", tz="UTC")


def one_channel(**rules):
    return ChannelMap.from_dict({"channels": {"x": {"column": "X", "unit": "bar", "si_unit": "Pa", **rules}}})


def gate(seconds, values, channel_map, **kwargs):
    frame = pd.DataFrame({"timestamp": [T0 + pd.Timedelta(seconds=float(s)) for s in seconds], "X": values})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return read_frame(frame, channel_map, now=NOW, **kwargs)


def gates_by_row(stream):
    return stream.quarantine.set_index("row")["gate"].to_dict()


def test_reorder_buffer_sorts_in_late_rows_within_the_lateness():
    seconds = [0, 10, 30, 20, 25, 5, 40, 20, 31]
    stream = gate(seconds, np.arange(9.0), one_channel(lateness=12))
    # 20 and 25 are within 12 s of 30; 5 is 25 s late; 20 again is a duplicate; 31 is in order
    assert list(stream.seconds) == [0, 10, 20, 25, 30, 31, 40]
    assert stream.frame["x"].tolist() == pytest.approx([0, 1e5, 3e5, 4e5, 2e5, 8e5, 6e5])
    assert gates_by_row(stream) == {6: "timestamp_non_monotonic", 8: "timestamp_duplicate"}
    late = stream.quarantine.loc[stream.quarantine["row"] == 6, "reason"].item()
    assert "more than the allowed lateness 12 s older than the newest timestamp 2024-01-01T00:00:30" in late


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seconds=st.lists(st.integers(0, 40), min_size=1, max_size=40), lateness=st.sampled_from([0, 1, 5, 15]),
       chunksize=st.sampled_from([1, 2, 5, 100]))
def test_time_order_matches_the_reference_rule_for_any_arrival_order(seconds, lateness, chunksize):
    stream = gate(seconds, np.ones(len(seconds)), one_channel(lateness=lateness), chunksize=chunksize)
    expected = naive.time_order(seconds, lateness)
    got = ["ok"] * len(seconds)
    names = {"timestamp_duplicate": "duplicate", "timestamp_non_monotonic": "late"}
    for row, g in gates_by_row(stream).items():
        got[row - 1] = names[g]
    assert got == expected
    accepted = sorted(s for s, e in zip(seconds, expected) if e == "ok")
    assert list(stream.seconds + (accepted[0] if accepted else 0)) == accepted
    stream.check_accounting()


def test_future_stamps_are_quarantined_before_they_block_the_time_order():
    frame = pd.DataFrame({"timestamp": ["2024-01-01T00:00:00Z", "2031-01-01T00:00:00Z", "2024-01-01T00:00:10Z"],
                          "X": ["1", "2", "3"]})
    stream = read_frame(frame, one_channel(), now=NOW)
    assert list(stream.seconds) == [0, 10]
    (entry,) = stream.quarantine.itertuples()
    assert entry.gate == "timestamp_future" and "future_tolerance 300 s" in entry.reason
    off = ChannelMap.from_dict({**one_channel().to_dict(), "future_tolerance": None})
    assert off.future_tolerance is None
    assert read_frame(frame, off, now=NOW).counts.loc["x", "timestamp_non_monotonic"] == 1


def test_clock_offset_shifts_one_channel():
    channel_map = ChannelMap.from_dict({"channels": {
        "a": {"column": "A", "unit": "A", "si_unit": "A"},
        "b": {"column": "B", "unit": "A", "si_unit": "A", "clock_offset": 2.5},
    }})
    frame = pd.DataFrame({"timestamp": ["2024-01-01T00:00:10Z", "2024-01-01T00:00:20Z"], "A": [1, 2], "B": [3, 4]})
    stream = read_frame(frame, channel_map, now=NOW)
    assert list(stream.frame.index.strftime("%S.%f").str[:4]) == ["07.5", "10.0", "17.5", "20.0"]
    assert stream.frame["b"].dropna().tolist() == [3, 4] and stream.frame["a"].dropna().tolist() == [1, 2]
    stream.check_accounting()


def test_stuck_sensor_after_the_allowed_run():
    values = [5.0, 5.1, 5.0, 5.0, 5.0, 5.0, 5.02, 5.0, 6.0, 6.0]
    stream = gate(range(10), values, one_channel(stuck={"samples": 3, "tolerance": 0.05}))
    # run from index 2: 5.0, 5.0, 5.0 allowed, then 5.0, 5.02, 5.0 are stuck
    assert gates_by_row(stream) == {6: "stuck", 7: "stuck", 8: "stuck"}
    assert "more than 3 samples: stuck sensor" in stream.quarantine["reason"].iloc[0]


def test_spike_is_caught_and_a_level_shift_is_accepted_again():
    rng = np.random.default_rng(1)
    values = 10 + 0.1 * rng.standard_normal(60)
    values[30] = 14.0  # a spike
    values[45:] += 5.0  # a real step change
    stream = gate(range(60), values, one_channel(spike={"window": 9, "threshold": 5, "min_deviation": 0.5}))
    spikes = sorted(r - 1 for r, g in gates_by_row(stream).items() if g == "spike")
    assert spikes == [30, 45]  # the spike, and only the first value of the genuine step
    assert not np.isnan(stream.frame["x"].iloc[46:]).any()


def test_ramps_and_switched_loads_are_not_spikes():
    """A winding heating at 1 K/sample is never a spike; 20 on/off steps of a motor current lose one value
    each (no look-ahead), not the ~window/2 of a plain Hampel filter; isolated outliers are still caught."""
    rule = one_channel(spike={"window": 11, "threshold": 6, "min_deviation": 2})
    ramp = np.concatenate([np.full(20, 40.0), 40.0 + np.arange(1, 61), np.full(20, 100.0)])
    assert len(gate(range(ramp.size), ramp, rule).quarantine) == 0
    rng = np.random.default_rng(3)
    current = np.where((np.arange(800) // 40) % 2 == 0, 10.0, 30.0) + 0.15 * rng.standard_normal(800)
    outliers = [105, 333, 611]
    current[outliers] += 25.0
    stream = gate(range(current.size), current, rule)
    spikes = sorted(r - 1 for r, g in gates_by_row(stream).items() if g == "spike")
    steps = list(range(40, 800, 40))
    assert set(outliers) <= set(spikes) and set(spikes) <= set(outliers) | set(steps)
    assert len(spikes) <= len(outliers) + len(steps)  # at most the first value of each step


@pytest.mark.kernel
@settings(max_examples=80, deadline=None)
@given(values=st.lists(st.sampled_from([0.0, 1.0, 2.0, 2.5, 10.0, -3.0]), max_size=60),
       window=st.sampled_from([0, 3, 4, 7]), stuck=st.sampled_from([0, 2, 3]), split=st.integers(0, 60))
def test_kernel_matches_the_plain_python_reference_and_batches_are_invisible(values, window, stuck, split):
    x = np.asarray(values, dtype=float)
    ok = np.ones(x.size, dtype=bool)
    ok[::7] = False
    expected = naive.stuck_and_spike_flags(x, ok, stuck, 0.1, window, 2.0, 0.5)
    state = ValueState(window)
    got = np.concatenate([stuck_and_spike_flags(x[a:b], ok[a:b], stuck, 0.1, window, 2.0, 0.5, state)
                          for a, b in ((0, split), (split, x.size))])
    assert got.tolist() == list(expected)


@pytest.mark.kernel
@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.sampled_from([0.0, 0.01, -0.01, 0.3, -0.3, 4.0, -4.0]), max_size=50),
       window=st.sampled_from([3, 5, 8]), min_deviation=st.sampled_from([0.0, 0.05, 0.5, 10.0]),
       split=st.integers(0, 50))
def test_kernel_skips_the_median_only_where_no_spike_is_possible(steps, window, min_deviation, split):
    # a random walk: the window's range is sometimes below min_deviation (the sorted window goes stale and is
    # rebuilt when needed), sometimes above it
    x = np.cumsum(np.asarray(steps, dtype=float))
    ok = np.ones(x.size, dtype=bool)
    expected = naive.stuck_and_spike_flags(x, ok, 3, 0.0, window, 3.0, min_deviation)
    state = ValueState(window)
    got = np.concatenate([stuck_and_spike_flags(x[a:b], ok[a:b], 3, 0.0, window, 3.0, min_deviation, state)
                          for a, b in ((0, split), (split, x.size))])
    assert got.tolist() == list(expected)


def test_gaps_longer_than_k_periods():
    seconds = [0, 10, 20, 50, 60, 61, 200]
    stream = gate(seconds, [1, 1, np.nan, 1, 1, 1, 1], one_channel(period=10))
    gaps = stream.gaps
    assert gaps["duration_s"].tolist() == [40.0, 139.0]  # 10 -> 50 (the value at 20 is missing), 61 -> 200
    assert gaps["start"].iloc[0] == T0 + pd.Timedelta(seconds=10) and set(gaps["channel"]) == {"x"}
    assert len(stream.window(0, 30).gaps) == 1


def test_rules_are_validated_with_a_fix():
    with pytest.raises(ChannelMapError, match=r"stuck.samples 1 must be an integer >= 2; fix"):
        one_channel(stuck={"samples": 1})
    with pytest.raises(ChannelMapError, match="unknown spike key"):
        one_channel(spike={"windows": 5})
    with pytest.raises(ChannelMapError, match="lateness -1 must be a finite number >= 0"):
        one_channel(lateness=-1)
    with pytest.raises(ChannelMapError, match="wildcard"):
        one_channel(topic="plant/+/current")
    with pytest.raises(ChannelMapError, match="reserved"):
        ChannelMap.from_dict({"channels": {"unmapped": {"unit": "A", "si_unit": "A"}}})


def test_rules_round_trip_through_the_dict():
    channel_map = one_channel(period=10, lateness=5, clock_offset=-1.5, topic="plant/x", node="ns=2;s=X",
                              stuck={"samples": 30}, spike={"window": 11, "threshold": 4})
    again = ChannelMap.from_dict(channel_map.to_dict())
    assert again == channel_map
    assert again.channels[0].spike.min_deviation == 0.0 and again.topics == {"plant/x": "x"}
