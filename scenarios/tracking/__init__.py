"""Tracking: the one owner of MLflow.

* :mod:`~scenarios.tracking.tracker` - :class:`Tracker` (the protocol), :class:`MlflowTracker` and
  :class:`NullTracker`, selected by the ``tracking`` config group; lineage helpers (``git_commit``);
* :mod:`~scenarios.tracking.registry` - the calibrated twin in MLflow's model registry (champion / challenger),
  imported on use.
"""

from scenarios.tracking.tracker import MlflowTracker, NullTracker, Tracker

__all__ = ["MlflowTracker", "NullTracker", "Tracker"]
