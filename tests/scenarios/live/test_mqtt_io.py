"""The live twin on a real mosquitto (127.0.0.1, free port): retained state, QoS-1 alarms and advice, the Last Will
on an abrupt disconnect, and operator commands (round trip, malformed, unauthorised, retained, setpoints)."""

import getpass
import io
import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from sim.exceptions import ConfigurationError, TelemetryError
from scenarios.live.board import CommandPolicy, LiveBoard
from scenarios.live.logs import service_logger
from scenarios.live.mqtt_io import MqttCommands, MqttPublisher, mqtt_settings

PREFIX = "plant-a/line1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def mosquitto(tmp_path, extra=""):
    """Start a private mosquitto on 127.0.0.1 (config lines *extra* added); returns (process, port)."""
    binary = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if Path(p).exists()), None)
    if binary is None:
        pytest.skip("mosquitto is not installed (.ci/run installs it: apt-get install mosquitto)")
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\n{extra or 'allow_anonymous true'}\nmax_queued_messages 0\n"
                      f"log_dest file {tmp_path}/mosquitto.log\nuser {getpass.getuser()}\n", encoding="utf-8")
    process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise AssertionError(f"mosquitto did not start: {(tmp_path / 'mosquitto.log').read_text()[-500:]}")
        time.sleep(0.02)


@pytest.fixture
def broker(tmp_path):
    """A private mosquitto on 127.0.0.1; yields its port."""
    process, port = mosquitto(tmp_path)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


class Listener:
    """A plain paho subscriber (an operator's tool or SCADA) that records (topic, payload, qos, retain)."""

    def __init__(self, port, topics, client_id=None):
        self.messages, self.lock, self.subscribed = [], threading.Lock(), threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"op-{time.time_ns()}")
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "listener did not subscribe"

    def _on_message(self, client, userdata, m):
        with self.lock:
            self.messages.append((m.topic, m.payload, m.qos, m.retain))

    def on(self, topic):
        with self.lock:
            return [m for m in self.messages if m[0] == topic]

    def json_on(self, topic):
        return [json.loads(m[1]) for m in self.on(topic)]

    def publish(self, topic, payload, retain=False):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.client.publish(topic, data, qos=1, retain=retain).wait_for_publish(5)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def board():
    board = LiveBoard(lag_bound_s=10.0)
    board.record_sample("M1", "winding_temperature", 1.78e9, 351.5, 351.2, 350.6, 351.8, unit="K")
    board.record_parameter("M1", "thermal_resistance_housing_ambient", 1.78e9, 0.075, 0.07, 0.08, unit="K/W")
    board.set_source(True, 0.3)
    board.set_calibration_version("M1", 3, "champion")
    return board


def test_retained_state_and_estimates_reach_a_late_subscriber(broker, board):
    with MqttPublisher("127.0.0.1", broker, prefix=PREFIX) as pub:
        pub.publish_board(board, "M1").wait_for_publish(5)
        late = Listener(broker, [f"{PREFIX}/#"])  # connects after the publish: sees the retained messages
        try:
            wait_until(lambda: late.on(f"{PREFIX}/M1/twin/state") and late.on(f"{PREFIX}/M1/twin/estimates")
                       and late.on(f"{PREFIX}/twin/status"), 5, "retained state, estimates and status")
            (state_msg,) = late.on(f"{PREFIX}/M1/twin/state")
            assert state_msg[3] is True  # delivered as retained
            state = json.loads(state_msg[1])
            assert state["asset"] == "M1" and state["calibration_version"] == 3 and state["ready"] is True
            assert state["channels"]["winding_temperature"] == {"t": 1.78e9, "measured": 351.5, "twin": 351.2,
                                                                "lower": 350.6, "upper": 351.8, "unit": "K"}
            est = late.json_on(f"{PREFIX}/M1/twin/estimates")[0]
            assert est["parameters"]["thermal_resistance_housing_ambient"]["lower"] == 0.07
            assert est["calibration_version"] == 3 and est["revision"] == 2
            assert late.on(f"{PREFIX}/twin/status")[0][1:] == (b"online", 1, True)
            # the state goes out at every update, the estimates only when they changed
            for _ in range(3):
                pub.publish_board(board, "M1")
            board.record_parameter("M1", "thermal_resistance_housing_ambient", 1.78e9 + 60, 0.076, 0.072, 0.08)
            pub.publish_board(board, "M1").wait_for_publish(5)
            wait_until(lambda: len(late.on(f"{PREFIX}/M1/twin/state")) == 5, 5, "four more states")
            wait_until(lambda: len(late.on(f"{PREFIX}/M1/twin/estimates")) == 2, 5, "one more estimates message")
            assert late.json_on(f"{PREFIX}/M1/twin/estimates")[1]["parameters"][
                "thermal_resistance_housing_ambient"]["value"] == 0.076
        finally:
            late.close()


def test_alarms_and_advice_are_qos1_and_follow_the_board(broker, board):
    op = Listener(broker, [f"{PREFIX}/+/twin/alarms", f"{PREFIX}/+/twin/advice", f"{PREFIX}/+/twin/decisions"])
    try:
        with MqttPublisher("127.0.0.1", broker, prefix=PREFIX) as pub:
            pub.attach(board)
            alarm = board.raise_alarm("M1", "winding_overtemperature", severity="high",
                                      explanation="winding 9 K above the twin for 4 min")
            board.acknowledge_alarm(alarm, by="alice")
            board.clear_alarm(alarm)
            board.set_recommendation("M1", "Reduce line speed by 10 %", action="speed_down_10")
            board.record_decision("M1", "promotion", "approved", "RMSE 12 % better on the shadow window", version=4)
            wait_until(lambda: len(op.on(f"{PREFIX}/M1/twin/alarms")) == 3 and op.on(f"{PREFIX}/M1/twin/advice")
                       and op.on(f"{PREFIX}/M1/twin/decisions"), 5, "alarm events, advice and decision")
        events = op.json_on(f"{PREFIX}/M1/twin/alarms")
        assert [e["event"] for e in events] == ["raised", "acknowledged", "cleared"]
        assert [e["state"] for e in events] == ["unacknowledged", "acknowledged", "cleared"]
        assert events[0]["explanation"] == "winding 9 K above the twin for 4 min" and events[0]["id"] == alarm
        assert {m[2] for m in op.on(f"{PREFIX}/M1/twin/alarms")} == {1}  # QoS 1
        advice = op.on(f"{PREFIX}/M1/twin/advice")[0]
        assert advice[2] == 1 and json.loads(advice[1])["text"] == "Reduce line speed by 10 %"
        assert op.json_on(f"{PREFIX}/M1/twin/decisions")[0]["version"] == 4
    finally:
        op.close()


def test_last_will_on_abrupt_disconnect_and_offline_on_clean_stop(broker):
    status = f"{PREFIX}/twin/status"
    watcher = Listener(broker, [status])
    try:
        pub = MqttPublisher("127.0.0.1", broker, prefix=PREFIX, keepalive=2, client_id="twin-a").start()
        wait_until(lambda: [m[1] for m in watcher.on(status)] == [b"online"], 5, "online")
        # the twin vanishes: its network loop stops and the TCP connection drops without a DISCONNECT
        pub.client.loop_stop()
        pub.client.socket().close()
        t0 = time.monotonic()
        wait_until(lambda: [m[1] for m in watcher.on(status)] == [b"online", b"offline"], 5, "the Last Will")
        assert time.monotonic() - t0 < 5
        pub.client = None  # (its client is dead; nothing to stop)
        with MqttPublisher("127.0.0.1", broker, prefix=PREFIX, client_id="twin-b"):
            wait_until(lambda: [m[1] for m in watcher.on(status)][-1] == b"online", 5, "online again")
        wait_until(lambda: [m[1] for m in watcher.on(status)][-1] == b"offline", 5, "offline on a clean stop")
    finally:
        watcher.close()
    later = Listener(broker, [status])  # the retained status is the last word
    try:
        wait_until(lambda: later.on(status), 5, "retained status")
        assert later.on(status)[0][1:] == (b"offline", 1, True)
    finally:
        later.close()


@pytest.fixture
def commands(broker, board, monkeypatch):
    """MqttCommands with alice (token) and bob (ack only), setpoints enabled for M1/speed; a JSON log; an operator."""
    monkeypatch.setenv("TB_MQTT_TEST_TOKEN", "tok-alice")
    policy = CommandPolicy.from_config({
        "operators": {"alice": {"verbs": ["ack", "approve", "whatif", "setpoint"], "token_env": "TB_MQTT_TEST_TOKEN"},
                      "bob": {"verbs": ["ack"]}},
        "setpoints": {"enabled": True, "envelopes": {"M1/speed": {"min": 1200, "max": 1500}}}})
    handled = []

    def handler(command):
        handled.append(command)
        return board.apply_command(command) or {"queued": command.verb, **command.args}

    log = io.StringIO()
    cmd = MqttCommands("127.0.0.1", broker, prefix=PREFIX, policy=policy, handler=handler, board=board,
                       logger=service_logger("mqtt-test", stream=log)).start()
    op = Listener(broker, [f"{PREFIX}/cmd/result"])
    try:
        yield cmd, op, handled, log
    finally:
        op.close()
        cmd.stop()


def ask(cmd, op, verb, payload, retain=False):
    """Publish a command as an operator and return its result."""
    before = len(op.on(f"{PREFIX}/cmd/result"))
    op.publish(f"{PREFIX}/cmd/{verb}", payload, retain=retain)
    wait_until(lambda: len(op.on(f"{PREFIX}/cmd/result")) > before, 5, f"the result of {verb}")
    return op.json_on(f"{PREFIX}/cmd/result")[before]


def test_command_round_trip(commands, board):
    cmd, op, handled, log = commands
    alarm = board.raise_alarm("M1", "overheat", severity="high", explanation="9 K above the twin")
    result = ask(cmd, op, "ack", {"user": "bob", "alarm": alarm, "request_id": "r-7"})
    assert result["accepted"] and result["request_id"] == "r-7" and result["via"] == "mqtt"
    assert result["result"]["acknowledged_by"] == "bob"
    assert board.snapshot()["alarms"]["active"][0]["state"] == "acknowledged"
    result = ask(cmd, op, "whatif", {"user": "alice", "token": "tok-alice", "asset": "M1",
                                     "actions": ["speed_down_10"], "horizon_h": 8})
    assert result["accepted"] and result["result"]["actions"] == ["speed_down_10"]
    assert [c.verb for c in handled] == ["ack", "whatif"]
    assert [json.loads(line)["event"] for line in log.getvalue().splitlines()] == ["command_accepted"] * 2


@pytest.mark.parametrize("verb, payload, kind, match", [
    ("ack", b"{not json", "malformed", "is not valid JSON"),
    ("ack", {"user": "bob", "alarm": "x"}, "malformed", "must be an integer alarm id"),
    ("reboot", {"user": "bob"}, "malformed", "unknown command verb 'reboot'"),
    ("ack", {"user": "mallory", "alarm": 1}, "unauthorised", "not an operator"),
    ("approve", {"user": "bob", "asset": "M1", "version": 4}, "unauthorised", "may not approve"),
    ("approve", {"user": "alice", "token": "guess", "asset": "M1", "version": 4}, "unauthorised",
     "wrong token"),
    ("setpoint", {"user": "alice", "token": "tok-alice", "asset": "M1", "name": "speed", "value": 1600},
     "forbidden", "outside its envelope [1200, 1500]"),
    ("setpoint", {"user": "alice", "token": "tok-alice", "asset": "M1", "name": "valve", "value": 1},
     "forbidden", "no envelope is configured for M1/valve"),
])
def test_refusals_are_published_with_a_reason_and_logged(commands, board, verb, payload, kind, match):
    cmd, op, handled, log = commands
    result = ask(cmd, op, verb, payload)
    assert result["accepted"] is False and result["kind"] == kind and match in result["reason"], result
    assert "fix:" in result["reason"]
    assert handled == []  # nothing refused reaches the service
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert lines[-1]["event"] == "command_refused" and lines[-1]["reason"] == result["reason"]
    assert board.snapshot()["commands"][0]["reason"] == result["reason"]
    assert "tok-alice" not in log.getvalue() and "tok-alice" not in json.dumps(result)


def test_a_retained_command_is_refused_not_replayed(broker, board):
    """A command left retained on the broker arrives flagged retained when the twin (re)subscribes: refused."""
    op = Listener(broker, [f"{PREFIX}/cmd/result"])
    alarm = board.raise_alarm("M1", "overheat", severity="high", explanation="9 K above the twin")
    handled = []
    try:
        op.publish(f"{PREFIX}/cmd/ack", {"user": "bob", "alarm": alarm}, retain=True)
        policy = CommandPolicy.from_config({"operators": {"bob": {"verbs": ["ack"]}}})
        with MqttCommands("127.0.0.1", broker, prefix=PREFIX, policy=policy, handler=handled.append, board=board):
            wait_until(lambda: op.on(f"{PREFIX}/cmd/result"), 5, "the refusal")
        (result,) = op.json_on(f"{PREFIX}/cmd/result")
        assert not result["accepted"] and "a retained command is refused" in result["reason"]
        assert handled == [] and board.snapshot()["alarms"]["active"][0]["state"] == "unacknowledged"
    finally:
        op.close()


def test_setpoint_inside_the_envelope_reaches_the_service(commands):
    cmd, op, handled, log = commands
    result = ask(cmd, op, "setpoint", {"user": "alice", "token": "tok-alice", "asset": "M1", "name": "speed",
                                       "value": 1450})
    assert result["accepted"] and handled[0].args == {"asset": "M1", "name": "speed", "value": 1450.0}


def test_advisory_default_refuses_all_setpoints(broker, board):
    policy = CommandPolicy.from_config({"operators": {"alice": {"verbs": ["setpoint"]}},
                                        "setpoints": {"envelopes": {"M1/speed": {"min": 0, "max": 2000}}}})
    handled = []
    with MqttCommands.from_config({"port": broker, "prefix": PREFIX, "client_id": "twin"}, policy=policy,
                                  handler=handled.append, board=board) as cmd:
        assert cmd.client_id == "twin-cmd"
        op = Listener(broker, [f"{PREFIX}/cmd/result"])
        try:
            for value in (0.0, 1000.0, 2000.0):
                result = ask(cmd, op, "setpoint", {"user": "alice", "asset": "M1", "name": "speed", "value": value})
                assert not result["accepted"] and result["kind"] == "forbidden" and "advisory" in result["reason"]
        finally:
            op.close()
    assert handled == []


def test_config_and_connection_errors(broker):
    with pytest.raises(ConfigurationError, match="unknown key"):
        mqtt_settings({"hots": "x"})
    with pytest.raises(ConfigurationError, match="literal password"):
        mqtt_settings({"security": {"username": "twin", "password": "plain"}})
    with pytest.raises(ConfigurationError, match="prefix"):
        MqttPublisher(prefix="plant/#")
    with pytest.raises(ConfigurationError, match="cannot be an MQTT topic level"):
        MqttPublisher(prefix=PREFIX).topic("M1/x", "state")
    with pytest.raises(TelemetryError, match=f"127.0.0.1:{free_port()}|did not accept"):
        MqttPublisher("127.0.0.1", free_port(), prefix=PREFIX).start(timeout=0.5)


def test_security_settings_of_the_telemetry_sources_are_reused(tmp_path, monkeypatch, board):
    """A broker with a password file: the twin connects with MqttSecurity (user + password Secret) from config;
    a wrong password is refused with the broker's reason, and the password never appears in the settings."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        pytest.skip("mosquitto_passwd is not installed (.ci/run installs it: apt-get install mosquitto)")
    subprocess.run([tool, "-b", "-c", str(tmp_path / "passwd"), "twin", "pw-of-the-twin"], check=True, timeout=30,
                   capture_output=True)
    process, port = mosquitto(tmp_path, f"allow_anonymous false\npassword_file {tmp_path / 'passwd'}")
    try:
        monkeypatch.setenv("TB_MQTT_IO_PASSWORD", "pw-of-the-twin")
        config = {"enabled": True, "host": "127.0.0.1", "port": port, "prefix": PREFIX, "client_id": "twin",
                  "security": {"username": "twin", "password_env": "TB_MQTT_IO_PASSWORD"}}
        with MqttPublisher.from_config(config) as pub, MqttCommands.from_config(config, board=board) as cmd:
            assert pub.connected.is_set() and cmd.connected.is_set()
            assert "pw-of-the-twin" not in repr(pub.security.to_dict())
            pub.publish_board(board, "M1").wait_for_publish(5)
        monkeypatch.setenv("TB_MQTT_IO_PASSWORD", "wrong")
        with pytest.raises(TelemetryError, match="refused the connection: Not authorized"):
            MqttPublisher.from_config(config).start(timeout=3)
        anonymous = MqttPublisher("127.0.0.1", port, prefix=PREFIX)
        with pytest.raises(TelemetryError, match="refused the connection"):
            anonymous.start(timeout=3)
    finally:
        process.terminate()
        process.wait(timeout=10)
