"""LiveBoard: bounded histories, alarm life cycle, readiness, snapshot schema, per-board Prometheus metrics, and
the operator command parser and policy (advisory default, envelopes, authorisation)."""

import json
import math
import threading

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from sim.exceptions import ConfigurationError, TwinbenchError
from scenarios.live.board import (COMMAND_VERBS, CommandPolicy, CommandRefused, LiveBoard, Operator,
                                  SetpointEnvelope, jsonable, parse_command, run_command)


class Clock:
    def __init__(self, t=1_780_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


def samples(board):
    """Metric samples of *board*'s registry as {(name, frozenset(labels)): value}."""
    out = {}
    for family in text_string_to_metric_families(board.metrics_text().decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def test_history_is_bounded_and_residual_rms_is_exact():
    board = LiveBoard(history=50, clock=Clock())
    for i in range(1000):  # residual alternates +-2 over the kept window -> RMS exactly 2
        board.record_sample("M1", "winding_temperature", float(i), 300.0 + (2.0 if i % 2 else -2.0), 300.0,
                            299.0, 301.0, unit="K")
    snap = board.snapshot()
    (ch,) = snap["channels"]
    assert len(ch["history"]["t"]) == 50 and ch["history"]["t"][0] == 950.0 and ch["last"]["t"] == 999.0
    assert ch["samples"] == 1000 and ch["unit"] == "K"
    assert ch["residual_rms"] == pytest.approx(2.0, rel=1e-12)
    assert len(board.snapshot(points=5)["channels"][0]["history"]["measured"]) == 5
    m = samples(board)
    assert m[("twinbench_samples_total", frozenset({("asset", "M1"), ("channel", "winding_temperature")}))] == 1000
    assert m[("twinbench_residual_rms", frozenset({("asset", "M1"), ("channel", "winding_temperature")}))] == \
        pytest.approx(2.0)


def test_twin_only_points_are_not_counted_and_nan_becomes_null():
    board = LiveBoard(clock=Clock())
    board.record_sample("M1", "x", 0.0, None, 1.0, 0.5, 1.5)
    board.record_sample("M1", "x", 1.0, math.nan, 1.0)
    snap = board.snapshot()
    assert snap["channels"][0]["samples"] == 0
    assert snap["channels"][0]["history"]["measured"] == [None, None]
    assert snap["channels"][0]["residual_rms"] is None
    json.dumps(snap, allow_nan=False)  # strict JSON: no NaN anywhere


def test_registry_is_per_board_not_global():
    a, b = LiveBoard(), LiveBoard()
    a.record_sample("M1", "x", 0.0, 1.0)
    assert a.registry is not b.registry and a.registry is not REGISTRY
    assert ("twinbench_samples_total", frozenset({("asset", "M1"), ("channel", "x")})) not in samples(b)
    assert REGISTRY.get_sample_value("twinbench_samples_total", {"asset": "M1", "channel": "x"}) is None


def test_alarm_life_cycle_raise_ack_clear_and_shelve():
    clock = Clock()
    board = LiveBoard(clock=clock)
    seen = []
    board.subscribe(lambda kind, data: seen.append((kind, data.get("event"), data.get("state"))))
    a = board.raise_alarm("M1", "overheat", severity="high", explanation="winding 9 K above the twin",
                          channel="winding_temperature")
    assert board.raise_alarm("M1", "overheat", severity="critical", explanation="now 12 K") == a  # no duplicate
    (active,) = board.snapshot()["alarms"]["active"]
    assert active["state"] == "unacknowledged" and active["severity"] == "critical"
    assert active["explanation"] == "now 12 K" and active["channel"] == "winding_temperature"
    m = samples(board)
    assert m[("twinbench_active_alarms", frozenset({("asset", "M1"), ("severity", "critical")}))] == 1
    board.acknowledge_alarm(a, by="alice")
    assert board.snapshot()["alarms"]["active"][0]["state"] == "acknowledged"
    clock.t += 60
    board.clear_alarm(a)  # acknowledged and cleared: it moves to recent
    snap = board.snapshot()
    assert snap["alarms"]["active"] == [] and snap["alarms"]["recent"][0]["state"] == "cleared"
    assert snap["alarms"]["recent"][0]["acknowledged_by"] == "alice"
    # cleared before anyone acknowledged: it stays until acknowledged
    b = board.raise_alarm("M1", "drift", severity="low", explanation="R_ha drifts")
    assert b != a
    board.clear_alarm(b)
    assert board.snapshot()["alarms"]["active"][0]["state"] == "cleared-unacknowledged"
    assert samples(board)[("twinbench_active_alarms", frozenset({("asset", "M1"), ("severity", "low")}))] == 0
    board.shelve_alarm(b, 600, by="bob")
    assert board.snapshot()["alarms"]["active"][0]["state"] == "shelved"
    clock.t += 601
    assert board.snapshot()["alarms"]["active"][0]["state"] == "cleared-unacknowledged"
    with pytest.raises(CommandRefused, match="alarm 999 is not active") as err:
        board.acknowledge_alarm(999)
    assert err.value.status == 409
    assert [k for k, *_ in seen] == ["alarm"] * 7 and seen[0][1] == "raised" and seen[1][1] == "updated"
    with pytest.raises(ConfigurationError, match="severity 'urgent'"):
        board.raise_alarm("M1", "x", severity="urgent", explanation="")


def test_readiness_follows_connection_and_lag_and_ages_by_itself():
    clock = Clock()
    board = LiveBoard(lag_bound_s=10.0, clock=clock)
    assert board.readiness() == (False, "the telemetry source is not connected")
    board.set_source(True)
    assert not board.readiness()[0] and "no lag" in board.readiness()[1]
    board.set_source(True, 2.0)
    assert board.readiness()[0]
    clock.t += 7.9  # nobody updated: the state ages
    assert board.readiness()[0] and board.snapshot()["source"]["lag_s"] == pytest.approx(9.9)
    clock.t += 0.2
    ok, reason = board.readiness()
    assert not ok and "10.1 s is not below the bound 10 s" in reason
    assert samples(board)[("twinbench_source_lag_seconds", frozenset())] == pytest.approx(10.1)


def test_counters_quarantine_reconnects_latency_parameters_recommendation():
    board = LiveBoard(clock=Clock())
    board.count_quarantined("winding_temperature", "spike", 3)
    board.count_quarantined("winding_temperature", "spike")
    board.set_source(True, 0.1, reconnects=2)
    board.set_source(True, 0.1, reconnects=2)  # the same running total counts nothing twice
    board.set_source(True, 0.1, reconnects=3)
    for ms in range(1, 101):
        board.observe_latency(ms / 1000)
    board.record_parameter("M1", "thermal_resistance_housing_ambient", 0.0, 0.075, 0.07, 0.08, unit="K/W")
    board.set_recommendation("M1", "Reduce speed 10 %", action="speed_down_10", why="hot afternoon")
    board.set_calibration_version("M1", 4, "champion")
    board.record_decision("M1", "promotion", "refused", "RMSE not better by 5 %", version=5)
    snap = board.snapshot()
    assert snap["counters"]["quarantined"] == [{"channel": "winding_temperature", "gate": "spike", "count": 4}]
    assert snap["source"]["reconnects"] == 3
    assert snap["latency"] == {"count": 100, "p50_ms": pytest.approx(50.0), "p99_ms": pytest.approx(99.0)}
    assert snap["parameters"][0]["last"] == {"t": 0.0, "value": 0.075, "lower": 0.07, "upper": 0.08}
    assert snap["recommendation"]["text"] == "Reduce speed 10 %" and snap["calibration"]["M1"]["version"] == 4
    assert snap["decisions"][0]["reason"] == "RMSE not better by 5 %"
    m = samples(board)
    assert m[("twinbench_quarantined_total", frozenset({("channel", "winding_temperature"), ("gate", "spike")}))] == 4
    assert m[("twinbench_source_reconnects_total", frozenset())] == 3
    assert m[("twinbench_update_latency_seconds_count", frozenset())] == 100
    assert m[("twinbench_update_latency_seconds_bucket", frozenset({("le", "0.02")}))] == 20
    assert m[("twinbench_calibration_version", frozenset({("asset", "M1")}))] == 4
    state = board.asset_state("M1")
    assert state["calibration_version"] == 4 and state["ready"]
    est = board.asset_estimates("M1")
    assert est["parameters"]["thermal_resistance_housing_ambient"]["upper"] == 0.08
    assert est["revision"] == board.estimates_revision("M1") == 2  # one parameter point, one calibration change
    assert board.estimates_revision("P9") == 0


def test_concurrent_writers_and_readers_lose_nothing():
    board = LiveBoard(history=100)
    n, errors = 2000, []

    def write(channel):
        for i in range(n):
            board.record_sample("M1", channel, float(i), float(i), float(i))

    def read():
        try:
            for _ in range(50):
                json.dumps(board.snapshot(), allow_nan=False)
                board.metrics_text()
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=write, args=(c,)) for c in ("a", "b", "c")] + [threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert sorted(c["samples"] for c in board.snapshot()["channels"]) == [n, n, n]
    assert sum(v for (name, _), v in samples(board).items() if name == "twinbench_samples_total") == 3 * n


# ---------------------------------------------------------------------------------------------------- commands

def test_parse_command_accepts_each_verb():
    assert parse_command("ack", b'{"user": "alice", "alarm": 7, "request_id": "r1"}').args == {"alarm": 7}
    assert parse_command("shelve", {"user": "a", "alarm": 1, "seconds": 60}).args["seconds"] == 60.0
    assert parse_command("approve", '{"user": "a", "asset": "M1", "version": 3}').args == {"asset": "M1",
                                                                                            "version": 3}
    cmd = parse_command("whatif", {"user": "a", "asset": "M1", "actions": ["speed_down_10"], "token": "t"})
    assert cmd.args == {"asset": "M1", "actions": ["speed_down_10"], "horizon_h": None}
    assert "token" not in cmd.to_dict() and "'t'" not in repr(cmd)  # never logged or echoed
    assert parse_command("setpoint", {"user": "a", "asset": "M1", "name": "speed", "value": 1450}).args["value"] \
        == 1450.0


@pytest.mark.parametrize("verb, payload, match", [
    ("ack", b"{not json", "is not valid JSON"),
    ("ack", b"[1, 2]", "must be a JSON object"),
    ("ack", b'{"user": "a"}', "field 'alarm' is missing"),
    ("ack", b'{"user": "a", "alarm": "seven"}', "must be an integer alarm id"),
    ("ack", b'{"user": "a", "alarm": true}', "must be an integer alarm id"),
    ("ack", b'{"alarm": 1}', "field 'user' is missing"),
    ("ack", b'{"user": "a", "alarm": 1, "alram": 2}', r"unknown field\(s\) \['alram'\]"),
    ("setpoint", b'{"user": "a", "asset": "M1", "name": "s", "value": NaN}', "must be a finite number"),
    ("whatif", b'{"user": "a", "asset": "M1", "actions": []}', "non-empty list"),
    ("shelve", b'{"user": "a", "alarm": 1, "seconds": -5}', r"in \(0, 604800\]"),
    ("reboot", b'{"user": "a"}', "unknown command verb 'reboot'"),
])
def test_parse_command_refuses_malformed_with_reason(verb, payload, match):
    with pytest.raises(CommandRefused, match=match) as err:
        parse_command(verb, payload)
    assert err.value.kind == "malformed" and err.value.status == 400 and "fix:" in err.value.reason
    assert isinstance(err.value, TwinbenchError)


def test_policy_authorisation_and_token(monkeypatch):
    monkeypatch.setenv("TB_TEST_TOKEN_ALICE", "s3cret")
    policy = CommandPolicy.from_config({"operators": {"alice": {"verbs": ["ack", "approve"],
                                                                "token_env": "TB_TEST_TOKEN_ALICE"},
                                                      "bob": {"verbs": ["ack"]}}})
    policy.check(parse_command("ack", {"user": "alice", "alarm": 1, "token": "s3cret"}))
    policy.check(parse_command("ack", {"user": "bob", "alarm": 1}))
    for payload, match in [({"user": "mallory", "alarm": 1}, "not an operator"),
                           ({"user": "alice", "alarm": 1}, "missing or wrong token"),
                           ({"user": "alice", "alarm": 1, "token": "guess"}, "missing or wrong token")]:
        with pytest.raises(CommandRefused, match=match) as err:
            policy.check(parse_command("ack", payload))
        assert err.value.kind == "unauthorised" and err.value.status == 403
    with pytest.raises(CommandRefused, match="may not approve"):
        policy.check(parse_command("approve", {"user": "bob", "asset": "M1", "version": 2}))
    assert "s3cret" not in json.dumps(policy.to_dict())
    with pytest.raises(ConfigurationError, match="literal token"):
        CommandPolicy.from_config({"operators": {"eve": {"verbs": ["ack"], "token": "plain"}}})
    with pytest.raises(ConfigurationError, match="unknown verb"):
        Operator("x", frozenset({"reboot"}))


def test_advisory_default_refuses_every_setpoint():
    policy = CommandPolicy([Operator("alice", frozenset(COMMAND_VERBS))],
                           envelopes={"M1/speed": SetpointEnvelope(0.0, 2000.0)})
    with pytest.raises(CommandRefused, match="advisory") as err:
        policy.check(parse_command("setpoint", {"user": "alice", "asset": "M1", "name": "speed", "value": 10}))
    assert err.value.kind == "forbidden"
    assert CommandPolicy.from_config(None).setpoints_enabled is False


def test_setpoint_envelope_bounds_and_rate():
    clock = Clock(0.0)
    policy = CommandPolicy.from_config(
        {"operators": {"alice": {"verbs": ["setpoint"]}},
         "setpoints": {"enabled": True, "envelopes": {"M1/speed": {"min": 1200, "max": 1500, "max_rate": 10,
                                                                   "initial": 1450}}}}, clock=clock)

    def setpoint(value, name="speed"):
        policy.check(parse_command("setpoint", {"user": "alice", "asset": "M1", "name": name, "value": value}))

    for value in (1199.9, 1500.1):
        with pytest.raises(CommandRefused, match="outside its envelope"):
            setpoint(value)
    with pytest.raises(CommandRefused, match="no envelope is configured for M1/pressure"):
        setpoint(3.0, name="pressure")
    clock.t = 1.0
    setpoint(1440.0)  # 10 /s from the initial 1450 at t = -inf: any change allowed for the first write
    clock.t = 2.0
    with pytest.raises(CommandRefused, match="faster than max_rate 10/s"):
        setpoint(1420.0)  # 20 in 1 s
    setpoint(1430.0)  # 10 in 1 s: exactly at the limit
    with pytest.raises(ConfigurationError, match="min <= max"):
        SetpointEnvelope(10.0, 5.0)


def test_board_from_config_and_bad_input_name_the_fix():
    board = LiveBoard.from_config({"history": 3, "lag_bound_s": 5})
    assert board.history == 3 and board.lag_bound_s == 5.0
    with pytest.raises(ConfigurationError, match=r"unknown key\(s\) \['histroy'\]"):
        LiveBoard.from_config({"histroy": 3})
    with pytest.raises(ConfigurationError, match="history \\(1\\) must be >= 2"):
        LiveBoard(history=1)
    for t in (math.nan, None, "noon"):
        with pytest.raises(ConfigurationError, match="must be a finite number of Unix seconds"):
            board.record_sample("M1", "x", t, 1.0)
    with pytest.raises(ConfigurationError, match="must be a non-empty string"):
        board.record_sample("", "x", 0.0, 1.0)
    with pytest.raises(ConfigurationError, match="must be an int"):
        board.set_calibration_version("M1", "v3")
    assert board.snapshot()["channels"] == []  # nothing half-written


def test_run_command_results_are_strict_json():
    import numpy as np

    board = LiveBoard()
    policy = CommandPolicy([Operator("alice", frozenset({"whatif"}))])
    result = run_command("whatif", b'{"user": "alice", "asset": "M1", "actions": ["a"]}', policy=policy, board=board,
                         handler=lambda c: {"kpi": np.float64("nan"), "n": np.int64(3), "arr": np.array([1.5, np.inf]),
                                            "explanation": "NaN in the input", "when": (1, 2)})
    assert result["accepted"] and result["result"] == {"kpi": None, "n": 3, "arr": [1.5, None],
                                                       "explanation": "NaN in the input", "when": [1, 2]}
    json.dumps(result, allow_nan=False)
    assert jsonable({1: {2.0, 3.0}}) in ({"1": [2.0, 3.0]}, {"1": [3.0, 2.0]})
    with pytest.raises(ConfigurationError, match="must be a number"):
        board.record_sample("M1", "x", 0.0, "hot")


def test_board_events_are_logged_as_json_lines():
    import io

    from scenarios.live.logs import log_board_events, service_logger

    stream = io.StringIO()
    board = LiveBoard(clock=Clock())
    log_board_events(board, service_logger("board-events", stream=stream))
    alarm = board.raise_alarm("M1", "overheat", severity="critical", explanation="12 K above the twin")
    board.acknowledge_alarm(alarm, by="alice")
    board.set_recommendation("M1", "Stop the filler", action="stop")
    board.record_decision("M1", "promotion", "refused", "no corroborating sensor", version=5)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(x["event"], x["level"]) for x in lines] == [("alarm_raised", "WARNING"), ("alarm_acknowledged", "INFO"),
                                                         ("advice", "INFO"), ("decision", "INFO")]
    assert lines[0]["asset"] == "M1" and lines[0]["explanation"] == "12 K above the twin" and lines[0]["id"] == alarm
    assert lines[1]["acknowledged_by"] == "alice" and lines[3]["reason"] == "no corroborating sensor"


def test_remaining_useful_life_is_in_the_state_the_snapshot_and_a_gauge_until_it_ends():
    board = LiveBoard(history=10)
    board.set_rul("P1", "bearing_wear", t=1000.0, median_s=36000.0, low_s=30000.0, high_s=float("inf"), level=0.9,
                  p_failure=0.8, horizon_s=259200.0, state=0.52, threshold=1.0)
    board.set_rul("P1", "bearing_wear", t=4600.0, median_s=32400.0, low_s=27000.0, high_s=40000.0, level=0.9)
    snap = board.snapshot()
    (rul,) = snap["rul"]
    assert (rul["asset"], rul["mode"], rul["active"], rul["unit"], rul["level"]) == ("P1", "bearing_wear", True, "s", 0.9)
    assert rul["history"]["median"] == [36000.0, 32400.0] and rul["history"]["upper"] == [None, 40000.0]  # inf: JSON null
    assert board.asset_state("P1")["rul"]["bearing_wear"]["median"] == 32400.0
    text = board.metrics_text().decode()
    assert 'twinbench_remaining_useful_life_seconds{asset="P1",bound="median",mode="bearing_wear"} 32400.0' in text
    assert 'twinbench_remaining_useful_life_seconds{asset="P1",bound="upper",mode="bearing_wear"} 40000.0' in text
    board.end_rul("P1", "bearing_wear", t=8200.0)
    assert board.snapshot()["rul"][0]["active"] is False and board.asset_state("P1")["rul"]["bearing_wear"]["active"] is False
    assert "twinbench_remaining_useful_life_seconds{" not in board.metrics_text().decode()  # no mode in progress
    with pytest.raises(ConfigurationError, match="level"):
        board.set_rul("P1", "bearing_wear", t=1.0, median_s=1.0, low_s=1.0, high_s=1.0, level=90)
