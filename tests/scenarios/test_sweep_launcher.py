"""The sweep's worker pool and the ``twinbench`` launcher that owns it: replications queued ahead of their job
are the ones the job collects, equal to serial ones; what no job takes is cancelled; pools are objects, not
process state; the next job is prefetched before the running one starts and gets its parent run id."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from tests.helpers import mlflow_template_store

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["replications.n=3", "replications.run_length_h=12", "replications.warmup_h=0", "sweep.progress=false"]


@pytest.fixture
def store(tmp_path, tmp_path_factory) -> Path:
    """``tmp_path`` holding an empty, migrated sqlite MLflow store ``mlflow.db`` (a copy of the template)."""
    shutil.copyfile(mlflow_template_store(tmp_path_factory), tmp_path / "mlflow.db")
    return tmp_path


@pytest.fixture(scope="module")
def line():
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from scenarios.sweeps.config import register_sweep_configs

    register_sweep_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return OmegaConf.to_container(compose(config_name="sweep").line, resolve=True)


def _plan(n=4):
    from sim.replications import ReplicationPlan

    return ReplicationPlan(replications=n, seed=7, run_length=6 * 3600.0)


def test_queued_replications_are_the_ones_the_job_collects_and_equal_serial_ones(line):
    from scenarios.sweeps.job import replicate_configuration, submit_replications
    from scenarios.sweeps.pool import ReplicationPool

    cfg = {**line, "buffer_scale": 0.5}
    with ReplicationPool() as pool:
        release = submit_replications(pool, cfg, _plan(), workers=2, scenario=3)
        assert release is not None and pool.queued() == 1
        queued = next(iter(pool._queued.values()))
        parallel = replicate_configuration(cfg, _plan(), workers=2, scenario=3, pool=pool)
        assert pool.queued() == 0 and all(f.done() and not f.cancelled() for f in queued)  # taken, not resubmitted
        release()  # nothing left to cancel
    assert pool.pids() == []  # closed with the block
    serial = replicate_configuration(cfg, _plan(), workers=1, scenario=3)
    pd.testing.assert_frame_equal(parallel, serial)


def test_replications_no_job_takes_are_cancelled_and_a_job_then_runs_its_own(line):
    from concurrent.futures import wait

    from scenarios.sweeps.job import replicate_configuration, submit_replications
    from scenarios.sweeps.pool import ReplicationPool

    cfg = {**line, "buffer_scale": 2.0}
    with ReplicationPool() as pool:
        release = submit_replications(pool, cfg, _plan(40), workers=2)
        queued = next(iter(pool._queued.values()))
        release()
        assert pool.queued() == 0
        wait(queued)  # those already handed to a worker finish; the others never run
        assert any(f.cancelled() for f in queued)
        table = replicate_configuration(cfg, _plan(4), workers=2, pool=pool)
    pd.testing.assert_frame_equal(table, replicate_configuration(cfg, _plan(4), workers=1))


def _loky_children(pid: int) -> set[int]:
    """Living (not zombie) loky processes whose parent is *pid*."""
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (entry / "cmdline").read_text()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z" and "loky" in cmdline:
                out.add(int(entry.name))
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_two_pools_in_one_process_share_nothing_and_a_job_without_one_closes_its_own(line):
    import time

    from scenarios.sweeps.job import replicate_configuration, submit_replications
    from scenarios.sweeps.pool import ReplicationPool

    cfg = {**line, "buffer_scale": 0.5}
    with ReplicationPool() as a, ReplicationPool() as b:
        submit_replications(a, cfg, _plan(2), workers=2)
        assert a.queued() == 1 and b.queued() == 0
        assert b.pids() == [] and len(a.pids()) == 2
        a.release()
    before = _loky_children(os.getpid())
    table = replicate_configuration(cfg, _plan(2), workers=2)  # no pool passed: one of its own, closed after
    deadline = time.monotonic() + 10
    while _loky_children(os.getpid()) - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _loky_children(os.getpid()) - before
    pd.testing.assert_frame_equal(table, replicate_configuration(cfg, _plan(2), workers=1))


def test_nothing_is_queued_for_one_worker_or_a_configuration_the_job_will_reject(line):
    from scenarios.sweeps.job import submit_replications
    from scenarios.sweeps.pool import ReplicationPool

    pool = ReplicationPool()
    assert submit_replications(pool, line, _plan(), workers=1) is None
    assert submit_replications(pool, {**line, "crew_sise": 2}, _plan(), workers=2) is None
    assert pool.queued() == 0 and pool.pids() == []  # no worker started either


def _sweep(tmp: Path, name: str, *overrides) -> None:
    from hydra.core.global_hydra import GlobalHydra

    from scenarios.sweeps.cli import main

    GlobalHydra.instance().clear()
    saved = sys.argv[:]
    try:
        main(["-m", f"tracking.uri=sqlite:///{tmp}/mlflow.db", f"sweep.name={name}",
              f"hydra.sweep.dir={tmp}/multirun/{name}", *SMALL, *overrides])
    except SystemExit as exit_:
        assert not exit_.code
    finally:
        sys.argv = saved
        GlobalHydra.instance().clear()


def test_launcher_prefetches_the_next_job_owns_the_pool_and_releases_skipped_work(store, monkeypatch):
    import scenarios.sweeps.cli as app
    from scenarios.sweeps.pool import ReplicationPool

    events, pools = [], []
    prefetch, task = app.prefetch_job, app.task

    def spy_prefetch(cfg, cwd, pool):
        events.append(("prefetch", cfg.line.buffer_scale))
        pools.append(pool)
        return prefetch(cfg, cwd, pool)

    def spy_task(cfg, pool=None):
        events.append(("job", cfg.line.buffer_scale, cfg.sweep.parent is not None))
        pools.append(pool)
        return task(cfg, pool=pool)

    monkeypatch.setattr(app, "prefetch_job", spy_prefetch)
    monkeypatch.setattr(app, "task", spy_task)
    closed = []
    close = ReplicationPool.close
    monkeypatch.setattr(ReplicationPool, "close", lambda self, **kw: closed.append(self.queued()) or close(self, **kw))
    scales = ["line.buffer_scale=0.25,1.0,2.0", "replications.workers=2", "hydra.launcher.lookahead=1",
              "report.enabled=false"]
    _sweep(store, "look", *scales)
    assert events == [("prefetch", 0.25), ("prefetch", 1.0), ("job", 0.25, True), ("prefetch", 2.0),
                      ("job", 1.0, True), ("job", 2.0, True)]  # the launcher hands every job its parent run id
    assert len({id(p) for p in pools}) == 1 and isinstance(pools[0], ReplicationPool)  # one pool, the launcher's
    assert pools[0].pids() == [] and closed and closed[-1] == 0  # stopped at the end, nothing left queued

    events.clear()
    pools.clear()
    _sweep(store, "look", *scales)  # resumed: every job is skipped, its prefetched replications released
    assert [e for e in events if e[0] == "job"] == [("job", 0.25, True), ("job", 1.0, True), ("job", 2.0, True)]
    assert pools[0].queued() == 0 and pools[0].pids() == []


def test_no_sweep_state_is_left_in_the_process_or_its_environment(store, monkeypatch):
    import signal
    import types

    import scenarios.sweeps.lineage as lineage

    hooks = []
    monkeypatch.setattr(lineage, "atexit", types.SimpleNamespace(register=hooks.append, unregister=hooks.remove))
    before, sigterm = dict(os.environ), signal.getsignal(signal.SIGTERM)
    _sweep(store, "clean", "line.buffer_scale=0.25,1.0", "report.enabled=false")
    after = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}  # (MLflow's own settings)
    assert after == {k: v for k, v in before.items() if not k.startswith("MLFLOW_")}  # no id travels this way
    assert hooks == []  # the lineage's exit hook is gone with its parent
    assert signal.getsignal(signal.SIGTERM) == sigterm


def test_ctrl_c_is_held_through_a_store_write_whichever_thread_the_kernel_hands_it_to():
    import os
    import signal
    import threading
    import time

    from scenarios.sweeps.lineage import deferred_interrupts

    stop = threading.Event()
    others = [threading.Thread(target=stop.wait, daemon=True) for _ in range(3)]  # threads that could take it
    for t in others:
        t.start()
    steps = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with deferred_interrupts():
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(50):
                    time.sleep(0.001)  # bytecode boundaries: an interrupt let through would be raised here
                steps.append("write done")
    finally:
        stop.set()
    assert steps == ["write done"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
