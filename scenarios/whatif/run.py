"""What-if on the reference line: actions as line changes, compared over replications.

An :class:`Action` is a named change of the line configuration
(:class:`~scenarios.reference.line_config.LineConfig` keys: station ``speeds``, ``crew_size``,
``buffers``, ``buffer_scale``, ``crew_rule``, maintenance ``policy``).  Every action
becomes a :class:`~sim.line.LineSpec`; :func:`run_whatif` replicates them all with
:func:`sim.replications.compare`:

* replication r of every action gets the same :class:`~sim.streams.RandomStreams`
  ``(seed, r)`` (common random numbers), so jams, failures, repair times, lead
  times - and the posterior draw of the calibrated motor parameters - are shared
  and the paired differences show the action, not noise;
* each replication deletes a fixed warm-up (buffers filling, motors heating up);
  MSER-5 on hourly throughput is reported as a diagnostic only;
* the calibrated motor parameters go to the motors of the stations the telemetry
  describes (``motor_stations``, the filler by default); the others keep their
  nameplate values, for which there is no evidence to change them;
* with a *snapshot* (:func:`scenarios.whatif.fork.calibrated_snapshot`: the
  line with the calibrated motor state at the calibration window's end), every
  replication of every action is a fork of it,
  ``LineTwin.restore(spec_of_action, snapshot, streams=...)``; without one the
  line starts empty at 0 s with every motor at its initial state.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from scenarios.reference.line_config import LineConfig, line_spec_from_config
from sim.exceptions import ConfigurationError
from sim.replications import Comparison, ReplicationPlan, compare
from sim.line import AmbientCycle, LineSpec, LineTwin
from sim.line.snapshot import TwinSnapshot

__all__ = ["LINE_CHANGES", "Action", "WhatIfResult", "actions_from", "line_config_dict", "with_motor_params",
           "run_whatif"]

LINE_CHANGES = ("speeds", "buffers", "buffer_scale", "crew_size", "crew_rule", "policy")
"""Line configuration keys an action may change (``speeds``, ``buffers`` and ``policy`` merge key by key)."""

_MERGED = ("speeds", "buffers", "policy")


def line_config_dict(cfg) -> dict:
    """*cfg* (a :class:`LineConfig`, dict or DictConfig) as a plain dict with every key present."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_container(cfg, resolve=True)
    elif dataclasses.is_dataclass(cfg):
        cfg = dataclasses.asdict(cfg)
    cfg = {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in dict(cfg or {}).items()}
    return {**dataclasses.asdict(LineConfig()), **cfg}


@dataclass(frozen=True)
class Action:
    """A named change to the line.

    Parameters
    ----------
    name : str
    description : str
    changes : dict
        :data:`LINE_CHANGES` keys, e.g. ``{"speeds": {"filler": 1.1}}``, ``{"crew_size": 3}``,
        ``{"buffers": {"filler_capper": 2400}}``, ``{"policy": {"name": "run_to_failure"}}``.
    """

    name: str
    description: str = ""
    changes: dict = field(default_factory=dict)

    def __post_init__(self):
        unknown = sorted(set(self.changes) - set(LINE_CHANGES))
        if unknown:
            raise ConfigurationError(f"action {self.name!r}: unknown change(s) {unknown}; an action may change "
                                     f"{list(LINE_CHANGES)}")

    def apply(self, line: dict) -> dict:
        """The line configuration *line* with this action's changes."""
        out = line_config_dict(line)
        for key, value in self.changes.items():
            if key in _MERGED:
                out[key] = {**dict(out.get(key) or {}), **dict(value or {})}
            else:
                out[key] = value
        return out


def actions_from(items) -> list:
    """Actions from plain dicts ``{name, description, <line changes>}``; empty or null changes are dropped."""
    out = []
    for item in items:
        item = dict(item)
        name = item.pop("name")
        desc = item.pop("description", "")
        changes = {}
        for key, value in item.items():
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if v is not None}
            if value is None or (isinstance(value, dict) and not value and key in LINE_CHANGES):
                continue
            changes[key] = value
        out.append(Action(name=name, description=desc, changes=changes))
    if not out:
        raise ConfigurationError("whatif.actions is empty; list at least a baseline and one action")
    return out


def with_motor_params(spec: LineSpec, params: dict, stations) -> LineSpec:
    """*spec* with motor parameters *params* (name -> SI value) on the motors of *stations*."""
    names = [s.name for s in spec.stations]
    unknown = sorted(set(stations) - set(names))
    if unknown:
        raise ConfigurationError(f"unknown station(s) {unknown} for the calibrated motor; stations are {names}")
    old = spec.motors.params or tuple({} for _ in names)
    new = tuple({**p, **params} if n in stations else dict(p) for n, p in zip(names, old))
    return dataclasses.replace(spec, motors=dataclasses.replace(spec.motors, params=new))


@dataclass
class WhatIfResult:
    """Every action's KPIs per replication, the comparison and the traces of replication 0.

    Attributes
    ----------
    kpis : DataFrame
        One row per (``action``, ``replication``): every KPI of :meth:`sim.line.LineTwin.kpis` (SI
        units) and ``max_winding_temperature`` [K] of the calibrated motors after the warm-up (sampled
        every *trace_step*).
    comparison : Comparison
        From :func:`sim.replications.compare` (paired differences to the baseline).
    specs : dict
        Action name -> the :class:`~sim.line.LineSpec` it ran (point estimates of the motor parameters).
    traces : dict
        Action name -> DataFrame ``t`` [s from the start, warm-up included] and one winding
        temperature column [K] per calibrated motor, replication 0.
    mser : DataFrame
        ``action``, ``replication``, ``truncation_h``, ``reliable``: the MSER-5 diagnostic.
    """

    kpis: pd.DataFrame
    comparison: Comparison
    specs: dict
    traces: dict
    mser: pd.DataFrame
    actions: list
    plan: ReplicationPlan


def run_whatif(line, actions, *, plan: ReplicationPlan, baseline: str, motor_params: dict | None = None,
               motor_stations=("filler",), posterior: Callable | None = None, ambient: AmbientCycle | None = None,
               progress: Callable | None = None, trace_step: float = 600.0,
               snapshot: TwinSnapshot | None = None) -> WhatIfResult:
    """Replicate every action on the line under *plan* and pair each with *baseline*.

    Parameters
    ----------
    line : LineConfig, dict or DictConfig
        The line as it is.
    actions : sequence of Action
    plan : ReplicationPlan
        Replications, seed, warm-up and run length [s], CRN.
    baseline : str
        Name of the action the others are compared with.
    motor_params : dict, optional
        Calibrated motor parameters (point estimates) for the motors of *motor_stations*.
    posterior : callable, optional
        ``posterior(rng) -> dict``: motor parameters drawn per replication (parameter
        uncertainty; the same draw in every action); ``None`` uses *motor_params*.
    ambient : AmbientCycle, optional
        Ambient temperature of every motor (e.g. fitted to telemetry); the line's own otherwise.
    progress : callable, optional
        ``progress(done, total)`` after each replication.
    trace_step : float
        Sampling period of the winding temperature of the calibrated motors [s].
    snapshot : TwinSnapshot, optional
        Fork every replication from this state (and time) of the line; an empty line at 0 s otherwise.
    """
    actions = list(actions)
    if not actions:
        raise ConfigurationError("a what-if needs at least one action; list a baseline and the changes to compare")
    names = [a.name for a in actions]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"action names must be unique, got {names}")
    if baseline not in names:
        raise ConfigurationError(f"baseline {baseline!r} is not among the actions {names}; set whatif.baseline to "
                                 f"one of them")
    if not (math.isfinite(trace_step) and trace_step > 0):
        raise ConfigurationError(f"trace_step = {trace_step!r} must be a finite time > 0 [s]")
    stations = tuple(motor_stations)
    base = line_config_dict(line)
    specs = {}
    for action in actions:  # build (and so check) every action before running any
        try:
            spec = line_spec_from_config(action.apply(base), motor_params=motor_params or None,
                                         motor_stations=stations)
        except ConfigurationError as err:
            raise ConfigurationError(f"action {action.name!r}: {err}") from None
        specs[action.name] = spec if ambient is None else dataclasses.replace(spec, ambient=ambient)
    traces: dict = {}
    peaks: dict = {}
    indices = [[s.name for s in specs[names[0]].stations].index(n) for n in stations]

    def builder(name):
        def build(streams):
            spec = specs[name]
            if posterior is not None:
                spec = with_motor_params(spec, {**(motor_params or {}), **posterior(streams("twin.motor_parameters"))},
                                         stations)
            if snapshot is None:
                twin = LineTwin(spec, streams=streams)
            else:
                twin = LineTwin.restore(spec, snapshot, streams=streams)
            rows: list = []
            twin.env.process(_trace(twin, indices, trace_step, rows))
            if streams.replication == 0:
                traces[name] = rows
            peaks[(name, streams.replication)] = rows
            return twin

        return build

    total = len(actions) * plan.replications
    done = [0]

    def step(_r, _n):
        done[0] += 1
        if progress is not None:
            progress(done[0], total)

    comparison = compare({a.name: builder(a.name) for a in actions}, plan, baseline=baseline, progress=step)
    frames, mser = [], []
    for name, res in comparison.results.items():
        table = res.table.copy()
        table["max_winding_temperature"] = [
            max((max(r[1:]) for r in peaks[(name, rep)] if r[0] >= plan.warmup), default=math.nan)
            for rep in range(plan.replications)]
        res.table = table
        frames.append(table.reset_index().assign(action=name))
        for rep, m in enumerate(res.mser):
            mser.append({"action": name, "replication": rep, "truncation_h": m.truncation * plan.mser_interval / 3600,
                         "reliable": m.reliable})
    kpis = pd.concat(frames, ignore_index=True)
    kpis = kpis[["action", "replication"] + [c for c in kpis.columns if c not in ("action", "replication")]]
    columns = ["t"] + [f"{n}.winding_temperature" for n in stations]
    return WhatIfResult(kpis=kpis, comparison=comparison, specs=specs,
                        traces={k: pd.DataFrame(v, columns=columns) for k, v in traces.items()},
                        mser=pd.DataFrame(mser, columns=["action", "replication", "truncation_h", "reliable"]),
                        actions=actions, plan=plan)


def _trace(twin, indices, step, rows):
    """Sample the winding temperature of motors *indices* every *step* seconds (reads only)."""
    env, start = twin.env, twin.env.now
    out = twin.spec.motors.temperature_output
    while True:
        rows.append((env.now - start, *(twin.motors.output(i, out) for i in indices)))
        yield env.timeout(step)
