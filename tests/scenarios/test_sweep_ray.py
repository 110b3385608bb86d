"""The same sweep on Ray: a local Ray cluster and an ``mlflow server`` started here on 127.0.0.1 (free ports,
bounded in time, killed after), the official hydra-ray-launcher, and KPIs identical to a serial run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from tests.helpers import mlflow_template_store

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytest.importorskip("ray")
pytest.importorskip("hydra_plugins.hydra_ray_launcher")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cmd, log: Path, env=None) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)  # its own process group: stopped as a whole below


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _wait_health(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args[0]} exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s: {log.read_text()[-2000:]}")


@pytest.mark.slow
def test_ray_sweep_tracks_to_a_server_and_matches_serial_kpis(tmp_path, tmp_path_factory):
    from scenarios.sweeps.job import replicate_configuration, summarize_replications
    from sim.kpi import display_name, to_display
    from sim.replications import ReplicationPlan

    import secrets

    # Ray >= 2.59 clusters from `ray start` use token auth: a throw-away token shared by the cluster and the driver
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32), "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0",
           "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job runner process: nothing here needs one
    import shutil
    import tempfile

    shutil.copyfile(mlflow_template_store(tmp_path_factory), tmp_path / "server.db")  # the server's store, migrated
    mport, rport, dport = _port(), _port(), _port()
    ray_tmp = tempfile.mkdtemp(prefix="tbray", dir="/tmp")  # Ray's socket paths must stay under 107 bytes
    server = _start([str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(mport), "--workers", "1",
                     "--backend-store-uri", f"sqlite:///{tmp_path}/server.db",
                     "--default-artifact-root", f"{tmp_path}/artifacts"], tmp_path / "mlflow.log", env)
    ray = _start([str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={rport}",
                  "--num-cpus=2", "--include-dashboard=false", f"--dashboard-agent-listen-port={dport}",
                  "--object-store-memory=100000000", f"--temp-dir={ray_tmp}"], tmp_path / "ray.log", env)
    try:
        uri = f"http://127.0.0.1:{mport}"
        _wait_health(uri + "/health", server, tmp_path / "mlflow.log", 120)
        cmd = [sys.executable, "-m", "scenarios.sweeps.cli", "-m", "hydra/launcher=ray",
               f"hydra.launcher.ray.init.address=127.0.0.1:{rport}",
               "+hydra.launcher.ray.init.object_store_memory=null",  # none may be given for an existing cluster
               f"tracking.uri={uri}", "sweep.name=on-ray", f"hydra.sweep.dir={tmp_path}/multirun",
               "line.buffer_scale=0.25,1.0", "replications.n=3", "replications.run_length_h=12",
               "replications.warmup_h=0", "sweep.child_plot=false"]
        deadline = time.monotonic() + 60
        while "Ray runtime started" not in (tmp_path / "ray.log").read_text() and time.monotonic() < deadline:
            assert ray.poll() is None, (tmp_path / "ray.log").read_text()
            time.sleep(0.5)
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

        import mlflow

        mlflow.set_tracking_uri(uri)
        try:
            df = mlflow.search_runs(experiment_names=["twinbench-sweeps"])
        finally:
            mlflow.set_tracking_uri(None)
    finally:
        _stop(ray)
        _stop(server)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    parent = df[df["tags.twinbench.role"] == "parent"]
    assert len(parent) == 1 and parent.status.item() == "FINISHED"
    kids = df[df["tags.mlflow.parentRunId"] == parent.run_id.item()]
    assert len(kids) == 2 and set(kids.status) == {"FINISHED"}
    assert "RayLauncher" in parent["tags.launcher"].item()
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from scenarios.sweeps.config import register_sweep_configs

    register_sweep_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        line = OmegaConf.to_container(compose(config_name="sweep").line, resolve=True)
    plan = ReplicationPlan(replications=3, seed=2026, run_length=12 * 3600.0, warmup=0.0)
    for _, kid in kids.iterrows():
        scale = float(kid["params.line.buffer_scale"])
        serial = summarize_replications(replicate_configuration({**line, "buffer_scale": scale}, plan), 0.95)
        for k in ("oee", "throughput", "maintenance_cost", "unplanned_downtime"):  # display units, named with them
            assert kid[f"metrics.{display_name(k)}"] == to_display(k, serial.loc[k, "mean"])
            assert kid[f"metrics.{display_name(k)}.low"] == to_display(k, serial.loc[k, "low"])
