"""Arrow's casts as the first reader of CSV text (issue 17, session 6): the same result as the careful parsers.

``parse_times_arrow`` now tries Arrow's strict ISO 8601 cast on the whole time column first (empty cells left
out) and uses the regular expression and :func:`~sim.telemetry.gates.parse.parse_times` only where Arrow refuses
a cell; ``finite_numbers_arrow`` hands the compiled value pass the numbers of a text column when Arrow's float
cast takes every non-empty cell and makes it finite.  These tests compare both with the careful parsers on
random cells: stamps built from the pieces of ISO 8601 and their near misses (offsets of every form, years at and
beyond the nanosecond range, impossible dates, spaces, lower-case letters), epoch numbers, words and garbage,
column after column so that the column's form (naive or with offsets, :class:`~sim.telemetry.gates.ZoneForm`)
carries over as it does between chunks.  ``read_csv`` hashes the bytes of the blocks as it reads them: the
content hash is the SHA-256 of the file on every reader path.
"""

import hashlib
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.exceptions import DataQualityWarning
from sim.telemetry import ChannelMap, read_csv
from sim.telemetry.gates import parse
from sim.telemetry.gates._cells import ArrowText

YEARS = st.sampled_from(["2024", "1970", "1700", "1677", "2262", "2199", "2263", "1600", "0000", "9999", "199"])
MONTHS = st.sampled_from(["01", "02", "10", "12", "00", "13", "1"])
DAYS = st.sampled_from(["01", "15", "28", "29", "30", "31", "32", "00", "7"])
SEPARATORS = st.sampled_from(["T", " ", "T", " ", "t", "", "  ", "_"])
TIMES = st.tuples(st.sampled_from(["00", "05", "12", "23", "24", "9"]),
                  st.sampled_from(["", ":00", ":59", ":60", ":5"]),
                  st.sampled_from(["", ":00", ":59", ":60", "30"]),
                  st.sampled_from(["", ".", ".5", ".000", ".123456789", ".1234567891", ",5"])).map("".join)
ZONES = st.sampled_from(["Z", "+00:00", "-05:30", "+14:00", "+23:59", "+24:00", "+01", "+0100", "-00", "+1", "+01:0",
                         " Z", " +01:00", "z", "+01:00:00", "ZZ", ""])
PADS = st.sampled_from(["", "", "", " ", "\t", "\x00"])


@st.composite
def stamps(draw) -> str:
    date = (f"{draw(YEARS)}{draw(MONTHS)}{draw(DAYS)}" if draw(st.booleans()) and draw(st.booleans())
            else f"{draw(YEARS)}-{draw(MONTHS)}-{draw(DAYS)}")
    cell = date if draw(st.integers(0, 9)) == 0 else date + draw(SEPARATORS) + draw(TIMES) + draw(ZONES)
    return draw(PADS) + cell + draw(PADS)


GOOD = st.builds(lambda s, ns, z: pd.Timestamp(s * 10**9 + ns, unit="ns").strftime("%Y-%m-%d %H:%M:%S.%f") + z,
                 st.integers(-8_000_000_000, 7_000_000_000), st.integers(0, 10**9 - 1),
                 st.sampled_from(["Z", "+00:00", "-05:30", "+14:00"]))
CELLS = st.one_of(GOOD, GOOD, stamps(), stamps(), st.sampled_from(["", "", "now", "1730000000", "garbage", "NaT"]),
                  st.text(max_size=6), st.none())


def compare_times(columns: list[list[str | None]]) -> None:
    fast_zone, careful_zone = parse.ZoneForm(), parse.ZoneForm()
    for cells in columns:
        array = ArrowText(pa.array(cells, pa.string()))
        fast = parse.parse_times_arrow(array, timezone="Europe/Berlin", time_format=None, zone=fast_zone)
        careful = parse.parse_times(array.to_pandas(), timezone="Europe/Berlin", time_format=None, zone=careful_zone)
        np.testing.assert_array_equal(fast.first, careful.first, err_msg=repr(cells))
        np.testing.assert_array_equal(fast.second, careful.second, err_msg=repr(cells))
        np.testing.assert_array_equal(fast.note, careful.note, err_msg=repr(cells))
        assert (fast_zone.offsets, fast_zone.first) == (careful_zone.offsets, careful_zone.first), cells


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(CELLS, min_size=0, max_size=12), min_size=1, max_size=3))
def test_time_cast_first_gives_what_the_careful_parser_gives(columns):
    compare_times(columns)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(GOOD | st.just(""), min_size=1, max_size=30), min_size=1, max_size=3))
def test_columns_that_arrow_takes_whole(columns):
    """Offset stamps with empty cells between them: the cast-first path (no regular expression) decides them."""
    compare_times(columns)


def test_cast_first_edge_cases():
    """Cells the cast takes or refuses at the edges of the grammar and of the nanosecond range."""
    cells = ["2024-01-01 00:00:00+00:00", "2024-01-01T05Z", "2024-01-01 00Z", "2024-01-01 00:00:00-00",
             "2024-01-01 00:00:00+0100", "2024-01-01 00:00:00+23:59", "1677-09-21 00:12:44Z",
             "2262-04-11 23:47:16.854775807Z", "2262-04-11 23:47:16.854775807+00:01",
             "2024-01-01 00:00:00.123456789+01:00"]
    compare_times([cells, ["", *cells, ""]])
    refused = ["2024-01-01 00:00:00", "2024-01-01 23:59:60Z", "2024-02-30 00:00:00Z", " 2024-01-01 00:00:00Z",
               "2024-01-01 00:00:00 Z", "2262-04-12 00:00:00Z", "1677-09-21 00:12:43.145224193Z",
               "2024-01-01t00:00:00Z",
               "2024-01-01 00:00:00.1234567891Z", "2024-01-01 00:00:00+1", "9999-01-01 00:00:00Z"]
    for cell in refused:
        compare_times([["2024-01-01 00:00:00Z", cell], [cell, "2024-01-01 00:00:01Z"]])
        compare_times([[cell, "2024-01-01 00:00:00Z"]])


def test_the_first_non_empty_stamp_decides_the_column_form():
    zone = parse.ZoneForm()
    cells = ArrowText(pa.array(["", "", "2024-01-01T00:00:00+01:00", "", "2024-01-01T00:00:01Z"]))
    times = parse.parse_times_arrow(cells, timezone="UTC", time_format=None, zone=zone)
    assert (zone.offsets, zone.first) == (True, "2024-01-01T00:00:00+01:00")
    assert list(times.note) == ["the cell is empty", "the cell is empty", "", "the cell is empty", ""]
    assert times.first[2] == pd.Timestamp("2023-12-31T23:00:00Z").value


NUMBER_CELLS = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                         st.integers(-(10**20), 10**20).map(str),
                         st.sampled_from(["", "", " 7 ", "nan", "-nan", "+nan", "inf", "1e999", "1e-400", "ERR", "+.5",
                                          "5.", "0x1F", "1,5", "null", "\t3"]),
                         st.text(st.sampled_from("0123456789+-.eE "), max_size=6), st.none())


@settings(max_examples=150, deadline=None)
@given(st.lists(NUMBER_CELLS, max_size=12))
def test_finite_numbers_are_what_the_value_gates_read(cells):
    """Where finite_numbers_arrow takes a column, the value gates read the same numbers and only ``missing``
    (NaN) besides: the compiled pass then decides exactly what value_gates would."""
    array = ArrowText(pa.array(cells, pa.string()))
    values = parse.finite_numbers_arrow(array)
    careful, codes = parse.value_gates(array.to_pandas(), decimal=".", valid_range=None)
    if values is None:  # (the careful path decides: some non-empty cell is refused by the cast or not finite)
        non_empty = [c for c in cells if c]
        if non_empty:
            try:
                cast = pc.cast(pa.array(non_empty, pa.string()), pa.float64()).to_numpy(zero_copy_only=False)
            except pa.ArrowInvalid:
                return
            assert not np.isfinite(cast).all(), cells
        return
    np.testing.assert_array_equal(codes, np.where(np.isnan(values), parse.MISSING, 0))
    np.testing.assert_array_equal(values, careful)


def test_finite_numbers_edge_cases():
    assert parse.finite_numbers_arrow(ArrowText(pa.array(["1.5", "", "-2e3", None]))).tolist()[::2] == [1.5, -2000.0]
    for bad in ("nan", "inf", "1e999", "ERR", " 7 "):
        assert parse.finite_numbers_arrow(ArrowText(pa.array(["1", bad]))) is None
    assert parse.finite_numbers_arrow(ArrowText(pa.array(["", ""]))) is None
    assert parse.finite_numbers_arrow(ArrowText(pa.array([], pa.string()))) is None


# -- the content hash from the bytes as they are read ------------------------------------------------------------
def _lines(n: int) -> list[str]:
    t0 = pd.Timestamp("2024-10-26 22:00:00", tz="UTC")
    return [f"{(t0 + pd.Timedelta(seconds=i)).isoformat()},{20 + i % 7}.5,{70 + (i % 5) * 0.25}" for i in range(n)]


@pytest.mark.parametrize("defect", ["none", "nul_in_second_block", "quote_in_second_block", "no_final_break"])
def test_content_hash_of_blocks_read_is_the_files_sha256(tmp_path, defect):
    """``read_csv`` hashes the blocks pyarrow parses as it reads them (and the rest of the file where pandas takes
    over): the hash is the SHA-256 of the file's bytes on each path, over several blocks of 1 MiB."""
    lines = _lines(40_000)  # about 2.2 MB: blocks of 1 MiB with chunksize 1000
    if defect == "nul_in_second_block":
        lines[25_000] = lines[25_000].replace(",2", ",\x002", 1)
    elif defect == "quote_in_second_block":
        lines[25_000] = lines[25_000].replace(",2", ',"2', 1) + '"'
    text = "timestamp,I,T\n" + "\n".join(lines) + ("" if defect == "no_final_break" else "\n")
    path = tmp_path / "hash.csv"
    path.write_bytes(text.encode())
    cmap = ChannelMap.from_dict({"channels": {"i": {"column": "I", "unit": "A", "si_unit": "A"},
                                              "t": {"column": "T", "unit": "degC", "si_unit": "K"}}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        stream = read_csv(path, cmap, chunksize=1000)
    assert stream.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert stream.rows_read == 40_000
