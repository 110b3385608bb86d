"""Schema of the sweep app (``conf/sweep.yaml``), registered in Hydra's ConfigStore.

One *job* of a sweep is one configuration of the line (``line.*``), replicated
``replications.n`` times inside the job.  The sweep's design (grid, random,
Latin hypercube, Optuna) lives under ``hydra.sweeper``; see ``docs/sweeps.md``.
Unknown keys fail at composition time, naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import MISSING

__all__ = ["SweepInfo", "ReplicationsConfig", "GuardrailConfig", "ObjectiveConfig", "CALIBRATION_SOURCES", "CalibrationSource",
           "TelemetrySource",
           "SweepTrackingConfig", "ReportConfig", "SweepAppConfig", "register_sweep_configs"]


@dataclass
class SweepInfo:
    """Identity and behaviour of the sweep.

    ``name`` identifies the sweep in the tracking store: running the same name again resumes its parent
    run (finished configurations are skipped, failed or interrupted ones run again) unless ``resume`` is
    false.  While a driver runs the sweep it holds a lease on the parent run (host, pid, heartbeat every
    ``heartbeat_s``); a second driver of the same name refuses until the lease is released or stale.
    """

    name: str = "adhoc"
    resume: bool = True
    progress: bool = True  # rich progress bars for the replications of a job
    child_plot: bool = False  # a plot of the replications per child run (about 50 ms each; the report has them all)
    heartbeat_s: float = 10.0  # the driver renews its lease on the parent run this often; stale after 3 intervals
    parent: Optional[str] = None  # the parent run id, set per job by the twinbench launcher (null: found by name)


@dataclass
class ReplicationsConfig:
    """Replications of each configuration (inside the job; common random numbers across configurations)."""

    n: int = 10
    seed: int = 2026
    run_length_h: float = 168.0  # observed time after the warm-up [h]
    warmup_h: float = 24.0  # discarded start [h]
    confidence: float = 0.95
    crn: bool = True
    workers: int = 1  # local worker processes for the replications (joblib loky); 1 = in the job process


@dataclass
class GuardrailConfig:
    """A hard limit on a KPI in its display unit, judged on its interval
    (:class:`scenarios.whatif.constraints.Constraint`; the same keys as the what-if's ``constraints``)."""

    kpi: str = MISSING
    max: Optional[float] = None
    min: Optional[float] = None
    per_h: Optional[float] = None  # the limit per this many observed hours (trips per week: 168)
    below_trip: Optional[float] = None  # upper limit = the motor's trip temperature minus this margin [K]
    judge: str = "interval"  # interval | prediction | mean
    name: str = ""


@dataclass
class ObjectiveConfig:
    """What a job returns to an optimizing sweeper: ``sum(weights[k] * mean(k))``, with constraints.

    ``upper``/``lower`` map a KPI to a bound on its mean (SI units); ``constraints`` are guardrails in display
    units judged on the interval's unsafe bound (trips <= 1 per week, peak winding 5 K below the trip limit).
    A configuration violating one is infeasible (Optuna's ``constraints_func``: each value must be <= 0).
    """

    weights: Dict[str, float] = field(default_factory=lambda: {"oee": 1.0})
    direction: str = "maximize"
    upper: Dict[str, float] = field(default_factory=dict)
    lower: Dict[str, float] = field(default_factory=dict)
    constraints: List[GuardrailConfig] = field(default_factory=list)


CALIBRATION_SOURCES = ("champion", "record", "nameplate")
"""Where a sweep's motor parameters come from: the registry's current champion (default), a record file, or
the nameplate (``calibration=nameplate``)."""


@dataclass
class CalibrationSource:
    """Where the sweep's motor parameters come from (``calibration.source``).

    ``source: champion`` (default) reads the current champion of the registered model ``model`` (default
    ``twinbench.<line.name>.motor_thermal``, the one the main job registers) from the sweep's tracking store
    and applies its parameters (``CalibrationRecord.params()``) to the motors of *stations* (``line.motors``
    entries still win); with no champion registered the sweep runs on the nameplate and says so.
    ``source: record`` (or a ``record`` path with the default source) reads a ``CalibrationRecord`` JSON file.
    ``nameplate`` opts out.  The record id, the source and the registry version are tagged on every child run and named in the
    sweep report.  On the command line: ``calibration.source=nameplate``.
    """

    source: str = "champion"
    record: Optional[str] = None
    stations: List[str] = field(default_factory=lambda: ["filler"])  # whose motor the record describes
    model: Optional[str] = None  # registered model of the champion; default twinbench.<line.name>.motor_thermal


@dataclass
class TelemetrySource:
    """The telemetry file the configuration derives from (only hashed and tagged for lineage)."""

    path: Optional[str] = None


@dataclass
class SweepTrackingConfig:
    """The MLflow store.  A relative ``sqlite:///`` path is taken from the directory the sweep was started
    in (made absolute in the driver, so Hydra job directories never get their own store)."""

    uri: str = "sqlite:///mlruns/mlflow.db"
    experiment: str = "twinbench-sweeps"


@dataclass
class ReportConfig:
    """The comparison report written at the end of a sweep (and by ``twinbench-sweep report``)."""

    kpi: str = "oee"  # ranking KPI
    pareto: List[str] = field(default_factory=lambda: ["maintenance_cost", "oee"])  # x, y
    baseline: Optional[str] = None  # run name, config hash or job number; default: job 0
    enabled: bool = True


@dataclass
class SweepAppConfig:
    line: Any = MISSING  # filled by the ``line`` group (schema ``LineConfig``)
    sweep: SweepInfo = field(default_factory=SweepInfo)
    replications: ReplicationsConfig = field(default_factory=ReplicationsConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    calibration: CalibrationSource = field(default_factory=CalibrationSource)
    telemetry: TelemetrySource = field(default_factory=TelemetrySource)
    tracking: SweepTrackingConfig = field(default_factory=SweepTrackingConfig)
    report: ReportConfig = field(default_factory=ReportConfig)


def register_sweep_configs():
    """Register ``sweep_schema`` (and the ``line`` group schema) in the ConfigStore (idempotent)."""
    from hydra.core.config_store import ConfigStore

    from scenarios.reference.line_config import register_line_configs

    cs = ConfigStore.instance()
    register_line_configs(cs)
    cs.store(name="sweep_schema", node=SweepAppConfig)
    return cs
