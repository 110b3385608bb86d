"""The live twin on MQTT: what it publishes (:class:`MqttPublisher`) and the operator commands it takes
(:class:`MqttCommands`), with paho-mqtt 2 (MQTT 3.1.1) and the telemetry sources' security settings
(:class:`~sim.telemetry.sources.mqtt.MqttSecurity`: TLS, client certificates, user and password as a
:class:`~sim.telemetry.sources.live.Secret`).

Topics (``<prefix>`` e.g. ``plant-a/line1``; the JSON schemas are in ``docs/live-io.md``):

=====================================  =====  ========  =======================================================
topic                                  QoS    retained  payload
=====================================  =====  ========  =======================================================
``<prefix>/twin/status``               1      yes       ``online`` on connect; ``offline`` on a clean stop and,
                                                        as the Last Will, when the twin vanishes
``<prefix>/<asset>/twin/state``        0 [1]_ yes       :meth:`LiveBoard.asset_state`
``<prefix>/<asset>/twin/estimates``    0 [1]_ yes       :meth:`LiveBoard.asset_estimates` (parameters with
                                                        intervals), published when they change
``<prefix>/<asset>/twin/alarms``       1      no        one alarm event (raised, updated, acknowledged,
                                                        cleared, shelved) with the alarm's fields
``<prefix>/<asset>/twin/advice``       1      yes       the last recommendation
``<prefix>/<asset>/twin/decisions``    1      no        one governance decision
``<prefix>/cmd/<verb>``                1      no        operator command in (``ack``, ``shelve``, ``approve``,
                                                        ``whatif``, ``setpoint``; see ``parse_command``)
``<prefix>/cmd/result``                1      no        the outcome of each command: accepted, or refused with
                                                        its reason
=====================================  =====  ========  =======================================================

.. [1] ``state_qos``: the newest state supersedes a lost one, so QoS 0 keeps the latency low; set 1 if wanted.

The default is advisory: a ``setpoint`` command is refused unless the :class:`CommandPolicy` enables setpoints and
the value lies inside its envelope.  Commands are taken on a clean session (a command sent while the twin was
offline is not carried out late, and the operator sees no result for it), and a *retained* command is refused
(it would be replayed at every reconnect).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from sim.exceptions import ConfigurationError, TelemetryError
from sim.telemetry.sources.mqtt import MqttSecurity
from scenarios.live.board import Command, CommandPolicy, LiveBoard, jsonable, run_command

__all__ = ["MqttCommands", "MqttPublisher", "mqtt_settings", "to_json"]

_KINDS = ("state", "estimates", "alarms", "advice", "decisions")


def to_json(value: Any) -> bytes:
    """Strict JSON bytes of *value* (see :func:`scenarios.live.board.jsonable`: no NaN, no unknown objects)."""
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError):
        return json.dumps(jsonable(value), allow_nan=False, separators=(",", ":")).encode("utf-8")


def _check_level(value: str, what: str) -> str:
    if not isinstance(value, str) or not value or any(c in value for c in "+#\0") or value.startswith("/") \
            or value.endswith("/"):
        raise ConfigurationError(f"mqtt {what} {value!r} must be non-empty text without '+', '#' or a leading or "
                                 f"trailing '/'; fix: e.g. 'plant-a/line1'")
    return value


def mqtt_settings(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Keyword arguments of :class:`MqttPublisher` / :class:`MqttCommands` from a plain config mapping::

        host: 127.0.0.1
        port: 1883
        prefix: plant-a/line1
        client_id: twin-line1          # optional; the commands client appends "-cmd"
        keepalive: 5
        state_qos: 0                   # publisher only
        security: {tls: true, ca_file: ..., username: twin, password_env: TWINBENCH_MQTT_PASSWORD}

    An ``enabled`` key is the caller's switch and is ignored here.
    """
    config = dict(config or {})
    config.pop("enabled", None)
    known = {"host", "port", "prefix", "client_id", "keepalive", "state_qos", "security"}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ConfigurationError(f"mqtt config: unknown key(s) {unknown}; fix: use {sorted(known)}")
    out = {k: config[k] for k in ("host", "prefix", "client_id") if config.get(k) is not None}
    for key in ("port", "keepalive", "state_qos"):
        if config.get(key) is not None:
            out[key] = int(config[key])
    if config.get("security") is not None:
        out["security"] = MqttSecurity.from_dict(config["security"])
    return out


class _Client:
    """A paho client with the project's security settings, its network loop in a background thread."""

    def __init__(self, host: str, port: int, *, prefix: str, client_id: str | None, security: MqttSecurity | None,
                 keepalive: int, reconnect_delay: tuple[float, float]):
        self.host, self.port = host, int(port)
        self.prefix = _check_level(prefix, "prefix")
        self.client_id = client_id or f"twinbench-{uuid.uuid4().hex[:12]}"
        self.security = security or MqttSecurity()
        if not isinstance(self.security, MqttSecurity):
            raise ConfigurationError(f"mqtt security must be an MqttSecurity, got {type(security).__name__}; fix: "
                                     f"MqttSecurity.from_dict(config)")
        self.keepalive, self.reconnect_delay = int(keepalive), reconnect_delay
        self.connected = threading.Event()
        self.connects = 0
        self.refused = ""
        self.client = None

    def _make(self, *, will: tuple[str, bytes] | None = None):
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=True,
                             protocol=mqtt.MQTTv311)
        if self.security.uses_tls:
            client.tls_set_context(self.security.ssl_context())
        if self.security.username is not None:
            password = None if self.security.password is None else self.security.password.reveal("mqtt password")
            client.username_pw_set(self.security.username, password)
        if will is not None:
            client.will_set(will[0], will[1], qos=1, retain=True)
        client.reconnect_delay_set(*self.reconnect_delay)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(10000)  # bounded while the broker is away
        client.on_disconnect = self._on_disconnect
        return client

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()

    def _start(self, client, timeout: float) -> None:
        self.refused = ""
        client.connect_async(self.host, self.port, keepalive=self.keepalive)
        client.loop_start()
        self.client = client
        deadline = time.monotonic() + timeout
        while not self.connected.wait(0.02) and not self.refused and time.monotonic() < deadline:
            pass
        if not self.connected.is_set():
            refused = self.refused
            self.stop()
            if refused:
                raise TelemetryError(f"MQTT broker {self.host}:{self.port} refused the connection: {refused}; "
                                     f"fix: check username and password (and the broker's acl_file)")
            raise TelemetryError(f"MQTT broker {self.host}:{self.port} did not accept a connection within "
                                 f"{timeout} s; fix: check that it runs and listens there (a TLS port such as 8883 "
                                 f"needs security.ca_file)")

    def stop(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
        self.connected.clear()


class MqttPublisher(_Client):
    """Publish the twin's state, estimates, alarms, advice and decisions (topics in the module docstring).

    Parameters
    ----------
    host, port : str, int
        The broker (with TLS: the host name in its certificate).
    prefix : str
        Topic prefix, e.g. ``"plant-a/line1"``.
    client_id : str, optional
        MQTT client id (default: a random one).
    security : MqttSecurity, optional
        TLS and user/password (default: plain TCP, anonymous).
    keepalive : int
        MQTT keepalive [s]; the broker publishes the Last Will about 1.5 x this after the twin goes silent
        (at once when its TCP connection drops).
    state_qos : int
        QoS of ``state`` and ``estimates`` (0 or 1).
    reconnect_delay : tuple of float
        First and longest wait between reconnect attempts [s].
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 1883, *, prefix: str = "twinbench",
                 client_id: str | None = None, security: MqttSecurity | None = None, keepalive: int = 5,
                 state_qos: int = 0, reconnect_delay: tuple[float, float] = (0.05, 2.0)):
        super().__init__(host, port, prefix=prefix, client_id=client_id, security=security, keepalive=keepalive,
                         reconnect_delay=reconnect_delay)
        if state_qos not in (0, 1):
            raise ConfigurationError(f"state_qos {state_qos!r} must be 0 or 1; fix: 0 (the newest state wins)")
        self.state_qos = state_qos
        self.status_topic = f"{self.prefix}/twin/status"
        self._boards: list[LiveBoard] = []
        self._published: dict[tuple[int, str], int] = {}  # (board, asset) -> estimates revision published

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> MqttPublisher:
        """From a plain mapping (see :func:`mqtt_settings`)."""
        return cls(**mqtt_settings(config))

    def topic(self, asset: str, kind: str) -> str:
        """``<prefix>/<asset>/twin/<kind>`` for kind in state, estimates, alarms, advice, decisions."""
        if kind not in _KINDS:
            raise ConfigurationError(f"topic kind {kind!r} is not one of {_KINDS}")
        if not isinstance(asset, str) or not asset or any(c in asset for c in "+#/\0"):
            raise ConfigurationError(f"asset {asset!r} cannot be an MQTT topic level (no '/', '+' or '#'); fix: "
                                     f"rename the asset")
        return f"{self.prefix}/{asset}/twin/{kind}"

    def start(self, timeout: float = 10.0) -> MqttPublisher:
        """Connect (Last Will ``offline`` on ``<prefix>/twin/status``), publish ``online``; returns self."""
        client = self._make(will=(self.status_topic, b"offline"))
        client.on_connect = self._on_connect
        self._start(client, timeout)
        return self

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.refused = str(reason_code)
            return
        self.refused = ""
        self.connects += 1
        client.publish(self.status_topic, b"online", qos=1, retain=True)
        self.connected.set()

    def stop(self) -> None:
        """Publish ``offline`` (retained), wait for it briefly, and disconnect."""
        client = self.client
        if client is not None and self.connected.is_set():
            info = client.publish(self.status_topic, b"offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError):
                pass
        super().stop()

    def __enter__(self) -> MqttPublisher:
        return self.start() if self.client is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _publish(self, topic: str, payload: Any, qos: int, retain: bool):
        client = self.client
        if client is None:
            raise TelemetryError("the MQTT publisher is not started; fix: call start() first")
        return client.publish(topic, to_json(payload), qos=qos, retain=retain)

    def publish_state(self, asset: str, state: Mapping[str, Any]):
        """The asset's current state (retained); returns paho's ``MQTTMessageInfo``."""
        return self._publish(self.topic(asset, "state"), state, self.state_qos, True)

    def publish_estimates(self, asset: str, estimates: Mapping[str, Any]):
        """The asset's parameter and channel estimates with intervals (retained)."""
        return self._publish(self.topic(asset, "estimates"), estimates, self.state_qos, True)

    def publish_alarm(self, asset: str, alarm: Mapping[str, Any]):
        """One alarm event (QoS 1, not retained)."""
        return self._publish(self.topic(asset, "alarms"), alarm, 1, False)

    def publish_advice(self, asset: str, advice: Mapping[str, Any]):
        """The asset's last recommendation (QoS 1, retained)."""
        return self._publish(self.topic(asset, "advice"), advice, 1, True)

    def publish_decision(self, asset: str, decision: Mapping[str, Any]):
        """One governance decision (QoS 1, not retained)."""
        return self._publish(self.topic(asset, "decisions"), decision, 1, False)

    def publish_board(self, board: LiveBoard, asset: str, *, estimates: bool | None = None):
        """The state of *asset* as *board* has it now, and its estimates when they changed since the last
        publish (``estimates=True``: always; ``False``: never); returns the state's ``MQTTMessageInfo``.
        The service calls this after each update."""
        info = self.publish_state(asset, board.asset_state(asset))
        if estimates is None:
            revision = board.estimates_revision(asset)
            estimates = self._published.get((id(board), asset)) != revision
        if estimates:
            data = board.asset_estimates(asset)
            self.publish_estimates(asset, data)
            self._published[(id(board), asset)] = data["revision"]
        return info

    def attach(self, board: LiveBoard) -> MqttPublisher:
        """Publish *board*'s alarm events, recommendations and decisions as they happen (and the estimates when
        the calibration version changes); returns self."""
        def listener(kind: str, data: dict) -> None:
            if self.client is None:
                return
            asset = data.get("asset")
            if kind == "alarm":
                self.publish_alarm(asset, data)
            elif kind == "advice":
                self.publish_advice(asset, data)
            elif kind == "decision":
                self.publish_decision(asset, data)
            elif kind == "calibration":
                self.publish_estimates(asset, board.asset_estimates(asset))

        board.subscribe(listener)
        self._boards.append(board)
        return self


class MqttCommands(_Client):
    """Take operator commands on ``<prefix>/cmd/<verb>`` and answer on ``<prefix>/cmd/result``.

    Each message is parsed, checked against *policy* and handed to *handler* (see
    :func:`scenarios.live.board.run_command`) in a worker thread, so a slow what-if does not block the MQTT
    network loop.  Refusals (malformed, unauthorised, forbidden setpoints, retained commands) are published on
    the result topic with their reason, kept on *board* and logged.

    Parameters
    ----------
    host, port, prefix, client_id, security, keepalive, reconnect_delay
        As :class:`MqttPublisher` (``client_id`` should differ from the publisher's).
    policy : CommandPolicy, optional
        Who may command what (default: nobody, advisory).
    handler : callable, optional
        The service's callback ``handler(command) -> JSON-able result``.
    board : LiveBoard, optional
        Where outcomes are kept; without *handler*, ``ack``/``shelve`` act on it.
    logger : logging.Logger, optional
        Where outcomes are logged.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 1883, *, prefix: str = "twinbench",
                 client_id: str | None = None, security: MqttSecurity | None = None, keepalive: int = 5,
                 reconnect_delay: tuple[float, float] = (0.05, 2.0), policy: CommandPolicy | None = None,
                 handler: Callable[[Command], Any] | None = None, board: LiveBoard | None = None,
                 logger: logging.Logger | None = None):
        super().__init__(host, port, prefix=prefix, client_id=client_id, security=security, keepalive=keepalive,
                         reconnect_delay=reconnect_delay)
        self.policy = policy if policy is not None else CommandPolicy()
        self.handler, self.board, self.logger = handler, board, logger
        self.command_topic = f"{self.prefix}/cmd/+"
        self.result_topic = f"{self.prefix}/cmd/result"
        self.handled = 0  # commands answered (accepted or refused)
        self._queue: queue.Queue = queue.Queue(maxsize=10000)
        self._worker: threading.Thread | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None, *, policy: CommandPolicy | None = None, handler=None,
                    board: LiveBoard | None = None, logger=None) -> MqttCommands:
        """From a plain mapping (see :func:`mqtt_settings`; ``client_id`` gets ``-cmd`` appended)."""
        settings = mqtt_settings(config)
        settings.pop("state_qos", None)
        if "client_id" in settings:
            settings["client_id"] += "-cmd"
        return cls(**settings, policy=policy, handler=handler, board=board, logger=logger)

    def start(self, timeout: float = 10.0) -> MqttCommands:
        """Connect, subscribe to ``<prefix>/cmd/+`` (QoS 1) and start the worker; returns once subscribed."""
        self._worker = threading.Thread(target=self._work, name=f"twinbench-mqtt-cmd-{self.client_id}", daemon=True)
        self._worker.start()
        client = self._make()
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        try:
            self._start(client, timeout)
        except TelemetryError:
            self._stop_worker()
            raise
        return self

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.refused = str(reason_code)
            return
        self.refused = ""
        self.connects += 1
        client.subscribe(self.command_topic, qos=1)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self.connected.set()

    def _on_message(self, client, userdata, message) -> None:
        verb = message.topic[len(self.prefix) + len("/cmd/"):]
        if verb == "result":  # our own answers (they share the cmd/ level)
            return
        try:
            self._queue.put_nowait((verb, message.payload, message.retain))
        except queue.Full:
            self._refuse(verb, f"{verb}: the twin's command queue is full (10000 waiting); fix: send fewer "
                               f"commands")

    def _refuse(self, verb: str, reason: str) -> None:
        """Refuse a message before parsing it (retained, or the queue is full): publish, keep and log why."""
        out = {"request_id": None, "verb": verb, "user": None, "via": "mqtt", "time": time.time(),
               "accepted": False, "status": 400, "kind": "malformed", "reason": reason, "result": None}
        if self.board is not None:
            self.board.record_command(out)
        if self.logger is not None:
            self.logger.warning("command_refused", extra={
                "event": "command_refused", "verb": verb, "user": None, "via": "mqtt", "request_id": None,
                "status": 400, "kind": "malformed", "reason": reason})
        self._publish_result(out)

    def _publish_result(self, out: dict) -> None:
        client = self.client
        if client is not None:
            client.publish(self.result_topic, to_json(out), qos=1, retain=False)
        self.handled += 1

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            verb, payload, retained = item
            try:
                if retained:
                    self._refuse(verb, f"{verb}: a retained command is refused (the broker would replay it at every "
                                       f"reconnect); fix: publish commands with retain=false, and clear the retained "
                                       f"message with an empty retained payload on {self.prefix}/cmd/{verb}")
                    continue
                self._publish_result(run_command(verb, payload, policy=self.policy, handler=self.handler,
                                                 board=self.board, logger=self.logger, via="mqtt"))
            except Exception:  # noqa: BLE001 - the worker must outlive a broken message
                if self.logger is not None:
                    self.logger.exception("command_failed", extra={"event": "command_failed", "verb": verb})

    def _stop_worker(self) -> None:
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout=10)
            self._worker = None

    def stop(self) -> None:
        """Finish the queued commands, disconnect and stop the worker."""
        self._stop_worker()
        super().stop()

    def __enter__(self) -> MqttCommands:
        return self.start() if self.client is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

