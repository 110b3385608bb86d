"""Twinbench's Hydra launcher plugin: jobs in the driver, one after another, on a worker pool the launcher owns,
with the next job's replications queued on it while one runs (``hydra/launcher=twinbench``, the sweep app's
default)."""

__all__ = ["TwinbenchLauncher", "TwinbenchLauncherConf"]

from hydra_plugins.twinbench_launcher.config import TwinbenchLauncherConf  # noqa: E402
from hydra_plugins.twinbench_launcher.launcher import TwinbenchLauncher  # noqa: E402
