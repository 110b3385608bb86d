"""The quarantine is kept compact until its table is asked for: counts, accounting, copies and pickles
never need the texts, and the table is the same whichever way it is reached."""

import dataclasses
import pickle

import numpy as np
import pandas as pd

from sim.telemetry import read_csv, read_frame, read_parquet
from sim.telemetry.gates.quarantine import Quarantine
from sim.telemetry.stream import build_counts
from tests.sim.telemetry.fast_path import NOW, assert_same, channel_map, faulty_frame, gate


def lazy(stream) -> Quarantine:
    return stream.__dict__["_quarantine"]


def test_counts_and_accounting_come_from_the_compact_entries(tmp_path):
    path = tmp_path / "faulty.parquet"
    faulty_frame(400, seed=7).to_parquet(path, row_group_size=64)
    stream = gate(read_parquet, path, channel_map(), chunksize=50)
    entries = lazy(stream)
    assert isinstance(entries, Quarantine)  # nothing has asked for the texts yet
    stream.check_accounting()
    assert isinstance(lazy(stream), Quarantine)
    table = stream.quarantine  # now written, once
    assert lazy(stream) is table and stream.quarantine is table
    assert len(table) == int(stream.counts.loc["TOTAL", "quarantined"]) > 100
    # the counts the compact entries gave equal those of the written table
    pd.testing.assert_frame_equal(stream.counts, build_counts(stream.frame, table, {
        name: int(stream.counts.loc[name, "read"]) for name in stream.counts.index if name != "TOTAL"}))
    assert table["reason"].str.len().min() > 20 and (table["raw_value"] != "").any()


def test_copies_and_pickles_keep_every_entry():
    frame = faulty_frame(300, seed=2)
    cmap = channel_map()
    stream = gate(read_frame, frame, cmap, chunksize=64)
    shipped = pickle.loads(pickle.dumps(stream))  # e.g. to a sweep worker, before anyone read the table
    assert_same(shipped, gate(read_frame, frame, cmap, chunksize=64))
    moved = dataclasses.replace(stream, source="elsewhere")
    assert moved.source == "elsewhere"
    pd.testing.assert_frame_equal(moved.quarantine, stream.quarantine)


def test_csv_quarantine_texts_are_the_cells_as_written(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("timestamp,C0,C1,C2,C3\n"
                    "2024-01-01T00:00:00Z,30,60,4,15\n"
                    "2024-01-01T00:00:01Z,n/a,60,4,15\n"
                    "2024-01-01T00:00:01Z,30,60,4,15\n"
                    "2024-01-01T00:00:02Z,30,6000,4,15\n", encoding="utf-8")
    stream = read_csv(path, channel_map(spike=0, stuck=0), now=NOW)
    q = stream.quarantine
    assert q[["row", "channel", "gate", "raw_value", "time_raw"]].values.tolist() == [
        [2, "ch0", "missing", "n/a", "2024-01-01T00:00:01Z"],
        [3, "ch0", "timestamp_duplicate", "30", "2024-01-01T00:00:01Z"],
        [3, "ch1", "timestamp_duplicate", "60", "2024-01-01T00:00:01Z"],
        [3, "ch2", "timestamp_duplicate", "4", "2024-01-01T00:00:01Z"],
        [3, "ch3", "timestamp_duplicate", "15", "2024-01-01T00:00:01Z"],
        [4, "ch1", "out_of_range", "6000", "2024-01-01T00:00:02Z"],
    ]
    assert "6000 degC is outside the valid range [-600, 600] degC" in q["reason"].iloc[-1]
    assert np.isnan(stream.frame["ch1"].iloc[-1])
