"""What each step of the main job needs, as typed objects in SI units (one spec per step).

:mod:`scenarios.app` builds them from the Hydra config with
``hydra.utils.instantiate`` (each config group names its factory in
``_target_``; the factories in :mod:`scenarios.config` turn the config's hours
into seconds); notebooks and tests build them directly.  Nothing here reads a
config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from scenarios.tracking.tracker import NullTracker
from sim.exceptions import ConfigurationError
from sim.replications import ReplicationPlan
from sim.telemetry import ChannelMap

__all__ = ["AMBIENT_SOURCES", "PlantSpec", "TelemetrySpec", "CalibrationSpec", "WhatIfSpec", "OutputSpec",
           "JobSpec"]

AMBIENT_SOURCES = ("telemetry", "line")
"""Where the what-if's ambient temperature comes from: the daily cycle of the telemetry's last 24 h, or the line's own."""


@dataclass(frozen=True)
class PlantSpec:
    """The monitored asset.

    Parameters
    ----------
    name : str
    stations : tuple of str
        Line stations whose motor the telemetry describes (they get the calibrated parameters and state).
    nameplate : dict
        Prior motor parameters, name → value [SI] (spec defaults fill the rest).
    max_step : float
        RK4 step of the shadow replay [s].
    model : sim.physics.Model or FmuModel, optional
        The plant's twin (an FMU through ``plant.model``); None: the calibration's library model.
    """

    name: str = "reference"
    stations: tuple = ("filler",)
    nameplate: dict = field(default_factory=dict)
    max_step: float = 1.0
    model: object = None


@dataclass(frozen=True)
class TelemetrySpec:
    """A recorded telemetry file and its channel map."""

    path: Path
    channel_map: ChannelMap


@dataclass(frozen=True)
class CalibrationSpec:
    """The fit: an estimator over the most recent *window* of telemetry.

    Parameters
    ----------
    calibrator : BaseCalibrator
        Unfitted estimator (``fit(model, data, params=...)``).
    window : float
        Length of the most recent window of telemetry used [s].
    outputs : tuple of str
        Measured model outputs fitted.
    register : bool
        Register the calibrated twin in the model registry (champion/challenger), if tracked.
    start, end : pandas.Timestamp, optional
        Window limits (UTC); with both, *window* is not used; with one, the window is *window* long from
        *start* or up to *end*; with neither, the last *window* of the data.
    max_gap : float, optional
        An input unknown for longer than this is a gap [s] (:meth:`calibration.CalibrationData.from_frame`).
    model : str
        The library model fitted, a name in :data:`sim.physics.MODELS` (a plant FMU takes its place).
    """

    calibrator: object
    window: float = 24 * 3600.0
    outputs: tuple = ("winding_temperature",)
    register: bool = True
    start: object = None
    end: object = None
    max_gap: float | None = None
    model: str = "motor_thermal"

    def __post_init__(self):
        from sim.physics import MODELS

        if not (math.isfinite(self.window) and self.window > 0):
            raise ConfigurationError(f"calibration window = {self.window!r} s must be a finite time > 0; set "
                                     f"calibration.window_h to the hours of telemetry to fit")
        if self.model not in MODELS:
            raise ConfigurationError(f"calibration.model = {self.model!r} is not a known model; use one of "
                                     f"{sorted(MODELS)} (or an FMU through plant.model)")
        if self.start is not None and self.end is not None and not self.start < self.end:
            raise ConfigurationError(f"calibration window start {self.start} is not before its end {self.end}; "
                                     f"swap calibration.start and calibration.end")


@dataclass(frozen=True)
class WhatIfSpec:
    """Replications of every action on the line, forked from the calibrated twin.

    Parameters
    ----------
    line : dict
        The line as it is (:class:`~scenarios.reference.line_config.LineConfig` keys).
    actions : tuple of Action
    horizon, warmup : float
        Observed time per replication and the warm-up deleted before it [s].
    replications, seed : int
    baseline, objective : str
        The action the others are compared with; the KPI the recommendation improves.
    min_gain : float
        Smallest gain that counts, as a fraction of the baseline's objective [-].
    confidence : float
    crn : bool
        Common random numbers across actions.
    sample_posterior : bool
        Draw the calibrated motor parameters from the posterior per replication.
    ambient : str
        One of :data:`AMBIENT_SOURCES`.
    mser_interval : float or None
        MSER-5 diagnostic interval [s]; None: off.
    fork : bool
        Fork every replication from the calibrated twin's snapshot (line clock at the window end, the
        calibrated motor state); False starts an empty line at 0 s with every motor at its initial state.
    seeds_per_draw : int
        Second-order Monte Carlo: each posterior draw of the motor parameters runs this many seeds
        (parameter uncertainty and run-to-run variability are then reported apart); 1: one draw per
        replication.
    constraints : tuple of Constraint
        Guardrails (:class:`scenarios.whatif.constraints.Constraint`, display units): an action that
        violates one on its interval is never recommended.
    risk : MotorRisk
        Insulation class and the costs of trips and insulation ageing
        (:class:`scenarios.whatif.run.MotorRisk`).
    maintenance_windows : tuple of (float, float)
        When planned maintenance may happen, ``(start, end)`` on the weekly line clock [s]; a guardrail
        ``{kpi: maintenance_outside_windows, max: 0}`` keeps maintenance inside them.
    failure_modes : tuple of str or None
        Stations or ``<station>.<mode>`` names counted in ``failure_probability``; None: every mode of the
        monitored stations (:func:`scenarios.whatif.run.failure_modes_of`).

    Every value is checked here, when the spec is built - before any telemetry is read or any run is
    opened: replications (>= 2), horizon (> 0), warm-up, objective and constraint KPI names (with the
    closest names), the baseline among the actions, the draws layout.
    """

    line: dict
    actions: tuple
    horizon: float = 168 * 3600.0
    warmup: float = 24 * 3600.0
    replications: int = 10
    seed: int = 2026
    baseline: str = "as_is"
    objective: str = "throughput"
    min_gain: float = 0.005
    confidence: float = 0.95
    crn: bool = True
    sample_posterior: bool = True
    ambient: str = "telemetry"
    mser_interval: float | None = 4 * 3600.0
    fork: bool = True
    seeds_per_draw: int = 1
    constraints: tuple = ()
    risk: object = None
    maintenance_windows: tuple = ()
    currency: str = "EUR"
    failure_modes: tuple | None = None

    def __post_init__(self):
        import difflib

        from scenarios.whatif.constraints import Constraint, check_kpi
        from scenarios.whatif.run import MotorRisk, draws_layout

        if self.ambient not in AMBIENT_SOURCES:
            raise ConfigurationError(f"whatif.ambient = {self.ambient!r} is unknown; use 'telemetry' (daily cycle "
                                     f"fitted to the last 24 h of telemetry) or 'line' (the line's own cycle)")
        if not (isinstance(self.horizon, (int, float)) and math.isfinite(self.horizon) and self.horizon > 0):
            raise ConfigurationError(f"whatif horizon = {self.horizon!r} s must be a finite time > 0; set "
                                     f"whatif.horizon_h to the hours observed per replication, e.g. 168")
        self.plan()  # replications >= 2, warm-up, seed, confidence
        check_kpi(self.objective, "whatif.objective")
        names = [getattr(a, "name", None) for a in self.actions]
        if self.baseline not in names:
            close = difflib.get_close_matches(str(self.baseline), [n for n in names if n], n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigurationError(f"whatif.baseline = {self.baseline!r} is not among the actions {names}; "
                                     f"{hint}set it to one of them")
        if not 0 <= self.min_gain < 1:
            raise ConfigurationError(f"whatif.min_gain = {self.min_gain!r} must be a fraction in [0, 1) of the "
                                     f"baseline's objective, e.g. 0.005 for 0.5 %")
        try:
            draws_layout(self.replications, self.seeds_per_draw)
        except ConfigurationError as err:
            raise ConfigurationError(f"whatif: {err}") from None
        bad = [c for c in self.constraints if not isinstance(c, Constraint)]
        if bad:
            raise ConfigurationError(f"whatif.constraints: {bad[0]!r} is not a Constraint; build them with "
                                     f"scenarios.whatif.constraints.Constraint(kpi=..., max=...)")
        from scenarios.whatif.run import check_windows

        object.__setattr__(self, "maintenance_windows", check_windows(self.maintenance_windows))
        if any(c.kpi == "maintenance_outside_windows" for c in self.constraints) and not self.maintenance_windows:
            raise ConfigurationError("whatif.constraints bound maintenance_outside_windows but whatif."
                                     "maintenance_windows is empty; list the windows, e.g. [{day: 6, start_h: 0, "
                                     "end_h: 24}] for Sundays")
        if self.risk is None:
            object.__setattr__(self, "risk", MotorRisk())
        elif not isinstance(self.risk, MotorRisk):
            raise ConfigurationError(f"whatif.risk = {self.risk!r} is not a MotorRisk")

    def plan(self) -> ReplicationPlan:
        """The replication plan: MSER-5 needs 20 observations, so shorter intervals on short runs."""
        interval = min(self.mser_interval or 3600.0, (self.horizon + self.warmup) / 20.0)
        try:
            return ReplicationPlan(replications=self.replications, seed=self.seed, run_length=self.horizon,
                                   warmup=self.warmup, confidence=self.confidence, crn=self.crn,
                                   mser_kpi="throughput" if self.mser_interval else None, mser_interval=interval)
        except ConfigurationError as err:
            raise ConfigurationError(f"whatif: {err}") from None


@dataclass(frozen=True)
class OutputSpec:
    """Where results go and what the parent run carries.

    Parameters
    ----------
    directory : Path
        Output folder (report.md, CSVs, plots, the record).
    run_name : str
        Name of the parent run.
    plots, progress : bool
        Draw the figures; show a progress bar over the replications.
    params : dict
        Flattened resolved config, logged on the parent run.
    config_yaml : str
        The resolved config, written and logged as ``config_resolved.yaml``.
    tags : dict
        Tags of the parent run (git commit, config hash, seed).
    """

    directory: Path = Path("outputs")
    run_name: str = "reference"
    plots: bool = True
    progress: bool = False
    params: dict = field(default_factory=dict)
    config_yaml: str = ""
    tags: dict = field(default_factory=dict)


@dataclass
class JobSpec:
    """The main job: one spec per step and the tracker every step logs to."""

    plant: PlantSpec
    telemetry: TelemetrySpec
    calibration: CalibrationSpec
    whatif: WhatIfSpec
    output: OutputSpec = field(default_factory=OutputSpec)
    tracker: object = field(default_factory=NullTracker)
