"""Twinbench's application layer: the reference plant, the main job, what-ifs, sweeps and tracking.

Imports point one way, ``scenarios`` → ``calibration`` → ``sim``; inside ``scenarios`` they point down this list:

* :mod:`scenarios.reference` - the reference bottling line and its monitored motor, the line as configuration,
  and the generators of the bundled telemetry and of the fault scenarios;
* :mod:`scenarios.whatif` - what-if actions on a line, their replications, the comparison and the report;
* :mod:`scenarios.tracking` - the tracker (the only owner of MLflow) and the model registry;
* :mod:`scenarios.sweeps` - the sweep app: designs, jobs, lineage in the tracking store, the sweep report;
* :mod:`scenarios.specs`, :mod:`scenarios.steps`, :mod:`scenarios.job` - the main job: one spec per step (SI),
  the steps (gate telemetry, calibrate, fork the twin, run the what-if, report) and the recipe that runs them;
* :mod:`scenarios.config`, :mod:`scenarios.app` - the config schema with the factories that turn each group into
  its spec, and the Hydra entry point (the only place where configuration is read).

See ``docs/architecture.md`` for the walk of one telemetry value from the file to the report.
"""

__all__: list[str] = []
