"""A Hydra launcher for sweeps of short jobs on one machine: Hydra's basic launcher (every job in the driver
process, in order, same job directories, same ``JobReturn``) plus two things.

* **Lookahead.**  Before job *i* runs, ``prefetch`` is called for jobs *i* .. *i + lookahead* (default 1).
  The sweep app queues their replications on its local worker pool (``scenarios.sweeps.cli.prefetch_job``), so
  while job *i* waits for its last replications, does its tracking and Hydra sets up job *i + 1*, the idle
  workers already run job *i + 1*'s replications.  Prefetching only starts computations: the job itself still
  creates its run, collects the results (identical by construction: the same function with the same arguments and
  seeds) and logs them; whatever a job did not take (it was skipped on resume, it failed) is released.
* **One composition per job.**  Hydra's sweepers compose every job's config to validate a batch and the
  launcher composes it again; here the config composed for the validation is the one the job gets.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

from hydra_plugins.twinbench_launcher.config import TwinbenchLauncherConf  # noqa: F401 - registers the config

log = logging.getLogger(__name__)


class _ComposeOnce:
    """The config loader, keeping each job config a sweeper composes (to validate a batch) for the launcher.

    The sweepers that validate (Hydra's basic sweeper, ours) discard the config; the launcher takes it instead
    of composing it again (~0.1 s a job).  At most ``keep`` configs are kept (memory: a config is ~0.1 MB);
    the launcher composes the others itself.  What the launcher did not take is dropped after each batch.
    """

    keep = 256

    def __init__(self, loader):
        self._loader = loader
        self._kept: Dict[tuple, DictConfig] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: List[str]) -> DictConfig:
        cfg = self._loader.load_sweep_config(master_config, sweep_overrides)
        if len(self._kept) < self.keep:
            self._kept[(id(master_config), tuple(sweep_overrides))] = cfg
        return cfg

    def take(self, master_config: DictConfig, sweep_overrides: Sequence[str]) -> DictConfig:
        cfg = self._kept.pop((id(master_config), tuple(sweep_overrides)), None)
        if cfg is None:
            cfg = self._loader.load_sweep_config(master_config, list(sweep_overrides))
        return cfg

    def forget(self) -> None:
        self._kept.clear()


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
        self._loader: Optional[_ComposeOnce] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.task_function = task_function
        if not isinstance(hydra_context.config_loader, _ComposeOnce):
            # the sweeper holds this same context: its validation now keeps the configs it composes
            hydra_context.config_loader = _ComposeOnce(hydra_context.config_loader)
        self._loader = hydra_context.config_loader
        self.hydra_context = hydra_context

    def _prefetch_function(self) -> Optional[Callable]:
        if not self.prefetch:
            return None
        from hydra.utils import get_method

        return get_method(self.prefetch)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        assert self.hydra_context is not None and self.config is not None and self.task_function is not None
        assert self._loader is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        log.info(f"Launching {len(job_overrides)} jobs locally")
        prefetch = self._prefetch_function()
        cwd = self.config.hydra.runtime.cwd
        configs: Dict[int, DictConfig] = {}
        releases: Dict[int, Optional[Callable[[], None]]] = {}

        def config(i: int) -> DictConfig:
            if i not in configs:
                configs[i] = self._loader.take(self.config, job_overrides[i])
            return configs[i]

        runs: List[JobReturn] = []
        try:
            for i, overrides in enumerate(job_overrides):
                if prefetch is not None:  # in job order: the pool runs job i's replications first
                    for j in range(i, min(i + 1 + self.lookahead, len(job_overrides))):
                        if j not in releases:
                            releases[j] = prefetch(config(j), cwd)
                idx = initial_job_idx + i
                log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
                sweep_config = config(i)
                with open_dict(sweep_config):
                    sweep_config.hydra.job.id = idx
                    sweep_config.hydra.job.num = idx
                try:
                    runs.append(run_job(hydra_context=self.hydra_context, task_function=self.task_function,
                                        config=sweep_config, job_dir_key="hydra.sweep.dir",
                                        job_subdir_key="hydra.sweep.subdir"))
                finally:
                    release = releases.pop(i, None)
                    if release is not None:
                        release()
                    configs.pop(i, None)
                configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        finally:
            for release in releases.values():
                if release is not None:
                    release()
            self._loader.forget()
        return runs
