"""Checkpoints: atomic writes, refusal of foreign files, and exactly-once after SIGKILL / SIGTERM of `twinbench live`."""

import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from scenarios.live.app import build_service
from scenarios.live.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from scenarios.live.config import register_live_configs
from scenarios.reference.faults import FaultScenario, generate_fault_telemetry

ROOT = Path(__file__).resolve().parents[3]
QUIET = ["detection.enabled=false", "recalibration.enabled=false", "whatif_now.final=false"]


def test_a_checkpoint_round_trips(tmp_path):
    ck = Checkpoint(position={"row": 12}, applied=12, stamp_sum=99, last_stamp=5, detector={"ewma": [1.5]},
                    extra={"a": np.arange(3)})
    save_checkpoint(tmp_path / "c.ckpt", ck)
    back = load_checkpoint(tmp_path / "c.ckpt")
    assert back.position == {"row": 12} and back.applied == 12 and back.stamp_sum == 99
    np.testing.assert_array_equal(back.extra["a"], np.arange(3))
    assert load_checkpoint(tmp_path / "none.ckpt") is None


def test_a_write_that_fails_midway_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.ckpt"
    save_checkpoint(path, Checkpoint(applied=1))

    def broken_dump(obj, handle, protocol=None):
        handle.write(b"half a pickle")
        raise OSError("disk full")

    monkeypatch.setattr(pickle, "dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, Checkpoint(applied=2))
    monkeypatch.undo()
    assert load_checkpoint(path).applied == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.ckpt"]  # no temporary file left behind


def test_a_foreign_or_corrupt_file_is_refused_with_the_fix(tmp_path):
    (tmp_path / "bad.ckpt").write_bytes(b"not a pickle at all")
    with pytest.raises(CheckpointError, match="cannot be read.*move it away"):
        load_checkpoint(tmp_path / "bad.ckpt")
    (tmp_path / "old.ckpt").write_bytes(pickle.dumps({"format": 0}))
    with pytest.raises(CheckpointError, match="format 0, this code reads format 1"):
        load_checkpoint(tmp_path / "old.ckpt")


# ------------------------------------------------------------------------------------ kill and restart
def _cfg(csv, *overrides):
    register_live_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("live", overrides=[f"telemetry.path={csv}", "telemetry.channels.flow.period=10", *QUIET,
                                          *overrides])


def _start(csv, ckpt, tmp_path, *overrides):
    args = [sys.executable, "-m", "scenarios.live.app", f"telemetry.path={csv}", "telemetry.channels.flow.period=10",
            f"checkpoint.path={ckpt}", "checkpoint.every_rows=40", "block_rows=10", "timeline=false",
            f"hydra.run.dir={tmp_path}/hydra", *QUIET, *overrides]
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _applied(ckpt):
    try:
        ck = load_checkpoint(ckpt)
    except CheckpointError:  # pragma: no cover - the rename is atomic; never half a file
        raise
    return -1 if ck is None else ck.applied


def _wait_applied(proc, ckpt, at_least, timeout=90.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if _applied(ckpt) >= at_least:
            return _applied(ckpt)
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint with {at_least} samples within {timeout} s")


@pytest.mark.slow
def test_sigkill_and_sigterm_mid_stream_lose_no_sample_and_apply_none_twice(tmp_path):
    csv = tmp_path / "drive.csv"
    generate_fault_telemetry(FaultScenario(effect="none", hours=6.0, seed=5)).to_csv(csv, index=False)
    whole = build_service(_cfg(csv, "checkpoint.path=null"), monitors=[])
    whole.run()
    total = whole.applied
    ckpt = tmp_path / "live.ckpt"

    killed = _start(csv, ckpt, tmp_path, "source.speed=2000")  # 21600 s of data in ~11 s
    seen = _wait_applied(killed, ckpt, 300)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(10)
    at_kill = _applied(ckpt)
    assert 300 <= seen <= at_kill < total  # killed mid-stream, after some checkpoints

    termed = _start(csv, ckpt, tmp_path, "source.speed=2000")
    _wait_applied(termed, ckpt, at_kill + 200)
    termed.send_signal(signal.SIGTERM)
    out, _ = termed.communicate(timeout=30)
    assert termed.returncode == 0, out
    assert "stopped (stop requested)" in out
    in_all = int(re.search(r"samples applied in .* this run, (\d+) in all", out).group(1))
    assert at_kill < _applied(ckpt) == in_all < total  # the final checkpoint holds what the run applied

    # the rest of the file: resumed in this process (the CLI's own resume is the SIGTERM run's above)
    finish = build_service(_cfg(csv, f"checkpoint.path={ckpt}", "checkpoint.every_rows=40", "block_rows=10"),
                           monitors=[])
    assert finish.resume() and finish.applied == in_all
    finish.run()
    assert finish.tracker.fingerprint() == whole.tracker.fingerprint()  # the same twin, bit for bit
    assert finish.applied == total  # none lost, none twice
    assert finish.stamp_sum == whole.stamp_sum
    final = load_checkpoint(ckpt)
    assert final.tracker.fingerprint() == whole.tracker.fingerprint() and final.applied == total


def test_sigint_and_sigterm_ask_the_loop_to_stop():
    import threading

    from scenarios.live.app import stop_on_signals

    for sig in (signal.SIGINT, signal.SIGTERM):
        stop = threading.Event()
        previous = stop_on_signals(stop)
        try:
            os.kill(os.getpid(), sig)
            deadline = time.monotonic() + 5
            while not stop.is_set() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert stop.is_set()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
