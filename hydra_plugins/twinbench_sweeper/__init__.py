"""Twinbench's Hydra sweeper plugin: random, Latin hypercube and Optuna designs (``hydra/sweeper=twinbench``)."""

__all__ = ["TwinbenchSweeper", "TwinbenchSweeperConf"]

from hydra_plugins.twinbench_sweeper.config import TwinbenchSweeperConf  # noqa: E402
from hydra_plugins.twinbench_sweeper.sweeper import TwinbenchSweeper  # noqa: E402
