"""The sweep app: one Hydra job = one configuration of the line, replicated inside the job, tracked in MLflow.

* :mod:`~scenarios.sweeps.cli` - the ``twinbench-sweep`` command (Hydra app, ``report`` subcommand);
* :mod:`~scenarios.sweeps.config` - the sweep app's config schema;
* :mod:`~scenarios.sweeps.design` - search spaces and designs (grid, random, Latin hypercube, Optuna);
* :mod:`~scenarios.sweeps.job` - one job without Hydra or MLflow: replicate, summarise, score;
* :mod:`~scenarios.sweeps.lineage` - parent and child runs of a sweep in the tracking store, resume;
* :mod:`~scenarios.sweeps.report` - the comparison report, rebuilt from the store.

Nothing is imported here, so that worker processes importing :mod:`scenarios.sweeps.job` load neither Hydra
nor MLflow.  ``python -m scenarios.sweeps`` runs the command.
"""

__all__: list[str] = []
