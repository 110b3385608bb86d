"""Config of the ``twinbench`` launcher (``hydra/launcher=twinbench``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from hydra.core.config_store import ConfigStore


@dataclass
class TwinbenchLauncherConf:
    _target_: str = "hydra_plugins.twinbench_launcher.launcher.TwinbenchLauncher"
    # ``prefetch(job_config, cwd, pool) -> release | None``: called for a job before it runs (dotted path); the
    # app starts the job's work ahead on the launcher's pool (the sweep app queues its replications) and
    # ``release()`` drops what the job did not take.  null: no lookahead.
    prefetch: Optional[str] = "scenarios.sweeps.cli.prefetch_job"
    lookahead: int = 1  # jobs prefetched beyond the running one


ConfigStore.instance().store(group="hydra/launcher", name="twinbench", node=TwinbenchLauncherConf,
                             provider="twinbench")
