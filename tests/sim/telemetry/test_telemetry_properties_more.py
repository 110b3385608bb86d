"""Property tests for the new paths: mixed-type DataFrames with every rule switched on, and live payloads of
random bytes; never an unhandled exception, and ``accepted + quarantined == read`` always."""

import math
import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.exceptions import DataQualityWarning
from sim.telemetry import ChannelMap, LiveSource, LiveTelemetry, read_frame
from sim.telemetry.sources.mqtt import decode_payload

RULES = {"period": 10, "lateness": 25, "stuck": {"samples": 3}, "spike": {"window": 5, "threshold": 3}}
MAP = ChannelMap.from_dict({
    "timezone": "Europe/Berlin",
    "channels": {
        "motor_current": {"column": "I", "topic": "i", "unit": "A", "si_unit": "A", "range": [0, 200], **RULES},
        "ambient_temperature": {"column": "T", "topic": "t", "unit": "degF", "si_unit": "K", "clock_offset": 3,
                                **RULES},
    },
})
NOW = pd.Timestamp("2025-01-01", tz="UTC")

CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**400), 10**400), st.none(), st.booleans(),
    st.text(max_size=6), st.sampled_from(["1,5", " 7 ", "nan", "-inf", "1e999", "ERR", ""]),
    st.binary(max_size=4),
)
TIMES = st.one_of(
    st.integers(0, 120).map(lambda s: f"2024-10-27T00:{s // 60:02d}:{s % 60:02d}Z"),  # few stamps: many repeats
    st.sampled_from(["2024-10-27 02:30:00", "2024-03-31 02:30:00", "2099-01-01T00:00:00Z", "", "garbage"]),
    st.floats(allow_nan=True, allow_infinity=True), st.none(),
)


def check(stream):
    stream.check_accounting()
    counts = stream.counts.drop(index="TOTAL")
    assert (counts["accepted"] + counts["quarantined"] == counts["read"]).all()
    values = stream.frame.to_numpy()
    assert np.isfinite(values[~np.isnan(values)]).all()
    assert stream.frame.index.is_monotonic_increasing and stream.frame.index.is_unique


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(TIMES, CELLS, CELLS), min_size=1, max_size=25), chunksize=st.sampled_from([1, 4, 50]))
def test_mixed_type_frames_keep_the_identity_and_chunking_is_invisible(rows, chunksize):
    frame = pd.DataFrame(rows, columns=["timestamp", "I", "T"], dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        whole = read_frame(frame, MAP, now=NOW)
        chunked = read_frame(frame, MAP, now=NOW, chunksize=chunksize)
    check(whole)
    for attr in ("frame", "quarantine", "counts", "gaps"):
        pd.testing.assert_frame_equal(getattr(whole, attr), getattr(chunked, attr))


class MemorySource(LiveSource):
    """An in-process source: messages are handed in directly (no network), as a broker would deliver them."""

    keys = ("i", "t", "x")

    def start(self):
        return self

    def stop(self):
        pass


PAYLOADS = st.one_of(
    st.binary(max_size=30),
    st.builds(lambda t, v, i: __import__("json").dumps({"time": t, "value": v, "id": i}).encode(),
              st.one_of(st.integers(1_700_000_000, 1_700_000_060), st.text(max_size=5), st.none(),
                        st.floats(allow_nan=False, allow_infinity=False)),
              st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**30), 10**30),
                        st.text(max_size=5), st.none(), st.booleans(), st.lists(st.integers(), max_size=2)),
              st.integers(0, 5)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=st.lists(st.tuples(st.sampled_from(["i", "t", "x"]), PAYLOADS), max_size=30),
       batch=st.integers(1, 10))
def test_live_payloads_of_any_bytes_are_read_once_and_accounted(messages, batch):
    source = MemorySource()
    live = LiveTelemetry(source, MAP, MAP.topics)
    for k, (topic, payload) in enumerate(messages):
        record, key = decode_payload(topic, payload, 1_700_000_000_000_000_000 + k)
        source.deliver(record, key)
        if k % batch == 0:
            live.poll(now=NOW)
    samples = live.stop()
    stream = live.stream()
    check(stream)
    # every delivery is read; a repeat of an identified payload is quarantined as a redelivery (on a mapped
    # topic; on the unmapped one it is a schema entry like every message there), never silently dropped
    keys = [decode_payload(t, p, 0)[1] for t, p in messages]
    repeats = [k is not None and k in keys[:j] for j, k in enumerate(keys)]
    assert stream.rows_read == source.received == len(messages)
    assert source.redelivered == sum(repeats)
    assert stream.counts.loc["TOTAL", "redelivery"] == sum(r for r, (t, _) in zip(repeats, messages) if t != "x")
    assert all(math.isfinite(v) for _, _, v in samples)
