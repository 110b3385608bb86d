"""Value columns read as numbers by pyarrow's CSV reader (:mod:`sim.telemetry.sources.csv_typed`): the same stream.

Issue 17, CSV throughput: ``read_csv`` lets pyarrow's reader parse the mapped value columns as float64 and cuts
a quarantined cell's text from the block's bytes.  These tests pin the premise (every cell the typed read
accepts as a finite number is a plain number of the gates' grammar with the same value), the line index the
raw text comes from, and that the stream - frame, quarantine with its raw texts and reasons, counts, gaps - is
the one pandas' reader gives, on files that exercise each way back to the text path (a refused cell, ``nan``
and ``inf`` cells, carriage returns alone, blank lines, many refusals).
"""

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sim.exceptions import DataQualityWarning
from sim.telemetry import ChannelMap, read_csv
from sim.telemetry.gates import parse
from sim.telemetry.gates.tables import ArrowChunk
from sim.telemetry.sources import csv_source
from sim.telemetry.sources.csv_source import csv_chunks
from sim.telemetry.sources.csv_typed import MAX_REFUSALS, BlockLines, CsvChunk, CsvNumbers, line_starts

NOW = pd.Timestamp("2025-01-01", tz="UTC")
RULES = {"period": 10, "lateness": 25, "stuck": {"samples": 3}, "spike": {"window": 5, "threshold": 3}}
WIDE = {"channels": {
    "motor_current": {"column": "I", "unit": "A", "si_unit": "A", "range": [0, 200], **RULES},
    "winding_temperature": {"column": "T", "unit": "degF", "si_unit": "K", "clock_offset": 3, **RULES},
    "pump_flow": {"column": "Q", "unit": "gpm", "si_unit": "m**3/s", "range": [-50, 50]},
}}
HEADER = "timestamp,I,T,Q,note"  # (note: not mapped, quarantined as text by the lenient schema)


def channel_map(**extra) -> ChannelMap:
    return ChannelMap.from_dict({**WIDE, "schema": "lenient", **extra})


def lines_of(n: int, start: int = 0, seed: int = 0) -> list[str]:
    """Clean rows every 10 s with a few values out of range (in several spellings) and a duplicate stamp."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2024-10-26 22:00:00", tz="UTC")
    out = []
    for i in range(start, start + n):
        current = ["3000", "+250.50", "2.5e2", "0250.0", " 300\t"][i % 5] if i % 97 == 5 else f"{20 + rng.random():.4f}"
        stamp = (t0 + pd.Timedelta(seconds=10 * (i - (i % 113 == 7)))).isoformat()
        flow = "" if i % 53 == 11 or 400 <= i < 480 else f"{(i % 40) - 20}e-1"  # (empty: missing)
        out.append(f"{stamp},{current},{70 + (i % 5) * 0.25},{flow},n{i % 3}")
    return out


def streams(path, cmap, chunksize=None):
    """The streams of ``engine="auto"`` and ``"pandas"``, after checking that ``"arrow_text"`` gives auto's."""
    out = []
    for engine in ("auto", "arrow_text", "pandas"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)
            out.append(read_csv(path, cmap, now=NOW, chunksize=chunksize, engine=engine))
    assert_same(out[0], out[1])
    return out[0], out[2]


def assert_same(a, b) -> None:
    for attr in ("frame", "quarantine", "counts", "gaps"):
        pd.testing.assert_frame_equal(getattr(a, attr), getattr(b, attr), obj=attr)
    assert (a.rows_read, a.t0, a.content_hash) == (b.rows_read, b.t0, b.content_hash)


def typed_columns(path, cmap, chunksize=None) -> list[set[str]]:
    """For each chunk of the auto engine: the columns read as numbers (None for a pandas chunk)."""
    _, _, chunks = csv_chunks(path, cmap, chunksize=chunksize)
    out = []
    for chunk in chunks:
        if not isinstance(chunk, ArrowChunk):
            out.append(None)
            continue
        names = chunk.batch.schema.names
        out.append({c for c in names if isinstance(chunk[c], CsvNumbers)} if isinstance(chunk, CsvChunk) else set())
    return out


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 4 KiB (about 80 lines) instead of at least 1 MiB, so that a small file has many."""
    for name in ("_MIN_BLOCK", "_MAX_BLOCK", "CHUNK_BYTES"):
        monkeypatch.setattr(csv_source, name, 1 << 12)


# -- the line index ------------------------------------------------------------------------------------------
def naive_line_starts(data: bytes) -> list[int] | None:
    """Oracle of :func:`line_starts`: line offsets, or None for a lone CR (not last) or a blank line."""
    for i, byte in enumerate(data):
        if byte == 13 and i + 1 < len(data) and data[i + 1] != 10:
            return None
    starts, begin = [0], 0
    while begin < len(data):
        end = data.find(b"\n", begin)
        end = len(data) if end < 0 else end + 1
        content = data[begin:end].rstrip(b"\n")
        content = content[:-1] if content.endswith(b"\r") else content
        if not content:
            return None
        starts.append(end)
        begin = end
    return starts


@given(st.lists(st.sampled_from([b"a", b"1,2", b",", b"\n", b"\r\n", b"\r", b"x\xc3\xa4"]), max_size=30))
@example([b"a\r"])
@example([b"1,2"] * 9 + [b"\r\n", b"\n"])  # (longer than a word: the kernel skips words without LF or CR)
@example([b"x\xc3\xa4"] * 7 + [b"\r", b"a"] + [b"1,2"] * 5)
@example([b"a", b"\r\n", b"\r"])
@example([b"\n"])
@settings(max_examples=300, deadline=None)
def test_line_starts_matches_its_oracle(pieces):
    data = b"".join(pieces)
    starts = np.empty(len(data) // 2 + 2, dtype=np.int64)
    count = line_starts(np.frombuffer(data, dtype=np.uint8), starts)
    expected = naive_line_starts(data)
    if expected is None:
        assert count == -1
    else:
        assert starts[:count + 1].tolist() == expected


def test_block_lines_give_each_field_as_the_file_holds_it():
    data = b"t0,1.5, 2 ,x\r\nt1,,-3e2,\xc3\xa4\r\nt2,7,8,last"
    lines = BlockLines.scan(data, ",")
    assert lines.rows == 3
    assert lines.cells(np.array([0, 1, 2]), 1).tolist() == ["1.5", "", "7"]
    assert lines.cells(np.array([2, 0]), 2).tolist() == ["8", " 2 "]
    assert lines.cells(np.array([1, 2]), 3).tolist() == ["\u00e4", "last"]
    assert lines.cells(np.array([], dtype=np.int64), 1).tolist() == []
    assert BlockLines.scan(b"a,1\n\nb,2\n", ",") is None  # blank line
    assert BlockLines.scan(b"a,1\rb,2\n", ",") is None  # CR alone ends a line for pyarrow


@given(st.lists(st.lists(st.text(alphabet="0123456789.e+- \t\u00e4", max_size=6), min_size=3, max_size=3),
                min_size=1, max_size=20), st.sampled_from([",", ";", "\t", "|"]), st.booleans(), st.data())
@settings(max_examples=150, deadline=None)
def test_block_lines_cut_any_field_of_any_rows(rows, separator, crlf, data):
    """Fields cut by the kernel, any rows in any order (repeats too), are those of splitting each line."""
    rows = [[c.replace(separator, "") for c in ["t", *row]] for row in rows]
    text = ("\r\n" if crlf else "\n").join(separator.join(row) for row in rows)
    lines = BlockLines.scan(text.encode("utf-8"), separator)
    assert lines is not None and lines.rows == len(rows)
    picks = data.draw(st.lists(st.integers(0, len(rows) - 1), max_size=12))
    field = data.draw(st.integers(0, 3))
    assert lines.cells(np.array(picks, dtype=np.int64), field).tolist() == [rows[r][field] for r in picks]


# -- the premise: what the typed read accepts as a finite number ------------------------------------------
TOKENS = ["1.5", " 1.5", "1.5\t", "+1.5", "-.5", "1.", ".", "1e5", "1E+05", "1e-999", "1e999", "nan", "-nan", "NaN",
          "inf", "-Infinity", "0x10", "1_0", "00012", "1d", "1.5f", "+", "e5", "1e", "\u0661", "1\u00a0", "\x0b1", "  ",
          "-0", "1e+", "null", "N/A", "none", "\u00e4"]


@given(st.one_of(st.sampled_from(TOKENS), st.floats(allow_nan=True).map(repr),
                 st.text(alphabet="0123456789+-.eE \tnaifNI", max_size=8)))
@settings(max_examples=400, deadline=None)
def test_typed_read_accepts_only_plain_numbers_with_their_value(cell):
    """A cell the typed read makes a finite number is one the gates read as that number (code 0)."""
    if "," in cell or "\n" in cell or "\r" in cell:
        return
    block = pa.py_buffer(f"t,{cell}\n".encode())
    try:
        table = pacsv.read_csv(
            block, read_options=pacsv.ReadOptions(column_names=["t", "v"]),
            parse_options=pacsv.ParseOptions(delimiter=",", quote_char=False, escape_char=False,
                                             ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types={"t": pa.string(), "v": pa.float64()},
                                                 strings_can_be_null=False, null_values=[""]))
    except pa.ArrowInvalid:
        return  # refused: the column is read as text
    got = table.column("v")[0].as_py()
    values, codes = parse.value_gates(pd.Series([cell]), decimal=".", valid_range=None)
    if got is None:  # a null: only the empty cell
        assert cell == "" and codes[0] == parse.MISSING
    elif np.isfinite(got):
        assert codes[0] == 0 and values[0] == got and np.signbit(values[0]) == np.signbit(got), cell


# -- the stream: the same as pandas' -------------------------------------------------------------------------
@pytest.mark.parametrize("chunksize", [None, 16])  # (16: several batches per 4 KiB block)
def test_clean_file_is_read_typed_with_the_raw_text_of_quarantined_cells(tmp_path, small_blocks, chunksize):
    path = tmp_path / "clean.csv"
    path.write_text(HEADER + "\n" + "\n".join(lines_of(900)) + "\n", encoding="utf-8")
    cmap = channel_map()
    kinds = typed_columns(path, cmap, chunksize)
    assert len(kinds) > 10 and all(k == {"I", "T", "Q"} for k in kinds)
    auto, by_pandas = streams(path, cmap, chunksize)
    assert_same(auto, by_pandas)
    q = auto.quarantine
    out = q[(q.channel == "motor_current") & (q.gate == "out_of_range")]
    assert set(out.raw_value) == {"3000", "+250.50", "2.5e2", "0250.0", " 300\t"}  # as written, not as floats
    assert (q.gate == "timestamp_duplicate").sum() >= 3 * 7
    missing = q[(q.channel == "pump_flow") & (q.gate == "missing")]
    assert len(missing) >= 80 and set(missing.raw_value) == {""}  # (whole batches of empty cells among them)


def test_refused_cells_turn_their_column_to_text(tmp_path, small_blocks):
    """A cell the typed read refuses (ERR, a cell of spaces) or reads as non-finite (nan, inf, 1e999) makes its
    column text from that block on; the other columns stay numbers; the stream is pandas'."""
    lines = lines_of(900)
    lines[300] = lines[300].replace(",70", ",ERR", 1)  # T
    lines[600] = "2024-10-27T00:00:00Z,  ,1e999,nan,x"  # I (spaces: missing), T, Q
    lines[610] = "2024-10-27T00:00:10Z,inf,-Infinity,NaN,x"
    path = tmp_path / "refused.csv"
    path.write_text(HEADER + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    cmap = channel_map()
    kinds = typed_columns(path, cmap)
    assert kinds[0] == {"I", "T", "Q"} and kinds[-1] == set()
    assert {"I", "Q"} in kinds  # T is text after line 300, I and Q are not yet
    auto, by_pandas = streams(path, cmap)
    assert_same(auto, by_pandas)
    q = auto.quarantine.set_index(["row", "channel"])
    assert q.loc[(301, "winding_temperature"), "gate"] == "unparseable"
    assert q.loc[(601, "motor_current"), "gate"] == "missing" and q.loc[(601, "motor_current"), "raw_value"] == "  "
    assert q.loc[(611, "pump_flow"), "gate"] == "missing" and q.loc[(611, "pump_flow"), "raw_value"] == "NaN"
    assert (q.loc[(611, "motor_current"), "gate"], q.loc[(601, "winding_temperature"), "gate"]) == ("non_finite",) * 2


def test_lines_pyarrow_counts_otherwise_are_read_as_text(tmp_path, small_blocks):
    """Carriage returns alone and blank lines: that block as text (or by pandas), the others typed."""
    lines = lines_of(900)
    text = "\r\n".join([HEADER, *lines[:200]]) + "\r\n" + "\r".join(lines[200:210]) + "\n"
    text += "\n".join(lines[210:500]) + "\n\n" + "\n".join(lines[500:]) + "\n"
    path = tmp_path / "line_ends.csv"
    path.write_bytes(text.encode("utf-8"))
    cmap = channel_map()
    kinds = typed_columns(path, cmap)
    assert kinds[0] == {"I", "T", "Q"} and kinds[-1] == {"I", "T", "Q"}
    assert sum(k != {"I", "T", "Q"} for k in kinds) == 2  # (the block with the CRs, the one with the blank line)
    assert_same(*streams(path, cmap))


def test_many_refusals_read_the_rest_as_text(tmp_path, small_blocks):
    """A line with too few fields in each block: after MAX_REFUSALS refused typed reads, text (then pandas)."""
    lines = lines_of(2000)
    for k in range(40, 2000, 60):
        lines[k] = lines[k].rsplit(",", 2)[0]
    path = tmp_path / "short.csv"
    path.write_text(HEADER + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    cmap = channel_map()
    kinds = typed_columns(path, cmap)
    assert kinds[0] is None and set(map(type, kinds)) == {type(None)}  # (pandas reads the blocks pyarrow refuses)
    auto, by_pandas = streams(path, cmap)
    assert_same(auto, by_pandas)
    assert MAX_REFUSALS < len(lines) // 60


@pytest.mark.parametrize("extra", [{"decimal": ","}, {"thousands": ","}, {"layout": "long"}])
def test_maps_with_other_numbers_keep_every_column_text(tmp_path, extra):
    if extra.get("layout") == "long":
        cmap = ChannelMap.from_dict({**WIDE, "layout": "long", "channel_column": "tag", "value_column": "val"})
        rows = [f"2024-10-27T00:00:{s:02d}Z,{tag},{s % 9}.5" for s in range(40) for tag in ("I", "T", "Q")]
        header = "timestamp,tag,val"
    else:
        cmap = ChannelMap.from_dict({**WIDE, "separator": ";", **extra})
        mark, grouped = extra.get("decimal", "."), "1,030.5" if "thousands" in extra else "7"
        rows = [f"2024-10-27T00:00:{s:02d}Z;{s}{mark}5;{grouped};2" for s in range(40)]
        header = "timestamp;I;T;Q"
    path = tmp_path / "other.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    assert typed_columns(path, cmap) == [set()]
    assert_same(*streams(path, cmap))


def test_single_byte_encoding_is_read_typed(tmp_path, small_blocks):
    lines = [line.replace("n1", "\u00e9t\u00e9") for line in lines_of(400)]
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "\r\n" + "\r\n".join(lines) + "\r\n").encode("cp1252"))
    cmap = channel_map(encoding="cp1252")
    assert all(k == {"I", "T", "Q"} for k in typed_columns(path, cmap))
    auto, by_pandas = streams(path, cmap)
    assert_same(auto, by_pandas)
    assert "\u00e9t\u00e9" in set(auto.quarantine.raw_value)
