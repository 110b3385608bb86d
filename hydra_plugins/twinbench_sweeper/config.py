"""Config of the ``twinbench`` sweeper, registered as ``hydra/sweeper: twinbench``."""

from dataclasses import dataclass, field
from typing import Dict, Optional

from hydra.core.config_store import ConfigStore


@dataclass
class TwinbenchSweeperConf:
    """``design``: ``random`` | ``lhs`` (n configurations) or ``optuna`` (n_trials, asked batch_size at a time).

    ``params`` maps config keys to ranges in Hydra's override syntax: ``interval(a,b)``,
    ``int(interval(a,b))``, ``tag(log,interval(a,b))``, ``range(a,b[,step])``, ``choice(x,y,...)``.
    Optuna reads the objective and its direction from the job's return value and ``objective.direction``;
    constraints returned by the job (values <= 0 feasible) go to the sampler's ``constraints_func``.
    """

    _target_: str = "hydra_plugins.twinbench_sweeper.sweeper.TwinbenchSweeper"
    design: str = "lhs"
    n: int = 8
    n_trials: int = 16
    batch_size: int = 4  # jobs handed to the launcher at once (all of them for random/lhs when null)
    seed: int = 0
    params: Dict[str, str] = field(default_factory=dict)
    direction: Optional[str] = None  # null: the app's objective.direction


ConfigStore.instance().store(group="hydra/sweeper", name="twinbench", node=TwinbenchSweeperConf,
                             provider="twinbench")
