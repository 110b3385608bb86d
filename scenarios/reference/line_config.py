"""The reference line as configuration: schema, YAML group ``conf/line/`` and the builder.

A planner changes the line by overriding keys (``line.crew_size=3``,
``line.buffers.filler_capper=1200``, ``line.speeds.filler=1.1``,
``line.policy.name=condition_based``); :func:`line_spec_from_config` turns
the resolved config into the :class:`~sim.line.LineSpec` the engine runs.
Times in the config are in hours (``*_h``), as planners think of them; the
engine gets seconds.  Unknown stations, buffers, policies or policy keys fail
with the known names listed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

from sim.exceptions import ConfigurationError

__all__ = ["PolicyConfig", "LineConfig", "line_spec_from_config", "register_line_configs"]

HOUR = 3600.0


@dataclass
class PolicyConfig:
    """Maintenance policy of every station (``sim.processes.MAINTENANCE_POLICIES``).

    ``run_to_failure``: no planned maintenance.  ``time_based``: every
    *interval_h* hours of running (``basis: operating``) or calendar time.
    ``condition_based``: inspect *output* every *inspection_interval_h* hours,
    maintain when it is at or above *threshold* (SI units of the output), or
    react to the physics state event *event*.
    """

    name: str = "time_based"
    interval_h: Optional[float] = 160.0
    basis: str = "operating"
    duration_h: float = 1.5
    cost: float = 150.0
    output: Optional[str] = None
    threshold: Optional[float] = None
    inspection_interval_h: Optional[float] = None
    event: Optional[str] = None


@dataclass
class LineConfig:
    """The reference bottling line (``scenarios.reference.line``) and the changes a planner may make to it."""

    name: str = "bottling"
    crew_size: int = 2
    pump: bool = True  # the filler's centrifugal pump with its bearing failure mode
    speeds: Dict[str, float] = field(default_factory=dict)  # station -> speed factor [-]
    buffers: Dict[str, float] = field(default_factory=dict)  # buffer -> capacity [units]
    buffer_scale: float = 1.0  # multiplies every buffer capacity (after ``buffers``)
    crew_rule: str = "wait"  # "wait" or "preempt" at the end of a shift
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    motors: Dict[str, Dict[str, float]] = field(default_factory=dict)  # station -> motor model params [SI]
    # an FMU as every station's motor model instead of motor_thermal (the keys of sim.fmu.model_from_config: fmu,
    # inputs, outputs, states, parameters, bounds; inputs motor_current and ambient_temperature, an output
    # winding_temperature); ``motors`` then names the FMU's parameters
    motor_model: Dict[str, Any] = field(default_factory=dict)  # empty: motor_thermal


def _fmu_motor(entry):
    """The FMU motor model of ``line.motor_model`` (a relative ``fmu`` path is taken from the working folder),
    checked for the inputs and output the line's motors use."""
    from sim.fmu import FmuError, model_from_config

    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import get_original_cwd

    base = get_original_cwd() if HydraConfig.initialized() else Path.cwd()  # as plant.model: where the job started
    try:
        model = model_from_config(dict(entry), base_dir=base)
    except FmuError as err:
        raise ConfigurationError(f"line.motor_model: {err}") from None
    need = {"inputs": {"motor_current", "ambient_temperature"}, "outputs": {"winding_temperature"}}
    for kind, names in need.items():
        missing = sorted(names - set(model.spec.names(kind)))
        if missing:
            raise ConfigurationError(f"line.motor_model: the FMU {entry.get('fmu')!r} has no {kind[:-1]} "
                                     f"{missing} (its {kind}: {list(model.spec.names(kind))}); the line drives a "
                                     f"motor with motor_current [A] and ambient_temperature [K] and trips on "
                                     f"winding_temperature [K]: list the FMU's variables of these names under line.motor_model.{kind} "
                                     f"(an FMU without them needs a wrapper that exposes them)")
    return model


def _policy(cfg: dict):
    from sim.processes import make_policy

    cfg = dict(cfg)
    name = cfg.pop("name")
    params = {"duration": float(cfg.pop("duration_h")) * HOUR, "cost": float(cfg.pop("cost"))}
    interval_h = cfg.pop("interval_h", None)
    basis = cfg.pop("basis", "operating")
    inspection_h = cfg.pop("inspection_interval_h", None)
    output, threshold, event = cfg.pop("output", None), cfg.pop("threshold", None), cfg.pop("event", None)
    if cfg:
        raise ConfigurationError(f"line.policy: unknown key(s) {sorted(cfg)}; keys are "
                                 f"{[f.name for f in dataclasses.fields(PolicyConfig)]}")
    if name == "time_based":
        if interval_h is None:
            raise ConfigurationError("line.policy.interval_h is null; time_based maintenance needs an interval "
                                     "in hours, e.g. line.policy.interval_h=160")
        params.update(interval=float(interval_h) * HOUR, basis=basis)
    elif name == "condition_based":
        if event is not None:
            params.update(event=event)
        else:
            params.update(output=output, threshold=threshold,
                          inspection_interval=None if inspection_h is None else float(inspection_h) * HOUR)
    elif name == "predictive":
        raise ConfigurationError("line.policy.name=predictive needs a remaining-life model (a Python callable); "
                                 "build it in code with sim.processes.Predictive(remaining_life=...) and pass "
                                 "it as reference_line_spec(policy=...)")
    return make_policy(name, **params)


def line_spec_from_config(cfg, *, motor_params: dict | None = None, motor_stations=None):
    """The :class:`~sim.line.LineSpec` described by *cfg* (a :class:`LineConfig`, dict or DictConfig).

    ``cfg["motors"]`` (station -> parameters) replaces nameplate motor parameters
    station by station.  *motor_params* (name -> SI value, e.g. a calibration's
    estimates) then replaces them on the stations named in *motor_stations*
    (default: every station motor).
    """
    from omegaconf import DictConfig, OmegaConf

    from scenarios.reference.line import change_line, reference_line_spec

    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_container(cfg, resolve=True)
    elif dataclasses.is_dataclass(cfg):
        cfg = dataclasses.asdict(cfg)
    cfg = {**dataclasses.asdict(LineConfig()), **dict(cfg)}
    unknown = set(cfg) - {f.name for f in dataclasses.fields(LineConfig)}
    if unknown:
        raise ConfigurationError(f"line: unknown key(s) {sorted(unknown)}; keys are "
                                 f"{[f.name for f in dataclasses.fields(LineConfig)]}")
    crew = cfg["crew_size"]
    if isinstance(crew, bool) or not isinstance(crew, int) or crew < 1:
        raise ConfigurationError(f"line.crew_size = {crew!r} must be an integer >= 1")
    policy = _policy({**dataclasses.asdict(PolicyConfig()), **dict(cfg["policy"])})
    spec = reference_line_spec(crew_size=crew, policy=policy, pump=bool(cfg["pump"]),
                               **({} if not cfg.get("motor_model") else
                                  {"motor_model": _fmu_motor(cfg["motor_model"])}))
    if cfg["crew_rule"] not in ("wait", "preempt"):
        raise ConfigurationError(f"line.crew_rule = {cfg['crew_rule']!r}; use 'wait' or 'preempt'")
    buffers = dict(cfg["buffers"] or {})
    known = {b.name for b in spec.buffers}
    if set(buffers) - known:
        raise ConfigurationError(f"line.buffers: unknown buffer(s) {sorted(set(buffers) - known)}; buffers are "
                                 f"{sorted(known)}")
    for name, capacity in buffers.items():
        if not capacity > 0:
            raise ConfigurationError(f"line.buffers.{name} = {capacity!r} must be a capacity > 0 [units]")
    scale = float(cfg["buffer_scale"])
    if not scale > 0:
        raise ConfigurationError(f"line.buffer_scale = {scale!r} must be > 0")
    spec = dataclasses.replace(spec, crew_rule=cfg["crew_rule"], buffers=tuple(
        dataclasses.replace(b, capacity=float(buffers.get(b.name, b.capacity)) * scale) for b in spec.buffers))
    spec = change_line(spec, speed={k: float(v) for k, v in (cfg["speeds"] or {}).items()})
    names = [s.name for s in spec.stations]
    per_station = {name: dict(p or {}) for name, p in (cfg.get("motors") or {}).items()}
    targets = names if motor_stations is None else list(motor_stations)
    for where, given in (("line.motors", per_station), ("motor_stations", targets)):
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise ConfigurationError(f"{where}: unknown station(s) {unknown}; stations are {names}")
    if motor_params:
        for name in targets:
            per_station[name] = {**per_station.get(name, {}), **dict(motor_params)}
    if per_station:
        if spec.motors is None:
            raise ConfigurationError("line.motors: this line has no motor physics to set parameters on")
        model = spec.motors.model.spec
        for name, p in per_station.items():
            bad = sorted(set(p) - set(model.names("params")))
            if bad:
                raise ConfigurationError(f"motor parameters of {name!r}: unknown name(s) {bad}; the "
                                         f"{model.name} model's parameters are {list(model.names('params'))}")
            model.check_bounds(model.vector("params", p)[None])
        spec = dataclasses.replace(spec, motors=dataclasses.replace(
            spec.motors, params=tuple(per_station.get(name, {}) for name in names)))
    return spec


def register_line_configs(cs=None):
    """Register the ``line`` group schema (``line_schema``) in Hydra's ConfigStore."""
    from hydra.core.config_store import ConfigStore

    cs = cs or ConfigStore.instance()
    cs.store(group="line", name="line_schema", node=LineConfig)
    return cs
