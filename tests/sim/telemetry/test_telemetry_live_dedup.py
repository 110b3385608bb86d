"""MQTT de-duplication drops only true redeliveries (issue 13 item 2), against a real mosquitto broker.

A message is dropped only when it is provably the same message again: the broker resent it
(DUP flag, same packet id, same topic and payload as the message of that id received before the
reconnect), or its payload identifies its sample (a source stamp, or a sequence id together with
a publisher session) and the same payload bytes were already read on that topic.  Every drop is
read and quarantined under the gate ``redelivery``; nothing disappears from the accounting.
"""

import json
import time

import paho.mqtt.client as mqtt
import pytest

from sim.telemetry import ChannelMap, LiveTelemetry, MqttSource
from sim.telemetry.sources.mqtt import PayloadFields, decode_payload
from tests.sim.telemetry.live_helpers import publisher, wait_until

TOPIC = "plant/m1/current"
MAP = ChannelMap.from_dict({"channels": {
    "motor_current": {"topic": TOPIC, "unit": "A", "si_unit": "A", "range": [-1e6, 1e6]}}})
T0 = 1_700_000_000.0  # Unix time of the first source stamp [s]


def receive(port, payloads, *, source=None, settle=0.3, during=None):
    """Publish *payloads* at QoS 1 on TOPIC and gate what arrives; returns (stream, source).

    *during(i)* runs before payload *i* is published (e.g. to restart the broker)."""
    source = source or MqttSource("127.0.0.1", port, [TOPIC], client_id="twin-under-test")
    live = LiveTelemetry(source, MAP, MAP.topics).start()
    pub = None
    try:
        source.wait_connected()
        pub = publisher(port)
        for i, payload in enumerate(payloads):
            if during is not None:
                during(i)
            pub.publish(TOPIC, payload, qos=1)
        wait_until(lambda: live.poll() is not None and live.rows >= len(payloads), 30,
                   f"{len(payloads)} messages")
        time.sleep(settle)  # late redeliveries, if any, are read (and quarantined) too
    finally:
        if pub is not None:
            pub.loop_stop()
            pub.disconnect()
        live.stop()
    stream = live.stream()
    stream.check_accounting()
    return stream, source


def assert_exact(stream, source, accepted):
    """Every publish accepted once; whatever arrived more is read and quarantined as ``redelivery``."""
    counts = stream.counts.loc["motor_current"]
    assert counts["accepted"] == accepted, stream.counts.to_string()
    assert counts["read"] == accepted + source.redelivered == source.received
    assert counts["quarantined"] == counts["redelivery"] == source.redelivered


def test_payload_identity_rule():
    fields = PayloadFields()
    assert decode_payload(TOPIC, b"21.5", 1, fields)[1] is None  # a bare number identifies nothing
    assert decode_payload(TOPIC, b'{"value": 1}', 1, fields)[1] is None
    assert decode_payload(TOPIC, b'{"id": 3, "value": 1}', 1, fields)[1] is None  # an id alone may restart
    stamped = decode_payload(TOPIC, b'{"time": 5, "value": 1}', 1, fields)[1]
    assert stamped is not None and stamped == decode_payload(TOPIC, b'{"time": 5, "value": 1}', 2, fields)[1]
    assert stamped != decode_payload("other/topic", b'{"time": 5, "value": 1}', 1, fields)[1]
    session = decode_payload(TOPIC, b'{"session": "boot-1", "id": 3, "value": 1}', 1, fields)[1]
    assert session is not None
    assert session != decode_payload(TOPIC, b'{"session": "boot-2", "id": 3, "value": 1}', 1, fields)[1]
    sparkplug = PayloadFields(id="seq", session="bdSeq")
    assert decode_payload(TOPIC, b'{"bdSeq": 1, "seq": 3, "value": 1}', 1, sparkplug)[1] is not None


def test_a_constant_bare_number_loses_no_sample(mosquitto):
    stream, source = receive(mosquitto.port, [b"21.5"] * 600)
    assert_exact(stream, source, 600)
    assert source.redelivered == 0


def test_a_value_object_with_three_values_loses_no_sample(mosquitto):
    stream, source = receive(mosquitto.port, [json.dumps({"value": i % 3}).encode() for i in range(600)])
    assert_exact(stream, source, 600)
    assert sorted(stream.frame["motor_current"].value_counts().tolist()) == [200, 200, 200]


def test_a_publisher_that_restarts_its_ids_loses_no_sample(mosquitto):
    stamped = [json.dumps({"id": i % 300, "time": T0 + i, "value": float(i)}).encode() for i in range(600)]
    stream, source = receive(mosquitto.port, stamped)
    assert_exact(stream, source, 600)
    assert stream.frame["motor_current"].tolist() == [float(i) for i in range(600)]


def test_a_new_publisher_session_restarts_its_sequence(mosquitto):
    payloads = [json.dumps({"session": f"boot-{i // 300}", "id": i % 300, "value": float(i % 7)}).encode()
                for i in range(600)]
    stream, source = receive(mosquitto.port, payloads)
    assert_exact(stream, source, 600)


def test_a_publisher_resend_of_an_identified_message_is_quarantined_as_redelivery(mosquitto):
    base = [json.dumps({"session": "boot-1", "id": i, "value": float(i)}).encode() for i in range(100)]
    resent = base + base[40:50]  # a publisher that resends ten messages (e.g. from its store after a reconnect)
    stream, source = receive(mosquitto.port, resent)
    assert_exact(stream, source, 100)
    assert source.redelivered == 10
    q = stream.quarantine
    assert (q["gate"] == "redelivery").sum() == 10
    assert q["reason"].str.contains("repeats delivery").all() and q["reason"].str.contains("payload").all()
    assert sorted(q["row"]) == list(range(101, 111))


class AckWithholdingSource(MqttSource):
    """Receives like MqttSource but, while ``withhold`` is true, sends no PUBACK: the broker then resends
    those messages (DUP flag, same packet id) after the next reconnect, as after a crash between
    receipt and acknowledgement."""

    withhold = False

    def start(self):
        super().start()
        send = self._client._send_puback

        def maybe(mid):
            return mqtt.MQTT_ERR_SUCCESS if self.withhold else send(mid)

        self._client._send_puback = maybe
        return self


@pytest.mark.slow
@pytest.mark.parametrize("identified", [False, True], ids=["bare-values", "session-and-sequence"])
def test_zero_loss_and_zero_duplicates_across_a_broker_restart(mosquitto, identified):
    n, withheld = 600, range(200, 230)
    if identified:
        payloads = [json.dumps({"session": "boot-1", "id": i, "value": float(i)}).encode() for i in range(n)]
    else:  # nothing in the payload identifies a message: only the broker's DUP flag and packet id can
        payloads = [json.dumps({"value": float(i)}).encode() for i in range(n)]
    source = AckWithholdingSource("127.0.0.1", mosquitto.port, [TOPIC], client_id="twin-under-test")

    def arrived(count):
        wait_until(lambda: source.queued + source.received >= count, 10, f"{count} deliveries")

    def during(i):
        if i == withheld.start:
            arrived(i)  # messages before the window are acknowledged
            source.withhold = True
        if i == withheld.stop:
            arrived(i)  # the withheld messages have arrived (unacknowledged)
            source.withhold = False
            mosquitto.restart()  # mid-stream, QoS 1, persistent sessions, broker persistence on
        if identified and i == 400:
            mosquitto.restart()  # while the publisher has messages in flight: it may resend some

    stream, source = receive(mosquitto.port, payloads, source=source, during=during, settle=1.0)
    values = stream.frame["motor_current"].dropna().tolist()
    lost, duplicated = n - len(set(values)), len(values) - len(set(values))
    assert (lost, duplicated) == (0, 0)
    assert sorted(values) == [float(i) for i in range(n)]
    assert_exact(stream, source, n)
    assert source.connects >= 2 and source.redelivered >= len(withheld)  # the broker did resend them
    if not identified:  # one restart at a quiet moment for the publisher: exactly the withheld messages
        assert source.redelivered == len(withheld)
        redelivered = stream.quarantine
        assert sorted(redelivered["raw_value"].map(lambda raw: json.loads(raw)["value"])) == [
            float(i) for i in withheld]
        assert redelivered["reason"].str.contains("DUP flag").all()
    by_broker = int(stream.quarantine["reason"].str.contains("DUP flag").sum())
    print(f"broker restart ({'identified' if identified else 'bare'} payloads): lost {lost}, duplicated "
          f"{duplicated}, redeliveries quarantined {source.redelivered} of {source.received} read "
          f"({by_broker} by DUP flag and packet id, {source.redelivered - by_broker} by payload identity)")


class QueueOnly(MqttSource):
    """An MqttSource fed by hand: its paho callbacks are called with real paho messages, no network."""

    def start(self):
        return self

    def stop(self):
        pass

    def receive(self, payload, *, mid, dup=False, connection=1):
        message = mqtt.MQTTMessage(mid, TOPIC.encode())
        message.payload, message.qos, message.dup = payload, 1, dup
        self.connects = connection
        self._on_message(None, None, message)


def test_a_dup_flag_alone_is_not_a_redelivery():
    source = QueueOnly("127.0.0.1", 1, [TOPIC])
    live = LiveTelemetry(source, MAP, MAP.topics).start()
    source.receive(b"21.5", mid=7)
    source.receive(b"21.5", mid=7, dup=True, connection=1)  # same connection: not a broker resend
    source.receive(b"21.5", mid=8, dup=True, connection=2)  # never received before: the first copy
    source.receive(b"21.6", mid=7, dup=True, connection=2)  # another payload under that packet id
    source.receive(b"21.6", mid=7, dup=True, connection=3)  # ... resent after a second reconnect
    live.stop()
    stream = live.stream()
    stream.check_accounting()
    assert stream.counts.loc["motor_current", ["read", "accepted", "redelivery"]].tolist() == [5, 4, 1]
    (reason,) = stream.quarantine["reason"]
    assert reason.startswith("motor_current: MQTT redelivery: DUP flag set and packet id 7")
