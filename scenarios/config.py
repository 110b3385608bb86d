"""Structured configs: the schema of every config group, registered in Hydra's ConfigStore.

The YAML files under ``conf/`` extend these schemas (``defaults: [<schema>]``),
so an unknown or misspelled key fails at composition time with a message that
names the key.  Only ``scenarios/`` reads configs; the engine takes typed
arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

__all__ = [
    "ActionConfig",
    "CalibrationConfig",
    "ChannelConfig",
    "Config",
    "EstimatorConfig",
    "PlantConfig",
    "StationConfig",
    "TelemetryConfig",
    "TrackingConfig",
    "WhatIfConfig",
    "register_configs",
]


@dataclass
class StationConfig:
    """A motor-driven station (see ``sim.processes.StationParams``; SI units)."""

    name: str = "filler"
    rate: float = 5.0  # ideal output at speed 1 [units/s]
    speed: float = 1.0  # speed factor [-]
    max_speed: float = 1.25  # rated maximum speed factor; OEE's ideal rate is rate x max_speed [-]
    mean_time_between_jams: float = 1800.0  # [s of running]
    mean_jam_clear_time: float = 120.0  # [s]
    mean_time_to_failure: float = 172800.0  # [s of running]
    mean_repair_time: float = 2700.0  # [s]
    repair_time_cv: float = 0.5  # [-]
    current_no_load: float = 10.0  # [A]
    current_full_load: float = 30.0  # [A]
    trip_temperature: float = 393.15  # [K]
    reset_temperature: float = 373.15  # [K]
    line_voltage: float = 400.0  # [V]
    power_factor: float = 0.85  # [-]
    scrap_fraction: float = 0.0  # [-]


@dataclass
class PlantConfig:
    """The twin's plant: its station, crew and the *prior* (nameplate) motor parameters."""

    name: str = "reference"
    station: StationConfig = field(default_factory=StationConfig)
    crew_size: int = 1
    motor: Dict[str, float] = field(default_factory=dict)  # motor_thermal parameters [SI]
    max_step: float = 1.0  # physics integrator step [s]
    lookahead: float = 3600.0  # physics prediction horizon between events [s]


@dataclass
class ChannelConfig:
    column: str = MISSING
    unit: str = MISSING
    si_unit: str = MISSING
    range: Optional[List[float]] = None
    description: str = ""


@dataclass
class TelemetryConfig:
    """A recorded telemetry file and its channel map (source column → twin variable)."""

    path: str = MISSING  # CSV file; relative paths are taken from the directory make/hydra was started in
    time_column: str = "timestamp"
    timezone: str = "UTC"  # applied to timestamps without an offset
    separator: str = "auto"
    decimal: str = "."
    time_format: Optional[str] = None
    channels: Dict[str, ChannelConfig] = field(default_factory=dict)


@dataclass
class EstimatorConfig:
    _target_: str = "calibration.LeastSquaresCalibrator"
    parameters: List[str] = field(default_factory=lambda: ["thermal_resistance_housing_ambient",
                                                           "heat_capacity_housing"])
    initial_states: List[str] = field(default_factory=lambda: ["housing_temperature"])
    loss: str = "linear"
    confidence: float = 0.95
    max_step: float = 1.0
    max_nfev: int = 200


@dataclass
class CalibrationConfig:
    window_h: float = 24.0  # the most recent window of telemetry used for the fit [h]
    outputs: List[str] = field(default_factory=lambda: ["winding_temperature"])
    estimator: EstimatorConfig = field(default_factory=EstimatorConfig)


@dataclass
class ActionConfig:
    """A what-if action: overrides applied to the calibrated twin's plant."""

    name: str = MISSING
    description: str = ""
    speed: Optional[float] = None
    crew_size: Optional[int] = None


@dataclass
class WhatIfConfig:
    horizon_h: float = 24.0  # forecast horizon [h]
    replications: int = 5
    baseline: str = "as_is"
    objective: str = "throughput"  # KPI the recommendation maximises
    confidence: float = 0.95
    sample_posterior: bool = True  # draw motor parameters from the calibration posterior per replication
    actions: List[ActionConfig] = field(default_factory=list)


@dataclass
class TrackingConfig:
    _target_: str = "scenarios.tracking.MlflowTracker"
    tracking_uri: Optional[str] = "sqlite:///mlruns/mlflow.db"
    experiment: str = "twinbench"
    artifact_location: Optional[str] = None


@dataclass
class Config:
    plant: PlantConfig = MISSING
    telemetry: TelemetryConfig = MISSING
    calibration: CalibrationConfig = MISSING
    whatif: WhatIfConfig = MISSING
    tracking: Any = MISSING
    seed: int = 2026
    run_name: str = "reference"
    output_dir: Optional[str] = None  # default: the Hydra run directory under outputs/
    plots: bool = True
    progress: bool = True


def bundled_data(name: str) -> str:
    """Absolute path of a file shipped in ``scenarios/data`` (the ``${twinbench_data:NAME}`` resolver)."""
    from pathlib import Path

    return str(Path(__file__).resolve().with_name("data") / name)


def register_configs() -> ConfigStore:
    """Register the schemas and the ``twinbench_data`` resolver (idempotent)."""
    OmegaConf.register_new_resolver("twinbench_data", bundled_data, replace=True)
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    cs.store(group="plant", name="plant_schema", node=PlantConfig)
    cs.store(group="telemetry", name="telemetry_schema", node=TelemetryConfig)
    cs.store(group="calibration", name="calibration_schema", node=CalibrationConfig)
    cs.store(group="whatif", name="whatif_schema", node=WhatIfConfig)
    cs.store(group="tracking", name="tracking_schema", node=TrackingConfig)
    from scenarios.line_config import register_line_configs

    register_line_configs(cs)
    return cs
