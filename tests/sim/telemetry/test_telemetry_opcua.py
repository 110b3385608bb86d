"""OPC UA against a real asyncua server acting as a simulated PLC, across a server restart."""

import datetime as dt
import time

import numpy as np
import pytest

from sim.telemetry import ChannelMap, LiveTelemetry
from sim.telemetry.sources.opcua import OpcUaSource
from tests.sim.telemetry.live_helpers import wait_until



def first_stamp():
    """Naive UTC (as OPC UA stamps are), after the server's initial stamps and within the future tolerance."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0) + dt.timedelta(seconds=2)


def channel_map(plc):
    return ChannelMap.from_dict({"channels": {
        "motor_current": {"node": plc.node("M1.Current"), "unit": "A", "si_unit": "A", "range": [0, 500]},
        "winding_temperature": {"node": plc.node("M1.WindingTemp"), "unit": "degC", "si_unit": "K",
                                "range": [-40, 250]},
    }})


@pytest.mark.slow
def test_subscription_survives_a_server_restart_and_counts_every_value_once(plc):
    m = channel_map(plc)
    source = OpcUaSource(plc.url, list(m.nodes), watchdog=0.2, reconnect_delay=(0.05, 0.5))
    live = LiveTelemetry(source, m, m.nodes, name=plc.url).start()
    try:
        source.wait_connected(15)
        t0 = first_stamp()
        written = 0

        def burst(start, count):
            nonlocal written
            for i in range(start, start + count):
                stamp = t0 + dt.timedelta(seconds=i)
                plc.write("M1.Current", 600.0 if i % 10 == 3 else 10.0 + i, stamp)  # every 10th out of range
                plc.write("M1.WindingTemp", 20.0 + 0.1 * i, stamp)
                written += 2

        burst(1, 30)
        wait_until(lambda: live.poll() is not None and live.rows >= written + 2, 15, "the first burst")
        plc.restart()  # the client notices, reconnects and subscribes again; the PLC re-reports its last values
        wait_until(lambda: source.connects >= 2, 20, "the reconnect")
        burst(31, 30)
        wait_until(lambda: live.poll() is not None and live.rows >= written + 2, 15, "the second burst")
        time.sleep(0.3)
    finally:
        live.stop()
    stream = live.stream()
    stream.check_accounting()
    # 2 initial values (0.0, server stamp) when first subscribing, then every written value exactly once;
    # the last values re-reported after the restart are recognized, read and quarantined as redeliveries
    assert stream.rows_read == source.received == written + 2 + source.redelivered
    assert source.redelivered >= 2
    counts = stream.counts
    assert counts.loc["TOTAL", "redelivery"] == source.redelivered
    assert counts.loc["motor_current", "out_of_range"] == 6, (counts.to_string(), stream.quarantine.to_string())
    assert counts.loc["TOTAL", "timestamp_duplicate"] == 0
    current = stream.frame["motor_current"].dropna()
    expected = [10.0 + i for i in range(1, 61) if i % 10 != 3]
    assert current.iloc[-len(expected):].tolist() == expected
    stamps = current.index[-len(expected):]
    assert stamps[0] == (t0 + dt.timedelta(seconds=1)).replace(tzinfo=dt.timezone.utc)
    temperature = stream.frame["winding_temperature"].dropna().iloc[-60:]
    np.testing.assert_allclose(temperature, 273.15 + 20 + 0.1 * np.arange(1, 61))


@pytest.mark.slow
def test_a_repeated_value_with_a_new_source_stamp_is_a_new_sample(plc):
    """A PLC writing the same reading again (a steady motor) makes new samples: the subscription's data-change
    trigger includes the timestamp (the server's default, StatusValue, would report none of the repeats)."""
    m = channel_map(plc)
    source = OpcUaSource(plc.url, list(m.nodes), watchdog=0.2)
    live = LiveTelemetry(source, m, m.nodes, name=plc.url).start()
    try:
        source.wait_connected(15)
        t0 = first_stamp()
        for i in range(1, 11):
            plc.write("M1.Current", 12.5, t0 + dt.timedelta(seconds=i))  # ten equal readings, ten stamps
        wait_until(lambda: live.poll() is not None and live.rows >= 10 + 2, 15, "the repeated readings")
        time.sleep(0.3)
    finally:
        live.stop()
    current = live.stream().frame["motor_current"].dropna()
    assert current.iloc[-10:].tolist() == [12.5] * 10
    assert current.index[-1] == (t0 + dt.timedelta(seconds=10)).replace(tzinfo=dt.timezone.utc)


def test_unreachable_server_is_reported_with_the_url():
    source = OpcUaSource("opc.tcp://127.0.0.1:9/none/", ["ns=2;s=X"], reconnect_delay=(0.05, 0.1))
    source.start()
    try:
        try:
            source.wait_connected(1.0)
        except Exception as err:
            assert "opc.tcp://127.0.0.1:9/none/" in str(err) and "fix" in str(err)
        else:
            raise AssertionError("connected to nothing")
    finally:
        source.stop()
