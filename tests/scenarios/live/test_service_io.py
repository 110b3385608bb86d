"""The live loop wired to its outside: the board, /healthz /readyz /metrics over HTTP, and operator commands."""

import urllib.request
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from scenarios.live.app import build_service, command_handler, start_io
from scenarios.live.board import Command, CommandRefused, LiveBoard
from scenarios.live.config import register_live_configs
from scenarios.live.monitor import WhatIfMonitor
from scenarios.reference.faults import FaultScenario, generate_fault_telemetry

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("io") / "drive.csv"
    generate_fault_telemetry(FaultScenario(effect="none", hours=2.0, onset_h=1.0, seed=4)).to_csv(path, index=False)
    return path


def _cfg(csv, *overrides):
    register_live_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("live", overrides=[f"telemetry.path={csv}", "telemetry.channels.flow.period=10",
                                          "detection.enabled=false", "recalibration.enabled=false",
                                          "checkpoint.path=null", *overrides])


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read().decode()


def test_the_board_and_http_endpoints_show_the_live_twin(csv):
    cfg = _cfg(csv, "http.enabled=true", "http.port=0", "whatif_now.final=false")
    service = build_service(cfg, board=LiveBoard())
    io = start_io(cfg, service)
    try:
        service.run()
        url = io[0].url
        assert _get(url + "/healthz")[0] == 200
        status, metrics = _get(url + "/metrics")
        assert status == 200 and "twinbench" in metrics
        snap = service.board.snapshot()
        channels = {c["channel"]: c for c in snap["channels"]}
        assert set(channels) == set(service.tracker.channels)
        last = channels["winding_temperature"]["last"]
        assert last["lower"] < last["twin"] < last["upper"]  # the twin's estimate inside its band
        assert abs(last["measured"] - last["twin"]) < 5 * (last["upper"] - last["twin"])
        params = {p["name"]: p for p in snap["parameters"]}
        assert set(params) == {"pipe_resistance", "thermal_resistance_housing_ambient"}
    finally:
        for part in io:
            part.stop()


def test_operator_commands_request_a_what_if_and_refuse_setpoints(csv):
    cfg = _cfg(csv, "whatif_now.final=false", "whatif_now.every_h=100")
    service = build_service(cfg, board=LiveBoard())
    handle = command_handler(service)
    whatif = next(m for m in service.monitors if isinstance(m, WhatIfMonitor))
    assert handle(Command("whatif", "op", {})) == {"requested": True} and whatif.requested
    with pytest.raises(CommandRefused, match="advisory"):
        handle(Command("setpoint", "op", {"name": "speed", "value": 1.0}))
