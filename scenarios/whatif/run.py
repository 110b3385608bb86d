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
  line starts empty at 0 s with every motor at its initial state;
* **P(failure before the horizon)**: every replication reports, per failure mode
  of the line (``<station>.<mode>.failure_probability``), 1 if the mode failed
  (its failure clock fired: :class:`~sim.processes.FailureMode`, the hazard of a
  physics-driven mode thinned on the twin's own winding temperature or bearing
  vibration) within the observed horizon (after the warm-up) and 0 if not, and
  ``failure_probability``, 1 if any of the *counted* modes failed (by default every
  mode of the monitored stations, ``motor_stations``).  Motor-protection trips are
  not failures (they are ``trips``).  The mean over replications is the share
  of futures with a failure; its interval is binomial (Wilson,
  :func:`scenarios.whatif.constraints.with_binomial`).
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

__all__ = ["LINE_CHANGES", "CONTINUE", "WEEK", "Action", "FailureWatch", "MotorRisk", "WhatIfResult", "actions_from",
           "check_windows", "draws_layout", "failure_modes_of", "line_config_dict", "with_motor_params", "run_whatif"]

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


CONTINUE = Action("continue", "Keep the line as it is (a fork of the twin running on)")
"""The action that changes nothing: a fork with it and the snapshot's own streams is the unforked run."""


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


@dataclass(frozen=True)
class MotorRisk:
    """What the calibrated motors' stress costs: insulation ageing (10 K rule) and trips.

    Parameters
    ----------
    insulation_class : str
        Thermal class of the winding insulation (:data:`sim.line.kpis.INSULATION_CLASSES`).
    rated_life : float
        Insulation life at the class temperature [s] (``loss_of_life`` = ageing / rated life).
    trip_cost : float
        Cost of one motor-protection trip: restart scrap, thermal and mechanical stress [currency].
    ageing_cost : float
        Cost of one second of insulation ageing at the class temperature (rewind cost / rated life)
        [currency/s].
    halving_interval : float
        Insulation life halves every this many kelvin [K].
    record_step : float
        Sampling period of the winding temperature for the peak and the ageing integral [s].
    """

    insulation_class: str = "B"
    rated_life: float = 20000 * 3600.0
    trip_cost: float = 300.0
    ageing_cost: float = 0.3 / 3600.0
    halving_interval: float = 10.0
    record_step: float = 60.0

    def __post_init__(self):
        from sim.line.kpis import INSULATION_CLASSES

        if self.insulation_class not in INSULATION_CLASSES:
            raise ConfigurationError(f"insulation_class = {self.insulation_class!r} is unknown; use one of "
                                     f"{list(INSULATION_CLASSES)} (IEC 60085 thermal classes)")
        for name in ("rated_life", "halving_interval", "record_step"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigurationError(f"motor risk {name} = {value!r} must be a finite number > 0")
        for name in ("trip_cost", "ageing_cost"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigurationError(f"motor risk {name} = {value!r} must be a finite cost >= 0")


@dataclass
class WhatIfResult:
    """Every action's KPIs per replication, the comparison and the traces of replication 0.

    Attributes
    ----------
    kpis : DataFrame
        One row per (``action``, ``replication``): ``draw`` (the posterior draw of the motor parameters the
        replication ran with; second-order Monte Carlo), every KPI of :meth:`sim.line.LineTwin.kpis` (SI
        units), ``max_winding_temperature`` [K] and ``insulation_ageing`` [s] of the calibrated motors after
        the warm-up (sampled every ``risk.record_step``), ``loss_of_life`` [-], ``trip_cost``,
        ``ageing_cost`` and ``motor_risk_cost`` [currency], ``failure_probability`` and
        ``<station>.<mode>.failure_probability`` (0/1: failed within the horizon; :class:`FailureWatch`).
    comparison : Comparison
        From :func:`sim.replications.compare` (paired differences to the baseline).
    specs : dict
        Action name -> the :class:`~sim.line.LineSpec` it ran (point estimates of the motor parameters).
    traces : dict
        Action name -> DataFrame ``t`` [s from the start, warm-up included] and one winding
        temperature column [K] per calibrated motor, replication 0.
    mser : DataFrame
        ``action``, ``replication``, ``truncation_h``, ``reliable``: the MSER-5 diagnostic.
    parameter_draws : int
        Posterior draws of the motor parameters (0: no posterior sampled).
    seeds_per_draw : int
        Seeds each draw runs (the last draw fewer when they do not divide the replications).
    failure_modes : tuple of str
        The failure modes (``<station>.<mode>``) whose failure within the horizon counts in the column
        ``failure_probability``.
    """

    kpis: pd.DataFrame
    comparison: Comparison
    specs: dict
    traces: dict
    mser: pd.DataFrame
    actions: list
    plan: ReplicationPlan
    parameter_draws: int = 0
    seeds_per_draw: int = 1
    risk: MotorRisk = field(default_factory=MotorRisk)
    failure_modes: tuple = ()


def failure_modes_of(spec: LineSpec, selection=None, *, stations=()) -> tuple:
    """The failure modes ``<station>.<mode>`` of *spec* that *selection* names.

    *selection* lists station names (every mode of the station) and ``<station>.<mode>`` names; ``None``
    selects every mode of *stations* (the monitored ones).  An unknown name is an error listing the modes
    the line has; a selection that names stations without failure modes selects nothing.
    """
    modes = {s.name: [m.name for m in s.failure_modes] for s in spec.stations}
    every = [f"{s}.{m}" for s, ms in modes.items() for m in ms]
    if selection is None:
        selection = tuple(stations)
    if isinstance(selection, str):
        selection = (selection,)
    chosen = []
    for name in selection:
        name = str(name)
        if name in modes:
            chosen += [f"{name}.{m}" for m in modes[name]]
        elif name in every:
            chosen.append(name)
        else:
            raise ConfigurationError(f"failure mode {name!r} is not on the line; name a station {list(modes)} or "
                                     f"one of its modes {every}")
    return tuple(dict.fromkeys(chosen))


class FailureWatch:
    """A twin whose KPIs also say which failure modes failed in the observed horizon (the replication
    protocol of :mod:`sim.replications`: ``now``, ``run``, ``reset_statistics``, ``kpis``).

    A failure is a failure clock firing (:meth:`sim.processes.FailureClock.check` true: each candidate it
    checks and does not reject); ``reset_statistics`` (the end of the warm-up) starts the count.

    Parameters
    ----------
    twin : LineTwin
    counted : sequence of str
        ``<station>.<mode>`` names whose failure sets ``failure_probability`` to 1
        (:func:`failure_modes_of`).
    """

    def __init__(self, twin: LineTwin, counted=()):
        self.twin = twin
        self._clocks = [(f"{st.name}.{c.mode.name}", c) for st in twin.stations for c in st.clocks]
        known = [label for label, _ in self._clocks]
        unknown = sorted(set(counted) - set(known))
        if unknown:
            raise ConfigurationError(f"failure mode(s) {unknown} are not on the line; it has {known}")
        self.counted = frozenset(counted)
        self._start = self._fired()

    def _fired(self) -> list:
        return [c.candidates - c.rejected for _, c in self._clocks]

    @property
    def now(self) -> float:
        """Current time [s]."""
        return self.twin.now

    def run(self, until: float) -> None:
        """Run to time *until* [s]."""
        self.twin.run(until)

    def reset_statistics(self) -> None:
        """Warm-up deletion: the twin's KPIs and the failure counts start again."""
        self.twin.reset_statistics()
        self._start = self._fired()

    def kpis(self) -> dict:
        """:meth:`LineTwin.kpis` and the failure indicators [-]: ``<station>.<mode>.failure_probability`` per
        mode and ``failure_probability`` over the counted modes (1: failed within the horizon, 0: not)."""
        out = self.twin.kpis()
        failed = {label: float(now > then)
                  for (label, _), now, then in zip(self._clocks, self._fired(), self._start)}
        for label, value in failed.items():
            out[f"{label}.failure_probability"] = value
        out["failure_probability"] = float(any(failed[label] for label in self.counted))
        return out


def draws_layout(replications: int, seeds_per_draw: int = 1) -> int:
    """The number of posterior draws of a second-order Monte Carlo over *replications* runs per action.

    Replication r runs draw ``r // seeds_per_draw``, so each draw runs *seeds_per_draw* seeds (the last one
    fewer when they do not divide); 1 is one draw per replication (parameter uncertainty and run-to-run
    variability are then not separated).  At least 2 draws are needed for an interval.
    """
    if isinstance(seeds_per_draw, bool) or not isinstance(seeds_per_draw, int) or seeds_per_draw < 1:
        raise ConfigurationError(f"seeds_per_draw = {seeds_per_draw!r} must be an integer >= 1 (1: one posterior "
                                 f"draw per replication)")
    draws = -(-int(replications) // seeds_per_draw)
    if draws < 2:
        raise ConfigurationError(f"seeds_per_draw = {seeds_per_draw} leaves {draws} posterior draw for "
                                 f"{replications} replications; an interval needs 2 or more: use replications >= "
                                 f"{2 * seeds_per_draw} or fewer seeds per draw")
    return draws


def run_whatif(line, actions, *, plan: ReplicationPlan, baseline: str, motor_params: dict | None = None,
               motor_stations=("filler",), posterior: Callable | None = None, ambient: AmbientCycle | None = None,
               progress: Callable | None = None, trace_step: float = 600.0,
               snapshot: TwinSnapshot | None = None, seeds_per_draw: int = 1,
               risk: MotorRisk | None = None, maintenance_windows=(), failure_modes=None) -> WhatIfResult:
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
        ``posterior(rng) -> dict``: motor parameters drawn from the calibration posterior (parameter
        uncertainty; the same draws in every action); ``None`` uses *motor_params*.
    ambient : AmbientCycle, optional
        Ambient temperature of every motor (e.g. fitted to telemetry); the line's own otherwise.
    progress : callable, optional
        ``progress(done, total)`` after each replication.
    trace_step : float
        Sampling period of the winding temperature traces of replication 0 [s].
    snapshot : TwinSnapshot, optional
        Fork every replication from this state (and time) of the line; an empty line at 0 s otherwise.
    seeds_per_draw : int
        Second-order Monte Carlo: replication r runs posterior draw ``r // seeds_per_draw`` (drawn from
        ``RandomStreams(seed, draw)("twin.motor_parameters")``) with the line's own streams of replication r,
        so each draw runs several seeds; 1 (default): one draw per replication, as a first-order Monte Carlo.
    risk : MotorRisk, optional
        Insulation class and costs of trips and ageing (defaults of :class:`MotorRisk`).
    maintenance_windows : sequence of (float, float)
        When planned maintenance may happen: ``(start, end)`` on the line's weekly clock [s from Monday 00:00
        UTC]; with windows the KPI ``maintenance_outside_windows`` [s] counts the time any station spends in
        maintenance outside them (sampled every ``risk.record_step``).
    failure_modes : sequence of str, optional
        Stations and ``<station>.<mode>`` names whose failure within the horizon counts in
        ``failure_probability`` (:func:`failure_modes_of`); default: every failure mode of *motor_stations*.
    """
    from sim.line.kpis import InsulationAgeing
    from sim.streams import RandomStreams

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
    risk = risk if risk is not None else MotorRisk()
    windows = check_windows(maintenance_windows)
    draws = draws_layout(plan.replications, seeds_per_draw)
    per_draw = seeds_per_draw
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
    counted = failure_modes_of(specs[names[0]], failure_modes, stations=stations)
    traces: dict = {}
    records: dict = {}
    off_window: dict = {}
    indices = [[s.name for s in specs[names[0]].stations].index(n) for n in stations]

    def builder(name):
        def build(streams):
            spec = specs[name]
            if posterior is not None:
                draw = streams.replication // per_draw
                rng = RandomStreams(streams.seed, draw)("twin.motor_parameters")
                spec = with_motor_params(spec, {**(motor_params or {}), **posterior(rng)}, stations)
            if snapshot is None:
                twin = LineTwin(spec, streams=streams)
            else:
                twin = LineTwin.restore(spec, snapshot, streams=streams)
            if streams.replication == 0:
                rows: list = []
                twin.env.process(_trace(twin, indices, trace_step, rows))
                traces[name] = rows
            ageing = [InsulationAgeing(risk.insulation_class, halving_interval=risk.halving_interval)
                      for _ in indices]
            outside = [0.0]
            twin.env.process(_record(twin, indices, risk.record_step, plan.warmup, ageing, windows, outside))
            records[(name, streams.replication)] = ageing
            off_window[(name, streams.replication)] = outside
            return FailureWatch(twin, counted)

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
        ageing = [sum(a.value() for a in records[(name, rep)]) for rep in range(plan.replications)]
        table["max_winding_temperature"] = [max((a.peak for a in records[(name, rep)]), default=math.nan)
                                            for rep in range(plan.replications)]
        table["insulation_ageing"] = ageing
        table["loss_of_life"] = [a / risk.rated_life for a in ageing]
        table["trip_cost"] = table["trips"] * risk.trip_cost
        table["ageing_cost"] = table["insulation_ageing"] * risk.ageing_cost
        table["motor_risk_cost"] = table["trip_cost"] + table["ageing_cost"]
        if windows:
            table["maintenance_outside_windows"] = [off_window[(name, rep)][0] for rep in range(plan.replications)]
        res.table = table
        frames.append(table.reset_index().assign(action=name,
                                                 draw=[r // per_draw for r in range(plan.replications)]))
        for rep, m in enumerate(res.mser):
            mser.append({"action": name, "replication": rep, "truncation_h": m.truncation * plan.mser_interval / 3600,
                         "reliable": m.reliable})
    kpis = pd.concat(frames, ignore_index=True)
    kpis = kpis[["action", "replication", "draw"] + [c for c in kpis.columns
                                                      if c not in ("action", "replication", "draw")]]
    columns = ["t"] + [f"{n}.winding_temperature" for n in stations]
    return WhatIfResult(kpis=kpis, comparison=comparison, specs=specs,
                        traces={k: pd.DataFrame(v, columns=columns) for k, v in traces.items()},
                        mser=pd.DataFrame(mser, columns=["action", "replication", "truncation_h", "reliable"]),
                        actions=actions, plan=plan, parameter_draws=draws if posterior is not None else 0,
                        seeds_per_draw=per_draw, risk=risk, failure_modes=counted)


def _trace(twin, indices, step, rows):
    """Sample the winding temperature of motors *indices* every *step* seconds (reads only)."""
    env, start = twin.env, twin.env.now
    out = twin.spec.motors.temperature_output
    while True:
        rows.append((env.now - start, *(twin.motors.output(i, out) for i in indices)))
        yield env.timeout(step)


WEEK = 7 * 86400.0


def check_windows(windows) -> tuple:
    """*windows* as a tuple of ``(start, end)`` on the weekly clock [s], each ``0 <= start < end <= WEEK``."""
    out = []
    for w in windows or ():
        start, end = (float(v) for v in w)
        if not (0.0 <= start < end <= WEEK):
            raise ConfigurationError(f"maintenance window ({start:g}, {end:g}) s must satisfy 0 <= start < end <= "
                                     f"{WEEK:g} s on the weekly clock (Monday 00:00 UTC = 0)")
        out.append((start, end))
    return tuple(out)


def _record(twin, indices, step, warmup, ageing, windows=(), outside=None):
    """Every *step* seconds after the warm-up: feed the winding temperature of motors *indices* into *ageing*
    (:class:`~sim.line.kpis.InsulationAgeing`, one per motor) and, with maintenance *windows*, add *step* to
    ``outside[0]`` for each station in maintenance outside them (reads only)."""
    env, start = twin.env, twin.env.now
    out = twin.spec.motors.temperature_output
    if warmup > 0:
        yield env.timeout(warmup)
    while True:
        for acc, i in zip(ageing, indices):
            acc.add(env.now - start, twin.motors.output(i, out))
        if windows:
            week = env.now % WEEK
            if not any(a <= week < b for a, b in windows):
                outside[0] += step * sum(st.recorder.state == "in_maintenance" for st in twin.stations)
        yield env.timeout(step)
