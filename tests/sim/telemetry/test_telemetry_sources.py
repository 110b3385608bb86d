"""Parquet files, DataFrames and long tables give the same stream as the CSV reader."""

import warnings

import numpy as np
import pandas as pd
import pytest

from sim.exceptions import ChannelMapError, ConfigurationError, DataQualityWarning, TelemetryFileError
from sim.telemetry import ChannelMap, read_csv, read_file, read_frame, read_parquet

MAP = ChannelMap.from_dict({
    "timezone": "Europe/Berlin",
    "channels": {
        "motor_current": {"column": "M1_Current", "unit": "A", "si_unit": "A", "range": [0, 200]},
        "winding_temperature": {"column": "M1_Winding_T", "unit": "degC", "si_unit": "K", "range": [-40, 250]},
        "discharge_pressure": {"column": "P1_Pressure", "unit": "bar", "si_unit": "Pa", "range": [0, 16]},
    },
})
LONG = ChannelMap.from_dict({**MAP.to_dict(), "layout": "long", "channel_column": "tag", "value_column": "val"})
HEADER = "timestamp,M1_Current,M1_Winding_T,P1_Pressure"
ROWS = [  # the defects of test_telemetry_gates in a shorter file
    "2024-03-31 01:00:00,10.0,20.0,2.0",
    "2024-03-31 02:30:00,1,1,1",            # does not exist in Berlin
    "2024-03-31 03:15:00,12,ERR,3.0",
    "2024-03-31 03:15:00,13,30,3",          # duplicate
    "2024-03-31T01:00:00Z,13,30,3",         # non-monotonic
    "2024-03-31 03:30:00,250,260,-1",       # out of range x3
    "2024-03-31 04:00:00,,inf,5",
]


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return fn(*args, **kwargs)


def assert_same(a, b):
    pd.testing.assert_frame_equal(a.frame, b.frame)
    pd.testing.assert_frame_equal(a.quarantine, b.quarantine)
    pd.testing.assert_frame_equal(a.counts, b.counts)
    pd.testing.assert_frame_equal(a.gaps, b.gaps)
    assert a.rows_read == b.rows_read and a.t0 == b.t0


@pytest.fixture
def csv_path(tmp_path):
    path = tmp_path / "plant.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def text_frame(csv_path):
    return pd.read_csv(csv_path, dtype=str, keep_default_na=False)


def test_dataframe_and_parquet_of_text_cells_equal_the_csv(csv_path, text_frame, tmp_path):
    reference = quiet(read_csv, csv_path, MAP)
    assert_same(reference, quiet(read_frame, text_frame, MAP))
    text_frame.to_parquet(tmp_path / "plant.parquet")
    for chunksize in (None, 1, 3):
        assert_same(reference, quiet(read_parquet, tmp_path / "plant.parquet", MAP, chunksize=chunksize))
    assert quiet(read_file, tmp_path / "plant.parquet", MAP).content_hash != reference.content_hash


def test_typed_parquet_columns_timestamps_and_floats(tmp_path):
    naive = pd.to_datetime(["2024-10-27 01:30", "2024-10-27 02:30", "2024-10-27 02:30", "2024-10-27 03:00"])
    frame = pd.DataFrame({"timestamp": naive, "M1_Current": [1.0, np.nan, 3.0, np.inf],
                          "M1_Winding_T": np.array([20, 21, 22, 23], dtype=np.int32),
                          "P1_Pressure": [1.0, 2.0, 3.0, 17.0]})
    frame.to_parquet(tmp_path / "typed.parquet")
    stream = quiet(read_parquet, tmp_path / "typed.parquet", MAP, chunksize=2)
    # the repeated 02:30 (DST fall-back) is read as summer, then winter time: no duplicate
    assert list(stream.frame.index.strftime("%d %H:%M")) == ["26 23:30", "27 00:30", "27 01:30", "27 02:00"]
    assert stream.frame["winding_temperature"].tolist() == pytest.approx([293.15, 294.15, 295.15, 296.15])
    gates = stream.quarantine.set_index(["row", "channel"])["gate"].to_dict()
    assert gates == {(2, "motor_current"): "missing", (4, "motor_current"): "non_finite",
                     (4, "discharge_pressure"): "out_of_range"}
    assert stream.quarantine["raw_value"].tolist() == ["nan", "inf", "17.0"]


def test_aware_and_unix_time_columns(tmp_path):
    aware = pd.date_range("2024-06-01 12:00", periods=3, freq="10s", tz="America/New_York")
    frame = pd.DataFrame({"M1_Current": [1.0, 2, 3], "M1_Winding_T": [20.0, 20, 20], "P1_Pressure": [1.0, 1, 1]},
                         index=aware)
    stream = quiet(read_frame, frame, MAP)  # the DatetimeIndex is the time
    assert stream.t0 == pd.Timestamp("2024-06-01 16:00", tz="UTC")
    unix = frame.reset_index(drop=True).assign(timestamp=aware.as_unit("ns").asi8 / 1e9)
    assert_same(stream, quiet(read_frame, unix, MAP))


def test_long_table_with_unknown_tags_and_per_channel_time_order():
    frame = pd.DataFrame({
        "timestamp": ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", "2024-01-01T00:00:10Z",
                      "2024-01-01T00:00:05Z", "2024-01-01T00:00:05Z", "2024-01-01T00:00:20Z"],
        "tag": ["M1_Current", "P1_Pressure", "M1_Current", "P1_Pressure", "M1_Current", "Unknown.Tag"],
        "val": ["1", "2,5", "2", "3", "4", "9"],
    })
    stream = quiet(read_frame, frame, LONG)
    assert stream.layout == "long" and stream.rows_read == 6
    counts = stream.counts
    assert counts.loc["motor_current", ["read", "accepted", "timestamp_non_monotonic"]].tolist() == [3, 2, 1]
    assert counts.loc["discharge_pressure", ["read", "accepted", "unparseable"]].tolist() == [2, 1, 1]
    assert counts.loc["winding_temperature", "read"] == 0
    assert counts.loc["unmapped", ["read", "schema"]].tolist() == [1, 1]
    stream.check_accounting()
    # P1 at 5 s is in order for its own channel although M1 was already at 10 s
    assert stream.frame["discharge_pressure"].dropna().tolist() == [3e5]
    (entry,) = stream.quarantine[stream.quarantine["gate"] == "schema"].itertuples()
    assert entry.channel == "unmapped" and "'Unknown.Tag'" in entry.reason and entry.raw_value == "9"


def test_long_csv_equals_long_dataframe(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("timestamp;tag;val\n2024-01-01 00:00:00;M1_Current;1,5\n2024-01-01 00:00:00;M1_Winding_T;20\n"
                    "2024-01-01 00:00:01;M1_Current;x\n", encoding="utf-8")
    comma = ChannelMap.from_dict({**LONG.to_dict(), "decimal": ","})
    stream = quiet(read_csv, path, comma)
    assert stream.frame["motor_current"].iloc[0] == 1.5
    assert_same(stream, quiet(read_frame, pd.read_csv(path, sep=";", dtype=str), comma))
    assert stream.counts.loc["motor_current", "unparseable"] == 1


def test_lenient_schema_quarantines_unknown_and_missing_columns(tmp_path):
    path = tmp_path / "renamed.csv"
    path.write_text("timestamp,M1_Current,M1_Winding_Temp,P1_Pressure\n2024-01-01 00:00:00,1,20,2\n"
                    "2024-01-01 00:00:01,2,21,2\n", encoding="utf-8")
    with pytest.raises(ChannelMapError, match="schema: lenient"):
        read_csv(path, MAP)
    lenient = ChannelMap.from_dict({**MAP.to_dict(), "schema": "lenient"})
    stream = quiet(read_csv, path, lenient)
    stream.check_accounting()
    assert stream.counts.loc["winding_temperature", ["read", "schema", "accepted"]].tolist() == [2, 2, 0]
    assert stream.counts.loc["unmapped", ["read", "schema"]].tolist() == [2, 2]
    unknown = stream.quarantine[stream.quarantine["channel"] == "unmapped"]
    assert unknown["raw_value"].tolist() == ["20", "21"] and "'M1_Winding_Temp'" in unknown["reason"].iloc[0]
    missing = stream.quarantine[stream.quarantine["channel"] == "winding_temperature"]
    assert "missing from the table" in missing["reason"].iloc[0]


def test_long_layout_needs_its_columns(tmp_path):
    frame = pd.DataFrame({"timestamp": ["2024-01-01"], "channel": ["M1_Current"], "value": [1.0]})
    with pytest.raises(ChannelMapError, match=r"lacks column\(s\) \['tag', 'val'\]"):
        read_frame(frame, LONG)
    with pytest.raises(ConfigurationError, match="three different names"):
        ChannelMap.from_dict({**LONG.to_dict(), "value_column": "tag"})


def test_bad_parquet_and_bad_arguments(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(TelemetryFileError, match="broken.parquet' is not a readable Parquet file"):
        read_parquet(path, MAP)
    with pytest.raises(TelemetryFileError, match="does not exist"):
        read_file(tmp_path / "nowhere.parquet", MAP)
    with pytest.raises(ConfigurationError, match="DataFrame"):
        read_frame({"timestamp": []}, MAP)
    with pytest.raises(ConfigurationError, match="chunksize"):
        read_frame(pd.DataFrame({"timestamp": ["x"]}), MAP, chunksize=0)


@pytest.mark.parametrize("null", [False, True])
def test_parquet_time_column_of_unix_seconds(tmp_path, null):
    # found by the fuzz suite: a float time column reached the gates as nanoseconds (no nulls) or raised
    # AttributeError (with nulls)
    seconds = [1.7e9, 1.7e9 + 1, None if null else 1.7e9 + 2]
    frame = pd.DataFrame({"timestamp": seconds, "M1_Current": [1.0, 2.0, 3.0], "M1_Winding_T": [20.0] * 3,
                          "P1_Pressure": [1.0] * 3})
    path = tmp_path / "unix.parquet"
    frame.to_parquet(path)
    stream = quiet(read_parquet, path, MAP)
    expected = pd.to_datetime(seconds[:2], unit="s", utc=True)
    assert list(stream.frame.index[:2]) == list(expected)
    assert len(stream.frame) == (2 if null else 3)
    pd.testing.assert_frame_equal(stream.frame, quiet(read_frame, frame, MAP).frame)
