"""Live text stamps follow the file rule for zone forms: the first stamp decides, the other form is quarantined."""

import json

import pandas as pd

from sim.telemetry import ChannelMap, LiveSource, LiveTelemetry
from sim.telemetry.sources.mqtt import decode_payload

MAP = ChannelMap.from_dict({"timezone": "UTC", "channels": {
    "motor_current": {"topic": "i", "unit": "A", "si_unit": "A", "range": [0, 200]}}})


class MemorySource(LiveSource):
    keys = ("i",)

    def start(self):
        return self

    def stop(self):
        pass


def test_a_naive_stamp_after_offset_stamps_is_quarantined_even_in_a_later_poll():
    source = MemorySource()
    live = LiveTelemetry(source, MAP, MAP.topics)
    stamps = ["2024-01-01T00:00:00Z", "2024-01-01T00:00:10+00:00", "2024-01-01 00:00:20", "2024-01-01T00:00:30Z"]
    for k, stamp in enumerate(stamps):
        record, key = decode_payload("i", json.dumps({"time": stamp, "value": 10.0 + k}).encode(), k)
        source.deliver(record, key)
        live.poll(now=pd.Timestamp("2025-01-01", tz="UTC"))  # one message per poll: the rule carries over
    live.stop()
    stream = live.stream()
    assert stream.rows_read == 4
    assert list(stream.frame["motor_current"].dropna()) == [10.0, 11.0, 13.0]
    bad = stream.quarantine
    assert len(bad) == 1 and bad["gate"].iloc[0] == "timestamp_unparseable"
    assert "2024-01-01T00:00:00Z" in bad["reason"].iloc[0]  # names the stamp that decided the form
