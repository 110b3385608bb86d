"""The board served as OPC UA nodes (asyncua server on 127.0.0.1), read back with a real asyncua client."""

import asyncio
import datetime as dt
import json
import math
import socket

import pytest

from scenarios.live.board import LiveBoard
from scenarios.live.opcua_io import NAMESPACE, OpcUaServer, eu_information

T0 = 1_780_000_000.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_eu_information_uses_unece_codes():
    assert eu_information("K").UnitId == 4932940  # "KEL" = 0x4B454C
    assert eu_information("m^3/s").UnitId == (ord("M") << 16) | (ord("Q") << 8) | ord("S")
    unknown = eu_information("K/W")
    assert unknown.UnitId == -1 and unknown.DisplayName.Text == "K/W"


@pytest.mark.slow
def test_nodes_mirror_the_board():
    pytest.importorskip("asyncua")
    board = LiveBoard()
    board.record_sample("M1", "winding_temperature", T0, 351.5, 351.2, 350.6, 351.8, unit="K")
    board.record_parameter("M1", "thermal_resistance_housing_ambient", T0, 0.075, 0.07, 0.08, unit="K/W")
    alarm = board.raise_alarm("M1", "overheat", severity="high", explanation="winding 9 K above the twin")
    board.set_recommendation("M1", "Reduce line speed by 10 %")
    board.set_calibration_version("M1", 3)
    board.set_source(True, 0.2)

    async def read(server, keys):
        from asyncua import Client

        async with Client(server.endpoint, timeout=10) as client:
            index = await client.get_namespace_index(NAMESPACE)
            out = {}
            for key in keys:
                node = client.get_node(f"ns={index};s={key}")
                out[key] = await node.read_data_value()
            measured = client.get_node(f"ns={index};s=M1.channels.winding_temperature.measured")
            out["eu"] = await (await measured.get_child("0:EngineeringUnits")).read_value()
            return out

    with OpcUaServer(board, port=free_port(), interval_s=60.0) as server:
        keys = ["twin.ready", "twin.lag_s", "M1.calibration_version", "M1.active_alarms", "M1.alarms",
                "M1.recommendation", "M1.channels.winding_temperature.measured",
                "M1.channels.winding_temperature.upper", "M1.parameters.thermal_resistance_housing_ambient.lower"]
        got = asyncio.run(read(server, keys))
        assert got["twin.ready"].Value.Value is True and 0.2 <= got["twin.lag_s"].Value.Value < 30
        assert got["M1.calibration_version"].Value.Value == 3 and got["M1.active_alarms"].Value.Value == 1
        (open_alarm,) = json.loads(got["M1.alarms"].Value.Value)
        assert open_alarm["id"] == alarm and open_alarm["explanation"] == "winding 9 K above the twin"
        assert got["M1.recommendation"].Value.Value == "Reduce line speed by 10 %"
        measured = got["M1.channels.winding_temperature.measured"]
        assert measured.Value.Value == 351.5
        assert measured.SourceTimestamp.replace(tzinfo=dt.timezone.utc).timestamp() == T0
        assert got["M1.channels.winding_temperature.upper"].Value.Value == 351.8
        assert got["M1.parameters.thermal_resistance_housing_ambient.lower"].Value.Value == 0.07
        assert got["eu"].UnitId == 4932940 and got["eu"].DisplayName.Text == "K"
        # a later update: new values and a new channel appear after update()
        board.record_sample("M1", "winding_temperature", T0 + 10, None, 352.0, 351.0, 353.0)
        board.record_sample("M1", "motor_current", T0 + 10, 28.0, 27.5, 26.0, 29.0, unit="A")
        board.clear_alarm(alarm)
        server.update()
        got = asyncio.run(read(server, ["M1.channels.winding_temperature.measured",
                                        "M1.channels.winding_temperature.twin", "M1.channels.motor_current.twin",
                                        "M1.active_alarms"]))
        assert math.isnan(got["M1.channels.winding_temperature.measured"].Value.Value)  # a twin-only point
        assert got["M1.channels.winding_temperature.twin"].Value.Value == 352.0
        assert got["M1.channels.motor_current.twin"].Value.Value == 27.5
        assert got["M1.active_alarms"].Value.Value == 0
    assert server.updates >= 2
