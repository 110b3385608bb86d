"""The living twin's figures (issue 14).

    .venv/bin/python benchmarks/live.py              # table
    .venv/bin/python benchmarks/live.py --json       # + one JSON object on the last line
    .venv/bin/python benchmarks/live.py --only fleet # one figure (replay, fleet, latency, resume)

* ``replay_realtime_factor`` (target >= 10,000): the bundled living telemetry (nine days of the filler drive at
  60 s, every channel) replayed as fast as possible through ``LiveService`` - the gated file feed, the joint UKF
  with innovations, the residual detector and the alarm logic (recalibration and what-if off) - in this
  process on one core (``NUMBA_NUM_THREADS=1``); factor = source time covered / wall time of ``run()``.  The
  file is read and gated before the clock starts (``file_gate_s`` reports that time).
* ``fleet_samples_per_s`` (target >= 1e5): 1,000 motors (``MOTOR_THERMAL``) x 3 channels (current, ambient,
  winding temperature) x ``--fleet-rows`` rows at 10 s: a wide table of 3,000 columns through the telemetry
  gates (``read_frame``, every gate of the channel map) and then the fleet filter (``FleetTracker`` with 1,000
  assets, one parameter each) in blocks of 60 rows; samples = rows x 3,000 / (gate + filter wall time).
* ``latency_p99_ms`` (target <= 20): a private mosquitto on 127.0.0.1; a publisher sends the seven living
  channels at ``--rate`` messages/s (JSON, QoS 1, stamped with the wall clock at sending) for ``--seconds``;
  the service (MQTT feed, gates without a reorder window, the filter, the board) records per row the wall time
  from the stamp to the updated state on the board; p50 and p99 over the rows after the first second.
* ``resume_lost_samples`` / ``resume_double_applied`` (target 0 / 0): ``twinbench live`` as a subprocess on six
  hours of drive telemetry, paced at 2,000 x real time with checkpoints every 40 rows, SIGKILLed mid-stream,
  restarted to the end; compared with an uninterrupted run: samples applied, the sum of their stamps and the
  twin's state fingerprint.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _cfg(*overrides):
    from hydra import compose, initialize_config_dir

    from scenarios.live.config import register_live_configs

    register_live_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("live", overrides=list(overrides))


QUIET = ["recalibration.enabled=false", "whatif_now.final=false", "checkpoint.path=null", "timeline=false"]


# --------------------------------------------------------------------------------------------------- replay
def replay() -> dict:
    from scenarios.live.app import build_service

    t0 = time.perf_counter()
    service = build_service(_cfg(*QUIET))
    gate_s = time.perf_counter() - t0
    service.run(max_rows=200)  # kernels loaded / compiled outside the clock
    service = build_service(_cfg(*QUIET))
    t0 = time.perf_counter()
    result = service.run()
    wall = time.perf_counter() - t0
    span = (service.last_stamp - service.feed._stamps[0]) / 1e9
    alarms = len(service.timeline.of_kind("alarm raised"))
    return {"replay_realtime_factor": round(span / wall, 1), "replay_rows": result.applied,
            "replay_wall_s": round(wall, 3), "file_gate_s": round(gate_s, 3), "replay_alarms": alarms}


# ---------------------------------------------------------------------------------------------------- fleet
def fleet(rows: int = 360, assets: int = 1000) -> dict:
    from calibration import JointUKF
    from scenarios.live.service import AssetLayout
    from scenarios.live.tracking import FleetTracker
    from sim.physics import MOTOR_THERMAL
    from sim.telemetry import ChannelMap, read_frame

    rng = np.random.default_rng(0)
    t = np.arange(rows) * 10.0
    names = [f"m{a:04d}" for a in range(assets)]
    current = rng.uniform(20, 34, (rows, assets))
    ambient = 293.15 + 3 * np.sin(2 * np.pi * t / 86400)[:, None] + rng.normal(0, 0.1, (rows, assets))
    params = MOTOR_THERMAL.spec.vector("params", {})
    x = np.tile([330.0, 320.0], (assets, 1))
    winding = np.empty((rows, assets))
    for a0 in range(0, assets, 100):  # the truth, per asset (inputs differ)
        for a in range(a0, min(a0 + 100, assets)):
            u = np.column_stack([current[:, a], ambient[:, a]])
            winding[:, a] = MOTOR_THERMAL.simulate(x[a], params, t, u)[0][:, 0]
    winding += rng.normal(0, 0.3, winding.shape)
    table = {"timestamp": (pd.Timestamp("2026-07-20", tz="UTC") + pd.to_timedelta(t, unit="s")).strftime(
        "%Y-%m-%dT%H:%M:%SZ")}
    channels = {}
    for a, name in enumerate(names):
        for var, unit, vals, rng_ in (("motor_current", "A", current[:, a], [0, 200]),
                                      ("ambient_temperature", "K", ambient[:, a], [150, 400]),
                                      ("winding_temperature", "K", winding[:, a], [150, 800])):
            col = f"{name}.{var}"
            table[col] = vals
            channels[col] = {"column": col, "unit": unit, "si_unit": unit, "range": rng_, "period": 10.0}
    frame = pd.DataFrame(table)
    cmap = ChannelMap.from_dict({"time_column": "timestamp", "timezone": "UTC", "channels": channels})
    t0 = time.perf_counter()
    stream = read_frame(frame, cmap, now=pd.Timestamp("2027-01-01", tz="UTC"))
    gate_s = time.perf_counter() - t0
    gated = stream.frame
    layout = AssetLayout.from_channels(list(gated.columns), outputs=("winding_temperature",),
                                       inputs=MOTOR_THERMAL.spec.names("inputs"), assets=names)
    stamps, values = gated.index.asi8, gated.to_numpy(dtype=np.float64)
    ukf = JointUKF(parameters=("thermal_resistance_housing_ambient",), noise_std={"winding_temperature": 0.3},
                   max_step=10.0)

    def track(n):
        tracker = FleetTracker(MOTOR_THERMAL, ("winding_temperature",), n_assets=assets, filter=ukf)
        t1 = time.perf_counter()
        for lo in range(0, n, 60):
            Y, U = layout.arrays(values[lo:lo + 60])
            tracker.update(stamps[lo:lo + 60], Y, U)
        return time.perf_counter() - t1, tracker

    track(2)  # compile / load the kernel outside the clock
    filter_s, tracker = track(rows)
    samples = rows * assets * 3
    err = np.abs(tracker.estimates()["thermal_resistance_housing_ambient"] - params[
        MOTOR_THERMAL.spec.index("params", "thermal_resistance_housing_ambient")])
    return {"fleet_samples_per_s": round(samples / (gate_s + filter_s)), "fleet_samples": samples,
            "fleet_gate_s": round(gate_s, 3), "fleet_filter_s": round(filter_s, 3),
            "fleet_param_abs_error_median": float(np.median(err))}


# -------------------------------------------------------------------------------------------------- latency
PUBLISHER = """
import json, sys, time
import paho.mqtt.client as mqtt
port, topics, rate, n_rows = int(sys.argv[1]), json.loads(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
row = {"shaft_speed": 2800.0, "flow": 95.0, "discharge_pressure": 2.4, "vibration_rms": 1.3, "motor_current": 13.0,
       "winding_temperature": 45.0, "ambient_temperature": 24.0}
pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-plc")
pub.max_inflight_messages_set(1000)
pub.max_queued_messages_set(0)
pub.connect("127.0.0.1", port)
pub.loop_start()
interval = len(topics) / rate
start = time.perf_counter()
for i in range(n_rows):
    due = start + i * interval
    while time.perf_counter() < due:
        time.sleep(min(0.0005, max(due - time.perf_counter(), 0)))
    stamp = time.time()
    for name, topic in topics.items():
        pub.publish(topic, json.dumps({"time": stamp, "value": row[name] + 0.01 * (i % 7)}), qos=1)
time.sleep(1.0)
pub.loop_stop()
pub.disconnect()
"""


def latency(rate: float = 1000.0, seconds: float = 6.0) -> dict:
    import getpass
    import shutil
    import socket

    import paho.mqtt.client as mqtt
    import yaml

    from scenarios.live.app import build_service

    broker = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(broker).exists():
        return {"latency_p99_ms": None, "latency_note": "mosquitto not installed"}
    tmp = Path(tempfile.mkdtemp())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp / "m.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
                                f"max_inflight_messages 0\nset_tcp_nodelay true\nuser {getpass.getuser()}\n")
    proc = subprocess.Popen([broker, "-c", str(tmp / "m.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.02)
        cmap = yaml.safe_load((ROOT / "conf/telemetry/maps/living_mqtt.yaml").read_text())
        for ch in cmap["channels"].values():
            ch["lateness"] = 0  # no reorder window: a sample is released when it arrives
            ch.pop("period", None)
        (tmp / "map.yaml").write_text(yaml.safe_dump(cmap))
        topics = {name: ch["topic"] for name, ch in cmap["channels"].items()}
        service = build_service(_cfg(*QUIET, "detection.enabled=false", "source.kind=mqtt", f"source.map={tmp}/map.yaml",
                                     f"source.port={port}", "source.linger_s=0.05", "block_rows=64"), monitors=[])
        service.feed.wait_connected(10)
        stop = threading.Event()
        runner = threading.Thread(target=service.run, args=(stop,), daemon=True)
        runner.start()
        n_rows = int(seconds * rate / len(topics))
        publisher = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(port), json.dumps(topics), str(rate),
                                      str(n_rows)])
        publisher.wait(seconds + 60)
        deadline = time.monotonic() + 20
        while service.applied < n_rows - 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        runner.join(10)
    finally:
        proc.terminate()
        proc.wait(10)
    lat = np.array(list(service.latencies)[int(rate / len(topics)):]) * 1e3  # after the first second
    return {"latency_p99_ms": round(float(np.percentile(lat, 99)), 2), "latency_p50_ms": round(float(np.median(lat)), 2),
            "latency_rows": int(lat.size), "latency_msgs_per_s": rate, "latency_applied": service.applied,
            "latency_published_rows": n_rows}


# --------------------------------------------------------------------------------------------------- resume
def resume() -> dict:
    from scenarios.live.app import build_service
    from scenarios.live.checkpoint import load_checkpoint
    from scenarios.reference.faults import FaultScenario, generate_fault_telemetry

    tmp = Path(tempfile.mkdtemp())
    csv = tmp / "drive.csv"
    generate_fault_telemetry(FaultScenario(effect="none", hours=6.0, seed=5)).to_csv(csv, index=False)
    common = [f"telemetry.path={csv}", "telemetry.channels.flow.period=10", "detection.enabled=false",
              "recalibration.enabled=false", "whatif_now.final=false"]
    whole = build_service(_cfg(*common, "checkpoint.path=null"), monitors=[])
    whole.run()
    ckpt = tmp / "live.ckpt"
    args = [sys.executable, "-m", "scenarios.live.app", *common, f"checkpoint.path={ckpt}", "checkpoint.every_rows=40",
            "block_rows=10", "timeline=false", f"hydra.run.dir={tmp}/hydra"]
    killed = subprocess.Popen([*args, "source.speed=2000"], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ck = load_checkpoint(ckpt)
        if ck is not None and ck.applied >= whole.applied // 3:
            break
        time.sleep(0.05)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(10)
    at_kill = load_checkpoint(ckpt).applied
    out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300).stdout
    m = re.search(r"final state: (\w+) applied=(\d+) stamp_sum=(\d+)", out)
    applied, stamp_sum = int(m.group(2)), int(m.group(3))
    same = m.group(1) == whole.tracker.fingerprint()[:16] and stamp_sum == whole.stamp_sum
    return {"resume_lost_samples": max(whole.applied - applied, 0) + (0 if same or applied != whole.applied else 1),
            "resume_double_applied": max(applied - whole.applied, 0), "resume_same_state": same,
            "resume_killed_at": at_kill, "resume_total": whole.applied}


FIGURES = {"replay": replay, "fleet": fleet, "latency": latency, "resume": resume}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--only", choices=sorted(FIGURES), action="append")
    parser.add_argument("--fleet-rows", type=int, default=360)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args(argv)
    out: dict = {}
    for name in args.only or list(FIGURES):
        kwargs = {"fleet": {"rows": args.fleet_rows}, "latency": {"rate": args.rate, "seconds": args.seconds}}.get(
            name, {})
        got = FIGURES[name](**kwargs)
        out.update(got)
        for key, value in got.items():
            print(f"{key:32s} {value}", flush=True)
    if args.json:
        print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
