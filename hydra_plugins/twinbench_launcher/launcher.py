"""A Hydra launcher for sweeps of short jobs on one machine: Hydra's basic launcher (every job in the driver
process, in order, same job directories, same ``JobReturn``) that owns the sweep's local worker pool.

* **The pool.**  The launcher makes one :class:`~scenarios.sweeps.pool.ReplicationPool` when it is set up
  (its ``replications.workers`` processes start then, while Hydra composes the jobs) and passes it to every job
  whose task function takes a ``pool`` keyword; it stops the workers when the sweep is over (:meth:`close`,
  called by the ``twinbench`` sweeper after its last batch, or at the end of :meth:`launch` for other
  sweepers) and kills them when a job is interrupted.
* **Lookahead.**  Before job *i* runs, ``prefetch(job_config, cwd, pool)`` is called for jobs *i* ..
  *i + lookahead* (default 1).  The sweep app queues their replications on the pool
  (``scenarios.sweeps.cli.prefetch_job``), so while job *i* waits for its last replications, does its tracking
  and Hydra sets up job *i + 1*, the idle workers already run job *i + 1*'s replications.  Prefetching only
  starts computations: the job itself still creates its run, collects the results (identical by construction:
  the same function with the same arguments and seeds) and logs them; whatever a job did not take (it was
  skipped on resume, it failed) is released.
* **Callbacks that own the sweep.**  A callback with ``prepare_job(config)`` is called before each job's
  config is copied for the job (the sweep's lineage puts the parent run id there); one with
  ``on_multirun_abort(config, status=, reason=)`` is told when the jobs stop on Ctrl-C, SIGTERM or an error,
  so it can close what it opened; one with ``on_launch_end(config, job_returns)`` gets the batch's results
  (Hydra's basic sweeper raises the first failed job's error right after, and never calls ``on_multirun_end``).
"""

from __future__ import annotations

import functools
import inspect
import logging
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from hydra_plugins.twinbench_launcher.config import TwinbenchLauncherConf  # noqa: F401 - registers the config

log = logging.getLogger(__name__)


class TwinbenchLauncher(Launcher):
    def __init__(self, prefetch: Optional[str] = None, lookahead: int = 1) -> None:
        super().__init__()
        if lookahead < 0:
            raise ValueError(f"hydra.launcher.lookahead = {lookahead} must be >= 0 (0: no lookahead)")
        self.prefetch = prefetch
        self.lookahead = int(lookahead)
        self.config: Optional[DictConfig] = None
        self.task_function: Optional[TaskFunction] = None
        self.hydra_context: Optional[HydraContext] = None
        self.pool = None
        self._held_open = False

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from scenarios.sweeps.pool import ReplicationPool

        self.config = config
        self.task_function = task_function
        self.hydra_context = hydra_context
        self.pool = ReplicationPool()
        workers = OmegaConf.select(config, "replications.workers", default=1)
        if isinstance(workers, int) and workers > 1:  # swept or invalid: the jobs start or report it
            self.pool.start(workers)

    # ------------------------------------------------------------------ the sweep's lifetime
    def hold_open(self) -> None:
        """Keep the pool's workers between :meth:`launch` calls until :meth:`close` (a sweeper with batches)."""
        self._held_open = True

    def close(self, *, kill: bool = False) -> None:
        """Stop the pool's workers (cancelling what is queued)."""
        self._held_open = False
        if self.pool is not None:
            self.pool.close(kill=kill)

    def _callbacks(self, hook: str) -> list:
        assert self.hydra_context is not None
        return [getattr(cb, hook) for cb in getattr(self.hydra_context.callbacks, "callbacks", [])
                if callable(getattr(cb, hook, None))]

    def _task(self) -> TaskFunction:
        task = self.task_function
        assert task is not None
        try:
            takes_pool = "pool" in inspect.signature(task).parameters
        except (TypeError, ValueError):
            takes_pool = False
        return functools.partial(task, pool=self.pool) if takes_pool else task

    def _prefetch_function(self) -> Optional[Callable]:
        if not self.prefetch:
            return None
        from hydra.utils import get_method

        return get_method(self.prefetch)

    # ------------------------------------------------------------------ jobs
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        assert self.hydra_context is not None and self.config is not None and self.task_function is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        log.info(f"Launching {len(job_overrides)} jobs locally")
        prefetch = self._prefetch_function()
        cwd = self.config.hydra.runtime.cwd
        task = self._task()
        loader = self.hydra_context.config_loader
        configs: Dict[int, DictConfig] = {}
        releases: Dict[int, Optional[Callable[[], None]]] = {}

        def config(i: int) -> DictConfig:
            if i not in configs:
                configs[i] = loader.load_sweep_config(self.config, list(job_overrides[i]))
            return configs[i]

        runs: List[JobReturn] = []
        try:
            for i, overrides in enumerate(job_overrides):
                if prefetch is not None:  # in job order: the pool runs job i's replications first
                    for j in range(i, min(i + 1 + self.lookahead, len(job_overrides))):
                        if j not in releases:
                            releases[j] = prefetch(config(j), cwd, self.pool)
                idx = initial_job_idx + i
                log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
                sweep_config = config(i)
                with open_dict(sweep_config):
                    sweep_config.hydra.job.id = idx
                    sweep_config.hydra.job.num = idx
                for prepare in self._callbacks("prepare_job"):
                    prepare(sweep_config)
                try:
                    runs.append(run_job(hydra_context=self.hydra_context, task_function=task, config=sweep_config,
                                        job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir"))
                finally:
                    release = releases.pop(i, None)
                    if release is not None:
                        release()
                    configs.pop(i, None)
                configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        except BaseException as err:
            self.close(kill=True)
            if isinstance(err, KeyboardInterrupt):
                status, reason = "KILLED", "interrupted (Ctrl-C)"
            else:
                status, reason = "FAILED", f"the launcher stopped: {type(err).__name__}: {err}"
            for abort in self._callbacks("on_multirun_abort"):
                abort(self.config, status=status, reason=reason)
            raise
        finally:
            for release in releases.values():
                if release is not None:
                    release()
        if not self._held_open:
            self.close()
        for end in self._callbacks("on_launch_end"):
            end(self.config, runs)
        return runs
