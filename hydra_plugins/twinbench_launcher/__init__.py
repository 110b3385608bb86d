"""Twinbench's Hydra launcher plugin: jobs in the driver, one after another, with the next job's replications
queued on the local worker pool while one runs (``hydra/launcher=twinbench``, the sweep app's default)."""

__all__ = ["TwinbenchLauncher", "TwinbenchLauncherConf"]

from hydra_plugins.twinbench_launcher.config import TwinbenchLauncherConf  # noqa: E402
from hydra_plugins.twinbench_launcher.launcher import TwinbenchLauncher  # noqa: E402
