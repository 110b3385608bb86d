"""The live loop on OPC UA through a real asyncua server on 127.0.0.1 (a simulated PLC): the same twin as the
file replay of the same samples."""

import asyncio
import socket
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir

from scenarios.live.app import build_service
from scenarios.live.config import register_live_configs
from scenarios.reference.faults import COLUMNS, FaultScenario, generate_fault_telemetry

asyncua = pytest.importorskip("asyncua")
ROOT = Path(__file__).resolve().parents[3]
QUIET = ["detection.enabled=false", "recalibration.enabled=false", "whatif_now.final=false", "checkpoint.path=null"]


class Plc:
    """An asyncua server in its own event-loop thread with one Double variable per tag."""

    def __init__(self, tags):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"opc.tcp://127.0.0.1:{self.port}/plc/"
        self.tags = list(tags)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._call(self._start())

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(20)

    async def _start(self):
        from asyncua import Server, ua

        server = Server()
        await server.init()
        server.set_endpoint(self.url)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        self.index = await server.register_namespace("urn:twinbench:test-plc")
        plc = await server.nodes.objects.add_object(self.index, "PLC")
        self.variables = {t: await plc.add_variable(ua.NodeId(t, self.index), t, ua.Variant(0.0, ua.VariantType.Double))
                          for t in self.tags}
        await server.start()
        self.server = server

    def write(self, tag, value, stamp):
        from asyncua import ua

        dv = ua.DataValue(ua.Variant(float(value), ua.VariantType.Double), SourceTimestamp=stamp, ServerTimestamp=stamp)
        self._call(self.variables[tag].write_value(dv))

    def close(self):
        self._call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _cfg(*overrides):
    register_live_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("live", overrides=[*QUIET, *overrides])


@pytest.mark.slow
def test_opcua_gives_the_twin_of_the_file_with_what_the_plc_reports(tmp_path):
    table = generate_fault_telemetry(FaultScenario(effect="none", hours=1.5, onset_h=1.0, period=60.0, seed=6, defects=False))
    # The source subscribes with DataChangeTrigger.StatusValueTimestamp: a reading equal to the previous one with a
    # new source stamp is a sample too (the default trigger, StatusValue, would drop it), so the twin of the PLC
    # is the twin of the whole file, repeats included.
    repeats = sum(int(table[column].astype(float).eq(table[column].astype(float).shift()).sum())
                  for column, *_rest in COLUMNS.values())
    assert repeats > 0  # the case is covered: the PLC writes equal readings in a row
    csv = tmp_path / "drive.csv"
    table.to_csv(csv, index=False)
    replay = build_service(_cfg(f"telemetry.path={csv}"), monitors=[])
    replay.run()

    living = yaml.safe_load((ROOT / "conf/telemetry/maps/living_mqtt.yaml").read_text())
    plc = Plc([COLUMNS[name][0] for name in living["channels"]])
    try:
        for name, ch in living["channels"].items():
            ch.pop("topic")
            ch["node"] = f"ns={plc.index};s={COLUMNS[name][0]}"
        (tmp_path / "plc.yaml").write_text(yaml.safe_dump(living))
        stamps = [pd.Timestamp(s).tz_convert("UTC").tz_localize(None).to_pydatetime() for s in table["timestamp"]]

        def write_row(i):
            for name in living["channels"]:
                plc.write(COLUMNS[name][0], float(table.loc[i, COLUMNS[name][0]]), stamps[i])

        write_row(0)  # the values the subscription starts with
        service = build_service(_cfg("source.kind=opcua", f"source.map={tmp_path}/plc.yaml", f"source.url={plc.url}",
                                     "source.linger_s=5"), monitors=[])
        service.feed.wait_connected(20)
        stop = threading.Event()
        runner = threading.Thread(target=service.run, args=(stop,), daemon=True)
        runner.start()
        for i in range(1, len(table)):
            write_row(i)
        deadline = time.monotonic() + 60
        while service.applied < len(table) - 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        runner.join(20)
    finally:
        plc.close()
    assert service.late == 0 and service.feed.skipped_replayed == 0
    assert service.applied == replay.applied == len(table)
    assert replay.feed.stream.counts.loc["TOTAL", "missing"] == 0
    assert service.stamp_sum == replay.stamp_sum
    assert service.tracker.fingerprint() == replay.tracker.fingerprint()
