"""Who owns a sweep (issue 13 item 5): a second driver of a running sweep refuses, naming the first; a stale
lease (dead driver, old heartbeat) is taken over for resume; worker processes die with a SIGKILLed driver."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.helpers import mlflow_template_store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path, tmp_path_factory) -> Path:
    """``tmp_path`` holding an empty, migrated sqlite MLflow store ``mlflow.db`` (a copy of the template)."""
    shutil.copyfile(mlflow_template_store(tmp_path_factory), tmp_path / "mlflow.db")
    return tmp_path


# ------------------------------------------------------------------------------------------ the lease, unit
def _store(tmp: Path):
    from scenarios.sweeps.runs import connect

    return connect(f"sqlite:///{tmp}/mlflow.db", "twinbench-sweeps")


def _lease(pid: int, *, host: str | None = None, age_s: float = 0.0, interval_s: float = 10.0):
    from scenarios.sweeps.lease import Lease

    return Lease(host or socket.gethostname(), pid, f"token-{pid}-{age_s}", int((time.time() - age_s) * 1000),
                 interval_s)


def _open(tracker, exp_id, lease, name="s"):
    from scenarios.sweeps.runs import open_parent

    return open_parent(tracker, exp_id, name, resume=True, params={}, tags={}, lease=lease)


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_a_live_lease_is_refused_naming_its_holder_and_a_stale_one_is_taken_over(store, live_pid):
    from scenarios.sweeps.lease import Lease, SweepBusyError

    tracker, exp_id = _store(store)
    first, resumed = _open(tracker, exp_id, _lease(live_pid))
    assert not resumed
    child = tracker.start_run("c", parent=first, tags={"twinbench.role": "child"})
    with pytest.raises(SweepBusyError) as err:
        _open(tracker, exp_id, Lease.mine(10.0))
    assert f"pid {live_pid} on host {socket.gethostname()}" in str(err.value) and first in str(err.value)
    assert tracker.client.get_run(child).info.status == "RUNNING"  # the live sweep's child is left alone

    os.kill(live_pid, signal.SIGKILL)  # the holder dies: its lease is stale at once on this host
    deadline = time.monotonic() + 10
    while Lease.from_tag(tracker.client.get_run(first).data.tags["twinbench.lease"]).is_live():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    mine = Lease.mine(10.0)
    again, resumed = _open(tracker, exp_id, mine)
    assert (again, resumed) == (first, True)
    assert Lease.from_tag(tracker.client.get_run(first).data.tags["twinbench.lease"]).token == mine.token
    assert tracker.client.get_run(child).info.status == "KILLED"  # left RUNNING by the dead driver


def test_a_lease_on_another_host_holds_while_its_heartbeat_is_fresh(store):
    from scenarios.sweeps.lease import STALE_AFTER, Lease, SweepBusyError

    tracker, exp_id = _store(store)
    _open(tracker, exp_id, _lease(1, host="elsewhere", age_s=5.0))
    with pytest.raises(SweepBusyError, match="on host elsewhere"):
        _open(tracker, exp_id, Lease.mine(10.0))
    _open(tracker, exp_id, _lease(2, host="elsewhere", age_s=STALE_AFTER * 10.0 + 1), name="old")
    assert _open(tracker, exp_id, Lease.mine(10.0), name="old")[1]  # an old heartbeat: taken over
    assert not Lease.from_tag("not json") and not _lease(os.getpid(), age_s=31.0).is_live()


def test_the_keeper_renews_the_heartbeat(store):
    from scenarios.sweeps.lease import Lease, LeaseKeeper

    tracker, exp_id = _store(store)
    lease = Lease.mine(0.1)
    run, _ = _open(tracker, exp_id, lease)
    keeper = LeaseKeeper(tracker, run, lease).start()
    try:
        time.sleep(0.6)
    finally:
        keeper.stop()
    held = Lease.from_tag(tracker.client.get_run(run).data.tags["twinbench.lease"])
    assert held.token == lease.token and held.heartbeat > lease.heartbeat


# ------------------------------------------------------------------------------------ two drivers, end to end
def _count(db: Path, status: str, role: str | None = None) -> int:
    if not db.exists():
        return 0
    query = "SELECT count(*) FROM runs r WHERE r.status = ?"
    args = [status]
    if role:
        query += " AND EXISTS (SELECT 1 FROM tags t WHERE t.run_uuid = r.run_uuid AND t.key = 'twinbench.role' " \
                 "AND t.value = ?)"
        args.append(role)
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return con.execute(query, args).fetchone()[0]
    except sqlite3.Error:
        return 0


def _command(tmp: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "scenarios.sweeps.cli", "-m", f"tracking.uri=sqlite:///{tmp}/mlflow.db",
            "sweep.name=owned", f"hydra.sweep.dir={tmp}/multirun", "replications.warmup_h=0", "report.enabled=false",
            "sweep.progress=false", *extra]


def _wait(predicate, proc, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"the sweep ended before {what}: {proc.communicate()[0][-3000:]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _main(argv: list[str]) -> int:
    """``twinbench-sweep *argv*`` in this process, as the console script runs it; returns the exit status."""
    from hydra.core.global_hydra import GlobalHydra

    from scenarios.sweeps.cli import main

    GlobalHydra.instance().clear()
    saved = sys.argv[:]
    try:
        main(argv)
    except SystemExit as exit_:
        return exit_.code or 0
    finally:
        sys.argv = saved
        GlobalHydra.instance().clear()
    return 0


@pytest.mark.slow
def test_a_second_driver_of_a_running_sweep_refuses_and_runs_nothing(store, capfd):
    """Regression (issue 13 item 5): the second driver reopened the live parent and re-ran its configurations.

    The first driver is the real command in a subprocess; this test process is the second driver."""
    db = store / "mlflow.db"
    cmd = _command(store, "line.buffer_scale=0.25,0.5,1.0,1.5,2.0", "replications.n=10",
                   "replications.run_length_h=336")  # long enough to be running when the second one starts
    first = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait(lambda: _count(db, "RUNNING", "child") >= 1, first, 120, "its first child run")
        capfd.readouterr()
        assert _main(cmd[3:]) != 0  # (cmd[3:]: the arguments after python -m scenarios.sweeps.cli)
        stderr = capfd.readouterr().err
        assert f"pid {first.pid}" in stderr and "being run by" in stderr, stderr[-3000:]
        assert first.poll() is None
        assert _count(db, "RUNNING", "parent") == 1 and _count(db, "KILLED") == 0  # the first sweep untouched
        first.send_signal(signal.SIGINT)
        out, _ = first.communicate(timeout=60)
        assert first.returncode == 130, out[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()


# --------------------------------------------------------------------------------- workers die with the driver
def _descendants(pid: int) -> set[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    from scenarios.sweeps.lease import pid_alive

    return pid_alive(pid)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_worker_processes_die_with_a_sigkilled_driver(store):
    db = store / "mlflow.db"
    cmd = _command(store, "line.buffer_scale=0.25,0.5", "replications.n=8", "replications.run_length_h=168",
                   "replications.workers=2")
    driver = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    workers: set[int] = set()
    try:
        _wait(lambda: _count(db, "RUNNING", "child") >= 1, driver, 120, "its first child run")
        workers = _descendants(driver.pid)
        assert len(workers) >= 2, workers
        driver.kill()  # SIGKILL: nothing in the driver runs any more
        driver.wait(timeout=10)
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = {p for p in workers if _alive(p)}
        assert not left, f"processes of the killed driver still alive after 5 s: {sorted(left)}"
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        for p in workers:  # (only when the test failed: the processes it saw, by pid)
            if _alive(p):
                os.kill(p, signal.SIGKILL)
