"""MQTT source: subscribe to mapped topics with QoS 1 and queue their JSON payloads.

The client keeps a persistent session (``clean_session=False``, MQTT 3.1.1) and
reconnects on its own, so a broker restart loses nothing the broker persisted (run
mosquitto with ``persistence true``).  Keep ``client_id`` stable across restarts of the
twin: the broker keeps the session's queued messages under it.

Payloads: a JSON object ``{"time": ..., "value": ..., "id": ..., "session": ...}``
(field names configurable with :class:`PayloadFields`; ``time`` may be ISO 8601 text or
Unix time [s], and without it the arrival time is used), or a bare JSON number.
Anything else is quarantined as ``unparseable`` with the payload as raw value.

De-duplication: only true redeliveries.  QoS 1 is "at least once", so the same message
may arrive twice; two messages that merely carry the same value are two samples.  A
delivery is quarantined as ``redelivery`` (read, counted, with a reason) when

1. the broker resent it: the MQTT DUP flag is set, and the most recent message this
   client session received with the same packet id - in an earlier connection, since a
   broker resends unacknowledged messages only on reconnect - had the same topic and
   payload; or
2. its payload identifies its sample and the same payload bytes were already read on
   the same topic (within ``history`` messages).  A payload identifies its sample when
   it carries a source stamp (``time``), or a sequence number (``id``) *together with* a
   publisher session (``session``: e.g. a boot counter or a UUID the publisher draws at
   start, as Sparkplug B's ``bdSeq``; use ``PayloadFields(id="seq", session="bdSeq")``).
   This also catches a publisher that resends after its own reconnect (the broker then
   forwards it as a new message, without DUP flag).

Bare numbers, ``{"value": v}`` and ``{"id": n, "value": v}`` without a stamp or session
identify nothing (a publisher that restarts may reuse its ids) and are never taken for a
redelivery by rule 2.  Limits: rule 1 cannot see a resend of a message the client
never received intact (it is then read once, as it should), and a publisher resend of a
payload without identity reaches the twin twice - give payloads a stamp or a session.

Security: :class:`MqttSecurity` turns on TLS (the CA that signed the broker's
certificate, and optionally a client certificate and key) and username/password
authentication; the password is a :class:`~sim.telemetry.sources.live.Secret`
(environment variable or file), resolved when connecting.  ``MqttSecurity.from_dict``
refuses a literal ``password``.
"""

from __future__ import annotations

import hashlib
import json
import ssl
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sim.exceptions import ConfigurationError, TelemetryError
from sim.telemetry.sources.live import LiveRecord, LiveSource, Secret, security_from

__all__ = ["MqttSecurity", "MqttSource", "PayloadFields", "decode_payload"]


@dataclass(frozen=True)
class PayloadFields:
    """Field names in JSON object payloads (see the module docstring for what identifies a message)."""

    time: str = "time"
    value: str = "value"
    id: str = "id"
    session: str = "session"


def _identified(data: dict, f: PayloadFields) -> bool:
    """Whether a payload object identifies its sample: a source stamp, or a sequence id within a session."""
    return data.get(f.time) is not None or (data.get(f.id) is not None and data.get(f.session) is not None)


def decode_payload(topic: str, payload: bytes, arrival_ns: int, fields: PayloadFields = PayloadFields()
                   ) -> tuple[LiveRecord, object]:
    """The record of one MQTT message and its message key (None: the payload identifies no sample)."""
    raw = payload.decode("utf-8", errors="replace")
    f = fields
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as err:
        return LiveRecord(topic, None, None, arrival_ns, raw,
                          problem=f"payload {raw[:80]!r} is not valid JSON ({err}); expected e.g. "
                                  f'{{"{f.time}": "2024-01-01T00:00:00Z", "{f.value}": 1.5}}'), None
    if isinstance(data, dict):
        key = ("payload", topic, hashlib.sha1(payload).digest()) if _identified(data, f) else None
        if f.value not in data:
            return LiveRecord(topic, data.get(f.time), None, arrival_ns, raw,
                              problem=f"payload has no {f.value!r} field (fields: {sorted(data)[:8]})"), key
        return LiveRecord(topic, data.get(f.time), data[f.value], arrival_ns, raw), key
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        return LiveRecord(topic, None, data, arrival_ns, raw), None
    return LiveRecord(topic, None, None, arrival_ns, raw,
                      problem=f"payload {raw[:80]!r} is JSON but neither an object nor a number"), None


@dataclass(frozen=True)
class MqttSecurity:
    """TLS and authentication of an MQTT connection.  Holds file paths and references, never a secret.

    Parameters
    ----------
    tls : bool
        Encrypt the connection (implied by any certificate setting).  The broker's
        certificate is checked against *ca_file* (or the system's CAs) and the host name.
    ca_file : str, optional
        PEM file of the CA(s) that signed the broker's certificate.
    cert_file, key_file : str, optional
        PEM client certificate and its private key (a file readable by the twin only),
        for brokers that require client certificates (``require_certificate true``).
    username : str, optional
        User name for the broker's password check.
    password : Secret, optional
        Where the password is kept (``Secret(env=...)`` or ``Secret(file=...)``).
    """

    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    username: str | None = None
    password: Secret | None = None

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ConfigurationError("mqtt security: cert_file and key_file go together; fix: give both or neither")
        if self.password is not None and not isinstance(self.password, Secret):
            raise ConfigurationError(
                "mqtt security: password must be a Secret reference, not a value; fix: "
                "password=Secret(env='TWINBENCH_MQTT_PASSWORD') or Secret(file='/run/secrets/mqtt_password')")
        if self.password is not None and self.username is None:
            raise ConfigurationError("mqtt security: a password needs a username; fix: set username")

    @property
    def uses_tls(self) -> bool:
        return self.tls or any(v is not None for v in (self.ca_file, self.cert_file))

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> MqttSecurity:
        """From a config mapping: ``tls``, ``ca_file``, ``cert_file``, ``key_file``, ``username`` and
        ``password_env`` or ``password_file`` (a literal ``password`` is refused)."""
        return security_from(cls, config, where="mqtt")

    def to_dict(self) -> dict[str, Any]:
        """The settings as a config mapping (the password as its reference): safe to log and track."""
        out: dict[str, Any] = {"tls": self.tls}
        out.update({k: getattr(self, k) for k in ("ca_file", "cert_file", "key_file", "username")
                    if getattr(self, k) is not None})
        if self.password is not None:
            out.update({f"password_{k}": v for k, v in self.password.to_dict().items()})
        return out

    redacted = to_dict

    def ssl_context(self) -> ssl.SSLContext:
        """The client's TLS context: broker certificate and host name checked, TLS 1.2 at least."""
        try:
            context = ssl.create_default_context(cafile=self.ca_file)
            if self.cert_file is not None:
                context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as err:
            raise ConfigurationError(
                f"mqtt security: cannot load the TLS files (ca_file {self.ca_file}, cert_file {self.cert_file}, "
                f"key_file {self.key_file}): {err}; fix: give readable PEM files") from None
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context


_CONNACK_FIX = {
    "Not authorized": "check username and password (and the broker's password_file / acl_file)",
    "Bad user name or password": "check username and password",
}


class MqttSource(LiveSource):
    """Receive telemetry from an MQTT broker (paho-mqtt, MQTT 3.1.1).

    Parameters
    ----------
    host : str
        Broker host, e.g. ``"127.0.0.1"`` (with TLS: the name in the broker's certificate).
    port : int
        Broker port (usually 1883, or 8883 with TLS).
    topics : sequence of str
        Topics to subscribe to (typically ``channel_map.topics``); exact names.
    client_id : str, optional
        Client id of the persistent session; keep it stable across restarts of the twin.
    qos : int
        Subscription QoS (1: every message at least once; redeliveries are recognized).
    payload : PayloadFields
        Field names in JSON object payloads.
    security : MqttSecurity, optional
        TLS and username/password (default: plain TCP, anonymous).
    keepalive : int
        MQTT keepalive [s]; a dead broker is noticed after about 1.5 x this.
    reconnect_delay : tuple[float, float]
        First and longest wait between reconnect attempts [s].
    history : int
        Message keys remembered to recognize a redelivery.
    """

    def __init__(self, host: str, port: int, topics: Sequence[str], *, client_id: str | None = None, qos: int = 1,
                 payload: PayloadFields = PayloadFields(), security: MqttSecurity | None = None, keepalive: int = 5,
                 reconnect_delay: tuple[float, float] = (0.05, 1.0), history: int = 1 << 17):
        super().__init__(history=history)
        if not topics:
            raise ConfigurationError("topics is empty; fix: give channels a topic in the channel map")
        if qos not in (0, 1, 2):
            raise ConfigurationError(f"qos {qos!r} must be 0, 1 or 2; fix: use 1")
        self.host, self.port, self.topics, self.qos = host, int(port), tuple(topics), qos
        self.client_id = client_id or f"twinbench-{uuid.uuid4().hex[:12]}"
        self.payload, self.security = payload, security or MqttSecurity()
        self.keepalive, self.reconnect_delay = keepalive, reconnect_delay
        self.connected = threading.Event()
        self.connects = 0  # successful connections (1 + reconnects)
        self.refused = ""  # why the broker refused the last connection attempt ("" if it did not)
        self._client = None
        self._packets: dict[int, tuple[bytes, int]] = {}  # packet id -> (digest, connection) of its last message

    @property
    def keys(self) -> tuple[str, ...]:
        return self.topics

    def to_dict(self) -> dict[str, Any]:
        """The source's settings, secrets as references only: safe for logs and MLflow params."""
        return {"host": self.host, "port": self.port, "topics": list(self.topics), "client_id": self.client_id,
                "qos": self.qos, "payload": vars(self.payload).copy(), "security": self.security.to_dict()}

    redacted = to_dict

    def __repr__(self) -> str:
        return f"MqttSource({self.host!r}, {self.port}, {list(self.topics)!r}, security={self.security.to_dict()!r})"

    def start(self) -> MqttSource:
        """Connect (asynchronously) and receive in paho's network thread; returns self."""
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False,
                             protocol=mqtt.MQTTv311)
        security = self.security
        if security.uses_tls:
            client.tls_set_context(security.ssl_context())
        if security.username is not None:
            password = None if security.password is None else security.password.reveal("mqtt password")
            client.username_pw_set(security.username, password)
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
            if self.refused:
                fix = next((v for k, v in _CONNACK_FIX.items() if k.lower() in self.refused.lower()),
                           "check the broker's log")
                raise TelemetryError(f"MQTT broker {self.host}:{self.port} refused the connection: {self.refused}; "
                                     f"fix: {fix}")
            problem = self._tls_problem() if self.security.uses_tls else ""
            if problem:
                raise TelemetryError(
                    f"MQTT broker {self.host}:{self.port}: the TLS handshake fails ({problem}); fix: check that "
                    f"ca_file signed the broker's certificate, that the host name is in it, and that the broker "
                    f"accepts the client certificate")
            raise TelemetryError(
                f"MQTT broker {self.host}:{self.port} did not accept a connection within {timeout} s; "
                f"fix: check that it runs and listens there (a TLS port such as 8883 needs security.ca_file)"
            )

    def _tls_problem(self, timeout: float = 2.0) -> str:
        """Why a TLS handshake with the broker fails ("" if it succeeds): paho retries without saying."""
        import socket

        try:
            with socket.create_connection((self.host, self.port), timeout=timeout) as raw:
                with self.security.ssl_context().wrap_socket(raw, server_hostname=self.host) as tls:
                    tls.settimeout(0.3)
                    try:
                        tls.recv(1)  # (TLS 1.3: a refused client certificate shows at the first read)
                    except (socket.timeout, TimeoutError):
                        pass
        except ssl.SSLError as err:
            return f"{type(err).__name__}: {err.reason or err}"
        except OSError:
            return ""
        return ""

    def stop(self) -> None:
        """Disconnect and stop paho's network thread."""
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
        self.connected.clear()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.refused = str(reason_code)
            return
        self.refused = ""
        self.connects += 1  # (before any message of this connection: paho handles packets in order)
        client.subscribe([(topic, self.qos) for topic in self.topics])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()

    def _on_message(self, client, userdata, message) -> None:  # decoded in the consumer's thread
        self.deliver_raw((message.topic, message.payload, time.time_ns(), message.mid, message.dup, message.qos,
                          self.connects))

    def decode(self, item) -> tuple[LiveRecord, object]:
        topic, payload, arrival_ns, mid, dup, qos, connection = item
        record, key = decode_payload(topic, payload, arrival_ns, self.payload)
        if qos > 0:  # rule 1: the broker's resend of an unacknowledged message
            digest = hashlib.sha1(topic.encode("utf-8") + b"\0" + payload).digest()
            last = self._packets.get(mid)
            self._packets[mid] = (digest, connection)
            if dup and last is not None and last[0] == digest and last[1] < connection:
                record = record._replace(redelivery=(
                    f"MQTT redelivery: DUP flag set and packet id {mid} carried the same topic and payload before "
                    f"the reconnect (the broker resent a message whose acknowledgement it did not get)"))
        return record, key

    def repeat_reason(self, record: LiveRecord, first: int) -> str:
        return (f"repeats delivery {first}: same topic and payload, and the payload identifies its sample "
                f"(source stamp, or sequence and publisher session); MQTT delivers at least once")
