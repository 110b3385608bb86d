"""The sweep's shared worker pool and the ``twinbench`` launcher: replications queued ahead of their job are
the ones the job collects, equal to serial ones; what no job takes is cancelled; each job config is composed
once; the next job is prefetched before the running one starts."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["replications.n=3", "replications.run_length_h=12", "replications.warmup_h=0", "sweep.progress=false"]


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
    from scenarios import sweep_job
    from scenarios.sweeps.job import replicate_configuration, submit_replications

    cfg = {**line, "buffer_scale": 0.5}
    release = submit_replications(cfg, _plan(), workers=2, scenario=3)
    assert release is not None and len(sweep_job._QUEUED) == 1
    queued = next(iter(sweep_job._QUEUED.values()))
    parallel = replicate_configuration(cfg, _plan(), workers=2, scenario=3)
    assert sweep_job._QUEUED == {} and all(f.done() and not f.cancelled() for f in queued)  # taken, not resubmitted
    release()  # nothing left to cancel
    serial = replicate_configuration(cfg, _plan(), workers=1, scenario=3)
    pd.testing.assert_frame_equal(parallel, serial)


def test_replications_no_job_takes_are_cancelled_and_a_job_then_runs_its_own(line):
    from scenarios import sweep_job
    from scenarios.sweeps.job import replicate_configuration, submit_replications

    from concurrent.futures import wait

    cfg = {**line, "buffer_scale": 2.0}
    release = submit_replications(cfg, _plan(40), workers=2)
    queued = next(iter(sweep_job._QUEUED.values()))
    release()
    assert sweep_job._QUEUED == {}
    wait(queued)  # those already handed to a worker finish; the others never run
    assert any(f.cancelled() for f in queued)
    table = replicate_configuration(cfg, _plan(4), workers=2)
    pd.testing.assert_frame_equal(table, replicate_configuration(cfg, _plan(4), workers=1))


def test_nothing_is_queued_for_one_worker_or_a_configuration_the_job_will_reject(line):
    from scenarios import sweep_job
    from scenarios.sweeps.job import submit_replications

    assert submit_replications(line, _plan(), workers=1) is None
    assert submit_replications({**line, "crew_sise": 2}, _plan(), workers=2) is None
    assert sweep_job._QUEUED == {}


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
        os.environ.pop("TWINBENCH_SWEEP_PARENT", None)


def test_launcher_prefetches_the_next_job_composes_each_job_once_and_releases_skipped_work(tmp_path, monkeypatch):
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    import scenarios.sweeps.cli as app
    from scenarios import sweep_job

    events = []
    prefetch, run_job = app.prefetch_job, app.run_job
    monkeypatch.setattr(app, "prefetch_job",
                        lambda cfg, cwd: events.append(("prefetch", cfg.line.buffer_scale)) or prefetch(cfg, cwd))
    monkeypatch.setattr(app, "run_job",
                        lambda cfg: events.append(("job", cfg.line.buffer_scale)) or run_job(cfg))
    composed = []
    load = ConfigLoaderImpl.load_sweep_config
    monkeypatch.setattr(ConfigLoaderImpl, "load_sweep_config",
                        lambda self, master_config, sweep_overrides: composed.append(list(sweep_overrides))
                        or load(self, master_config, sweep_overrides))
    scales = ["line.buffer_scale=0.25,1.0,2.0", "replications.workers=2", "hydra.launcher.lookahead=1"]
    _sweep(tmp_path, "look", *scales)
    assert events == [("prefetch", 0.25), ("prefetch", 1.0), ("job", 0.25), ("prefetch", 2.0), ("job", 1.0),
                      ("job", 2.0)]
    assert len(composed) == 3  # the sweeper's validation; the launcher reuses those configs
    assert sweep_job._QUEUED == {}

    events.clear()
    _sweep(tmp_path, "look", *scales)  # resumed: every job is skipped, its prefetched replications released
    assert [e for e in events if e[0] == "job"] == [("job", 0.25), ("job", 1.0), ("job", 2.0)]
    assert sweep_job._QUEUED == {}


def test_workers_start_with_the_process_only_when_the_command_line_says_how_many():
    from scenarios.sweeps.cli import _workers_on_command_line as workers

    assert workers(["-m", "line.buffer_scale=1,2", "replications.workers=2"]) == 2
    assert workers(["--multirun", "+replications.workers=3", "replications.workers=2"]) == 2  # the last one wins
    assert workers(["replications.workers=2"]) == 0  # a single run: no pool
    assert workers(["-m", "replications.workers=1,2"]) == 0  # swept: the jobs decide
    assert workers(["-m", "hydra/launcher=ray", "replications.workers=2"]) == 0  # workers of another launcher
    assert workers(["-m", "+experiment=lhs_buffers"]) == 0  # set in a file: the StartWorkers callback starts them


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
