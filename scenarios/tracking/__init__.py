"""Tracking: the one owner of MLflow.

* :mod:`~scenarios.tracking.tracker` - :class:`Tracker` (the protocol), :class:`MlflowTracker` (the only code that
  creates an ``MlflowClient``; creates a new store under a file lock; store locks) and :class:`NullTracker`,
  selected by the ``tracking`` config group; ``git_commit``;
* :mod:`~scenarios.tracking.lineage` - every tag name Twinbench writes, defined once, with its meaning;
  ``content_hash`` (the telemetry file hash);
* :mod:`~scenarios.tracking.registry` - the calibrated twin in MLflow's model registry (champion / challenger,
  compare-and-set under the tracker's lock), imported on use; :mod:`~scenarios.tracking.shadow` - the promotion
  rule; :mod:`~scenarios.tracking.integrity` - the store as a trust boundary (load from checked data, never code).
"""

from scenarios.tracking.tracker import MlflowTracker, NullTracker, Tracker

__all__ = ["MlflowTracker", "NullTracker", "Tracker"]
