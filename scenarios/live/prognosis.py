"""Health of the living twin: interval tracks of what the filter estimates, and the remaining useful life.

* :class:`TrackMonitor` - after every segment of rows, the interval (``value +- z sd``, 95 % by default) of each
  parameter the filter tracks and of chosen states (a strainer's resistance, a bearing's wear): the
  *parameter tracks* the living scorer checks against the truth (coverage, :mod:`scenarios.reference.living_score`).
* :class:`RulMonitor` - once a diagnosis names a failure mode that has a threshold (:data:`FAILURE_MODES`: a
  bearing wearing out fails at wear 1), the degradation is fitted on the data since the diagnosis window's start
  (:class:`calibration.LeastSquaresCalibrator`: the wear rate with its covariance, the wear at the window start)
  and the remaining useful life predicted (:func:`calibration.predict_rul`: posterior draws of the rate x
  future duties, run to the threshold), every ``every_ns`` of source time while the alarm is up and the
  degradation explains the data (the fit's misspecification test: after a replacement the wear seems to go back,
  which no wear does).  The future
  duty is not known: each member holds one operating point drawn from the last ``duty_ns`` of measured inputs
  (a line that runs by day and idles by night wears its bearing at a rate between the two), so the interval
  carries the duty's spread as well as the rate's.  The estimate goes to the timeline (kind ``prognosis``), the
  board (state, ``/metrics`` gauge, page) and :attr:`RulMonitor.track`.

Both are monitors of :class:`scenarios.live.service.LiveService` (``on_block``, ``on_tick``, ``state_dict``,
``load_state``); actions run on ticks, so a resumed run predicts what an uninterrupted one does.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scenarios.live.monitor import RowBuffer
from sim.exceptions import ConfigurationError, TwinbenchError

__all__ = ["FAILURE_MODES", "FailureMode", "RulMonitor", "TrackMonitor"]

log = logging.getLogger("twinbench.live")
NS = 1_000_000_000
HOUR_NS = 3600 * NS


@dataclass(frozen=True)
class FailureMode:
    """A diagnosis that ends in a failure: what to fit and where the part fails.

    Attributes
    ----------
    diagnosis : str
        The hypothesis name that starts the prognosis (``bearing_wear``).
    rate : str
        The model parameter of the degradation rate, fitted with its covariance [SI].
    state : str
        The degradation state (fitted at the window start; a model output too).
    outputs : tuple of str
        Measured channels the fit compares.
    level : float
        The state's failure threshold [its unit].
    name : str
        The threshold's name.
    """

    diagnosis: str
    rate: str
    state: str
    outputs: tuple
    level: float
    name: str


#: Diagnosis name -> its :class:`FailureMode` (the filler drive's bearing: wear 0 new, 1 failure).
FAILURE_MODES = {"bearing_wear": FailureMode("bearing_wear", "bearing_wear_rate", "bearing_wear", ("vibration_rms",),
                                             1.0, "bearing_failure")}


# --------------------------------------------------------------------------------------------------- tracks
class TrackMonitor:
    """Interval tracks of the tracked parameters, of chosen states and of the fault parameters, one row per name
    and change.

    The filter's parameters and states get a row after every segment (its estimate +- ``z`` standard
    deviations).  A *fault parameter* (a fouling rate, an ambient load ...) is not tracked by the filter - the twin
    holds it at its healthy value, exactly (a zero-width interval), so that a fault shows in the residuals - until a
    diagnosis estimates it: then the winner's interval (and each remaining-life update's) holds until the alarm
    clears, when the twin's belief returns to the healthy value.

    Parameters
    ----------
    states : sequence of str
        Model states whose interval is recorded besides the filter's tracked parameters (those the model has).
    z : float
        Half-width of the interval in standard deviations (1.96: 95 %).
    asset : int
        Which asset of the fleet (its index).
    fault_parameters : sequence of str
        Model parameters a diagnosis estimates (e.g. ``fouling_rate``; those the model has).
    alarms : scenarios.live.monitor.AlarmMonitor, optional
        Whose alarm ends a diagnosed fault's interval.
    asset_name : str
        The asset's name (for the alarm).
    """

    def __init__(self, states=(), *, z: float = 1.96, asset: int = 0, fault_parameters=(), alarms=None,
                 asset_name: str = "twin"):
        if not z > 0:
            raise ConfigurationError(f"z = {z!r} must be > 0 standard deviations, e.g. 1.96 for 95 %")
        self.states, self.z, self.asset = tuple(states), float(z), int(asset)
        self.fault_parameters, self.alarms, self.asset_name = tuple(fault_parameters), alarms, asset_name
        self.rows: list = []  # (stamp [ns], name, value, low, high)
        self.seen = 0  # timeline events looked at
        self.diagnosed: list = []  # fault parameters whose diagnosed interval holds now

    def _healthy(self, service, t: int, names) -> None:
        params = service.tracker.params_vector(self.asset)
        for name in names:
            if name in params:  # a fault parameter the model does not have is not tracked
                self.rows.append((t, name, params[name], params[name], params[name]))

    def on_tick(self, service, boundary: int) -> None:
        if not self.fault_parameters or service.tracker.ukf_ is None:
            return
        events = service.timeline.events
        for event in events[self.seen:]:
            if event.kind in ("diagnosis", "prognosis"):
                for name, (v, lo, hi) in (event.details.get("estimates") or {}).items():
                    if name in self.fault_parameters:
                        self.rows.append((int(event.time), name, v, lo, hi))
                        self.diagnosed = sorted(set(self.diagnosed) | {name})
        self.seen = len(events)
        if self.diagnosed and self.alarms is not None and not self.alarms.active(self.asset_name):
            self._healthy(service, int(boundary), self.diagnosed)
            self.diagnosed = []

    def on_block(self, service, stamps, values, inn) -> None:
        tracker, a, t = service.tracker, self.asset, int(inn.stamps[-1])
        if not self.rows and self.fault_parameters:
            self._healthy(service, int(inn.stamps[0]), self.fault_parameters)
        for p, name in enumerate(tracker.parameters):
            v, sd = float(inn.params[-1, a, p]), float(inn.params_std[-1, a, p])
            self.rows.append((t, name, v, v - self.z * sd, v + self.z * sd))
        if self.states and tracker.ukf_ is not None:
            names = tracker.model.spec.names("states")
            x = tracker.states()[a]
            var = np.diagonal(tracker.ukf_.covariance_[a])[:len(names)]  # the filter's public covariance_
            for name in self.states:  # a state the model does not have is not tracked
                if name not in names:
                    continue
                i = names.index(name)
                v, sd = float(x[i]), float(np.sqrt(max(var[i], 0.0)))
                self.rows.append((t, name, v, v - self.z * sd, v + self.z * sd))

    def table(self) -> pd.DataFrame:
        """The tracks as the living scorer takes them: ``time`` (UTC), ``parameter``, ``value``, ``low``,
        ``high`` [SI]."""
        frame = pd.DataFrame(self.rows, columns=["time", "parameter", "value", "low", "high"])
        frame["time"] = pd.to_datetime(frame["time"].astype("int64"), utc=True)
        return frame

    def state_dict(self) -> dict:
        return {"rows": list(self.rows), "seen": self.seen, "diagnosed": list(self.diagnosed)}

    def load_state(self, state: dict) -> None:
        self.rows = [tuple(r) for r in state.get("rows", [])]
        self.seen, self.diagnosed = int(state.get("seen", 0)), list(state.get("diagnosed", []))


# ------------------------------------------------------------------------------------------------------ RUL
class RulMonitor:
    """Remaining useful life after a diagnosis with a failure mode (see the module docstring).

    Parameters
    ----------
    alarms : scenarios.live.monitor.AlarmMonitor
        Whose alarm keeps the prognosis going (it ends when the asset's alarm clears: the part was replaced).
    recalibration : scenarios.live.monitor.RecalibrationMonitor
        Its row buffer holds the data since the diagnosis window's start.
    every_ns : int
        Source time between updates [ns].
    horizon_s : float
        How far the prediction looks [s]; later failures are censored.
    n_samples : int
        Members (rate draws x duties).
    level : float
        Central interval reported.
    duty_ns : int
        The recent duty the future operating points are drawn from [ns].
    max_step : float
        Integrator step of fit and prediction [s].
    seed : int
        Seeds the draws (update *k* uses ``[seed, k]``).
    asset : str
        The asset's name.
    modes : mapping
        Diagnosis name -> :class:`FailureMode`.
    """

    def __init__(self, alarms, recalibration, *, every_ns: int = HOUR_NS, horizon_s: float = 72 * 3600.0,
                 n_samples: int = 100, level: float = 0.9, duty_ns: int = 24 * HOUR_NS, max_step: float = 1.0,
                 seed: int = 0, asset: str = "twin", modes=None):
        if not (every_ns > 0 and horizon_s > 0 and int(n_samples) >= 2 and 0 < level < 1 and duty_ns > 0):
            raise ConfigurationError(f"RUL settings every_ns = {every_ns}, horizon_s = {horizon_s}, n_samples = "
                                     f"{n_samples}, level = {level}, duty_ns = {duty_ns}: need every_ns, horizon_s "
                                     f"and duty_ns > 0, n_samples >= 2 and 0 < level < 1")
        self.alarms, self.recalibration = alarms, recalibration
        self.every_ns, self.horizon_s, self.n_samples = int(every_ns), float(horizon_s), int(n_samples)
        self.level, self.duty_ns, self.max_step, self.seed = float(level), int(duty_ns), float(max_step), int(seed)
        self.asset = asset
        self.modes = dict(FAILURE_MODES if modes is None else modes)
        self.duty: RowBuffer | None = None  # the model's inputs (made on the first block, when they are known)
        self.seen = 0  # timeline diagnoses looked at
        self.active: dict | None = None  # {"mode", "alarm", "start", "next_at"}
        self.updates = 0
        self.track: list = []  # (stamp [ns], mode, median_s, low_s, high_s)

    def on_block(self, service, stamps, values, inn) -> None:
        names = service.tracker.model.spec.names("inputs")
        if self.duty is None:
            self.duty = RowBuffer(names, self.duty_ns)
        self.duty.add(stamps, values[:, service.layout.inputs[0]])

    def on_tick(self, service, boundary: int) -> None:
        if self.duty is None or not self.duty.stamps.size:
            return
        now = int(self.duty.stamps[-1])
        diagnoses = [e for e in service.timeline.events if e.kind == "diagnosis"]
        for event in diagnoses[self.seen:]:
            mode = self.modes.get(event.details.get("best"))
            if mode is not None and event.details.get("start") is not None:
                self.active = {"mode": mode.diagnosis, "alarm": event.details.get("alarm"),
                               "start": int(event.details["start"]), "next_at": now}
        self.seen = len(diagnoses)
        job = self.active
        if job is None:
            return
        if not self.alarms.active(self.asset):
            service.timeline.add(now, "prognosis", f"{job['mode']}: the alarm cleared (the part was replaced or the "
                                 f"effect stopped); remaining-life tracking ends", asset=self.asset, mode=job["mode"],
                                 ended=True)
            if service.board is not None:
                service.board.end_rul(self.asset, job["mode"], t=now / NS)
            self.active = None
        elif now >= job["next_at"]:
            job["next_at"] = now + self.every_ns
            self.update(service, now)

    def update(self, service, now: int):
        """Fit the degradation since the window start and predict the remaining life at *now* [UTC ns]; returns
        the :class:`calibration.RemainingLife` (None if the fit or the prediction failed: the timeline says why)."""
        from calibration import CalibrationData, LeastSquaresCalibrator, MisspecificationWarning, predict_rul
        from sim.physics import StateEvent

        job, model = self.active, service.tracker.model
        mode = self.modes[job["mode"]]
        spec = model.spec
        rng = np.random.default_rng([self.seed, self.updates])
        self.updates += 1
        try:
            data = CalibrationData.from_frame(self.recalibration.buffer.frame(job["start"], now), spec,
                                              outputs=mode.outputs)
            x_now = dict(zip(spec.names("states"), service.tracker.states()[0].tolist()))
            x0 = {k: v for k, v in x_now.items() if k != mode.state}
            fit = LeastSquaresCalibrator(parameters=(mode.rate,), initial_states=(mode.state,),
                                         max_step=self.max_step)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MisspecificationWarning)  # judged below, from the fit's evidence
                record = fit.fit(model, data, params=service.tracker.params_vector(), x0=x0).record_
            evidence = fit.misspecification_
            if evidence.get("misspecified") and evidence.get("conclusive"):
                # the degradation no longer explains the data: the part was replaced (wear does not go back) or
                # another effect took over - a remaining life of this mode would be made up
                service.timeline.add(now, "prognosis", f"{job['mode']}: the degradation no longer explains the data "
                                     f"({'; '.join(evidence.get('reasons', []))}): the part was replaced or the "
                                     f"effect changed; remaining-life tracking ends", asset=self.asset,
                                     mode=job["mode"], ended=True)
                if service.board is not None:
                    service.board.end_rul(self.asset, job["mode"], t=now / NS)
                self.active = None
                return None
            duty = self.duty.frame(now - self.duty_ns, now).dropna()
            if not len(duty):
                raise ConfigurationError("no complete row of inputs in the recent duty; the prognosis waits for data")
            inputs = duty.to_numpy()[rng.integers(0, len(duty), self.n_samples)]
            life = predict_rul(model, record, state=fit.final_state_, threshold=StateEvent(mode.name, mode.state,
                               mode.level, +1), horizon=self.horizon_s, n_samples=self.n_samples,
                               seed=int(rng.integers(0, 2**31)), inputs=inputs, max_step=self.max_step,
                               time=now / NS)
        except TwinbenchError as err:
            service.timeline.add(now, "prognosis", f"{job['mode']}: remaining life not updated: {err}",
                                 asset=self.asset, mode=job["mode"], failed=True)
            log.warning("remaining life of %s not updated: %s", job["mode"], err)
            return None
        median = life.median()
        low, high = life.interval(self.level)
        # the rate's interval on the track: robust to the residuals' autocorrelation (the fit's own assumes white
        # residuals; the vibration's are not)
        from calibration.diagnosis import robust_intervals

        try:
            rate, rate_lo, rate_hi = robust_intervals(fit, model, data).as_lists()[mode.rate]
        except TwinbenchError:
            rate, (rate_lo, rate_hi) = fit.params_[mode.rate], fit.intervals_[mode.rate]
        state = fit.final_state_[mode.state]
        self.track.append((int(now), mode.diagnosis, median, low, high))

        def hours(s):
            return "beyond the horizon" if not np.isfinite(s) else f"{s / 3600:.1f} h"

        when = "" if not np.isfinite(median) else \
            f", failure expected {pd.Timestamp(int(now + median * NS), tz='UTC').strftime('%m-%d %H:%M')}Z"
        service.timeline.add(now, "prognosis", f"{mode.diagnosis}: remaining useful life {hours(median)} "
                             f"({self.level:.0%} interval {hours(low)} .. {hours(high)}){when}; {mode.state} "
                             f"{state:.3g} of {mode.level:g}, {mode.rate} {rate:.3g} [{rate_lo:.3g}, {rate_hi:.3g}]",
                             asset=self.asset, mode=mode.diagnosis, median_s=median, low_s=low, high_s=high,
                             level=self.level, estimates={mode.rate: [float(rate), float(rate_lo), float(rate_hi)]})
        if service.board is not None:
            service.board.set_rul(self.asset, mode.diagnosis, t=now / NS, median_s=median, low_s=low, high_s=high,
                                  level=self.level, p_failure=life.p_failure(), horizon_s=self.horizon_s,
                                  state=state, threshold=mode.level)
        return life

    def track_table(self) -> pd.DataFrame:
        """The RUL track: ``time`` (UTC), ``mode``, ``median_s``, ``low_s``, ``high_s`` [s]."""
        frame = pd.DataFrame(self.track, columns=["time", "mode", "median_s", "low_s", "high_s"])
        frame["time"] = pd.to_datetime(frame["time"].astype("int64"), utc=True)
        return frame

    def state_dict(self) -> dict:
        return {"duty": None if self.duty is None else {"channels": list(self.duty.channels),
                                                         **self.duty.state_dict()}, "seen": self.seen,
                "active": None if self.active is None else dict(self.active), "updates": self.updates,
                "track": list(self.track)}

    def load_state(self, state: dict) -> None:
        if state.get("duty") is not None:
            self.duty = RowBuffer(state["duty"]["channels"], self.duty_ns)
            self.duty.load_state(state["duty"])
        self.seen, self.active, self.updates = int(state["seen"]), state["active"], int(state["updates"])
        self.track = [tuple(r) for r in state["track"]]
