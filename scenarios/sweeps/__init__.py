"""The sweep app: one Hydra job = one configuration of the line, replicated inside the job, tracked in MLflow.

* :mod:`~scenarios.sweeps.cli` - the ``twinbench-sweep`` command (Hydra app, ``report`` subcommand);
* :mod:`~scenarios.sweeps.config` - the sweep app's config schema;
* :mod:`~scenarios.sweeps.design` - search spaces and designs (grid, random, Latin hypercube, Optuna);
* :mod:`~scenarios.sweeps.job` - one job without Hydra or MLflow: replicate, summarise, score;
* :mod:`~scenarios.sweeps.pool` - :class:`ReplicationPool`, the local worker processes a launcher owns;
* :mod:`~scenarios.sweeps.sources` - the calibration a sweep runs on (champion, record, nameplate) and its tags;
* :mod:`~scenarios.sweeps.steps` - a job as recipe steps (inputs, child run, replications, scores, logging);
* :mod:`~scenarios.sweeps.lineage` - :class:`SweepLineage`, the callback that owns a sweep's parent run;
* :mod:`~scenarios.sweeps.runs` - a sweep's runs in the tracking store (through the tracker), resume;
* :mod:`~scenarios.sweeps.lease` - one driver per sweep: the lease on the parent run and its heartbeat;
* :mod:`~scenarios.sweeps.report` - the comparison report, rebuilt from the store.

Nothing is imported here, so that worker processes importing :mod:`scenarios.sweeps.job` load neither Hydra
nor MLflow.  ``python -m scenarios.sweeps`` runs the command.
"""

__all__: list[str] = []
