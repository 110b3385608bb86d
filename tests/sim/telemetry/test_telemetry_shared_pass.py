"""The time order decided once for the channels of a wide table (``_passes.TimeOrder``) changes nothing.

``TableGates(share_time=True)`` (the default) runs :func:`sim.telemetry.gates._passes.time_pass`
once per chunk for channels that share clock offset and lateness, then one value pass per
channel; ``share_time=False`` gives each channel its own time order.  Frame, quarantine (rows, reasons),
gaps and counts must be the same, for any chunk size.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.telemetry import ChannelMap, read_frame, read_parquet
from sim.telemetry.gates import tables
from tests.sim.telemetry.fast_path import NOW, S, T0, assert_same, faulty_frame, gate, reversed_frame


def channel_map(*, lateness=2.0, offset=0.0, stuck=5, spike=7, mixed=False, lenient=False):
    units = [("A", "A", 30.0), ("degC", "K", 60.0), ("bar", "Pa", 4.0), ("hp", "W", 15.0)]
    channels = {}
    for k, (unit, si, level) in enumerate(units):
        entry = {"column": f"C{k}", "unit": unit, "si_unit": si, "lateness": lateness, "period": 1.0,
                 "clock_offset": offset}
        if mixed and k == 3:
            entry["lateness"] = lateness + 1.0  # its own time order
        if k < 3:
            entry["range"] = [-10 * level, 10 * level]
        if stuck:
            entry["stuck"] = {"samples": stuck, "tolerance": 0.0}
        if spike:
            entry["spike"] = {"window": spike, "threshold": 4.0, "min_deviation": 0.5 * level / 30}
        channels[f"ch{k}"] = entry
    return ChannelMap.from_dict({"channels": channels, **({"schema": "lenient"} if lenient else {})})


@pytest.fixture
def unshared(monkeypatch):
    """Run the per-channel pass (inside ``with unshared():``)."""
    from contextlib import contextmanager

    @contextmanager
    def swap():
        with monkeypatch.context() as m:
            m.setitem(tables.TableGates.__init__.__kwdefaults__, "share_time", False)
            yield
    return swap


def test_channels_are_grouped_by_offset_and_lateness():
    cmap = channel_map(mixed=True)
    table = tables.TableGates(cmap, ["timestamp", "C0", "C1", "C2", "C3"], now=NOW)
    order = table.gates["ch0"].time
    assert [table.gates[f"ch{k}"].time is order for k in range(4)] == [True, True, True, False]
    table.close()
    table = tables.TableGates(cmap, ["timestamp", "C0", "C1", "C2", "C3"], share_time=False)
    assert len({id(g.time) for g in table.gates.values()}) == 4
    table.close()


@pytest.mark.parametrize("lateness", [0.0, 2.0])
@pytest.mark.parametrize("offset", [0.0, -0.5])
@pytest.mark.parametrize("chunksize", [1, 37, 128, 10_000])
def test_shared_time_order_equals_per_channel_pass(unshared, lateness, offset, chunksize):
    # row by row (each row its own chunk, the state carried 2 x 240 times) a shorter table: 8 faults of each kind
    frame = faulty_frame(240 if chunksize == 1 else 600, seed=int(lateness) + 5)
    cmap = channel_map(lateness=lateness, offset=offset, mixed=chunksize == 37)
    fast = gate(read_frame, frame, cmap, chunksize=chunksize)
    assert_same(fast, gate(read_frame, frame, cmap, chunksize=10_000))
    with unshared():
        assert_same(fast, gate(read_frame, frame, cmap, chunksize=chunksize))
    totals = fast.counts.loc["TOTAL"]
    for name in ("timestamp_duplicate", "timestamp_non_monotonic", "missing", "out_of_range", "stuck", "spike"):
        assert totals[name] > 0, name


def test_shared_parquet_with_nulls_missing_and_unknown_columns(tmp_path, unshared):
    path = tmp_path / "faulty.parquet"
    frame = faulty_frame(300, seed=4).drop(columns=["C2"]).assign(extra=1.0)
    frame.to_parquet(path, row_group_size=100)
    cmap = channel_map(lenient=True)
    for chunksize in (7, 10_000):
        fast = gate(read_parquet, path, cmap, chunksize=chunksize)
        with unshared():
            assert_same(fast, gate(read_parquet, path, cmap, chunksize=chunksize))
    assert fast.counts.loc["ch2", "schema"] == 300 and fast.counts.loc["TOTAL", "missing"] > 0


def test_shared_reorder_buffer_grows_and_carries_across_chunks(unshared):
    rows = 2000  # in reverse within the lateness: the buffer holds them all until the end
    frame = reversed_frame(rows, C1=np.where(np.arange(rows) % 5, 1.0, np.nan), C2=1.0,
                           C3=np.arange(rows, dtype=float))
    cmap = channel_map(lateness=rows + 1.0, stuck=3, spike=0)
    fast = gate(read_frame, frame, cmap, chunksize=300)
    assert fast.frame.index.is_monotonic_increasing and len(fast.frame) == rows
    with unshared():
        assert_same(fast, gate(read_frame, frame, cmap, chunksize=300))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(seconds=st.lists(st.integers(0, 40), min_size=1, max_size=60),
       values=st.lists(st.sampled_from([1.0, 1.0, 1.1, 0.9, 5.0, -3.0, np.nan, np.inf, 1e300, 500.0]),
                       min_size=60, max_size=60),
       lateness=st.sampled_from([0.0, 1.0, 3.0]), chunksize=st.integers(1, 20))
def test_shared_equals_per_channel_on_random_stamps(seconds, values, lateness, chunksize):
    n = len(seconds)
    stamps = T0 + np.asarray(seconds, dtype=np.int64) * S
    frame = pd.DataFrame({"timestamp": pd.DatetimeIndex(stamps.view("datetime64[ns]")).tz_localize("UTC")})
    for k in range(4):
        frame[f"C{k}"] = np.roll(np.asarray(values[:n]), k)
    cmap = channel_map(lateness=lateness, stuck=2, spike=3)
    fast = gate(read_frame, frame, cmap, chunksize=chunksize)
    defaults = tables.TableGates.__init__.__kwdefaults__
    defaults["share_time"] = False
    try:
        slow = gate(read_frame, frame, cmap, chunksize=chunksize)
    finally:
        defaults["share_time"] = True
    assert_same(fast, slow)
