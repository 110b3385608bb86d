"""Property tests: whatever the rows contain, nothing is lost and chunking changes nothing."""

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.exceptions import DataQualityWarning, TelemetryError
from sim.telemetry import ChannelMap, read_csv

MAP = ChannelMap.from_dict({
    "timezone": "Europe/Berlin",
    "channels": {
        "motor_current": {"column": "I", "unit": "A", "si_unit": "A", "range": [0, 200]},
        "winding_temperature": {"column": "T", "unit": "degF", "si_unit": "K"},
        "pump_flow": {"column": "Q", "unit": "gpm", "si_unit": "m**3/s"},
    },
})
HEADER = b"timestamp,I,T,Q"
STRUCTURAL = b',"\r\n'

# A small pool of stamps, so that duplicates and shuffles are frequent; some naive (Berlin,
# including the DST gap and the repeated hour), some with offsets.
STAMPS = [
    f"2024-10-27 0{h}:{m:02d}:00" for h in (1, 2, 3) for m in (0, 30)
] + [
    "2024-03-31 02:15:00", "2024-10-27T00:45:00Z", "2024-10-27T02:15:00+01:00", "2024-10-27T02:15:00+02:00",
    "2262-04-12 00:00:00", "1677-01-01T00:00:00Z",
]
TEXT = st.text(st.characters(blacklist_characters=',"\r\n', blacklist_categories=("Cs",)), max_size=8)
RAW_BYTES = st.binary(max_size=8).map(lambda b: bytes(c for c in b if c not in STRUCTURAL))
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["1e999", "-1e999", "1" * 400, "nan", "NaN", "inf", "-Infinity", "null", "NA", "", " 7 ",
                     "ERR", "---", "1.2.3", "0x1F", "1_000", "+.5", "5.", "1;5"]),
)
CELL = st.one_of(NUMBERS.map(str.encode), TEXT.map(lambda t: t.encode("utf-8")), RAW_BYTES)
TIME = st.one_of(st.sampled_from(STAMPS), TEXT).map(lambda t: t.encode("utf-8"))
ROW = st.tuples(TIME, st.lists(CELL, min_size=3, max_size=3), st.integers(0, 4)).map(
    lambda r: b",".join([r[0], *r[1]][: r[2]] if r[2] < 4 else [r[0], *r[1]])  # truncated lines
)


def read_quietly(path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return read_csv(path, MAP, **kwargs)


def check_invariants(stream):
    counts = stream.counts.drop(index="TOTAL")
    assert (counts["accepted"] + counts["quarantined"] == counts["read"]).all()
    assert (counts["read"] == stream.rows_read).all()
    index = stream.frame.index
    assert str(index.tz) == "UTC" and index.is_monotonic_increasing and index.is_unique
    values = stream.frame.to_numpy()
    assert np.isfinite(values[~np.isnan(values)]).all()
    assert stream.quarantine["row"].between(1, stream.rows_read).all()
    assert set(stream.quarantine["gate"]) <= set(stream.counts.columns)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(ROW, min_size=1, max_size=20), chunksize=st.sampled_from([1, 3, 7]))
def test_accounting_holds_and_chunking_is_invisible(rows, chunksize):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "random.csv"
        path.write_bytes(b"\n".join([HEADER, *rows]) + b"\n")
        whole = read_quietly(path)  # structurally sound rows: no error at all, whatever the cells hold
        check_invariants(whole)
        chunked = read_quietly(path, chunksize=chunksize)
        pd.testing.assert_frame_equal(whole.frame, chunked.frame)
        pd.testing.assert_frame_equal(whole.quarantine, chunked.quarantine)
        pd.testing.assert_frame_equal(whole.counts, chunked.counts)
        window = whole.window(600.0, 3600.0)
        window.check_accounting()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_our_errors(body):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "noise.csv"
        path.write_bytes(HEADER + b"\n" + body)
        try:
            stream = read_quietly(path)
        except TelemetryError as err:
            assert "noise.csv" in str(err)
            return
        check_invariants(stream)
