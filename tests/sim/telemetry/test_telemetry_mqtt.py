"""MQTT against a real mosquitto broker: gates, exactly-once accounting across a broker restart, SimPy replay."""

import json
import time

import numpy as np
import pytest

from sim.telemetry import ChannelMap, LiveTelemetry, MqttSource, environment, live_replay
from sim.telemetry.sources.mqtt import decode_payload
from tests.sim.telemetry.live_helpers import publisher, wait_until

TOPICS = ("plant/m1/current", "plant/m1/winding", "plant/p1/pressure")
MAP = ChannelMap.from_dict({"channels": {
    "motor_current": {"topic": TOPICS[0], "unit": "A", "si_unit": "A", "range": [0, 1e6], "lateness": 3600},
    "winding_temperature": {"topic": TOPICS[1], "unit": "degC", "si_unit": "K", "range": [-40, 1e6],
                            "lateness": 3600},
    "discharge_pressure": {"topic": TOPICS[2], "unit": "bar", "si_unit": "Pa", "range": [0, 1e6], "lateness": 3600},
}})
T0 = 1_700_000_000.0  # Unix time of the first stamp [s]


def message(i):
    """Payload i and the gate it must end in (None: accepted with value i + 0.5 in the source unit)."""
    channel = i % 3
    if i % 37 == 5:
        return b"{not json " + str(i).encode(), "unparseable"
    if i % 41 == 7:
        return json.dumps({"id": i, "time": T0 + i, "value": -100}).encode(), "out_of_range"
    if i % 53 == 9 and (i - 3) % 37 != 5:  # repeats the stamp of this channel's previous message: a duplicate sample, not a redelivery
        return json.dumps({"id": i, "time": T0 + i - 3, "value": i + 0.5}).encode(), "timestamp_duplicate"
    return json.dumps({"id": i, "time": T0 + i, "value": i + 0.5}).encode(), (None, channel)


def expected(n):
    gates, good = {}, {}
    for i in range(n):
        _, outcome = message(i)
        if isinstance(outcome, tuple):
            good.setdefault(MAP.names[outcome[1]], set()).add(i + 0.5)
        else:
            gates[outcome] = gates.get(outcome, 0) + 1
    return gates, good


def test_decode_payload_forms():
    rec, key = decode_payload("t", b'{"time": 5, "value": "1,5", "id": 7}', 1)
    assert (rec.time, rec.value, rec.problem, rec.redelivery) == (5, "1,5", "", "") and key is not None
    rec, key = decode_payload("t", b"12.5", 1)
    assert (rec.time, rec.value, key) == (None, 12.5, None)
    assert "not valid JSON" in decode_payload("t", b"\xff{", 1)[0].problem
    assert "no 'value' field" in decode_payload("t", b'{"v": 1}', 1)[0].problem
    assert "neither an object nor a number" in decode_payload("t", b'"x"', 1)[0].problem


@pytest.mark.slow
def test_every_message_is_accepted_or_quarantined_once_across_a_broker_restart(mosquitto):
    n = 900
    source = MqttSource("127.0.0.1", mosquitto.port, [*TOPICS, "plant/unmapped"], client_id="twin-under-test")
    live = LiveTelemetry(source, MAP, MAP.topics).start()
    source.wait_connected()
    pub = publisher(mosquitto.port)
    try:
        for i in range(n):
            payload, _ = message(i)
            pub.publish(TOPICS[i % 3], payload, qos=1)
            if i == n // 3:
                mosquitto.restart()  # mid-stream: in-flight and queued messages must survive
            if i == 2 * n // 3:
                pub.publish("plant/unmapped", b'{"value": 1}', qos=1)
        wait_until(lambda: live.poll() is not None and live.rows >= n + 1, 30, f"{n + 1} messages")
        time.sleep(0.3)  # late redeliveries, if any, are read and quarantined too
    finally:
        pub.loop_stop()
        pub.disconnect()
        live.stop()
    stream = live.stream()
    stream.check_accounting()
    assert stream.rows_read == source.received and source.connects >= 2
    gates, good = expected(n)
    gates["redelivery"] = source.redelivered  # every redelivery is read and quarantined, with its reason
    # the publisher resends its unacknowledged messages after the restart and the broker forwards them as new
    # (no DUP flag): a payload with a stamp is recognized as a repeat, one without identity (the malformed
    # '{not json i') is read again - the documented limit of the de-duplication, and it is quarantined again
    counts = stream.counts
    unmapped = int(counts.loc["unmapped", "read"])  # '{"value": 1}' has no identity either
    assert unmapped >= 1 and counts.loc["unmapped", "schema"] == unmapped
    extra = source.received - (n + 1 + source.redelivered) - (unmapped - 1)
    assert 0 <= extra <= gates["unparseable"], extra
    gates["unparseable"] += extra
    for gate, k in gates.items():
        assert counts.loc["TOTAL", gate] == k, gate
    assert counts.loc["TOTAL", "timestamp_non_monotonic"] == 0  # the reorder buffer absorbed any reordering
    for name in MAP.names:
        channel = MAP.channels[MAP.names.index(name)]
        scale, offset = channel.scale_offset
        got = (stream.frame[name].dropna().to_numpy() - offset) / scale
        assert sorted(np.round(got, 6)) == sorted(good[name])
    assert stream.frame.index.is_monotonic_increasing
    bad_json = stream.quarantine[stream.quarantine["gate"] == "unparseable"]
    assert bad_json["raw_value"].str.startswith("{not json").all() and bad_json["reason"].str.contains("JSON").all()


def test_live_replay_on_the_realtime_clock(mosquitto):
    prompt = ChannelMap.from_dict({"channels": {"motor_current": {"topic": TOPICS[0], "unit": "A", "si_unit": "A"}}})
    source = MqttSource("127.0.0.1", mosquitto.port, TOPICS[:1])
    live = LiveTelemetry(source, prompt, prompt.topics).start()  # no lateness: samples are released at once
    source.wait_connected()
    pub = publisher(mosquitto.port)
    env = environment(speed=1.0)  # live data: the simulation clock follows the wall clock
    seen = []
    start = time.time()
    process = env.process(live_replay(env, live, lambda t, values: seen.append((env.now, t, values)),
                                      poll_interval=0.1, until=lambda: len(seen) >= 5 or env.now > 20))
    for i in range(5):
        pub.publish(TOPICS[0], json.dumps({"time": start + i * 0.01, "value": float(i)}), qos=1)
    env.run(until=process)
    pub.loop_stop()
    pub.disconnect()
    live.stop()
    assert [v["motor_current"] for _, _, v in seen] == [0.0, 1.0, 2.0, 3.0, 4.0]
    for now, t, _ in seen:  # each sample is delivered at the first poll after it arrived
        assert now - 0.1 - 1.0 <= t <= now + 0.05
    with pytest.raises(Exception, match="poll_interval"):
        next(live_replay(env, live, print, poll_interval=0))
