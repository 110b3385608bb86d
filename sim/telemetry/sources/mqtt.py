"""MQTT source: subscribe to mapped topics with QoS 1 and queue their JSON payloads.

The client keeps a persistent session (``clean_session=False``) and reconnects on
its own, so a broker restart loses nothing the broker persisted; messages the
broker delivers twice (QoS 1 is "at least once") are recognized by their id field,
or else by topic and payload, and counted in ``redelivered`` instead of ``read``.

Payloads: a JSON object ``{"time": ..., "value": ..., "id": ...}`` (field names
configurable; ``time`` may be ISO 8601 text or Unix time [s], and without it the
arrival time is used), or a bare JSON number.  Anything else is quarantined as
``unparseable`` with the payload as raw value.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Sequence

from sim.exceptions import ConfigurationError, TelemetryError
from sim.telemetry.sources.live import LiveRecord, LiveSource

__all__ = ["MqttSource", "decode_payload"]


def decode_payload(topic: str, payload: bytes, arrival_ns: int, *, time_field: str = "time",
                   value_field: str = "value", id_field: str = "id") -> tuple[LiveRecord, object]:
    """The record of one MQTT message and its de-duplication key."""
    raw = payload.decode("utf-8", errors="replace")
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as err:
        key = ("sha1", topic, hashlib.sha1(payload).hexdigest())
        return LiveRecord(topic, None, None, arrival_ns, raw,
                          problem=f"payload {raw[:80]!r} is not valid JSON ({err}); expected e.g. "
                                  f'{{"{time_field}": "2024-01-01T00:00:00Z", "{value_field}": 1.5}}'), key
    if isinstance(data, dict):
        msg_id = data.get(id_field)
        if isinstance(msg_id, (int, str)) and not isinstance(msg_id, bool):
            key = ("id", topic, type(msg_id).__name__, msg_id)
        elif msg_id is not None:
            key = ("id", topic, "json", json.dumps(msg_id, sort_keys=True))
        else:
            key = ("sha1", topic, hashlib.sha1(payload).hexdigest())
        if value_field not in data:
            return LiveRecord(topic, data.get(time_field), None, arrival_ns, raw,
                              problem=f"payload has no {value_field!r} field (fields: {sorted(data)[:8]})"), key
        return LiveRecord(topic, data.get(time_field), data[value_field], arrival_ns, raw), key
    key = ("sha1", topic, hashlib.sha1(payload).hexdigest())
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        return LiveRecord(topic, None, data, arrival_ns, raw), key
    return LiveRecord(topic, None, None, arrival_ns, raw,
                      problem=f"payload {raw[:80]!r} is JSON but neither an object nor a number"), key


class MqttSource(LiveSource):
    """Receive telemetry from an MQTT broker (paho-mqtt, MQTT 3.1.1).

    Parameters
    ----------
    host : str
        Broker host, e.g. ``"127.0.0.1"``.
    port : int
        Broker port.
    topics : sequence of str
        Topics to subscribe to (typically ``channel_map.topics``); exact names.
    client_id : str, optional
        Client id of the persistent session; keep it stable across restarts of the twin.
    qos : int
        Subscription QoS (1: every message at least once; duplicates are detected).
    time_field, value_field, id_field : str
        Field names in JSON object payloads.
    keepalive : int
        MQTT keepalive [s]; a dead broker is noticed after about 1.5 x this.
    reconnect_delay : tuple[float, float]
        First and longest wait between reconnect attempts [s].
    """

    def __init__(self, host: str, port: int, topics: Sequence[str], *, client_id: str | None = None, qos: int = 1,
                 time_field: str = "time", value_field: str = "value", id_field: str = "id", keepalive: int = 5,
                 reconnect_delay: tuple[float, float] = (0.05, 1.0), history: int = 1 << 17):
        super().__init__(history=history)
        if not topics:
            raise ConfigurationError("topics is empty; fix: give channels a topic in the channel map")
        if qos not in (0, 1, 2):
            raise ConfigurationError(f"qos {qos!r} must be 0, 1 or 2; fix: use 1")
        self.host, self.port, self.topics, self.qos = host, int(port), tuple(topics), qos
        self.client_id = client_id or f"twinbench-{uuid.uuid4().hex[:12]}"
        self.fields = {"time_field": time_field, "value_field": value_field, "id_field": id_field}
        self.keepalive, self.reconnect_delay = keepalive, reconnect_delay
        self.connected = threading.Event()
        self.connects = 0  # successful connections (1 + reconnects)
        self._client = None

    @property
    def keys(self) -> tuple[str, ...]:
        return self.topics

    def start(self) -> MqttSource:
        """Connect (asynchronously) and receive in paho's network thread; returns self."""
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False,
                             protocol=mqtt.MQTTv311)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(*self.reconnect_delay)
        client.max_inflight_messages_set(1000)
        client.connect_async(self.host, self.port, keepalive=self.keepalive)
        client.loop_start()
        self._client = client
        return self

    def wait_connected(self, timeout: float = 10.0) -> None:
        """Block until the broker accepted the connection and acknowledged the subscription."""
        if not self.connected.wait(timeout):
            raise TelemetryError(
                f"MQTT broker {self.host}:{self.port} did not accept a connection within {timeout} s; "
                f"fix: check that it runs and listens there"
            )

    def stop(self) -> None:
        """Disconnect and stop paho's network thread."""
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
        self.connected.clear()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            return
        client.subscribe([(topic, self.qos) for topic in self.topics])
        self.connects += 1

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()

    def _on_message(self, client, userdata, message) -> None:
        self.deliver_raw((message.topic, message.payload, time.time_ns()))  # decoded in the consumer's thread

    def decode(self, item) -> tuple[LiveRecord, object]:
        topic, payload, arrival_ns = item
        return decode_payload(topic, payload, arrival_ns, **self.fields)
