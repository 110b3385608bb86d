"""Fuzz suite (issue 13 item 10): Hypothesis over CSV files, Parquet files, long tables and MQTT payloads.

Every test checks the same three promises, whatever the input holds:

* accounting: ``accepted + quarantined == read`` for every channel (and ``check_accounting`` passes);
* chunk-size invariance: a source read whole and read in chunks (or live messages polled one by one and
  all at once) gives the same frame, quarantine, counts and gaps;
* only documented exceptions: files raise :class:`~sim.exceptions.TelemetryError` subclasses (malformed
  CSV, no data rows ...), and nothing else; live payloads never raise.

The inputs mix well-formed rows with the defects of issue 13: words and control characters in stamps, cut
offsets, naive and offset stamps in one column, a cut last line, undecodable bytes, non-numbers, duplicate,
late and future stamps, unknown channels.

Since issue 17 ``read_csv`` reads with pyarrow where the file allows it and with pandas elsewhere:
``test_csv_engines`` checks that both readers (``engine="auto"`` and ``engine="pandas"``) give the same stream,
or the same error, on random files with bad cells, quotes (also around separators and line breaks), CRLF, a
BOM, blank lines, a missing final line break and lines with extra or missing fields.

Examples: 250 drawn in the normal suite (CSV 60, CSV engines 25, Parquet 40, long 45, MQTT 80), plus the
defects above written out with ``@example`` (``DEFECTS_CSV``, ``DEFECTS_LONG``, ``PARQUET_DEFECTS``,
``MQTT_DEFECTS`` and two quoted files), which every run reads whatever Hypothesis draws.  Each run draws new
examples, so the suite's runs together cover far more than one run.  For a long run, multiply the drawn examples
by 100 with the environment variable ``TWINBENCH_FUZZ=long``
(``TWINBENCH_FUZZ=long .venv/bin/python -m pytest tests/sim/telemetry/test_telemetry_fuzz.py``); any other
value, or none, runs the normal suite.  Failing examples are kept in Hypothesis' example database
(``.hypothesis/``) and replayed first on the next run.
"""

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sim.exceptions import DataQualityWarning, TelemetryError
from sim.telemetry import ChannelMap, LiveSource, LiveTelemetry, read_csv, read_parquet
from sim.telemetry.sources.mqtt import decode_payload

#: Examples of each test are multiplied by this with ``TWINBENCH_FUZZ=long``.
LONG_FACTOR = 100
SCALE = LONG_FACTOR if os.environ.get("TWINBENCH_FUZZ", "") == "long" else 1
NOW = pd.Timestamp("2025-01-01", tz="UTC")


def fuzz(examples: int) -> settings:
    """Settings of a fuzz test: *examples* in the normal suite (see the module docstring for long runs)."""
    return settings(max_examples=examples * SCALE, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


RULES = {"period": 10, "lateness": 25, "stuck": {"samples": 3}, "spike": {"window": 5, "threshold": 3}}
WIDE = ChannelMap.from_dict({
    "timezone": "Europe/Berlin",
    "channels": {
        "motor_current": {"column": "I", "topic": "i", "unit": "A", "si_unit": "A", "range": [0, 200], **RULES},
        "winding_temperature": {"column": "T", "topic": "t", "unit": "degF", "si_unit": "K", "clock_offset": 3,
                                **RULES},
        "pump_flow": {"column": "Q", "topic": "q", "unit": "gpm", "si_unit": "m**3/s"},
    },
})
LONG = ChannelMap.from_dict({**WIDE.to_dict(), "layout": "long", "channel_column": "tag", "value_column": "val"})

STAMPS = st.one_of(
    st.integers(0, 90).map(lambda s: f"2024-10-27 02:{s // 60:02d}:{s % 60:02d}"),  # naive, DST fall-back hour
    st.integers(0, 90).map(lambda s: f"2024-10-27T00:{s // 60:02d}:{s % 60:02d}Z"),  # with an offset
    st.sampled_from([
        "2024-03-31 02:30:00", "2099-01-01T00:00:00Z", "2262-04-12 00:00:00", "1677-01-01T00:00:00Z", "",
        "now", "today", "yesterday", "tomorrow", "garbage", "2024-10-27T00:00:00\x00", "2024-10-27 00:00:01\x07",
        "2024-10-27T00:00:02-04:0", "2024-10-27T00:00:03+1", "2024-10-27T00:00:04\t+01:00", "2024-10-27T00:00:05,5Z",
        "27 Oct 2024 00:00", "2024-10-27T00:00:06.123456789Z", " 2024-10-27 02:00:07 ", "1730000000",
    ]),
    st.text(st.characters(blacklist_characters=',"\r\n', blacklist_categories=("Cs",)), max_size=6),
)
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["1e999", "nan", "inf", "-Infinity", "null", "NA", "", " 7 ", "ERR", "1.2.3", "0x1F", "+.5",
                     "5.", "1;5", "20", "20", "20", "150", "-3"]),
)
CELL_TEXT = st.one_of(NUMBERS, st.text(st.characters(blacklist_characters=',"\r\n', blacklist_categories=("Cs",)),
                                       max_size=5))
RAW_BYTES = st.binary(max_size=5).map(lambda b: bytes(c for c in b if c not in b',"\r\n'))


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return fn(*args, **kwargs)


def check_accounting(stream) -> None:
    stream.check_accounting()
    counts = stream.counts.drop(index="TOTAL")
    assert (counts["accepted"] + counts["quarantined"] == counts["read"]).all()
    index = stream.frame.index
    assert str(index.tz) == "UTC" and index.is_monotonic_increasing and index.is_unique
    values = stream.frame.to_numpy()
    assert np.isfinite(values[~np.isnan(values)]).all()


def assert_same(a, b) -> None:
    for attr in ("frame", "quarantine", "counts", "gaps"):
        pd.testing.assert_frame_equal(getattr(a, attr), getattr(b, attr), obj=attr)
    assert (a.rows_read, a.t0, a.content_hash) == (b.rows_read, b.t0, b.content_hash)


def read_both(read, path, channel_map, chunksize):
    """The stream read whole and in chunks; None when the file raised a documented error (checked)."""
    try:
        whole = quiet(read, path, channel_map, now=NOW)
    except TelemetryError as err:  # the documented errors (TelemetryFileError, ChannelMapError) name the file
        assert path.name in str(err)
        try:
            quiet(read, path, channel_map, now=NOW, chunksize=chunksize)
        except TelemetryError:
            return None
        raise AssertionError(f"read whole raised {err!r}, read in chunks of {chunksize} did not")
    chunked = quiet(read, path, channel_map, now=NOW, chunksize=chunksize)
    check_accounting(whole)
    assert_same(whole, chunked)
    return whole


@st.composite
def csv_files(draw, header: bytes, width: int, first_cells):
    """CSV bytes: rows of *width* fields (some short), an optional cut last line and stray bytes."""
    rows = draw(st.lists(st.tuples(STAMPS.map(str.encode), st.lists(first_cells, min_size=width, max_size=width),
                                   st.integers(1, width + 1)), min_size=1, max_size=15))
    lines = [b",".join([stamp, *cells][:keep]) for stamp, cells, keep in rows]
    end = draw(st.sampled_from([b"\n", b"\r\n", b""]))  # no line break at the end: a cut last line if short
    return b"\n".join([header, *lines]) + end


CSV_CELLS = st.one_of(CELL_TEXT.map(lambda t: t.encode("utf-8")), RAW_BYTES)


# The defects of issue 13, written out so that every run reads them whatever Hypothesis draws: naive and offset
# stamps in one column (with the DST fall-back hour and a missing hour), words, control characters and cut offsets
# in stamps, duplicate, late and future stamps, non-numbers, undecodable bytes, short rows and a cut last line.
DEFECTS_CSV = (b"timestamp,I,T,Q\n2024-10-27 01:00:00,20,70,1\n2024-10-27 01:00:00,20,70,1\n2024-10-27 01:00:01,21,71,2\n"
               b"now,1,2,3\n2024-10-27T00:00:02-04:0,5,6,7\n2024-10-27 01:00:03\x07,1,2,3\n"
               b"2024-10-27 01:00:04,1e999,nan,ERR\n2024-10-27 00:59:00,20,70,20\n2099-01-01 00:00:00,1,2,3\n"
               b"2024-10-27T01:00:05Z,22,72,3\n2024-10-27 01:00:06,\xff\xfe,74\n2024-10-27 01:00:07,250,75,5\n"
               b"2024-10-27 01:00:08,20,20,20\n2024-10-27 01:00:09,20,20,20\n2024-10-27 01:00:10,20,20,20\n"
               b"2024-03-31 02:30:00,150,-3,0x1F\n2024-10-27 02:30:00,23,73,4\n2024-10-27 02:30:01,20")
DEFECTS_LONG = (b"timestamp,tag,val\n2024-10-27 02:00:00,I,20\n2024-10-27 02:00:00,I,20\n2024-10-27 02:00:01,X,1\n"
                b"2024-10-27 02:00:01,,2\n2024-10-27 02:00:02, I,3\n2024-10-27 02:00:02,i,4\n"
                b"2024-10-27T00:00:03Z,T,\xff\n today,Q,5\n2024-10-27 02:00:04,T,nan\n2024-10-27 02:00:05,I")


@fuzz(60)
@given(body=csv_files(b"timestamp,I,T,Q", 3, CSV_CELLS), chunksize=st.integers(1, 6))
@example(body=DEFECTS_CSV, chunksize=1)
@example(body=DEFECTS_CSV, chunksize=4)
@example(body=DEFECTS_CSV.replace(b"\n", b"\r\n") + b"\r\n", chunksize=3)
@example(body=b"timestamp,I,T,Q\n", chunksize=2)  # no data rows: a documented error
def test_csv_files(body, chunksize):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.csv"
        path.write_bytes(body)
        stream = read_both(read_csv, path, WIDE, chunksize)
        if stream is not None:
            assert (stream.counts.drop(index="TOTAL")["read"] == stream.rows_read).all()


def read_or_error(path, channel_map, **kwargs):
    """The stream of ``read_csv``, or the text of the documented error it raised."""
    try:
        return quiet(read_csv, path, channel_map, now=NOW, **kwargs)
    except TelemetryError as err:
        return f"{type(err).__name__}: {err}"


QUOTED = st.sampled_from(['"1,5"', '"20"', '""', '"a""b"', '"2024-10-27T00:00:00Z"', '"7\n8"', '"x', 'y"z'])


@st.composite
def messy_csv_files(draw):
    """CSV bytes mostly well-formed (so that pyarrow reads blocks of them), with the defects sprinkled in."""
    rows = draw(st.lists(st.tuples(
        st.one_of(st.integers(0, 200).map(lambda s: f"2024-10-27T00:{s // 60:02d}:{s % 60:02d}Z"), STAMPS),
        st.lists(st.one_of(st.sampled_from(["20", "21.5", "-3", "150", "1e2"]), NUMBERS, CELL_TEXT), min_size=3,
                 max_size=3),
        st.one_of(st.just(4), st.just(4), st.just(4), st.integers(1, 5)),
    ), min_size=1, max_size=20))
    lines = []
    for stamp, cells, keep in rows:
        fields = [stamp, *cells, "9"][:keep]
        if draw(st.integers(0, 9)) == 0:  # a quoted field now and then
            fields[draw(st.integers(0, len(fields) - 1))] = draw(QUOTED)
        lines.append(",".join(fields))
        if draw(st.integers(0, 14)) == 0:
            lines.append("")  # a blank line
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    bom = draw(st.sampled_from(["", "\ufeff"]))
    end = draw(st.sampled_from([newline, ""]))  # no line break at the end: a cut last line if short
    return (bom + newline.join(["timestamp,I,T,Q", *lines]) + end).encode("utf-8")


@fuzz(25)
@given(body=messy_csv_files(), chunksize=st.integers(1, 6))
@example(body=("\ufefftimestamp,I,T,Q\r\n2024-10-27T00:00:00Z,20,21.5,9\r\n\r\n2024-10-27T00:00:01Z,\"1,5\",-3,9\r\n"
               "2024-10-27T00:00:02Z,\"7\n8\",150,9\r\n2024-10-27T00:00:03Z,\"a\"\"b\",1e2,9,extra\r\n"
               "2024-10-27T00:00:04Z,20\r\n2024-10-27T00:00:05Z,\"\",y\"z,9\r\n"
               "2024-10-27T00:00:06Z,20,21").encode("utf-8"), chunksize=2)
@example(body=b"timestamp,I,T,Q\n2024-10-27T00:00:00Z,\"x,20,21,9\n2024-10-27T00:00:01Z,20,21,9\n", chunksize=1)
def test_csv_engines(body, chunksize):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz_engines.csv"
        path.write_bytes(body)
        auto = read_or_error(path, WIDE)
        by_pandas = read_or_error(path, WIDE, engine="pandas")
        chunked = read_or_error(path, WIDE, chunksize=chunksize)
        for other in (by_pandas, chunked):
            if isinstance(auto, str) or isinstance(other, str):
                assert auto == other
            else:
                assert_same(auto, other)
        if not isinstance(auto, str):
            check_accounting(auto)


LONG_TAGS = st.sampled_from(["I", "T", "Q", "I", "T", "X", "", " I", "i"]).map(str.encode)


@fuzz(45)
@given(body=csv_files(b"timestamp,tag,val", 2, st.one_of(LONG_TAGS, CSV_CELLS)), chunksize=st.integers(1, 6))
@example(body=DEFECTS_LONG, chunksize=1)
@example(body=DEFECTS_LONG, chunksize=3)
def test_long_tables(body, chunksize):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz_long.csv"
        path.write_bytes(body)
        stream = read_both(read_csv, path, LONG, chunksize)
        if stream is not None:
            assert int(stream.counts.drop(index="TOTAL")["read"].sum()) == stream.rows_read


PARQUET_TIMES = st.one_of(
    STAMPS.map(lambda t: ("text", t)),
    st.integers(0, 200).map(lambda s: ("utc", pd.Timestamp("2024-10-27", tz="UTC") + pd.Timedelta(seconds=s))),
    st.integers(0, 200).map(lambda s: ("naive", pd.Timestamp("2024-10-27 01:58") + pd.Timedelta(seconds=s))),
    st.floats(1.73e9, 1.73e9 + 200).map(lambda s: ("unix", s)),
)
PARQUET_VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([20.0, 20.0, 150.0]))


PARQUET_DEFECTS = [
    (("text", "2024-10-27 02:00:00"), 20.0, 20.0, "20"), (("text", "2024-10-27 02:00:00"), 20.0, 20.0, "20"),
    (("text", "2024-10-27T00:00:01Z"), float("nan"), float("inf"), "x"), (("text", "now"), 1.0, 2.0, "3"),
    (("text", "2262-04-12 00:00:00"), 1.0, 2.0, "3"),
    (("utc", pd.Timestamp("2024-10-27", tz="UTC")), -1e300, 150.0, "1e999"),
    (("text", "2024-10-27 01:59:00"), 20.0, 20.0, ""), (("text", "2099-01-01T00:00:00Z"), 1.0, 1.0, "1"),
]


@fuzz(40)
@given(kind=st.sampled_from(["text", "utc", "naive", "unix"]), rows=st.lists(st.tuples(PARQUET_TIMES, PARQUET_VALUES,
       PARQUET_VALUES, CELL_TEXT), min_size=1, max_size=15), nulls=st.booleans(), chunksize=st.integers(1, 6))
@example(kind="text", rows=PARQUET_DEFECTS, nulls=True, chunksize=3)
@example(kind="utc", rows=PARQUET_DEFECTS, nulls=False, chunksize=1)
def test_parquet_files(kind, rows, nulls, chunksize):
    # one time column of one type (Parquet columns are typed): the rows' stamps of that kind, others as null
    times = [t if k == kind else None for (k, t), *_ in rows]
    frame = pd.DataFrame({"timestamp": pd.Series(times, dtype=object if kind == "text" else None),
                          "I": [r[1] for r in rows], "T": [r[2] for r in rows], "Q": [r[3] for r in rows]})
    if kind == "utc":
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    elif kind == "naive":
        frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    elif kind == "unix":
        frame["timestamp"] = frame["timestamp"].astype("float64")
    if nulls:
        frame.loc[frame.index % 3 == 1, "I"] = None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.parquet"
        frame.to_parquet(path, row_group_size=4)
        stream = read_both(read_parquet, path, WIDE, chunksize)
        assert stream is not None  # a readable Parquet file with rows never raises
        assert stream.rows_read == len(rows)


class MemorySource(LiveSource):
    """An in-process live source: messages are handed in as a broker would deliver them."""

    keys = ("i", "t", "q", "x")

    def start(self):
        return self

    def stop(self):
        pass


PAYLOAD_TIMES = st.one_of(st.integers(1_700_000_000, 1_700_000_060), st.floats(allow_nan=False), st.none(),
                          STAMPS, st.sampled_from(["2023-11-14T22:13:20Z", "2023-11-14T22:13:21+00:00"]))
PAYLOAD_VALUES = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**30), 10**30),
                           CELL_TEXT, st.none(), st.booleans(), st.lists(st.integers(), max_size=2))
PAYLOADS = st.one_of(
    st.binary(max_size=30),
    st.builds(lambda t, v, i: __import__("json").dumps({"time": t, "value": v, "id": i}).encode(),
              PAYLOAD_TIMES, PAYLOAD_VALUES, st.integers(0, 5)),
    st.builds(lambda v: __import__("json").dumps({"value": v}).encode(), PAYLOAD_VALUES),
    st.floats(allow_nan=False).map(lambda v: repr(v).encode()),
)


def gate_live(messages, batch):
    """The stream of *messages* polled every *batch* messages."""
    source = MemorySource()
    live = LiveTelemetry(source, WIDE, WIDE.topics)
    for k, (topic, payload) in enumerate(messages):
        record, key = decode_payload(topic, payload, 1_700_000_000_000_000_000 + k * 1_000_000_000)
        source.deliver(record, key)
        if (k + 1) % batch == 0:
            live.poll(now=NOW)
    live.poll(now=NOW)
    samples = live.stop()
    return live.stream(), samples


MQTT_DEFECTS = [
    ("i", b'{"time": 1700000000, "value": 20, "id": 1}'), ("i", b'{"time": 1700000000, "value": 20, "id": 1}'),
    ("t", b'{"time": "2023-11-14T22:13:21+00:00", "value": 70.5}'), ("x", b"21.5"), ("q", b"\xff\xfe"),
    ("i", b'{"time": null, "value": true}'), ("i", b'{"time": 1699999990, "value": [1, 2]}'),
    ("t", b'{"value": "ERR"}'), ("i", b'{"time": "now", "value": 1e999}'), ("q", b'{"time": 4102444800, "value": 1}'),
    ("i", b"1e308"), ("t", b""), ("i", b'{"time": "garbage"'),
]


@fuzz(80)
@given(messages=st.lists(st.tuples(st.sampled_from(["i", "t", "q", "x"]), PAYLOADS), min_size=1, max_size=25),
       batch=st.integers(1, 7))
@example(messages=MQTT_DEFECTS, batch=1)
@example(messages=MQTT_DEFECTS, batch=4)
def test_mqtt_payloads(messages, batch):
    stream, samples = gate_live(messages, batch)  # (a live payload never raises)
    check_accounting(stream)
    assert stream.rows_read <= len(messages)
    assert all(np.isfinite(v) for _, _, v in samples)
    whole, _ = gate_live(messages, len(messages) + 1)
    assert_same(stream, whole)
