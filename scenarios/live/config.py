"""Structured configs of ``twinbench live``: the schema of ``conf/live.yaml``, registered in Hydra's ConfigStore.

The schema is closed: a key that is not here fails at composition time, naming the key (Hydra's structured
config check).  Times are hours in ``*_h`` keys and seconds in ``*_s`` keys.  The telemetry group is the main
job's (``conf/telemetry/*.yaml``, :class:`scenarios.config.TelemetryConfig`): the file replayed and the channel
map (units, ranges, gates); a live source takes its topics / nodes from ``source.map``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from scenarios.config import TelemetryConfig, TrackingConfig, WhatIfConfig, register_configs as register_job_configs
from scenarios.reference.line_config import LineConfig

__all__ = ["SOURCE_KINDS", "CheckpointConfig", "DetectionConfig", "FilterConfig", "PCAConfig", "HttpConfig", "LiveConfig", "MqttOutConfig",
           "PrognosisConfig", "RecalibrationConfig", "ShardConfig", "SourceConfig", "TracksConfig", "WhatIfNowConfig",
           "register_live_configs"]

SOURCE_KINDS = ("file", "mqtt", "opcua")


@dataclass
class SourceConfig:
    """Where the samples come from: ``file`` (the telemetry group's file), ``mqtt`` or ``opcua``."""

    kind: str = "file"
    speed: Optional[float] = None  # file: null = as fast as possible, k = k x real time
    map: Optional[str] = None  # live: channel map YAML with topics / nodes (default: the telemetry group's map)
    host: str = "127.0.0.1"  # mqtt broker
    port: int = 1883
    client_id: Optional[str] = "twinbench-live"  # stable: the broker keeps the persistent session
    qos: int = 1
    url: str = "opc.tcp://127.0.0.1:4840/"  # opcua endpoint
    reconnect_delay_s: List[float] = field(default_factory=lambda: [0.05, 2.0])  # first and longest back-off [s]
    linger_s: float = 0.5  # a row waits this long for channels that have not reported up to its stamp [s]
    connect_timeout_s: float = 10.0
    idle_timeout_s: Optional[float] = None  # live: stop when nothing arrived for this long [s] (null: never)


@dataclass
class FilterConfig:
    """The joint state-parameter UKF per asset (:class:`calibration.JointUKF` hyperparameters)."""

    model: str = "sim.physics.filler_drive:FILLER_DRIVE"  # module:attribute of the twin's Model
    channels: List[str] = field(default_factory=lambda: ["flow", "discharge_pressure", "motor_current",
                                                         "winding_temperature"])
    assets: Optional[List[str]] = None  # null: one asset; else channels are <asset>.<variable>
    parameters: List[str] = field(default_factory=lambda: ["pipe_resistance", "thermal_resistance_housing_ambient"])
    prior: Dict[str, float] = field(default_factory=dict)  # prior parameters [SI] (the champion calibration)
    noise_std: Dict[str, float] = field(default_factory=dict)  # starting measurement noise per channel [SI]
    param_walk: float = 1e-6  # relative random walk of the parameters [1/sqrt(s)]
    state_std: Dict[str, float] = field(default_factory=dict)  # process noise per state [unit/sqrt(s)]
    initial_state_std: Dict[str, float] = field(default_factory=dict)  # std of the initial states (others 1.0)
    max_step: float = 0.5  # integrator step [s]
    # hold an asset's tracked parameters while one of its alarms is up (Schmidt consider update: the states follow,
    # the parameters do not learn the fault; docs/live.md "Held parameters")
    hold_on_alarm: bool = False
    # an FMU as the twin's model instead (the keys of sim.fmu.model_from_config, as plant.model of the main job:
    # fmu, interface, inputs, outputs, parameters, states, bounds); its filter runs the sigma points in the FMU
    fmu: Dict[str, Any] = field(default_factory=dict)  # empty: the library model named in ``model``


@dataclass
class CheckpointConfig:
    path: Optional[str] = "outputs/live/live.ckpt"  # null: no checkpoints
    every_rows: int = 2000  # rows between checkpoints (and a final one at stop)
    resume: bool = True  # start from the checkpoint when there is one


@dataclass
class PCAConfig:
    """The normal-behaviour model (calibration.alarms.PCADetector, T² + Q) of the channels no model covers."""

    enabled: bool = True
    use: str = "q"  # Q (SPE) only: departures from the normal relation between the channels, not a new operating
    # point of the context (T² would alarm at every speed the normal window did not see)
    n_components: Any = 0.9  # retained PCs: a count, or the fraction of standardized variance to explain
    false_alarm_rate: float = 0.0005  # per sample: about 0.7 exceedances a day at 60 s before the hold-off
    input_smoothing: Optional[float] = 0.1  # EWMA weight of the newest sample on the channels (MEWMA chart)
    smoothing: Optional[float] = None  # EWMA weight of the newest sample on the statistic
    context: List[str] = field(default_factory=lambda: ["shaft_speed"])  # inputs modelled with them (the
    # operating point they depend on; not the ambient: a measured heat wave is no alarm)


@dataclass
class DetectionConfig:
    """Alarms on the residuals / spread (calibration.alarms.ResidualDetector + AlarmLogic), and on the channels
    no model covers (PCADetector); the rationale of the defaults is in docs/alarms.md."""

    enabled: bool = True
    normal_h: float = 12.0  # the first hours of the run are the normal window the threshold is calibrated on
    false_alarm_rate: float = 0.001  # per sample of the residual statistic
    smoothing: Optional[float] = 0.05  # EWMA weight of the newest sample
    covariance: str = "full"
    min_on_s: float = 300.0  # source time above the threshold before an alarm is raised [s]
    min_off_s: float = 3600.0  # source time below the clear level before it clears [s]
    min_hold_s: float = 3600.0  # shortest time an alarm stays up [s]
    clear_fraction: float = 0.8  # deadband: clear below this fraction of the threshold
    pca: PCAConfig = field(default_factory=PCAConfig)


@dataclass
class RecalibrationConfig:
    """Diagnosis and refit on an alarm, under governance."""

    enabled: bool = True
    diagnose: bool = True
    refit_faults: bool = False  # refit after an alarm only when the diagnosis says no_fault (a fault is not learned)
    window_h: float = 4.0  # data after the alarm's onset used for diagnosis and refit [h]
    min_margin: float = 6.0  # BIC margin of a decisive diagnosis (6: strong evidence, Kass-Raftery); below it the
    # window grows by extend_h up to max_window_h after the onset (0: act on the first diagnosis)
    extend_h: float = 2.0
    max_window_h: float = 8.0
    shadow_h: float = 4.0  # the challenger is judged in shadow on the next window [h]
    parameters: List[str] = field(default_factory=lambda: ["pipe_resistance", "thermal_resistance_housing_ambient"])
    max_step: float = 1.0
    governance: Dict[str, Any] = field(default_factory=lambda: {"policies": [{"type": "improvement",
                                                                              "margin": 0.02}]})
    audit: Optional[str] = "outputs/live/audit.jsonl"


@dataclass
class WhatIfNowConfig:
    """When to fork the what-if (the ``whatif`` group: actions, horizon, replications) from the live twin."""

    final: bool = True  # at the end of the run
    every_h: Optional[float] = None  # on a schedule, in source time (null: only at the end and on request)
    stations: List[str] = field(default_factory=lambda: ["filler"])  # line stations whose motor the twin tracks


@dataclass
class TracksConfig:
    """Interval tracks of the filter's parameters and of chosen states (scenarios.live.prognosis.TrackMonitor)."""

    enabled: bool = True
    states: List[str] = field(default_factory=lambda: ["strainer_resistance", "bearing_wear"])
    z: float = 1.96  # half-width in standard deviations (95 %)
    # parameters a diagnosis estimates: held at the healthy value until a diagnosis, then its interval
    fault_parameters: List[str] = field(default_factory=lambda: ["fouling_rate", "ambient_load",
                                                                 "sensor_drift_rate", "bearing_wear_rate"])


@dataclass
class PrognosisConfig:
    """Remaining useful life after a diagnosis with a failure threshold (scenarios.live.prognosis.RulMonitor)."""

    enabled: bool = True
    every_h: float = 1.0  # source time between updates while the alarm is up [h]
    horizon_h: float = 72.0  # later failures are censored [h]
    n_samples: int = 100  # members: wear-rate draws x future duties
    level: float = 0.9  # central interval reported
    duty_h: float = 24.0  # future operating points are drawn from this much recent duty [h]


@dataclass
class HttpConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8080


@dataclass
class MqttOutConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 1883
    prefix: str = "line1/filler"
    client_id: Optional[str] = "twinbench-live-out"  # the command client appends -cmd
    state_qos: int = 0


@dataclass
class ShardConfig:
    """Assets sharded over workers (scenarios.live.shard): processes or Ray actors."""

    workers: int = 1
    backend: str = "process"  # process | ray


@dataclass
class LiveConfig:
    telemetry: TelemetryConfig = MISSING
    line: LineConfig = MISSING
    whatif: WhatIfConfig = MISSING
    tracking: TrackingConfig = MISSING  # where the run's timeline, score and audit log are logged (tracking=none: not)
    source: SourceConfig = field(default_factory=SourceConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    recalibration: RecalibrationConfig = field(default_factory=RecalibrationConfig)
    whatif_now: WhatIfNowConfig = field(default_factory=WhatIfNowConfig)
    tracks: TracksConfig = field(default_factory=TracksConfig)
    prognosis: PrognosisConfig = field(default_factory=PrognosisConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    mqtt_out: MqttOutConfig = field(default_factory=MqttOutConfig)
    shard: ShardConfig = field(default_factory=ShardConfig)
    block_rows: int = 256
    tick_s: float = 900.0  # source-time grid on which monitors act (diagnosis, refit, shadow verdicts) [s]
    max_rows: Optional[int] = None  # stop after this many rows (null: at the end of the source / on a signal)
    seed: int = 2026
    timeline: bool = True  # print the timeline at the end
    score: bool = True  # on the bundled living telemetry: score the timeline against its truth table


def register_live_configs() -> ConfigStore:
    """Register ``live_schema`` (and the main job's groups, for ``telemetry``); idempotent."""
    cs = register_job_configs()
    cs.store(name="live_schema", node=LiveConfig)
    return cs
