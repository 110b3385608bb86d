"""Structured configs: the schema of every config group, registered in Hydra's ConfigStore, and their factories.

The YAML files under ``conf/`` extend these schemas (``defaults: [<schema>]``),
so an unknown or misspelled key fails at composition time with a message that
names the key.  Only ``scenarios/`` reads configs; the engine takes typed
arguments.

Each step's group names its factory in ``_target_`` (``plant_spec``,
``telemetry_spec``, ``calibration_spec``, ``whatif_spec`` below), so
``hydra.utils.instantiate(cfg.<group>)`` returns the step's spec
(:mod:`scenarios.specs`).  The config speaks hours (``*_h`` keys), as planners
do; the factories are the one place they become seconds.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from scenarios.reference.line_config import LineConfig
from scenarios.specs import CalibrationSpec, PlantSpec, TelemetrySpec, WhatIfSpec
from sim.exceptions import ConfigurationError

__all__ = [
    "ActionConfig",
    "ActionPolicyConfig",
    "CalibrationConfig",
    "ChannelConfig",
    "Config",
    "ConstraintConfig",
    "EstimatorConfig",
    "MaintenanceWindowConfig",
    "MotorRiskConfig",
    "PlantConfig",
    "TelemetryConfig",
    "TrackingConfig",
    "WhatIfConfig",
    "calibration_spec",
    "check_overrides",
    "config_groups",
    "discard_run_dir",
    "plant_spec",
    "register_configs",
    "telemetry_spec",
    "whatif_spec",
]

HOUR = 3600.0


@dataclass
class PlantConfig:
    """The monitored asset: which line stations the telemetry describes and the motor's *prior* (nameplate)."""

    _target_: str = "scenarios.config.plant_spec"
    name: str = "reference"
    stations: List[str] = field(default_factory=lambda: ["filler"])  # line stations whose motor is calibrated
    motor: Dict[str, float] = field(default_factory=dict)  # nameplate motor_thermal parameters [SI]
    max_step: float = 1.0  # physics integrator step of the shadow replay [s]
    # an FMU as the plant model (keys of sim.fmu.model_from_config: fmu, interface, inputs, outputs, parameters,
    # states, bounds); empty: the library model named in calibration.model (a mapping, not null, so that the
    # override plant.model={fmu:...} merges into it)
    model: Dict[str, Any] = field(default_factory=dict)


@dataclass
class ChannelConfig:
    """One channel of a channel map: every key :meth:`sim.telemetry.ChannelMap.from_dict` accepts.

    Units as the historian writes them; range, tolerance and min_deviation in the source
    unit; times in seconds.
    """

    @dataclass
    class StuckRule:
        """Stuck sensor: more than *samples* consecutive values within *tolerance* [source unit]."""

        samples: int = MISSING
        tolerance: float = 0.0

    @dataclass
    class SpikeRule:
        """Hampel spike: robust z-score over the last *window* values above *threshold*."""

        window: int = 11
        threshold: float = 5.0
        min_deviation: float = 0.0  # [source unit]

    column: Optional[str] = None  # source column (wide tables) or channel cell (long); default: the name
    unit: str = MISSING
    si_unit: str = MISSING
    range: Optional[List[float]] = None  # valid range [low, high] [source unit]
    description: str = ""
    topic: Optional[str] = None  # MQTT topic (live feeds)
    node: Optional[str] = None  # OPC UA node id (live feeds)
    period: Optional[float] = None  # expected sampling period; gaps are pauses > gap_factor * period [s]
    lateness: float = 0.0  # allowed lateness of out-of-order samples (reorder buffer) [s]
    clock_offset: float = 0.0  # the device clock's lead over UTC, subtracted from its stamps [s]
    stuck: Optional[ChannelConfig.StuckRule] = None
    spike: Optional[ChannelConfig.SpikeRule] = None


@dataclass
class TelemetryConfig:
    """A recorded telemetry file and its channel map (source column → twin variable).

    Every key but ``path`` is a key of :meth:`sim.telemetry.ChannelMap.from_dict`, with its default.
    """

    _target_: str = "scenarios.config.telemetry_spec"
    path: str = MISSING  # CSV file; relative paths are taken from the directory make/hydra was started in
    time_column: str = "timestamp"
    timezone: str = "UTC"  # applied to timestamps without an offset
    separator: str = "auto"
    decimal: str = "."
    thousands: Optional[str] = None  # thousands separator of grouped numbers (German 1.030,5: decimal ',', thousands '.')
    time_format: Optional[str] = None
    encoding: str = "utf-8"
    layout: str = "wide"  # wide: one column per channel; long: (time, channel, value) rows
    channel_column: str = "channel"  # long layout
    value_column: str = "value"  # long layout
    schema: str = "strict"  # strict: unknown/missing columns are an error; lenient: quarantined
    gap_factor: float = 3.0
    future_tolerance: Optional[float] = 300.0  # stamps later than now + this are quarantined [s]; null: off
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
    global_search: Optional[str] = None  # null | multistart | de: a global stage for multimodal problems
    n_starts: int = 8  # local fits of the multistart stage
    random_state: int = 0  # seed of the global stage


@dataclass
class CalibrationConfig:
    _target_: str = "scenarios.config.calibration_spec"
    window_h: float = 24.0  # the most recent window of telemetry used for the fit [h]; with start or end: its length
    start: Optional[str] = None  # window start, ISO 8601 (naive: UTC); null: window_h before the end
    end: Optional[str] = None  # window end, ISO 8601 (naive: UTC); null: the end of the data (or start + window_h)
    max_gap_s: Optional[float] = None  # an input unknown for longer is a gap [s]; null: ten median sample intervals
    model: str = "motor_thermal"  # the twin fitted: a name in sim.physics.MODELS (plant.model: an FMU instead)
    outputs: List[str] = field(default_factory=lambda: ["winding_temperature"])
    estimator: EstimatorConfig = field(default_factory=EstimatorConfig)
    # register the calibrated twin in MLflow's model registry (twinbench.<line>.<model>): the first version becomes
    # champion, later ones challenger, judged in shadow on the next run's newer telemetry before promotion
    register: bool = True


@dataclass
class ActionPolicyConfig:
    """Maintenance policy keys an action changes (``line.policy`` keys; null = as in the line)."""

    name: Optional[str] = None
    interval_h: Optional[float] = None
    basis: Optional[str] = None
    duration_h: Optional[float] = None
    cost: Optional[float] = None
    output: Optional[str] = None
    threshold: Optional[float] = None
    inspection_interval_h: Optional[float] = None
    event: Optional[str] = None


@dataclass
class ActionConfig:
    """A what-if action: changes to the line (``line`` keys; empty or null = as in the line)."""

    name: str = MISSING
    description: str = ""
    speeds: Dict[str, float] = field(default_factory=dict)  # station -> speed factor [-]
    crew_size: Optional[int] = None
    buffers: Dict[str, float] = field(default_factory=dict)  # buffer -> capacity [units]
    buffer_scale: Optional[float] = None
    crew_rule: Optional[str] = None
    policy: ActionPolicyConfig = field(default_factory=ActionPolicyConfig)


@dataclass
class ConstraintConfig:
    """A guardrail on a KPI, in its display unit (:class:`scenarios.whatif.constraints.Constraint`).

    Exactly one of ``max``, ``min``, ``below_trip``.  ``per_h`` states the limit per that many observed hours
    (trips per week: ``per_h: 168``).  ``judge``: ``interval`` (the confidence bound on the unsafe side),
    ``prediction`` (the replications' quantile) or ``mean``.
    """

    kpi: str = MISSING
    max: Optional[float] = None
    min: Optional[float] = None
    per_h: Optional[float] = None
    below_trip: Optional[float] = None  # upper limit = the motor's trip temperature minus this margin [K]
    judge: str = "interval"
    name: str = ""


@dataclass
class MotorRiskConfig:
    """What motor stress costs (:class:`scenarios.whatif.run.MotorRisk`)."""

    insulation_class: str = "B"  # IEC 60085 thermal class of the winding: A, E, B, F, H
    rated_life_h: float = 20000.0  # insulation life at the class temperature [h]
    trip_cost: float = 300.0  # per motor-protection trip: restart scrap and stress [currency]
    ageing_cost_per_h: float = 0.3  # per equivalent hour at the class temperature (rewind cost / life) [currency/h]
    halving_interval: float = 10.0  # life halves every this many kelvin (the 10 K rule) [K]
    record_step_s: float = 60.0  # sampling of the winding temperature for its peak and the ageing integral [s]


@dataclass
class MaintenanceWindowConfig:
    """A weekly window in which planned maintenance may happen: *day* (0 = Monday, UTC) from *start_h* to
    *end_h* hours of that day."""

    day: int = MISSING
    start_h: float = 0.0
    end_h: float = 24.0


@dataclass
class WhatIfConfig:
    """Replications of every action on the line from the calibrated twin."""

    _target_: str = "scenarios.config.whatif_spec"
    horizon_h: float = 168.0  # observed time per replication, after the warm-up [h]
    warmup_h: float = 24.0  # deleted at the start of every replication [h]
    replications: int = 10
    baseline: str = "as_is"
    objective: str = "throughput"  # KPI the recommendation improves
    min_gain: float = 0.005  # smallest gain that counts, as a fraction of the baseline's objective [-]
    confidence: float = 0.95
    crn: bool = True  # common random numbers across actions
    sample_posterior: bool = True  # draw the calibrated motor parameters from the posterior per replication
    ambient: str = "telemetry"  # telemetry: daily cycle fitted to the last 24 h; line: the line's own cycle
    mser_interval_h: Optional[float] = 4.0  # MSER-5 warm-up diagnostic on throughput over such intervals (at most
    # a 20th of the run); null: off
    fork: bool = True  # fork from the calibrated twin (window end, calibrated motor state); false: empty line at 0 s
    seeds_per_draw: int = 1  # second-order Monte Carlo: seeds run per posterior draw; 1: one draw per replication
    constraints: List[ConstraintConfig] = field(default_factory=list)
    risk: MotorRiskConfig = field(default_factory=MotorRiskConfig)
    maintenance_windows: List[MaintenanceWindowConfig] = field(default_factory=list)  # empty: no such guardrail
    currency: str = "EUR"  # the label of money KPIs in plots and reports (costs are in this currency)
    # stations (all their modes) or <station>.<mode> counted in failure_probability; null: the monitored
    # stations' (plant.stations)
    failure_modes: Optional[List[str]] = None
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
    line: LineConfig = MISSING
    telemetry: TelemetryConfig = MISSING
    calibration: CalibrationConfig = MISSING
    whatif: WhatIfConfig = MISSING
    tracking: Any = MISSING
    seed: int = 2026
    run_name: str = "reference"
    output_dir: Optional[str] = None  # default: the Hydra run directory under outputs/
    plots: bool = True
    progress: bool = True


# ----------------------------------------------------------------- factories: config (hours) -> specs (SI)
def plant_spec(*, name: str, stations, motor: dict, max_step: float, model: dict | None = None) -> PlantSpec:
    """The :class:`PlantSpec` of ``cfg.plant``; *model*, an FMU entry (:func:`sim.fmu.model_from_config`), is
    loaded here (a relative ``fmu`` path is taken from where the job was started)."""
    fmu = None
    if model:
        from hydra.core.hydra_config import HydraConfig
        from hydra.utils import get_original_cwd

        from sim.fmu import model_from_config

        base = get_original_cwd() if HydraConfig.initialized() else None
        try:
            fmu = model_from_config(dict(model), base_dir=base)
        except ConfigurationError as err:
            raise ConfigurationError(f"plant.model: {err}") from None
    return PlantSpec(name=name, stations=tuple(stations), nameplate=dict(motor), max_step=float(max_step), model=fmu)


def telemetry_spec(*, path: str, **channel_map) -> TelemetrySpec:
    """The :class:`TelemetrySpec` of ``cfg.telemetry``; a relative *path* is taken from where the job was started."""
    from pathlib import Path

    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import to_absolute_path

    from sim.telemetry import ChannelMap

    path = Path(to_absolute_path(path)) if HydraConfig.initialized() else Path(path).resolve()
    return TelemetrySpec(path=path, channel_map=ChannelMap.from_dict(channel_map))


def calibration_spec(*, window_h: float, outputs, estimator, register: bool, start: str | None = None,
                     end: str | None = None, max_gap_s: float | None = None,
                     model: str = "motor_thermal") -> CalibrationSpec:
    """The :class:`CalibrationSpec` of ``cfg.calibration`` (*estimator*: instantiated from its ``_target_``).

    *start* and *end* are ISO 8601 times (naive: UTC); *model* must name a model of :data:`sim.physics.MODELS`.
    """
    if not (isinstance(window_h, (int, float)) and window_h > 0):
        raise ConfigurationError(f"calibration.window_h = {window_h!r} must be > 0 hours")
    if max_gap_s is not None and not (isinstance(max_gap_s, (int, float)) and max_gap_s > 0):
        raise ConfigurationError(f"calibration.max_gap_s = {max_gap_s!r} must be > 0 seconds, or null for ten "
                                 f"median sample intervals")
    return CalibrationSpec(calibrator=estimator, window=float(window_h) * HOUR, outputs=tuple(outputs),
                           register=bool(register), start=_utc(start, "calibration.start"),
                           end=_utc(end, "calibration.end"),
                           max_gap=None if max_gap_s is None else float(max_gap_s), model=str(model))


def _utc(value, key: str):
    """An ISO 8601 time as a UTC :class:`pandas.Timestamp` (naive: UTC); None stays None."""
    if value is None:
        return None
    import pandas as pd

    try:
        t = pd.Timestamp(str(value))
    except ValueError:
        raise ConfigurationError(f"{key} = {value!r} is not an ISO 8601 time; write e.g. 2026-03-02T06:00 "
                                 f"(UTC unless it has an offset)") from None
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def whatif_spec(*, line: dict, seed: int, actions, horizon_h: float, warmup_h: float,
                mser_interval_h: float | None, constraints=(), risk: dict | None = None, maintenance_windows=(),
                **settings) -> WhatIfSpec:
    """The :class:`WhatIfSpec` of ``cfg.whatif`` on the line *line* (``cfg.line`` as a dict) with *seed*.

    Everything is checked here (and in :class:`WhatIfSpec`), so a bad what-if fails before telemetry is
    read, the calibration runs or a tracking run is opened.
    """
    import math

    from scenarios.whatif.constraints import Constraint
    from scenarios.whatif.run import MotorRisk, actions_from

    if not (math.isfinite(horizon_h) and horizon_h > 0):
        raise ConfigurationError(f"whatif.horizon_h = {horizon_h!r} must be a finite number of hours > 0")
    if not (math.isfinite(warmup_h) and warmup_h >= 0):
        raise ConfigurationError(f"whatif.warmup_h = {warmup_h!r} must be a finite number of hours >= 0")
    if mser_interval_h is not None and not mser_interval_h > 0:
        raise ConfigurationError(f"whatif.mser_interval_h = {mser_interval_h!r} must be > 0 hours, or null to "
                                 f"switch the MSER-5 diagnostic off")
    rules = []
    for i, c in enumerate(constraints or ()):
        c = dict(c)
        per_h = c.pop("per_h", None)
        try:
            rules.append(Constraint(per=None if per_h is None else float(per_h) * HOUR, **c))
        except ConfigurationError as err:
            raise type(err)(f"whatif.constraints[{i}]: {err}") from None
        except TypeError as err:
            raise ConfigurationError(f"whatif.constraints[{i}]: {err}; keys are kpi, max, min, per_h, below_trip, "
                                     f"judge, name") from None
    risk = dict(risk or {})
    try:
        motor_risk = MotorRisk(insulation_class=risk.pop("insulation_class", "B"),
                               rated_life=float(risk.pop("rated_life_h", 20000.0)) * HOUR,
                               trip_cost=float(risk.pop("trip_cost", 300.0)),
                               ageing_cost=float(risk.pop("ageing_cost_per_h", 0.3)) / HOUR,
                               halving_interval=float(risk.pop("halving_interval", 10.0)),
                               record_step=float(risk.pop("record_step_s", 60.0)))
    except ConfigurationError as err:
        raise ConfigurationError(f"whatif.risk: {err}") from None
    if risk:
        raise ConfigurationError(f"whatif.risk: unknown key(s) {sorted(risk)}")
    windows = []
    for i, w in enumerate(maintenance_windows or ()):
        day, start_h, end_h = int(w["day"]), float(w["start_h"]), float(w["end_h"])
        if not (0 <= day <= 6 and 0 <= start_h < end_h <= 24):
            raise ConfigurationError(f"whatif.maintenance_windows[{i}] = day {day}, {start_h:g} .. {end_h:g} h: day "
                                     f"must be 0 (Monday) .. 6 (Sunday) and 0 <= start_h < end_h <= 24")
        windows.append(((day * 24 + start_h) * HOUR, (day * 24 + end_h) * HOUR))
    if settings.get("failure_modes") is not None:  # checked against the line now, not after the calibration
        from scenarios.reference.line_config import line_spec_from_config
        from scenarios.whatif.run import failure_modes_of

        try:
            failure_modes_of(line_spec_from_config(dict(line)), list(settings["failure_modes"]))
        except ConfigurationError as err:
            raise ConfigurationError(f"whatif.failure_modes: {err}") from None
        settings["failure_modes"] = tuple(str(m) for m in settings["failure_modes"])
    return WhatIfSpec(line=dict(line), actions=tuple(actions_from(actions)), horizon=float(horizon_h) * HOUR,
                      warmup=float(warmup_h) * HOUR, seed=int(seed),
                      mser_interval=None if mser_interval_h is None else float(mser_interval_h) * HOUR,
                      constraints=tuple(rules), risk=motor_risk, maintenance_windows=tuple(windows), **settings)


def bundled_data(name: str) -> str:
    """Absolute path of a file shipped in ``scenarios/reference/data`` (the ``${twinbench_data:NAME}`` resolver)."""
    from pathlib import Path

    return str(Path(__file__).resolve().parent / "reference" / "data" / name)


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
    from scenarios.reference.line_config import register_line_configs

    register_line_configs(cs)
    return cs


# ----------------------------------------------------------------- fail fast: command-line overrides vs the schema
def config_groups(conf_dir=None) -> tuple:
    """Names of the config groups under *conf_dir* (default: the bundled ``conf/``): its sub-folders."""
    from pathlib import Path

    root = Path(conf_dir) if conf_dir is not None else Path(__file__).resolve().parents[1] / "conf"
    return tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))))


def check_overrides(args, schema, *, groups=(), app: str = "twinbench", types=None) -> None:
    """Check the command-line overrides in *args* against the structured config *schema* before Hydra composes.

    Hydra lets ``+key=value`` (and ``++key=value``) add keys that no schema knows, and its hint for a misspelled
    key suggests exactly that, so a typo such as ``whatif.replicatons=3`` could end in a run that ignores it.
    Here every override's key must be a field of *schema* (dataclasses all the way down; below a free-form
    ``Dict``, ``List`` or ``Any`` field any key goes).  A top-level key may also name a config group
    (*groups*: ``whatif=maintenance``, ``+experiment=lhs``); ``hydra.*`` and options (``--cfg``) are Hydra's.
    *types* maps a top-level field typed ``Any`` in *schema* to the schema it is checked against
    (``{"tracking": TrackingConfig}``).

    Raises
    ------
    ConfigurationError
        Naming the key, the closest known keys ("did you mean ...") and every key known at that level.
    """
    for arg in args:
        if arg.startswith("-") or "=" not in arg:
            continue
        key = arg.split("=", 1)[0].lstrip("+~").strip()
        if not key or "/" in key or "@" in key or key == "hydra" or key.startswith("hydra."):
            continue
        _check_key(key, schema, groups, app, dict(types or {}))


def _check_key(key: str, schema, groups, app: str, types: dict) -> None:
    import re

    parts = key.split(".")
    if len(parts) == 1 and parts[0] in groups:
        return
    kind, where = schema, []
    for part in parts:
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\]]*\])*)", part)
        name, indices = (match.group(1), match.group(2).count("[")) if match else (part, 0)
        kind = _unwrap(kind)
        if kind is None:  # below a free-form mapping: any key
            return
        if dataclasses.is_dataclass(kind):
            known = [f.name for f in dataclasses.fields(kind) if not f.name.startswith("_")]
            if name not in known:
                if not where and name in groups:
                    return
                _unknown(key, name, where, known + ([] if where else [g for g in groups if g not in known]), app)
            kind = types.get(name, _field_types(kind)[name]) if not where else _field_types(kind)[name]
        elif _is_dict(kind):
            kind = typing.get_args(kind)[1] if typing.get_args(kind) else Any
        else:  # a value (str, float, ...) has no keys
            _unknown(key, name, where, [], app)
        where.append(name)
        for _ in range(indices):
            kind = _unwrap(kind)
            if kind is None:
                return
            kind = typing.get_args(kind)[0] if typing.get_args(kind) else Any


def _unknown(key, name, where, known, app):
    import difflib

    parent = ".".join(where) or "the config"
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    prefix = ".".join(where) + "." if where else ""
    hint = ("did you mean " + " or ".join(f"{prefix}{c}" for c in close) + "? ") if close else ""
    listing = f"known keys of {parent}: {', '.join(sorted(known))}" if known else f"{parent} is a value, not a group"
    raise ConfigurationError(f"{app}: {key!r} is not a config key ({parent} has no {name!r}); {hint}{listing}. "
                             f"Fix the spelling; keys cannot be added with '+'")


def _field_types(kind) -> dict:
    """The resolved field types of the dataclass *kind* (the annotations are strings here)."""
    import sys

    hints = typing.get_type_hints(kind, vars(sys.modules[kind.__module__]))
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(kind)}


def _unwrap(kind):
    """*kind* without ``Optional``; None for a type below which any key goes (``Any``, a plain dict or list)."""
    if kind is Any or kind is dict or kind is list:
        return None
    if typing.get_origin(kind) is typing.Union:
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else None
    return kind


def _is_dict(kind) -> bool:
    return typing.get_origin(kind) in (dict, typing.Dict) or typing.get_origin(kind) in (list, typing.List)


def discard_run_dir(path) -> bool:
    """Remove the Hydra run folder *path* of a job that failed before it started: only when it holds nothing but
    Hydra's own files (``.hydra/``, ``*.log``); emptied parents (``outputs/<date>``, ``outputs``) below the working
    directory go too.  True if removed."""
    import shutil
    from pathlib import Path

    path = Path(path)
    if not path.is_dir():
        return False
    for item in path.iterdir():
        if not (item.name == ".hydra" or (item.is_file() and item.suffix == ".log")):
            return False
    shutil.rmtree(path)
    cwd = Path.cwd().resolve()
    for parent in path.resolve().parents:
        if parent == cwd or cwd not in parent.parents:
            break
        try:
            parent.rmdir()  # only if empty
        except OSError:
            break
    return True
