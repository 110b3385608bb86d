"""The live HTTP server on 127.0.0.1: health, readiness, Prometheus metrics, state JSON, server-sent events,
operator commands (accepted, malformed, unauthorised, forbidden, failed; refusals logged) and clean shutdown."""

import io
import json
import socket
import threading
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sim.exceptions import ConfigurationError
from scenarios.live.board import CommandPolicy, CommandRefused, LiveBoard
from scenarios.live.http import LiveHttpServer
from scenarios.live.logs import service_logger


def get(url, *, timeout=5):
    """(status, headers, body bytes) of a GET; HTTP errors are answers, not exceptions."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def post(url, data, *, headers=None, timeout=5):
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def served(monkeypatch):
    """A board with one channel and one alarm, served with a policy (alice: token, bob: ack only) and a JSON log."""
    monkeypatch.setenv("TB_HTTP_TEST_TOKEN", "tok-alice")
    board = LiveBoard(lag_bound_s=5.0)
    for i in range(10):
        board.record_sample("M1", "winding_temperature", 1.78e9 + i, 350.0 + i % 2, 350.5, 349.0, 352.0, unit="K")
    board.count_quarantined("winding_temperature", "spike", 2)
    policy = CommandPolicy.from_config({"operators": {
        "alice": {"verbs": ["ack", "shelve", "approve", "whatif", "setpoint"], "token_env": "TB_HTTP_TEST_TOKEN"},
        "bob": {"verbs": ["ack"]}}})
    calls = []

    def on_command(command):
        calls.append(command)
        if command.verb == "whatif" and command.args["actions"] == ["explode"]:
            raise RuntimeError("simulated bug in the service")
        if command.verb == "approve" and command.args["version"] == 99:
            raise CommandRefused("approve: version 99 is not registered; fix: pick a registered version",
                                 kind="rejected")
        return board.apply_command(command) or {"queued": command.verb}

    log = io.StringIO()
    server = LiveHttpServer(board, policy=policy, on_command=on_command, events_interval_s=0.1,
                            logger=service_logger("http-test", stream=log))
    server.start()
    try:
        yield server, board, calls, log
    finally:
        server.stop()


def test_health_and_readiness(served):
    server, board, _, _ = served
    status, _, body = get(server.url + "/healthz")
    assert status == 200 and json.loads(body) == {"alive": True}
    status, _, body = get(server.url + "/readyz")
    assert status == 503 and json.loads(body) == {"ready": False, "reason": "the telemetry source is not connected"}
    board.set_source(True, 9.0)
    status, _, body = get(server.url + "/readyz")
    assert status == 503 and "is not below the bound 5 s" in json.loads(body)["reason"]
    board.set_source(True, 0.2)
    status, _, body = get(server.url + "/readyz")
    assert status == 200 and json.loads(body)["ready"] is True


def test_metrics_are_prometheus_text_of_the_board(served):
    server, board, _, _ = served
    board.observe_latency(0.004)
    status, headers, body = get(server.url + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value
              for f in text_string_to_metric_families(body.decode()) for s in f.samples}
    assert values[("twinbench_samples_total", (("asset", "M1"), ("channel", "winding_temperature")))] == 10
    assert values[("twinbench_quarantined_total", (("channel", "winding_temperature"), ("gate", "spike")))] == 2
    assert values[("twinbench_residual_rms", (("asset", "M1"), ("channel", "winding_temperature")))] == 0.5
    assert values[("twinbench_update_latency_seconds_count", ())] == 1
    assert values[("twinbench_source_connected", ())] == 0


def test_state_json_and_points(served):
    server, _, _, _ = served
    status, _, body = get(server.url + "/api/state?points=3")
    state = json.loads(body)
    assert status == 200 and state["schema"] == "twinbench.live/1"
    assert state["channels"][0]["history"]["t"] == [1.78e9 + 7, 1.78e9 + 8, 1.78e9 + 9]
    status, _, body = get(server.url + "/api/state?points=-1")
    assert status == 400 and "non-negative integer" in json.loads(body)["error"]


def test_events_stream_state(served):
    server, board, _, _ = served
    board.set_recommendation("M1", "Reduce speed 10 %")
    with urllib.request.urlopen(server.url + "/api/events", timeout=5) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        lines = [r.readline().decode() for _ in range(2)]
    assert lines[0] == "event: state\n"
    data = json.loads(lines[1].removeprefix("data: "))
    assert data["recommendation"]["text"] == "Reduce speed 10 %" and data["channels"][0]["history"]["t"] == []


def test_command_accepted_acts_on_the_board(served):
    server, board, calls, log = served
    alarm = board.raise_alarm("M1", "overheat", severity="high", explanation="9 K above the twin")
    status, result = post(server.url + "/api/command", {"verb": "ack", "user": "bob", "alarm": alarm,
                                                         "request_id": "r-1"})
    assert status == 200 and result["accepted"] and result["request_id"] == "r-1"
    assert result["result"]["state"] == "acknowledged" and result["result"]["acknowledged_by"] == "bob"
    assert board.snapshot()["alarms"]["active"][0]["state"] == "acknowledged"
    status, result = post(server.url + "/api/command", {"verb": "whatif", "user": "alice", "asset": "M1",
                                                         "actions": ["speed_down_10"]},
                          headers={"Authorization": "Bearer tok-alice"})
    assert status == 200 and result["result"] == {"queued": "whatif"}
    assert [c.verb for c in calls] == ["ack", "whatif"] and calls[1].token == "tok-alice"
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["command_accepted", "command_accepted"]
    assert "tok-alice" not in log.getvalue()


@pytest.mark.parametrize("payload, headers, status, kind, match", [
    (b"{oops", {}, 400, "malformed", "is not valid JSON"),
    ({"user": "bob", "alarm": 1}, {}, 400, "malformed", "names no verb"),
    ({"verb": "ack", "user": "bob"}, {}, 400, "malformed", "field 'alarm' is missing"),
    ({"verb": "ack", "user": "mallory", "alarm": 1}, {}, 403, "unauthorised", "not an operator"),
    ({"verb": "approve", "user": "bob", "asset": "M1", "version": 2}, {}, 403, "unauthorised", "may not approve"),
    ({"verb": "ack", "user": "alice", "alarm": 1}, {"Authorization": "Bearer nope"}, 403, "unauthorised",
     "wrong token"),
    ({"verb": "setpoint", "user": "alice", "token": "tok-alice", "asset": "M1", "name": "speed", "value": 1.0},
     {}, 403, "forbidden", "advisory"),
    ({"verb": "ack", "user": "bob", "alarm": 12345}, {}, 409, "rejected", "alarm 12345 is not active"),
    ({"verb": "approve", "user": "alice", "token": "tok-alice", "asset": "M1", "version": 99}, {}, 409,
     "rejected", "version 99 is not registered"),
    ({"verb": "whatif", "user": "alice", "token": "tok-alice", "asset": "M1", "actions": ["explode"]}, {}, 500,
     "failed", "RuntimeError: simulated bug"),
])
def test_command_refusals_carry_a_reason_and_are_logged(served, payload, headers, status, kind, match):
    server, board, _, log = served
    got, result = post(server.url + "/api/command", payload, headers=headers)
    assert got == status and result["accepted"] is False and result["kind"] == kind and match in result["reason"]
    refused = [json.loads(line) for line in log.getvalue().splitlines()
               if json.loads(line)["event"] == "command_refused"]
    assert refused and refused[-1]["reason"] == result["reason"] and refused[-1]["level"] == "WARNING"
    assert board.snapshot()["commands"][0]["reason"] == result["reason"]
    assert "tok-alice" not in log.getvalue()


def test_port_zero_reports_a_free_port_and_stop_is_clean():
    board = LiveBoard()
    before = {t.name for t in threading.enumerate()}
    a, b = LiveHttpServer(board).start(), LiveHttpServer(LiveBoard()).start()
    assert a.port != b.port and a.port > 0
    with pytest.raises(ConfigurationError, match=f"cannot listen on 127.0.0.1:{a.port}"):
        LiveHttpServer(board, port=a.port).start()
    a.stop()
    b.stop()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", a.port)) != 0
    assert {t.name for t in threading.enumerate()} - before == set()
    with LiveHttpServer.from_config(board, {"enabled": True, "host": "127.0.0.1", "port": 0}) as c:
        assert get(c.url + "/healthz")[0] == 200
    with pytest.raises(ConfigurationError, match="unknown key"):
        LiveHttpServer.from_config(board, {"prot": 1})


def test_oversized_command_body_is_refused_without_reading_it_all(served):
    server, _, calls, _ = served
    huge = b'{"verb": "ack", "user": "bob", "x": "' + b"a" * 200_000 + b'"}'
    status, result = post(server.url + "/api/command", huge)
    assert status == 400 and "exceeds 65536" in result["reason"] and calls == []


def test_service_logger_is_its_own_json_logger():
    import logging

    root_handlers = list(logging.getLogger().handlers)
    first, second = io.StringIO(), io.StringIO()
    log = service_logger("iso-a", stream=first, static={"site": "plant-a"})
    assert service_logger("iso-a", stream=second) is log and len(log.handlers) == 1  # replaced, not stacked
    other = service_logger("iso-b", stream=io.StringIO())
    from scenarios.live.logs import log_event

    log_event(log, "alarm_raised", asset="M1", alarm=7, name="overheat")
    line = json.loads(second.getvalue())
    assert first.getvalue() == "" and other.handlers[0].stream.getvalue() == ""
    assert line["event"] == "alarm_raised" and line["asset"] == "M1" and line["alarm"] == 7
    assert line["name_"] == "overheat" and line["service"] == "iso-a" and "site" not in line
    assert line["level"] == "INFO" and line["logger"] == "twinbench.live.iso-a" and line["time"].endswith("+00:00")
    assert logging.getLogger().handlers == root_handlers and log.propagate is False
