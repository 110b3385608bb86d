"""One parsing rule for time cells on every path (issue 13 item 6): words, control characters, cut offsets,
mixed zone forms, a cut last line and encoding errors, whatever the chunk size."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sim.exceptions import DataQualityWarning, TelemetryFileError
from sim.telemetry import ChannelMap, gates, read_csv, read_frame, read_parquet

MAP = ChannelMap.from_dict({
    "timezone": "Europe/Berlin",
    "channels": {
        "motor_current": {"column": "I", "unit": "A", "si_unit": "A", "range": [0, 200]},
        "winding_temperature": {"column": "T", "unit": "degC", "si_unit": "K"},
    },
})
LONG = ChannelMap.from_dict({**MAP.to_dict(), "layout": "long", "channel_column": "tag", "value_column": "val"})
NOW = pd.Timestamp("2030-01-01", tz="UTC")
WORDS = ["now", "today", "yesterday", "tomorrow", "Now", " TODAY ", "noon", "soon"]
# cells that once were accepted or rejected depending on their neighbours in the chunk
NASTY = ["2024-01-01T00:00:00\x00", "2024-01-01 00:00:00\x00", "2024-01-01T00:00:00-04:00\x00",
         "2024-01-01T00:00:00-04:0", "2024-01-01T00:00:00+01:3", "2024-01-01T00:00:00-4",
         "2024-01-01T00:00:00\t+01:00", "\x1f2024-01-01 00:00:00", "2024-01-01\r00:00:00"]
GOOD = ["2024-01-01 00:00:00", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00+01:00", "2024-01-01T00:00:00-0400",
        "20240101T000000+01", " 2024-01-01 00:00:00\t", "2024-01-01", "2024-01-01T00:00:00.25Z"]


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return fn(*args, **kwargs)


def write(tmp_path, lines, name="plant.csv", end="\n", header="timestamp,I,T"):
    path = tmp_path / name
    path.write_bytes(("\n".join([header, *lines]) + end).encode("utf-8"))
    return path


def parse(cells, time_format=None):
    return gates.parse_times(pd.Series(cells, dtype=object), timezone="Europe/Berlin", time_format=time_format)


@pytest.mark.parametrize("word", WORDS)
def test_words_are_not_the_wall_clock(tmp_path, word):
    path = write(tmp_path, ["2024-01-01 00:00:00,1,20", f"{word},2,21", "2024-01-01 00:00:02,3,22"])
    first, second = quiet(read_csv, path, MAP, now=NOW), quiet(read_csv, path, MAP, now=NOW)
    assert first.counts.loc["TOTAL", "accepted"] == second.counts.loc["TOTAL", "accepted"] == 4
    reasons = first.quarantine.loc[first.quarantine["row"] == 2, ["gate", "reason"]]
    assert set(reasons["gate"]) == {"timestamp_unparseable"}
    assert word.strip() in reasons["reason"].iloc[0]
    pd.testing.assert_frame_equal(first.frame, second.frame)


@pytest.mark.parametrize("time_format", ["%d.%m.%Y %H:%M:%S", "%d %b %Y %H:%M", "%Y-%m-%dT%H:%M:%S%z"])
def test_words_are_refused_with_a_time_format_too(time_format):
    parsed = parse(["now", "today", "Tomorrow", "01.02.2024 now"], time_format)
    assert (parsed.first == gates.NAT).all()
    assert "relative words are refused" in parsed.note[0]


def test_month_and_weekday_names_and_format_letters_are_allowed():
    parsed = parse(["Mon 05 Feb 2024 10:00 PM", "Tue 06 feb 2024 10:00 am"], "%a %d %b %Y %I:%M %p")
    assert (parsed.first != gates.NAT).all()
    parsed = parse(["2024-02-05T10:00:00+0100", "2024-02-05T10:00:00Z"], "%Y-%m-%dT%H:%M:%S%z")
    assert (parsed.first != gates.NAT).all()


@pytest.mark.parametrize("cell", NASTY)
def test_control_characters_and_cut_offsets_are_rejected_whatever_the_neighbours(cell):
    neighbours = [[], ["2024-01-01 00:00:00"], ["2024-01-01T00:00:00Z"], ["x"],
                  ["2024-01-01 00:00:00", "2024-01-01T00:00:00\t+01:00"], ["2024-01-01 00:00:00", "now"]]
    for others in neighbours:
        parsed = parse([cell, *others])
        assert parsed.first[0] == gates.NAT, (cell, others)
        assert parsed.note[0] == parse([cell]).note[0]
    note = parse([cell]).note[0]
    assert "control character" in note or "offset" in note


@pytest.mark.parametrize("cell", GOOD)
def test_well_formed_stamps_parse_alone_as_among_others(cell):
    alone = parse([cell]).first[0]
    assert alone != gates.NAT
    for others in (["now", "2024-01-01T00:00:00\x00"], ["2024-06-01 00:00:00", "2024-06-01T00:00:00Z"]):
        assert parse([cell, *others]).first[0] == alone


def test_cut_offset_reason_names_the_offset():
    (note,) = parse(["2024-01-01T00:00:00-04:0"]).note
    assert "'-04:0'" in note and "incomplete" in note


def test_naive_stamps_in_a_column_of_offset_stamps_are_quarantined(tmp_path):
    rows = ["2024-01-01T00:00:00+01:00,1,20", "2024-01-01 00:00:01,2,21", "2024-01-01T00:00:02Z,3,22",
            "2024-01-01 00:00:03,4,23"]
    path = write(tmp_path, rows)
    whole = quiet(read_csv, path, MAP)
    assert whole.counts.loc["TOTAL", "accepted"] == 4
    bad = whole.quarantine
    assert sorted(set(bad["row"])) == [2, 4] and set(bad["gate"]) == {"timestamp_unparseable"}
    assert "'2024-01-01T00:00:00+01:00'" in bad["reason"].iloc[0] and "no UTC offset" in bad["reason"].iloc[0]
    for chunksize in (1, 2, 3):
        chunked = quiet(read_csv, path, MAP, chunksize=chunksize)
        pd.testing.assert_frame_equal(whole.frame, chunked.frame)
        pd.testing.assert_frame_equal(whole.quarantine, chunked.quarantine)


def test_offset_stamps_in_a_column_of_naive_stamps_are_quarantined(tmp_path):
    rows = ["garbage,0,0", "2024-01-01 00:00:00,1,20", "2024-01-01T00:00:01Z,2,21", "2024-01-01 00:00:02,3,22"]
    stream = quiet(read_csv, write(tmp_path, rows), MAP)
    offset_rows = stream.quarantine.loc[stream.quarantine["row"] == 3, "reason"]
    assert len(offset_rows) == 2 and "carries a UTC offset" in offset_rows.iloc[0]
    assert "Europe/Berlin" in offset_rows.iloc[0]
    assert stream.counts.loc["TOTAL", "accepted"] == 4


def test_truncated_last_line_is_quarantined(tmp_path):
    path = write(tmp_path, ["2024-01-01 00:00:00,1,20", "2024-01-01 00:00:01,4"], end="")
    for chunksize in (None, 1):
        stream = quiet(read_csv, path, MAP, chunksize=chunksize)
        assert stream.rows_read == 2 and stream.counts.loc["TOTAL", "accepted"] == 2
        cut = stream.quarantine
        assert list(cut["row"]) == [2, 2] and set(cut["gate"]) == {"schema"}
        assert "last line" in cut["reason"].iloc[0] and "2 of the header's 3 fields" in cut["reason"].iloc[0]
        assert list(cut["raw_value"]) == ["4", ""]


def test_complete_last_line_without_newline_and_short_inner_lines_are_rows(tmp_path):
    stream = quiet(read_csv, write(tmp_path, ["2024-01-01 00:00:00,1", "2024-01-01 00:00:01,4,5"], end=""), MAP)
    assert stream.counts.loc["TOTAL", "accepted"] == 3
    assert list(stream.quarantine["gate"]) == ["missing"]


def test_truncated_last_line_of_a_long_table_is_quarantined(tmp_path):
    path = write(tmp_path, ["2024-01-01 00:00:00,I,1", "2024-01-01 00:00:01,I"], end="", header="timestamp,tag,val")
    stream = quiet(read_csv, path, LONG)
    (entry,) = stream.quarantine.itertuples()
    assert (entry.row, entry.gate) == (2, "schema") and "last line" in entry.reason


@pytest.mark.parametrize(("data", "encoding"), [
    ("timestamp,I,T\n2024-01-01 00:00:00,1,2\n".encode("utf-8"), "utf-16"),
    ("timestamp,I,T\n2024-01-01 00:00:00,1,2\n".encode("utf-8"), "utf-32"),
    ("timestamp,I,T\n2024-01-01 00:00:00,1,2\n".encode("utf-16-le"), "utf-16"),
])
def test_encoding_mismatch_is_a_file_error_with_the_byte_offset(tmp_path, data, encoding):
    path = tmp_path / "plant.csv"
    path.write_bytes(data)
    with pytest.raises(TelemetryFileError) as info:
        read_csv(path, ChannelMap.from_dict({**MAP.to_dict(), "encoding": encoding}))
    message = str(info.value)
    assert "plant.csv" in message and "byte 0" in message and f"encoding {encoding!r}" in message


def test_utf16_file_read_as_utf8_names_the_encoding_key(tmp_path):
    path = tmp_path / "plant.csv"
    path.write_bytes("timestamp,I,T\n2024-01-01 00:00:00,1,2\n".encode("utf-16"))
    with pytest.raises(TelemetryFileError, match=r"plant.csv.*byte 3.*encoding 'utf-8'.*fix: set encoding"):
        read_csv(path, MAP)


def _sources(tmp_path, cells):
    """The same time cells as a CSV, a Parquet file of text, a DataFrame and a long table."""
    rows = [(c, str(k), "20") for k, c in enumerate(cells)]
    frame = pd.DataFrame(rows, columns=["timestamp", "I", "T"])
    csv = tmp_path / "wide.csv"
    frame.to_csv(csv, index=False)
    parquet = tmp_path / "wide.parquet"
    frame.to_parquet(parquet)
    long = pd.DataFrame([(c, "I", v) for c, v, _ in rows], columns=["timestamp", "tag", "val"])
    return {"csv": lambda **k: read_csv(csv, MAP, now=NOW, **k),
            "parquet": lambda **k: read_parquet(parquet, MAP, now=NOW, **k),
            "frame": lambda **k: read_frame(frame, MAP, now=NOW, **k),
            "long": lambda **k: read_frame(long, LONG, now=NOW, **k)}


def test_one_rule_on_every_path(tmp_path):
    cells = ["2024-01-01 00:00:00", "now", "2024-01-01 00:00:01\x00", "2024-01-01 00:00:02", "today",
             "2024-01-01T00:00:03Z", "2024-01-01 00:00:04"]
    for name, read in _sources(tmp_path, [c.replace("\x00", "\x07") for c in cells]).items():
        stream = quiet(read)
        times = stream.quarantine.drop_duplicates("row")
        assert list(times["row"]) == [2, 3, 5, 6], name
        assert set(times["gate"]) == {"timestamp_unparseable"}, name
        assert stream.frame.index.strftime("%S").tolist() == ["00", "02", "04"], name


STAMP = st.one_of(st.sampled_from(NASTY + GOOD + WORDS + ["", "2024-01-01 02:00:00", "2024-01-01T02:00:00+02:00"]),
                  st.integers(0, 59).map(lambda s: f"2024-01-01 00:00:{s:02d}"),
                  st.integers(0, 59).map(lambda s: f"2024-01-01T00:00:{s:02d}+01:00"))


#: Every listed cell once, among stamps of both zone forms: read by every run whatever Hypothesis draws.
EVERY_CELL = [c for pair in zip(NASTY + GOOD + WORDS, ["2024-01-01 00:00:30", "2024-01-01T00:00:31+01:00"] * 13)
              for c in pair] + ["", "2024-01-01 02:00:00", "2024-01-01T02:00:00+02:00"]


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(cells=st.lists(STAMP, min_size=1, max_size=12), chunksize=st.integers(1, 5))
@example(cells=EVERY_CELL, chunksize=1)
@example(cells=EVERY_CELL[::-1], chunksize=4)
def test_chunk_size_never_changes_what_a_time_cell_becomes(tmp_path_factory, cells, chunksize):
    tmp_path = tmp_path_factory.mktemp("stamps")
    for name, read in _sources(tmp_path, cells).items():
        whole, chunked = quiet(read), quiet(read, chunksize=chunksize)
        pd.testing.assert_frame_equal(whole.frame, chunked.frame, obj=name)
        pd.testing.assert_frame_equal(whole.quarantine, chunked.quarantine, obj=name)
    one_by_one = [parse([c]) for c in cells]
    together = parse(cells)
    np.testing.assert_array_equal(together.first, [p.first[0] for p in one_by_one])
    assert list(together.note) == [p.note[0] for p in one_by_one]
