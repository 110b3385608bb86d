"""The throughput paths give the same streams as the plain ones.

* lateness 0: in-order samples skip the reorder buffer;
* channels gated in parallel threads;
* the frame's stamps kept once and its values in one preallocated block
  (:class:`~sim.telemetry.gates.collect.SharedColumns`), falling back to per-channel pieces
  when the channels release different stamps;
* ``read_parquet`` hashing the file and decoding the next batch in background threads.
"""

import hashlib
import warnings

import numpy as np
import pandas as pd
import pytest

from sim.exceptions import DataQualityWarning, TelemetryFileError
from sim.telemetry import read_frame, read_parquet
from sim.telemetry.gates.collect import SharedColumns
from sim.telemetry.gates.tables import TableGates
from tests.sim.telemetry.fast_path import NOW, S, T0, assert_same, channel_map, faulty_frame, gate


def gate_table(frame, cmap, *, workers, chunksize, expected_rows=None):
    table = TableGates(cmap, list(frame.columns), now=NOW, workers=workers, expected_rows=expected_rows)
    for k in range(0, len(frame), chunksize):
        table.add(frame.iloc[k:k + chunksize])
    return table.finish(source="<DataFrame>", content_hash="")


@pytest.mark.parametrize("in_order", [True, False])
def test_lateness_zero_fast_path_equals_reference_and_chunking(reference, in_order):
    frame = faulty_frame(500, seed=11)
    if in_order:  # every stamp newer than the one before: the buffer is never used
        frame["timestamp"] = pd.Series(pd.DatetimeIndex((T0 + np.arange(500) * S).view("datetime64[ns]")).tz_localize(
            "UTC"))
    cmap = channel_map(lateness=0.0)
    fast = gate(read_frame, frame, cmap, chunksize=1000)
    for chunksize in (1, 17, 128):
        assert_same(gate(read_frame, frame, cmap, chunksize=chunksize), fast)
    with reference():
        assert_same(gate(read_frame, frame, cmap, chunksize=64), fast)
    counts = fast.counts.loc["TOTAL"]
    assert counts["stuck"] > 0 and counts["spike"] > 0 and counts["out_of_range"] > 0
    if in_order:
        assert counts[["timestamp_duplicate", "timestamp_non_monotonic"]].sum() == 0
        assert len(fast.frame) == 500


@pytest.mark.parametrize("offset", [0.0, -0.5])  # -0.5: one channel releases other stamps than the rest
def test_threaded_gating_gives_the_same_stream(offset):
    frame = faulty_frame(800, seed=5)
    cmap = channel_map(offset=offset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        one = gate_table(frame, cmap, workers=1, chunksize=100)
        for workers in (2, 4):
            assert_same(gate_table(frame, cmap, workers=workers, chunksize=100), one)
            assert_same(gate_table(frame, cmap, workers=workers, chunksize=100, expected_rows=len(frame)), one)
    assert_same(gate(read_frame, frame, cmap, chunksize=100), one)


def test_shared_columns_grow_and_split():
    columns = SharedColumns(2)  # no capacity hint: grows by doubling
    stamps = np.arange(10, dtype=np.int64)
    assert columns.add(0, stamps[:3], np.arange(3.0))
    assert columns.add(1, stamps[:2], -np.arange(2.0))  # lags behind channel 0
    assert columns.add(1, stamps[2:7], -np.arange(2.0, 7.0))  # overtakes it: extends the shared stamps
    assert columns.add(0, stamps[3:7], np.arange(3.0, 7.0))
    assert columns.complete()
    np.testing.assert_array_equal(columns.stamps(), stamps[:7])
    np.testing.assert_array_equal(columns.values(), [np.arange(7.0), -np.arange(7.0)])
    assert columns.add(0, stamps[8:9], [8.0])  # channel 0 leads: stamp 8 is the next shared one
    assert not columns.add(1, stamps[7:8], [-7.0])  # channel 1 releases 7 there: refused, nothing stored
    assert not columns.complete()
    pieces = columns.split(["a", "b"])
    np.testing.assert_array_equal(pieces["a"][0][0], [0, 1, 2, 3, 4, 5, 6, 8])
    np.testing.assert_array_equal(pieces["a"][0][1], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0])
    np.testing.assert_array_equal(pieces["b"][0][1], -np.arange(7.0))


def test_frame_keeps_one_block_without_copies(tmp_path):
    frame = faulty_frame(3000, seed=2)
    path = tmp_path / "wide.parquet"
    frame.to_parquet(path, row_group_size=700)
    stream = gate(read_parquet, path, channel_map(), chunksize=500)
    values = stream.frame.to_numpy()
    assert values.flags.f_contiguous or not values.flags.owndata  # the column-major block, not a copy
    assert_same(stream, gate(read_frame, frame, channel_map(), chunksize=3000))


def test_background_hash_and_read_ahead(tmp_path):
    path = tmp_path / "wide.parquet"
    faulty_frame(400, seed=4).to_parquet(path, row_group_size=50)
    stream = gate(read_parquet, path, channel_map(), chunksize=30)
    assert stream.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(TelemetryFileError, match="does not exist"):
        gate(read_parquet, tmp_path / "absent.parquet", channel_map())
