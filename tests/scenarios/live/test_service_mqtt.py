"""The live loop on MQTT through a real mosquitto on 127.0.0.1: the same twin as the file replay of the same
samples, across a broker restart (reconnect with back-off, counted; no sample lost or applied twice)."""

import getpass
import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from hydra import compose, initialize_config_dir

from scenarios.live.app import build_service
from scenarios.live.config import register_live_configs
from scenarios.reference.faults import COLUMNS, FaultScenario, generate_fault_telemetry
from sim.telemetry import ChannelMap

ROOT = Path(__file__).resolve().parents[3]
MAP = ROOT / "conf" / "telemetry" / "maps" / "living_mqtt.yaml"
QUIET = ["detection.enabled=false", "recalibration.enabled=false", "whatif_now.final=false", "checkpoint.path=null"]
BROKER = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if Path(p).exists()), None)
pytestmark = pytest.mark.skipif(BROKER is None, reason="mosquitto is not installed")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout, what):
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class Broker:
    """A private mosquitto with persistence (QoS 1 messages survive its restart)."""

    def __init__(self, folder: Path):
        self.port, self.folder = _free_port(), folder
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                             f"persistence_location {folder}/\nmax_queued_messages 0\nmax_inflight_messages 0\nuser {getpass.getuser()}\n")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([BROKER, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        _wait(lambda: socket.socket().connect_ex(("127.0.0.1", self.port)) == 0, 10, "mosquitto to listen")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path)
    b.start()
    yield b
    if b.proc.poll() is None:
        b.stop()


def _cfg(*overrides):
    register_live_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("live", overrides=[*QUIET, *overrides])


@pytest.mark.slow
def test_mqtt_gives_the_file_replay_twin_across_a_broker_restart(broker, tmp_path):
    table = generate_fault_telemetry(FaultScenario(effect="none", hours=3.0, period=60.0, seed=2, defects=False))
    csv = tmp_path / "drive.csv"
    table.to_csv(csv, index=False)
    replay = build_service(_cfg(f"telemetry.path={csv}"), monitors=[])
    replay.run()

    service = build_service(_cfg("source.kind=mqtt", f"source.map={MAP}", f"source.port={broker.port}",
                                 "source.client_id=twin-under-test", "source.linger_s=0.3"), monitors=[])
    service.feed.wait_connected(10)
    stop = threading.Event()
    errors, results = [], []

    def run():
        try:
            results.append(service.run(stop))
        except BaseException as err:  # pragma: no cover - reported by the assertion below
            errors.append(err)
            raise

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    topics = {name: topic for topic, name in ChannelMap.from_yaml(MAP).topics.items()}
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="plc", clean_session=False)
    pub.reconnect_delay_set(0.05, 0.5)
    pub.max_inflight_messages_set(100)
    pub.max_queued_messages_set(0)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    try:
        half = len(table) // 2
        for i, row in table.iterrows():
            if i == half:
                _wait(lambda: service.applied >= half - 1, 60, "the first half to be applied")
                broker.stop()
                broker.start()  # the twin's persistent session survives the restart
                _wait(lambda: pub.is_connected() and service.feed.connected, 20, "both clients to reconnect")
            for name, (column, *_rest) in COLUMNS.items():
                payload = json.dumps({"time": row["timestamp"], "value": float(row[column])})
                pub.publish(topics[name], payload, qos=1)
        # the last row stays in the gates' reorder buffer (lateness 5 s) until the stop flushes it
        _wait(lambda: service.applied >= len(table) - 1 or errors, 60, f"{len(table)} rows applied (got {service.applied}, "
              f"connects {service.feed.source.connects}, received {service.feed.source.received}, pending "
              f"{len(service.feed._pending)}, alive {runner.is_alive()} {results}, latest {service.feed._latest}, counts {service.feed.live.stream().counts.loc['TOTAL'].to_dict()}, pend {service.feed.live.pending}, q {service.feed.source.queued})")
    finally:
        stop.set()
        runner.join(10)
        pub.loop_stop()
        pub.disconnect()
    assert not errors, errors
    assert service.feed.reconnects >= 1
    assert service.applied == replay.applied == len(table)
    assert service.late == 0
    assert service.stamp_sum == replay.stamp_sum
    assert service.tracker.fingerprint() == replay.tracker.fingerprint()  # one code path: the same twin
