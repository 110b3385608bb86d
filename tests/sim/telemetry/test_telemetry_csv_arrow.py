"""pyarrow's CSV reader (``engine="auto"``) against pandas' (``engine="pandas"``): the same stream, every time.

Issue 17: ``read_csv`` parses blocks of whole lines with pyarrow and the text with Arrow compute where the file
allows it, and falls back to pandas' C parser (a block, or the rest of the file) where it does not.  These tests
pin that the two readers give the same frame, quarantine, counts and gaps, and the same errors, on files that
exercise each fallback; the fuzz suite (``test_telemetry_fuzz.py``) compares them on random files.  They also pin
the premises of the Arrow fast paths: Arrow's float cast accepts no finite cell outside the plain number grammar,
and Arrow's and pandas' readings of the common ISO 8601 stamps agree.
"""

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.exceptions import ConfigurationError, DataQualityWarning, TelemetryError
from sim.telemetry import ChannelMap, read_csv
from sim.telemetry.gates import parse
from sim.telemetry.gates._cells import ArrowText
from sim.telemetry.gates.tables import ArrowChunk
from sim.telemetry.sources.csv_source import csv_chunks

NOW = pd.Timestamp("2025-01-01", tz="UTC")
RULES = {"period": 10, "lateness": 25, "stuck": {"samples": 3}, "spike": {"window": 5, "threshold": 3}}
WIDE = {"timezone": "Europe/Berlin", "channels": {
    "motor_current": {"column": "I", "unit": "A", "si_unit": "A", "range": [0, 200], **RULES},
    "winding_temperature": {"column": "T", "unit": "degF", "si_unit": "K", "clock_offset": 3, **RULES},
    "pump_flow": {"column": "Q", "unit": "gpm", "si_unit": "m**3/s"},
}}


def streams(path: Path, channel_map: ChannelMap, chunksize=None):
    """The stream of *path* by both engines (or the errors they raise, as text)."""
    out = []
    for engine in ("auto", "pandas"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)
            try:
                out.append(read_csv(path, channel_map, now=NOW, chunksize=chunksize, engine=engine))
            except TelemetryError as err:
                out.append(f"{type(err).__name__}: {err}")
    return out


def assert_same(a, b) -> None:
    if isinstance(a, str) or isinstance(b, str):
        assert a == b
        return
    for attr in ("frame", "quarantine", "counts", "gaps"):
        pd.testing.assert_frame_equal(getattr(a, attr), getattr(b, attr), obj=attr)
    assert (a.rows_read, a.t0, a.content_hash) == (b.rows_read, b.t0, b.content_hash)


def kinds(path: Path, channel_map: ChannelMap, chunksize=None) -> set[str]:
    """Which reader gave the chunks of the auto engine: 'arrow' and/or 'pandas'."""
    _, _, chunks = csv_chunks(path, channel_map, chunksize=chunksize)
    return {"arrow" if isinstance(c, ArrowChunk) else "pandas" for c in chunks}


def good_lines(n: int, start: int = 0) -> list[str]:
    t0 = pd.Timestamp("2024-10-26 22:00:00", tz="UTC")
    return [f"{(t0 + pd.Timedelta(seconds=10 * (start + i))).isoformat()},{20 + i % 7}.5,{70 + (i % 5) * 0.25},{i % 3}e1"
            for i in range(n)]


CASES = {
    "clean": ("\n".join(["timestamp,I,T,Q", *good_lines(50)]) + "\n", {"arrow"}),
    "crlf_bom_no_final_break": ("\ufefftimestamp,I,T,Q\r\n" + "\r\n".join(good_lines(30)), {"arrow"}),
    "bad_cells": ("\n".join(["timestamp,I,T,Q", *good_lines(10), "2024-10-27T00:00:00Z,ERR, 7 ,nan",
                             "2024-10-27T00:00:10Z,1e999,-Infinity,", "garbage,1,2,3", "2024-10-27 02:30:00,5,6,7",
                             *good_lines(10, 20)]) + "\n", {"arrow"}),
    "blank_and_short_lines": ("\n".join(["timestamp,I,T,Q", *good_lines(10), "", "2024-10-26T23:00:00Z,5",
                                         *good_lines(10, 400)]) + "\n", {"pandas"}),
    "quotes": ("\n".join(["timestamp,I,T,Q", *good_lines(10), '2024-10-27T00:00:00Z,"1,5",2,3', *good_lines(5, 90)])
               + "\n", {"pandas"}),
    "cut_last_line": ("\n".join(["timestamp,I,T,Q", *good_lines(20), "2024-10-27T01:00:00Z,5"]), {"pandas"}),
    "line_ends": ("timestamp,I,T,Q\r\n" + "\r".join(good_lines(3)) + "\n" + "\r\r\n".join(good_lines(3, 9)) + "\n\n\n",
                  {"arrow"}),
    "cr_line_ends_only": ("timestamp,I,T,Q\r" + "\r".join(good_lines(5)) + "\r", {"pandas"}),
    "odd_characters": ("\n".join(["timestamp,I,T,Q", *good_lines(5), "2024-10-27T00:00:00Z,\t5,\\,\x0b2",
                                   "#c,1,2,3", "2024-10-27T00:00:10Z,\u00e4,1 , 2", *good_lines(3, 9)]) + "\r",
                       {"arrow"}),
    "nul_character": ("\n".join(["timestamp,I,T,Q", *good_lines(5), "2024-10-27T00:00:00Z\x00,1,2,3"]) + "\n",
                      {"pandas"}),
    "naive_stamps": ("\n".join(["timestamp,I,T,Q", *(f"2024-10-27 02:{m:02d}:00,1,2,3" for m in range(60)),
                                "2024-10-27T03:00:00Z,1,2,3"]) + "\n", {"arrow"}),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("chunksize", [None, 1, 7])
def test_engines_give_the_same_stream(tmp_path, name, chunksize):
    text, readers = CASES[name]
    path = tmp_path / f"{name}.csv"
    path.write_bytes(text.encode("utf-8"))
    cmap = ChannelMap.from_dict(WIDE)
    auto, by_pandas = streams(path, cmap, chunksize)
    assert_same(auto, by_pandas)
    if readers == {"arrow"}:
        assert kinds(path, cmap, chunksize) == {"arrow"}
    else:
        assert "pandas" in kinds(path, cmap, chunksize)


@pytest.mark.slow
def test_blocks_of_a_large_file(tmp_path):
    """A 2.6 MB file in blocks of 1 MiB: pyarrow reads the clean first block, pandas the one with a blank line
    and, from the first quote on, the rest; bad cells, late and duplicate stamps across the block ends."""
    lines = good_lines(65_000)
    lines[100] = "2024-10-27T00:00:00Z,ERR,,inf"
    for k in range(25_800, 26_200, 50):  # duplicates and late stamps around the first block's end
        lines[k], lines[k + 7] = lines[k - 1], lines[k - 2]
    lines[30_000] = ""
    lines[55_000] = '2024-10-27T00:00:00Z,"1,5",2,3'
    path = tmp_path / "large.csv"
    path.write_text("timestamp,I,T,Q\n" + "\n".join(lines) + "\n", encoding="utf-8")
    cmap = ChannelMap.from_dict(WIDE)
    assert path.stat().st_size > 2.4 * (1 << 20)
    assert kinds(path, cmap, chunksize=5000) == {"arrow", "pandas"}
    auto, by_pandas = streams(path, cmap, chunksize=5000)
    assert_same(auto, by_pandas)
    assert auto.rows_read == 65_000 and auto.counts.loc["TOTAL", "timestamp_duplicate"] >= 8


def test_long_layout(tmp_path):
    long_map = ChannelMap.from_dict({**WIDE, "layout": "long", "channel_column": "tag", "value_column": "val"})
    rows = [f"2024-10-27T00:00:{s:02d}Z,{tag},{value}" for s in range(40) for tag, value in
            (("I", s % 9), ("T", "70.5"), ("X", "1"), ("Q", "ERR" if s == 3 else s))]
    path = tmp_path / "long.csv"
    path.write_text("timestamp,tag,val\n" + "\n".join(rows) + "\n", encoding="utf-8")
    assert kinds(path, long_map) == {"arrow"}
    auto, by_pandas = streams(path, long_map, chunksize=13)
    assert_same(auto, by_pandas)
    assert len(auto.quarantine) >= 41  # 40 unmapped X, one ERR


def test_bytes_that_are_not_utf8(tmp_path):
    path = tmp_path / "bad_bytes.csv"
    lines = ["timestamp,I,T,Q", *good_lines(5)]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"2024-10-27T00:00:00Z,5\xff,\xc3,7\n"
                     + ("\n".join(good_lines(3, 9)) + "\n").encode())
    cmap = ChannelMap.from_dict(WIDE)
    assert kinds(path, cmap) == {"pandas"}  # (pyarrow checks UTF-8: pandas reads the block, bad bytes as U+FFFD)
    auto, by_pandas = streams(path, cmap)
    assert_same(auto, by_pandas)
    assert set(auto.quarantine["raw_value"]) >= {"5\ufffd", "\ufffd"}


def test_malformed_line_raises_the_same_error(tmp_path):
    path = tmp_path / "long_line.csv"
    path.write_text("\n".join(["timestamp,I,T,Q", *good_lines(30), "2024-10-27T00:00:00Z,1,2,3,4", *good_lines(3, 50)])
                    + "\n", encoding="utf-8")
    auto, by_pandas = streams(path, ChannelMap.from_dict(WIDE))
    assert isinstance(auto, str) and auto == by_pandas
    assert "line 32" in auto  # (counted from the file's start, though pyarrow read the lines before it)


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "utf-16"])
def test_other_encodings(tmp_path, encoding):
    path = tmp_path / "enc.csv"
    lines = ["timestamp,I,T,Q", *good_lines(20), "2024-10-27T00:00:00Z,5°,7,8", "2024-10-27T00:00:10Z,Ä,7,8"]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding) + (b"2024-10-27T00:00:20Z,\x81,1,2\n"
                                                                    if encoding == "cp1252" else b""))
    cmap = ChannelMap.from_dict({**WIDE, "encoding": encoding})
    auto, by_pandas = streams(path, cmap)
    assert_same(auto, by_pandas)
    assert not isinstance(auto, str) and auto.rows_read == 22 + (encoding == "cp1252")
    assert kinds(path, cmap) == ({"pandas"} if encoding == "utf-16" else {"arrow"})


def test_engine_is_checked(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("timestamp,I,T,Q\n" + "\n".join(good_lines(2)) + "\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="engine 'arrow' is not one of"):
        read_csv(path, ChannelMap.from_dict(WIDE), engine="arrow")


PLAIN = re.compile(parse._PLAIN_NUMBER)


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from("0123456789+-.eEinfatyINFATYx_, \t"), max_size=8) | st.floats().map(repr))
def test_arrow_float_cast_accepts_only_the_plain_grammar_and_words(cell):
    """The premise of value_gates_arrow: a cell Arrow casts to a finite float is in the plain number grammar."""
    try:
        value = pc.cast(pa.array([cell]), pa.float64())[0].as_py()
    except pa.ArrowInvalid:
        return
    if np.isfinite(value):
        assert PLAIN.fullmatch(cell), cell
        assert value == float(cell)


@settings(max_examples=200, deadline=None)
@given(st.integers(pd.Timestamp("1700-01-01").value // 10**9, pd.Timestamp("2199-12-31").value // 10**9),
       st.integers(0, 10**9 - 1), st.integers(0, 9), st.sampled_from(["Z", "+00:00", "-05:30", "+14:00", "+01:00"]),
       st.sampled_from(["T", " "]))
def test_fast_stamps_match_pandas(seconds, nanos, digits, offset, sep):
    """The premise of parse_times_arrow: Arrow's cast reads the common ISO stamps as pandas does."""
    stamp = pd.Timestamp(seconds, unit="s").strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    if digits:
        stamp += "." + f"{nanos:09d}"[:digits]
    stamp += offset
    assert re.fullmatch(parse._FAST_STAMP.strip("^$"), stamp)
    cells = ArrowText(pa.array([stamp, stamp]))
    fast = parse.parse_times_arrow(cells, timezone="UTC", time_format=None, zone=parse.ZoneForm())
    careful = parse.parse_times(pd.Series([stamp, stamp]), timezone="UTC", time_format=None, zone=parse.ZoneForm())
    np.testing.assert_array_equal(fast.first, careful.first)
    assert fast.first[0] != parse.NAT


def test_value_gates_arrow_matches_value_gates():
    cells = ["1", " 2 ", "", "nan", "NaN", "+nan", "inf", "-Infinity", "1e999", "ERR", "0x1F", "+.5", "5.", "1,5",
             "-0", "1e-400", "12345678901234567890", None, "n/a", "1.2.3"]
    for valid_range in (None, (0.0, 10.0)):
        fast = parse.value_gates_arrow(ArrowText(pa.array(cells, pa.string())), decimal=".", valid_range=valid_range)
        careful = parse.value_gates(pd.Series(cells, dtype=object), decimal=".", valid_range=valid_range)
        np.testing.assert_array_equal(fast[0], careful[0])
        np.testing.assert_array_equal(fast[1], careful[1])
        ok = ArrowText(pa.array(["1.5", "", "7"]))  # the fast cast with an empty cell
        np.testing.assert_array_equal(parse.value_gates_arrow(ok, decimal=".", valid_range=valid_range)[1],
                                      [0, parse.MISSING, 0])
