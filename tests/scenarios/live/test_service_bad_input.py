"""Bad input on a live feed: out-of-order bursts, clock jumps back and forward, a restart's redeliveries."""

import numpy as np

from scenarios.live.sources import LiveFeed
from sim.telemetry import ChannelMap, LiveTelemetry
from sim.telemetry.sources.live import LiveRecord, LiveSource

S = 1_000_000_000
T0 = 1_784_520_000 * S  # 2026-07-20 04:00 UTC


class Source(LiveSource):
    """A live source fed by the test (what a network thread would deliver)."""

    keys = ("plc/a", "plc/b")

    def start(self):
        return self

    def stop(self):
        pass

    def send(self, key, stamp_ns, value):
        self.deliver(LiveRecord(key, stamp_ns / S, value, stamp_ns, str(value)), (key, stamp_ns))


def feed(clock):
    cmap = ChannelMap.from_dict({"timezone": "UTC", "channels": {
        "a": {"topic": "plc/a", "unit": "K", "si_unit": "K", "lateness": 5},
        "b": {"topic": "plc/b", "unit": "K", "si_unit": "K", "lateness": 5}}})
    source = Source()
    return source, LiveFeed(LiveTelemetry(source, cmap, cmap.topics), linger_s=1.0, clock=clock).start()


def test_an_out_of_order_burst_is_put_in_order_and_a_clock_jump_back_is_quarantined():
    now = [0.0]
    source, f = feed(lambda: now[0])
    for dt in (0, 2, 1):  # out of order within the 5 s reorder window
        source.send("plc/a", T0 + dt * S, 300.0 + dt)
        source.send("plc/b", T0 + dt * S, 400.0 + dt)
    source.send("plc/a", T0 + 10 * S, 310.0)
    source.send("plc/b", T0 + 10 * S, 410.0)
    block = f.poll(100)
    assert block.stamps.tolist() == [T0, T0 + S, T0 + 2 * S]  # released in time order, 10 s still held
    np.testing.assert_array_equal(block.values[:, 0], [300.0, 301.0, 302.0])
    f.commit(block)
    source.send("plc/a", T0 - 100 * S, 1.0)  # the device clock jumps back: quarantined, never a row
    source.send("plc/b", T0 + 86400 * S, 999.0)  # and forward by a day on the other channel: a gap
    source.send("plc/a", T0 + 86400 * S, 998.0)
    now[0] = 5.0
    rows = f.poll(100)
    rest = f.stop()
    stamps = rows.stamps.tolist() + rest.stamps.tolist()
    assert T0 - 100 * S not in stamps
    assert stamps == sorted(stamps) and stamps[-1] == T0 + 86400 * S
    counts = f.live.stream().counts
    assert counts.loc["a", "timestamp_non_monotonic"] == 1
    assert counts.loc["TOTAL", "read"] == counts.loc["TOTAL", "accepted"] + counts.loc["TOTAL", "quarantined"]


def test_after_a_restart_samples_at_or_before_the_checkpointed_stamps_are_skipped():
    source, f = feed(lambda: 0.0)
    f.seek({"stamps": {"a": T0 + 5 * S, "b": T0 + 5 * S}})  # what the checkpoint stored
    for dt in (4, 5, 6):  # the broker redelivers what the twin had applied, then a new sample
        source.send("plc/a", T0 + dt * S, 1.0 + dt)
        source.send("plc/b", T0 + dt * S, 2.0 + dt)
    f.poll(100)
    block = f.stop()
    assert block.stamps.tolist() == [T0 + 6 * S]
    assert f.skipped_replayed == 4
