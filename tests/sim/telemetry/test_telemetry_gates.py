"""A crafted historian export with every defect: exact gate counts, reasons, SI values, time zones."""

import warnings

import numpy as np
import pandas as pd
import pytest

from sim.exceptions import DataQualityWarning
from sim.telemetry import ChannelMap, read_csv

MAP = ChannelMap.from_dict({
    "timezone": "Europe/Berlin",
    "channels": {
        "motor_current": {"column": "M1_Current", "unit": "A", "si_unit": "A", "range": [0, 200]},
        "winding_temperature": {"column": "M1_Winding_T", "unit": "degC", "si_unit": "K", "range": [-40, 250]},
        "discharge_pressure": {"column": "P1_Pressure", "unit": "bar", "si_unit": "Pa", "range": [0, 16]},
    },
})

# 2024-03-31 is the spring DST change in Europe/Berlin: 02:00 CET -> 03:00 CEST.  Every stamp is naive
# (a column does not mix naive and offset stamps: see test_telemetry_timestamps).
ROWS = [
    "2024-03-31 01:00:00,10.0,20.0,2.0",          # 1  naive CET          -> 00:00Z
    "2024-03-31 01:30:00,11.0,25.5,2.5",          # 2  naive CET          -> 00:30Z
    "2024-03-31 02:30:00,1,1,1",                  # 3  does not exist in Berlin -> timestamp_unparseable
    "2024-03-31 03:15:00,12,ERR,3.0",             # 4  naive CEST         -> 01:15Z, 'ERR' unparseable
    "not-a-time,1,2,3",                           # 5  timestamp_unparseable
    "2024-03-31 03:15:00,13,30,3",                # 6  timestamp_duplicate of row 4
    "2024-03-31 03:00:00,13,30,3",                # 7  01:00Z: timestamp_non_monotonic (< 01:15Z)
    "2024-03-31 03:20:00,,NaN,null",              # 8  01:20Z, missing x3
    "2024-03-31 03:25:00,inf,-inf,1e999",         # 9  01:25Z, non_finite x3
    "2024-03-31 03:30:00,250,260,-1",             # 10 01:30Z, out_of_range x3
    "2024-03-31 03:45:00,0,-40,16",               # 11 01:45Z, range bounds are inclusive
    "2024-03-31 04:00:00, 1.2.3 ,---,5",          # 12 02:00Z, unparseable x2
    ",1,2,3",                                     # 13 empty time cell
    "2024-03-31 04:15:00,7",                      # 14 02:15Z, truncated line: 2 missing
]
HEADER = "timestamp,M1_Current,M1_Winding_T,P1_Pressure"


def write(tmp_path, rows=ROWS, header=HEADER, name="plant.csv"):
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def read(path, channel_map=MAP, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return read_csv(path, channel_map, **kwargs)


def test_accounting_identity_and_exact_gate_counts(tmp_path):
    stream = read(write(tmp_path))
    counts = stream.counts
    assert stream.rows_read == 14
    assert (counts["accepted"] + counts["quarantined"] == counts["read"]).all()
    expected = pd.DataFrame(
        {
            "read": [14, 14, 14],
            "accepted": [5, 3, 5],
            "quarantined": [9, 11, 9],
            "timestamp_unparseable": [3, 3, 3],
            "timestamp_duplicate": [1, 1, 1],
            "timestamp_non_monotonic": [1, 1, 1],
            "missing": [1, 2, 2],
            "unparseable": [1, 2, 0],
            "non_finite": [1, 1, 1],
            "out_of_range": [1, 1, 1],
        },
        index=["motor_current", "winding_temperature", "discharge_pressure"],
    )
    got = counts.drop(index="TOTAL")
    pd.testing.assert_frame_equal(got[expected.columns], expected, check_names=False, check_index_type=False)
    assert counts.loc["TOTAL", list(expected.columns)].tolist() == expected.sum().tolist()
    others = [c for c in counts.columns if c not in expected.columns]  # gates this file does not trigger
    assert others == ["schema", "timestamp_future", "stuck", "spike", "redelivery"]
    assert (counts[others] == 0).all().all()


def test_timestamps_are_normalized_to_utc_across_the_dst_change(tmp_path):
    stream = read(write(tmp_path))
    index = stream.frame.index
    assert str(index.tz) == "UTC" and index.name == "time" and index.is_monotonic_increasing and index.is_unique
    expected = pd.to_datetime([
        "2024-03-31 00:00", "2024-03-31 00:30", "2024-03-31 01:15", "2024-03-31 01:20", "2024-03-31 01:25",
        "2024-03-31 01:30", "2024-03-31 01:45", "2024-03-31 02:00", "2024-03-31 02:15",
    ]).tz_localize("UTC")
    assert list(index) == list(expected)
    assert stream.t0 == pd.Timestamp("2024-03-31 00:00", tz="UTC")
    np.testing.assert_allclose(stream.seconds, (expected - expected[0]).total_seconds())


def test_accepted_values_are_in_si_units(tmp_path):
    frame = read(write(tmp_path)).frame
    assert (frame.dtypes == np.float64).all()
    first = frame.iloc[0]
    assert first["motor_current"] == 10.0
    assert first["winding_temperature"] == pytest.approx(293.15)
    assert first["discharge_pressure"] == pytest.approx(2e5)
    assert frame.iloc[1].tolist() == pytest.approx([11.0, 298.65, 2.5e5])
    assert frame.loc["2024-03-31 01:45Z"].tolist() == pytest.approx([0.0, 233.15, 16e5])  # inclusive bounds
    row12 = frame.loc["2024-03-31 02:00Z"]
    assert np.isnan(row12["motor_current"]) and np.isnan(row12["winding_temperature"])
    assert row12["discharge_pressure"] == pytest.approx(5e5)
    assert frame.loc["2024-03-31 01:20Z"].isna().all()  # timestamp accepted, every value missing


def test_quarantine_rows_gates_and_reasons(tmp_path):
    q = read(write(tmp_path)).quarantine
    assert list(q.columns) == ["row", "time_raw", "time", "channel", "raw_value", "gate", "reason"]
    assert q["row"].is_monotonic_increasing
    by_row = q.groupby("row")["gate"].apply(set).to_dict()
    assert by_row[3] == by_row[5] == by_row[13] == {"timestamp_unparseable"}
    assert by_row[6] == {"timestamp_duplicate"} and by_row[7] == {"timestamp_non_monotonic"}
    assert (q["row"] == 3).sum() == 3  # one entry per channel of a rejected row

    def entry(row, channel):
        (match,) = q[(q["row"] == row) & (q["channel"] == channel)].itertuples()
        return match

    err = entry(4, "winding_temperature")
    assert (err.gate, err.raw_value, err.time_raw) == ("unparseable", "ERR", "2024-03-31 03:15:00")
    assert "'ERR'" in err.reason and "not a number" in err.reason
    assert err.time == pd.Timestamp("2024-03-31 01:15", tz="UTC")
    gap = entry(3, "motor_current")
    assert "does not exist in Europe/Berlin" in gap.reason and pd.isna(gap.time)
    assert "not-a-time" in entry(5, "discharge_pressure").reason
    assert "empty" in entry(13, "motor_current").reason
    assert "repeats an accepted timestamp" in entry(6, "motor_current").reason
    late = entry(7, "motor_current").reason
    assert "earlier than the latest accepted timestamp 2024-03-31T01:15:00+00:00" in late
    hot = entry(10, "winding_temperature")
    assert hot.gate == "out_of_range" and "260 degC" in hot.reason and "[-40, 250]" in hot.reason
    assert entry(9, "discharge_pressure").gate == "non_finite"
    assert "float64 range" in entry(9, "discharge_pressure").reason
    assert entry(12, "motor_current").raw_value == " 1.2.3 "
    assert entry(14, "discharge_pressure").gate == "missing"


@pytest.mark.parametrize("chunksize", [1, 2, 7, 13, 14, 1000])
def test_chunked_reading_gives_identical_results(tmp_path, chunksize):
    path = write(tmp_path)
    whole, chunked = read(path), read(path, chunksize=chunksize)
    pd.testing.assert_frame_equal(whole.frame, chunked.frame)
    pd.testing.assert_frame_equal(whole.quarantine, chunked.quarantine)
    pd.testing.assert_frame_equal(whole.counts, chunked.counts)
    assert whole.content_hash == chunked.content_hash and whole.t0 == chunked.t0


def test_dst_fall_back_hour_is_read_in_order(tmp_path):
    # 2024-10-27: 02:00-03:00 local happens twice in Europe/Berlin (CEST, then CET).
    rows = [f"2024-10-27 {hm},{i},20,2" for i, hm in
            enumerate(["01:30:00", "02:00:00", "02:30:00", "02:00:00", "02:30:00", "03:00:00"])]
    for chunksize in (None, 1, 4):
        stream = read(write(tmp_path, rows), chunksize=chunksize)
        assert list(stream.frame.index.strftime("%d %H:%M")) == [
            "26 23:30", "27 00:00", "27 00:30", "27 01:00", "27 01:30", "27 02:00"]
        assert stream.counts.loc["TOTAL", "quarantined"] == 0


def test_utc_stamps_with_z_and_offsets_mix(tmp_path):
    rows = ["2024-06-01T12:00:00Z,1,20,2", "2024-06-01T12:30:00+00:00,1,20,2", "2024-06-01T15:00:00+02:00,1,20,2"]
    stream = read(write(tmp_path, rows))
    assert list(stream.seconds) == [0.0, 1800.0, 3600.0]


def test_naive_stamps_among_offset_stamps_and_bad_offsets_do_not_depend_on_chunking(tmp_path):
    # a tab inside a stamp and a cut offset ('+1') are rejected alone as among others; the naive stamp is
    # quarantined as the column's first stamp carries an offset
    rows = ["2024-01-01T01:00:00+01:00,1,20,2", "2024-01-01 01:00:00,2,20,2", "2024-01-01T01:00:00\t+01:00,2,20,2",
            "2024-01-01T02:00:00+1,3,20,2", "2024-01-01T02:00:00+01,3,20,2"]
    path = write(tmp_path, rows)
    for chunksize in (None, 1, 2):
        stream = read(path, chunksize=chunksize)
        assert list(stream.frame.index.strftime("%H:%M")) == ["00:00", "01:00"]
        by_row = stream.quarantine.drop_duplicates("row").set_index("row")["reason"]
        assert list(by_row.index) == [2, 3, 4]
        assert "no UTC offset" in by_row[2] and "U+0009" in by_row[3] and "'+1' is incomplete" in by_row[4]


def test_semicolon_file_with_decimal_comma_and_custom_time_format(tmp_path):
    channel_map = ChannelMap.from_dict({
        **MAP.to_dict(), "separator": "auto", "decimal": ",", "time_format": "%d.%m.%Y %H:%M:%S",
    })
    rows = ["31.03.2024 01:00:00;10,5;-12,25;1,5", "31.03.2024 03:00:00;11;1.5;2"]
    stream = read(write(tmp_path, rows, header=HEADER.replace(",", ";")), channel_map)
    assert stream.frame.index[0] == pd.Timestamp("2024-03-31 00:00", tz="UTC")
    assert stream.frame.iloc[0].tolist() == pytest.approx([10.5, 260.9, 1.5e5])
    (entry,) = stream.quarantine.itertuples()
    assert (entry.gate, entry.raw_value) == ("unparseable", "1.5")  # a '.' in a decimal-comma file


def test_tab_and_pipe_separators_are_sniffed(tmp_path):
    for sep in ("\t", "|"):
        rows = [r.replace(",", sep) for r in ROWS[:2]]
        stream = read(write(tmp_path, rows, header=HEADER.replace(",", sep)))
        assert stream.counts.loc["TOTAL", "accepted"] == 6


def test_majority_quarantined_channel_warns(tmp_path):
    rows = ["2024-01-01 00:00:00,1,ERR,1", "2024-01-01 00:00:01,1,ERR,1", "2024-01-01 00:00:02,1,20,1"]
    with pytest.warns(DataQualityWarning, match="winding_temperature.*67%"):
        read_csv(write(tmp_path, rows), MAP)


def test_blank_lines_are_rows_and_keep_row_numbers(tmp_path):
    rows = ["2024-01-01 00:00:00,1,20,1", "", "2024-01-01 00:00:02,1,20,1"]
    stream = read(write(tmp_path, rows))
    assert stream.rows_read == 3
    assert set(stream.quarantine["row"]) == {2}
    assert stream.frame.shape == (2, 3)


def test_content_hash_is_sha256_of_the_bytes(tmp_path):
    import hashlib

    path = write(tmp_path)
    assert read(path).content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert read(path).source == str(path)
