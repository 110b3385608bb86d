"""Monitors of the living twin: what runs after the filter - alarms, diagnosis and recalibration under governance,
what-if from now.

A monitor has ``on_block(service, stamps, values, innovations)`` (every segment of rows, after the filter) and
may have ``on_tick(service, boundary)`` (called once when the source time crosses a multiple of the service's
``tick_s``, before the first row past it), ``on_stop(service)``, ``state_dict()`` and ``load_state(d)``.  Actions
that are not per sample (a diagnosis, a refit, a shadow verdict, a scheduled what-if) run on ticks only, so
what the twin does never depends on how the source was cut into blocks - a resumed run and an uninterrupted
one make the same decisions at the same source times.

* :class:`AlarmMonitor` - the first ``normal_h`` hours are the normal window: a
  :class:`calibration.alarms.ResidualDetector` is fitted there on ``residual / spread`` of every channel (full
  covariance, threshold at ``false_alarm_rate``), then every sample is scored and
  :class:`calibration.alarms.AlarmLogic` raises and clears alarms with their onsets.  Feed channels that no
  model covers (neither a tracked output nor a model input) get a :class:`calibration.alarms.PCADetector`
  (T² / Q, with context channels such as the shaft speed) fitted on the same normal window and their own
  ``AlarmLogic`` (source ``"normal_model"``), whose alarms name the top contributing channels.
* :class:`RecalibrationMonitor` - the governed calibration is the motor's thermal model
  (:data:`sim.physics.MOTOR_THERMAL`, what the main job and the what-if use).  At the end of the normal window
  it is fitted and becomes the first champion.  After an alarm, once ``window_h`` of data since the onset are
  in, the reference diagnosis ranks strainer fouling / ambient load / sensor drift / no fault
  (:func:`scenarios.reference.diagnosis.diagnose_reference`; bearing wear too when vibration is measured; the
  window starts at the alarm's estimated onset, which lags a slow effect, so every hypothesis also fits its
  effect's state at the window start: ``onset_known=False``).  A diagnosis is acted on once its evidence is
  decisive - a BIC margin of at least ``min_margin`` over the runner-up (6: "strong" on the Kass-Raftery scale);
  below that the window grows by ``extend_ns`` up to ``max_window_ns`` after the onset ("diagnosis pending" on
  the timeline), and at the longest window the winner is taken with the evidence it has.  The winner's estimates
  carry intervals robust to autocorrelated residuals and widened by the twin's own parameter uncertainty
  (:meth:`RecalibrationMonitor.nuisance`, :func:`calibration.diagnosis.robust_intervals`).  Then the
  thermal model is refitted on that window and
  proposed to the :class:`~scenarios.live.governance.Governor`; ``shadow_h`` later the challenger is judged on
  the next window and promoted (the twin takes its parameters) or rejected.  A fit that fails leaves the
  champion in place and the timeline says why.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from sim.exceptions import ConfigurationError, TwinbenchError

__all__ = ["AlarmMonitor", "RecalibrationMonitor", "RowBuffer", "WhatIfMonitor", "build_monitors"]

log = logging.getLogger("twinbench.live")
NS = 1_000_000_000
HOUR_NS = 3600 * NS


class RowBuffer:
    """The most recent rows of the feed (``keep_ns`` of source time), for windows of data."""

    def __init__(self, channels, keep_ns: int):
        self.channels, self.keep_ns = tuple(channels), int(keep_ns)
        self.stamps = np.zeros(0, np.int64)
        self.values = np.zeros((0, len(self.channels)))

    def add(self, stamps, values) -> None:
        self.stamps = np.concatenate([self.stamps, stamps])
        self.values = np.concatenate([self.values, values])
        keep = self.stamps > self.stamps[-1] - self.keep_ns
        if not keep.all():
            self.stamps, self.values = self.stamps[keep], self.values[keep]

    def frame(self, start_ns: int, end_ns: int) -> pd.DataFrame:
        """Rows with ``start_ns <= stamp <= end_ns`` as a wide SI frame (UTC index)."""
        sel = (self.stamps >= start_ns) & (self.stamps <= end_ns)
        return pd.DataFrame(self.values[sel], index=pd.to_datetime(self.stamps[sel], utc=True),
                            columns=list(self.channels))

    def state_dict(self) -> dict:
        return {"stamps": self.stamps.copy(), "values": self.values.copy()}

    def load_state(self, state: dict) -> None:
        self.stamps, self.values = np.asarray(state["stamps"]), np.asarray(state["values"])


# --------------------------------------------------------------------------------------------------- alarms
class AlarmMonitor:
    """Alarms on the filter's standardized innovations, and on the channels no model covers (see the module
    docstring).

    Parameters
    ----------
    assets, channels : sequence of str
        Asset names and the filter's measured channels (model outputs).
    normal_rows : int
        Rows of the normal window the detectors are fitted and calibrated on.
    false_alarm_rate : float
        Per-sample false-alarm rate of the residual detector's threshold.
    smoothing, covariance :
        The residual detector's statistic EWMA and covariance model.
    min_on, min_off : int
        Samples above the threshold to raise / below the clear level to clear.
    min_on_s, min_off_s, min_hold_s : float
        The same as source-time durations, and the shortest time an alarm stays up [s].
    clear_fraction : float
        Deadband: an alarm clears below this fraction of the threshold.
    uncovered : mapping str -> sequence of int, optional
        Channels no model covers: name -> feed column per asset.  A
        :class:`calibration.alarms.PCADetector` (Hotelling T² + Q) is fitted on them over the normal window
        and its own :class:`calibration.alarms.AlarmLogic` (source ``"normal_model"``) raises alarms explained
        by the top contributing channels.
    pca : mapping, optional
        Settings of that PCADetector (``n_components``, ``false_alarm_rate``, ``input_smoothing``,
        ``smoothing``).
    """

    def __init__(self, *, assets, channels, normal_rows: int, false_alarm_rate: float = 0.001,
                 smoothing: float | None = 0.05, covariance: str = "full", min_on: int = 5, min_off: int = 60,
                 min_on_s: float = 0.0, min_off_s: float = 0.0, min_hold_s: float = 0.0,
                 clear_fraction: float = 0.8, uncovered=None, pca=None):
        self.assets, self.channels = list(assets), list(channels)
        self.normal_rows = int(normal_rows)
        self.settings = {"false_alarm_rate": false_alarm_rate, "smoothing": smoothing, "covariance": covariance}
        self.logic_settings = {"min_on": int(min_on), "min_off": int(min_off), "min_on_s": float(min_on_s),
                               "min_off_s": float(min_off_s), "min_hold_s": float(min_hold_s),
                               "clear_fraction": float(clear_fraction)}
        self.uncovered = {str(k): [int(c) for c in v] for k, v in dict(uncovered or {}).items()}
        self.pca_settings = dict(pca or {})
        self.detector = None
        self.logic = None
        self.pca = None
        self.pca_logic = None
        self._normal: list[np.ndarray] = []
        self._normal_u: list[np.ndarray] = []
        self.raised: list = []  # alarm events not yet taken by the recalibration

    def _collected(self) -> int:
        return sum(z.shape[1] for z in self._normal)

    def _uncovered_block(self, values) -> np.ndarray:
        """``(A, k, m_u)`` of the uncovered channels from feed rows ``values[k, C]``."""
        cols = np.array(list(self.uncovered.values()), dtype=np.int64).T  # (A, m_u)
        return np.transpose(values[:, cols], (1, 0, 2))

    def on_block(self, service, stamps, values, inn) -> None:
        z = np.transpose(inn.normalized, (1, 0, 2))  # (A, k, m)
        u = self._uncovered_block(values) if self.uncovered else None
        t = inn.stamps
        if self.detector is None:
            take = min(self.normal_rows - self._collected(), z.shape[1])
            self._normal.append(z[:, :take])
            if u is not None:
                self._normal_u.append(u[:, :take])
                u = u[:, take:]
            z, t = z[:, take:], t[take:]
            if self._collected() < self.normal_rows:
                return
            self._fit(service, int(inn.stamps[take - 1]) if take else int(inn.stamps[0]))
            if not t.size:
                return
        stat = self.detector.statistic(z)
        contrib = self.detector.contributions(z)
        for event in self.logic.update(t / NS, stat, contrib):
            self._event(service, event)
        if self.pca is not None and u is not None:
            stat, contrib = self.pca.score(u)
            for event in self.pca_logic.update(t / NS, stat, contrib):
                self._event(service, event)

    def _fit(self, service, stamp: int) -> None:
        from calibration.alarms import AlarmLogic, PCADetector, ResidualDetector

        X = np.concatenate(self._normal, axis=1)
        self._normal = []
        self.detector = ResidualDetector(**self.settings).fit(X)
        self.logic = AlarmLogic(self.detector.threshold_, assets=self.assets, channels=self.channels,
                                onset_reference=_onset_reference(self.detector), **self.logic_settings)
        service.timeline.add(stamp, "started", f"alarm detector calibrated on {X.shape[1]} normal samples: threshold "
                             f"{', '.join(f'{v:.3g}' for v in self.detector.threshold_)} for a false-alarm rate of "
                             f"{self.settings['false_alarm_rate']:g}", asset="")
        if self.uncovered:
            U = np.concatenate(self._normal_u, axis=1)
            self._normal_u = []
            self.pca = PCADetector(**self.pca_settings).fit(U)
            self.pca_logic = AlarmLogic(self.pca.threshold_, assets=self.assets, channels=list(self.uncovered),
                                        source="normal_model", onset_reference=_onset_reference(self.pca),
                                        **self.logic_settings)
            service.timeline.add(stamp, "started", f"normal-behaviour model (PCA T² + Q) of the channels no model "
                                 f"covers ({', '.join(self.uncovered)}) calibrated on {U.shape[1]} normal samples: "
                                 f"threshold {', '.join(f'{v:.3g}' for v in self.pca.threshold_)} for a false-alarm "
                                 f"rate of {self.pca.false_alarm_rate:g}", asset="")

    def _event(self, service, event) -> None:
        stamp = int(round(event.time * NS))
        top = ", ".join(f"{c} {s:.0%}" for c, s in event.top_channels)
        onset = pd.Timestamp(int(round(event.onset * NS)), tz="UTC").strftime("%m-%d %H:%M")
        kind = {"raised": "alarm raised", "escalated": "alarm escalated", "cleared": "alarm cleared"}.get(event.kind)
        if kind is None:
            return
        what = "residual" if event.source == "statistic" else event.source
        text = (f"{event.severity_name} ({what}): statistic {event.statistic:.3g} vs threshold {event.threshold:.3g}, "
                f"onset {onset}Z" + (f"; channels {top}" if top else ""))
        service.timeline.add(stamp, kind, text, asset=event.asset, alarm=event.alarm_id,
                             onset=int(round(event.onset * NS)), severity=event.severity, source=event.source)
        if event.kind == "raised":
            self.raised.append({"asset": event.asset, "alarm": event.alarm_id, "time": stamp, "source": event.source,
                                "onset": int(round(event.onset * NS)), "channels": [c for c, _ in event.top_channels]})
        board = service.board
        if board is not None:
            if event.kind == "cleared":
                found = board.find_alarm(event.asset, what)
                if found is not None:
                    board.clear_alarm(found, t=event.time)
            else:
                board.raise_alarm(event.asset, what, severity=event.severity_name, explanation=text,
                                  channel=event.top_channels[0][0] if event.top_channels else None, t=event.time)

    def active(self, asset: str) -> bool:
        """Whether an alarm of *asset* is up (residual or normal-model)."""
        return any(logic is not None and asset in logic.assets and bool(logic.active[logic.assets.index(asset)])
                   for logic in (self.logic, self.pca_logic))

    def explain(self, asset: str, text: str) -> None:
        """Attach *text* to the asset's alarms that are up (residual and normal-model)."""
        for logic in (self.logic, self.pca_logic):
            if logic is not None and asset in logic.assets and logic.active[logic.assets.index(asset)]:
                logic.explain(asset, text)

    def state_dict(self) -> dict:
        return {"detector": None if self.detector is None else self.detector.state_dict(),
                "logic": None if self.logic is None else self.logic.state_dict(),
                "pca": None if self.pca is None else self.pca.state_dict(),
                "pca_logic": None if self.pca_logic is None else self.pca_logic.state_dict(),
                "normal": [z.copy() for z in self._normal], "normal_u": [u.copy() for u in self._normal_u],
                "raised": list(self.raised)}

    def load_state(self, state: dict) -> None:
        from calibration.alarms import AlarmLogic, PCADetector, ResidualDetector

        self.detector = None if state["detector"] is None else ResidualDetector.from_state(state["detector"])
        self.logic = None if state["logic"] is None else AlarmLogic.from_state(state["logic"])
        self.pca = None if state.get("pca") is None else PCADetector.from_state(state["pca"])
        self.pca_logic = None if state.get("pca_logic") is None else AlarmLogic.from_state(state["pca_logic"])
        self._normal = list(state["normal"])
        self._normal_u = list(state.get("normal_u", []))
        self.raised = list(state["raised"])


def _onset_reference(detector) -> float:
    """The onset CUSUM's reference in units of the threshold: halfway between the statistic's normal mean and
    the threshold (the classic CUSUM k = (mu0 + mu1) / 2), so that it drifts down to zero in normal operation -
    a fixed 0.5 sits below the normal mean of a chi-square-like statistic whose threshold is < 2x its mean,
    and the onset then dates back to the last clear."""
    normal = float(np.max(np.asarray(detector.level_) / np.asarray(detector.threshold_)))
    return float(min(max(0.5, 0.5 * (1.0 + normal)), 0.95))


# ------------------------------------------------------------------------------------------- recalibration
THERMAL_PARAMETERS = ("thermal_resistance_housing_ambient", "heat_capacity_housing")


class RecalibrationMonitor:
    """Diagnosis and refit after an alarm, judged in shadow by the governor (see the module docstring).

    Parameters
    ----------
    alarms : AlarmMonitor
        Where alarm raises come from.
    governor : scenarios.live.governance.Governor
        Decides champion / challenger.
    channels : sequence of str
        The feed's channels (model variable names of one asset).
    normal_ns, window_ns, shadow_ns : int
        Normal window (the first champion's fit), data after an alarm's onset for diagnosis and refit, shadow
        window [ns].
    diagnose : bool
        Run the reference diagnosis before the refit.
    refit_faults : bool
        Also refit (and propose) when the diagnosis names a fault; by default only a ``no_fault`` window is
        refitted, so a fault is never learned as the healthy plant.
    max_step : float
        Integrator step of diagnosis and refit [s].
    min_margin : float
        BIC margin of the winner over the runner-up at which a diagnosis is decisive (6: strong evidence on the
        Kass-Raftery scale; 0: take the first diagnosis whatever its evidence).
    max_window_ns, extend_ns : int or None
        Longest diagnosis window after the onset, and by how much an indecisive window grows [ns] (None: the
        window never grows, ``window_ns``; and ``window_ns / 2``).
    """

    def __init__(self, alarms: AlarmMonitor, governor, *, channels, normal_ns: int, window_ns: int,
                 shadow_ns: int, diagnose: bool = True, max_step: float = 1.0, asset: str = "twin",
                 refit_faults: bool = False, min_margin: float = 0.0, max_window_ns: int | None = None,
                 extend_ns: int | None = None):
        self.alarms, self.governor = alarms, governor
        self.refit_faults = bool(refit_faults)
        self.normal_ns, self.window_ns, self.shadow_ns = int(normal_ns), int(window_ns), int(shadow_ns)
        self.diagnose, self.max_step, self.asset = bool(diagnose), float(max_step), asset
        self.min_margin = float(min_margin)
        self.max_window_ns = self.window_ns if max_window_ns is None else max(int(max_window_ns), self.window_ns)
        self.extend_ns = max(1, self.window_ns // 2) if extend_ns is None else int(extend_ns)
        if not (self.min_margin >= 0 and self.extend_ns > 0):
            raise ConfigurationError(f"min_margin = {min_margin!r} must be >= 0 (a BIC margin) and extend_ns = "
                                     f"{extend_ns!r} > 0 ns; e.g. min_margin 6 (strong evidence), extend by 2 h")
        keep = max(self.normal_ns, self.max_window_ns + self.shadow_ns + 6 * HOUR_NS)  # + a diagnosis lead-in
        self.buffer = RowBuffer(channels, keep + 2 * HOUR_NS)
        self.start = None
        self.job: dict | None = None  # {"alarm", "onset", "fit_at", "shadow_at", "fit_end"}
        self.tracked: list = []  # (stamp, tracked parameter estimates) on every tick, for the twin before an onset
        self.faulted: dict | None = None  # a diagnosed fault's alarm and the tracked parameters before its window
        # record id -> {"names", "cov"}: the robust covariance of each refit this monitor proposed (the record keeps
        # the fit's own), what a diagnosis propagates from the champion
        self.robust_cov: dict = {}

    def on_block(self, service, stamps, values, inn) -> None:
        if self.start is None:
            self.start = int(stamps[0])
        self.buffer.add(stamps, values)

    def on_tick(self, service, boundary: int) -> None:
        if self.start is None:
            return
        now = int(self.buffer.stamps[-1])
        if service.tracker.ukf_ is not None:
            states = dict(zip(service.tracker.model.spec.names("states"), service.tracker.states()[0].tolist()))
            self.tracked.append((now, {k: float(v[0]) for k, v in service.tracker.estimates().items()}, states))
            keep = now - self.buffer.keep_ns
            self.tracked = [entry for entry in self.tracked if entry[0] >= keep]
        if self.faulted is not None and not self.alarms.active(self.asset):
            self._roll_back(service, now)
        if self.governor.champion is None and now >= self.start + self.normal_ns:
            self._refit(service, self.start, now, reason="initial calibration on the normal window", initial=True)
        for raised in self.alarms.raised:
            if self.job is None and self.governor.champion is not None:
                onset = raised["onset"]
                self.job = {"alarm": raised["alarm"], "onset": onset,
                            "fit_at": max(onset + self.window_ns, raised["time"])}
        self.alarms.raised = []
        job = self.job
        if job is None:
            return
        if "shadow_at" not in job and now >= job["fit_at"]:
            self._respond(service, job, now)
        elif "shadow_at" in job and now >= job["shadow_at"]:
            self._shadow(service, job, now)

    def twin_before(self, service, stamp: int) -> tuple[int, dict, dict | None]:
        """``(time, parameters, states)``: the twin as it was at the last tick at or before *stamp* [UTC ns]
        (time [UTC ns], SI values).  Tracked parameters and states move with the plant, and after an onset they
        start to absorb the fault; a diagnosis judges the fault against the twin before it.  With no tick that
        old: *stamp*, the current parameters and no states."""
        params = service.tracker.params_vector()
        before = [entry for entry in self.tracked if entry[0] <= stamp]
        if not before:
            return int(stamp), params, None
        t, estimates, states = before[-1]
        params.update(estimates)
        return int(t), params, dict(states)

    def nuisance(self, service, tracked=None) -> pd.DataFrame:
        """Covariance of the twin's calibrated parameters a diagnosis holds fixed [SI^2]: the governed champion's
        for what it calibrates (the refit's autocorrelation-robust covariance, else its record's), the filter's
        posterior variance for the other tracked parameters (cross terms between the two: 0).  The diagnosis
        propagates it into the fault parameters' intervals (:func:`calibration.diagnosis.robust_intervals`): a
        fault estimated against a twin whose own parameters are uncertain is no better known than they are.

        Where the filter tracks a parameter the champion calibrates too, the two are estimates of one quantity
        from different data; when they disagree by more than their errors allow, the champion's variance gets the
        DerSimonian-Laird between-estimate variance ``tau^2 = max(0, (Q - 1) / (S_1 - S_2 / S_1))``,
        ``Q = sum_i w_i (theta_i - theta_bar)^2``, ``w_i = 1 / s_i^2``, ``S_k = sum_i w_i^k`` (random-effects
        meta-analysis, DerSimonian and Laird 1986): the disagreement is evidence that the champion is less sure
        than its own fit says.

        Parameters
        ----------
        tracked : mapping, optional
            The filter's estimates [SI] before the fault's window (the current ones if None).
        """
        champion = self.governor.champion
        names = [] if champion is None else list(champion.names)
        block = np.zeros((0, 0)) if champion is None else np.array(champion.cov, dtype=float)  # a copy
        robust = None if champion is None else self.robust_cov.get(champion.record_id)
        if robust is not None and list(robust["names"]) == names:
            block = np.array(robust["cov"], dtype=float)
        filter_std = {k: float(v[0]) for k, v in service.tracker.std().items()}
        filter_value = {k: float(v[0]) for k, v in service.tracker.estimates().items()}
        filter_value.update({k: float(v) for k, v in dict(tracked or {}).items() if k in filter_value})
        for i, k in enumerate(names):
            if k in filter_std and filter_std[k] > 0 and block[i, i] > 0:
                block[i, i] += _between_variance([champion.params()[k], filter_value[k]],
                                                 [block[i, i], filter_std[k] ** 2])
        std = {k: v for k, v in filter_std.items() if k not in names}
        names += list(std)
        cov = np.zeros((len(names), len(names)))
        cov[:block.shape[0], :block.shape[0]] = block
        for i, k in enumerate(std, start=block.shape[0]):
            cov[i, i] = std[k] ** 2
        return pd.DataFrame(cov, index=names, columns=names)

    @staticmethod
    def lead_ns(params) -> int:
        """Lead-in of the twin's state before a diagnosis window [ns]: five of the motor's slowest thermal time
        constants, ``(R_wh + R_ha) C_h`` (what the states forget of where they started: e^-5, under 1 %)."""
        tau = (params.get("thermal_resistance_winding_housing", 0.02)
               + params.get("thermal_resistance_housing_ambient", 0.06)) * params.get("heat_capacity_housing", 4e4)
        return int(5.0 * float(np.clip(tau, 60.0, 6 * 3600.0)) * NS)

    # ---------------------------------------------------------------------------------------- steps
    def _respond(self, service, job, now) -> None:
        start = job["onset"]
        diagnosis = None
        if self.diagnose:
            from calibration.alarms import explain_diagnosis
            from scenarios.reference.diagnosis import diagnose_reference, twin_states

            # the window starts at the twin's last tick before the onset, with the twin's parameters then (the
            # governed champion's for what it calibrates: tracked estimates drift with a slow fault) and the states
            # the twin predicts from the inputs over a lead-in of several thermal time constants (tracked states
            # follow a drifting reading): what a fault hypothesis leaves alone goes on as the twin predicts
            start, params, x0 = self.twin_before(service, job["onset"])
            tracked_before = {k: float(params[k]) for k in service.tracker.parameters}
            if self.governor.champion is not None:
                params.update({k: v for k, v in self.governor.champion.params().items() if k in params})
            lead = self.lead_ns(params)
            then, _, x_then = self.twin_before(service, start - lead)
            try:
                x0 = None if x_then is None or then >= start else twin_states(
                    self.buffer.frame(then, start), params=params, x0=x_then, max_step=self.max_step)
            except TwinbenchError as err:
                log.warning("no lead-in for the diagnosis (%s); the motor's temperatures are fitted", err)
                x0 = None
            try:
                diagnosis = diagnose_reference(self.buffer.frame(start, now), params=params, x0=x0,
                                               max_step=self.max_step, vibration=None, onset_known=False,
                                               nuisance=self.nuisance(service, tracked=tracked_before))
            except TwinbenchError as err:
                self._failed(service, now, err, start, "diagnosis")
                self.job = None
                return
            grow = min(now + self.extend_ns, start + self.max_window_ns)
            if diagnosis.margin < self.min_margin and grow > now and self.alarms.active(self.asset):
                # indecisive: more of the effect decides it (a ramp keeps growing, a level settles), so wait -
                # while the alarm is up (after it cleared, a longer window would mix in the repaired plant)
                hours = (now - start) / HOUR_NS
                service.timeline.add(now, "diagnosis pending", f"{diagnosis.best} ahead of {diagnosis.runner_up} by "
                                     f"{diagnosis.margin:.1f} ({diagnosis.strength} evidence, < {self.min_margin:g}) "
                                     f"on {hours:.1f} h for alarm {job['alarm']}: the window grows to "
                                     f"{(grow - start) / HOUR_NS:.1f} h", asset=self.asset, best=diagnosis.best,
                                     alarm=job["alarm"], margin=float(diagnosis.margin))
                job["fit_at"] = grow
                return
            text = explain_diagnosis(diagnosis, max_lines=1)
            service.timeline.add(now, "diagnosis", f"{diagnosis.best} ({diagnosis.strength} evidence, runner-up "
                                 f"{diagnosis.runner_up}) for alarm {job['alarm']}: {text}", asset=self.asset,
                                 best=diagnosis.best, alarm=job["alarm"], start=int(start),
                                 margin=float(diagnosis.margin), estimates=diagnosis.estimates())
            self.alarms.explain(self.asset, text)
            if diagnosis.best != "no_fault":
                self.faulted = {"alarm": job["alarm"], "start": int(start), "best": diagnosis.best,
                                "params": tracked_before}
            if self.refit_faults is False and diagnosis.best != "no_fault":
                # the window holds a diagnosed fault: a refit there would teach the healthy twin the fault, and
                # the twin would be wrong once the fault is repaired (retrain only on windows labelled normal)
                service.timeline.add(now, "recalibration", f"no refit for alarm {job['alarm']}: the window holds "
                                     f"a diagnosed fault ({diagnosis.best}); the champion stays", asset=self.asset,
                                     alarm=job["alarm"], outcome="skipped")
                self.job = None
                return
        record = self._refit(service, start, now, reason=f"alarm {job['alarm']}", diagnosis=diagnosis)
        if record is None:
            self.job = None
            return
        job.update(shadow_at=now + self.shadow_ns, fit_end=now)

    def _refit(self, service, start, end, *, reason, diagnosis=None, initial=False):
        from calibration import CalibrationData, LeastSquaresCalibrator
        from sim.physics import MOTOR_THERMAL

        champion = self.governor.champion
        try:
            data = CalibrationData.from_frame(self.buffer.frame(start, end), MOTOR_THERMAL.spec,
                                              outputs=("winding_temperature",))
            fit = LeastSquaresCalibrator(parameters=THERMAL_PARAMETERS, initial_states=("housing_temperature",),
                                         max_step=self.max_step)
            prior = {k: v for k, v in service.tracker.params_vector().items() if k in MOTOR_THERMAL.spec.names("params")}
            record = fit.fit(MOTOR_THERMAL, data, params=prior).record_
            self._keep_robust(fit, data, record)
            decision = self.governor.propose(record, reason=reason, diagnosis=diagnosis)
        except TwinbenchError as err:
            self._failed(service, end, err, start, "refit")
            return None
        after = _intervals(record)
        before = _intervals(champion) if champion is not None else {}
        text = "; ".join(f"{n} {before[n]} -> {after[n]}" if n in before else f"{n} {after[n]}" for n in after)
        service.timeline.add(end, "promoted" if initial else "recalibration",
                             ("first champion: " if initial else f"challenger in shadow ({reason}): ") + text,
                             asset=self.asset, decision=decision.get("id"), outcome=decision.get("outcome"))
        if initial:
            self._apply(service, record)
        self._board_decision(service, decision, end)
        return record

    def _keep_robust(self, fit, data, record) -> None:
        """Remember the refit's autocorrelation-robust covariance (:func:`calibration.diagnosis.robust_intervals`)
        under its record id: the record's own assumes white residuals, and a diagnosis that held these parameters
        fixed at a too-sure value would be too sure of the fault too."""
        from calibration.diagnosis import robust_intervals
        from sim.physics import MOTOR_THERMAL

        names = list(record.names)
        try:
            cov = robust_intervals(fit, MOTOR_THERMAL, data).covariance.loc[names, names].to_numpy()
        except TwinbenchError as err:
            log.warning("no robust covariance for record %s (%s); diagnoses use its own", record.record_id, err)
            return
        self.robust_cov[record.record_id] = {"names": names, "cov": cov.tolist()}
        keep = {h["record_id"] for h in self.governor.history} | {record.record_id}
        self.robust_cov = {k: v for k, v in self.robust_cov.items() if k in keep}

    def _shadow(self, service, job, now) -> None:
        from calibration import CalibrationData
        from sim.physics import MOTOR_THERMAL

        try:
            data = CalibrationData.from_frame(self.buffer.frame(job["fit_end"] + 1, now), MOTOR_THERMAL.spec,
                                              outputs=("winding_temperature",))
            decision = self.governor.evaluate_shadow(data)
        except TwinbenchError as err:
            self._failed(service, now, err, job["fit_end"], "shadow evaluation")
            self.job = None
            return
        outcome = decision.get("outcome")
        kind = {"promoted": "promoted", "rejected": "rejected"}.get(outcome, "recalibration")
        service.timeline.add(now, kind, f"{decision.get('what', '')}: {decision.get('why', '')}", asset=self.asset,
                             decision=decision.get("id"), outcome=outcome)
        if outcome == "promoted":
            self._apply(service, self.governor.champion)
        self._board_decision(service, decision, now)
        self.job = None

    def _apply(self, service, record) -> None:
        service.tracker.set_twin_params(record.params())

    def _roll_back(self, service, now) -> None:
        """The diagnosed fault's alarm cleared: the filter's tracked parameters go back to where they were before
        the fault's window (what they learned meanwhile was the fault, not the healthy plant - the rule that keeps a
        faulted window from being refitted, applied to the filter's own estimates)."""
        fault, self.faulted = self.faulted, None
        before = fault["params"]
        now_values = {k: float(v[0]) for k, v in service.tracker.estimates().items()}
        service.tracker.set_twin_params(before)
        text = "; ".join(f"{k} {now_values.get(k, float('nan')):.4g} -> {v:.4g}" for k, v in before.items())
        service.timeline.add(now, "rolled back", f"alarm {fault['alarm']} cleared: the tracked parameters return to "
                             f"their values before the {fault['best']} window (a fault is not learned): {text}",
                             asset=self.asset, alarm=fault["alarm"])

    def _failed(self, service, now, err, start, what) -> None:
        window = {"start": pd.Timestamp(start, tz="UTC").isoformat(), "end": pd.Timestamp(now, tz="UTC").isoformat()}
        decision = self.governor.calibration_failed(err, window)
        service.timeline.add(now, "calibration failed", f"{what} failed, the champion stays: {err}", asset=self.asset,
                             decision=decision.get("id"))
        log.warning("%s failed, the champion stays: %s", what, err)

    def _board_decision(self, service, decision, now) -> None:
        if service.board is not None:
            service.board.record_decision(self.asset, decision.get("action", "decision"), decision.get("outcome", ""),
                                          decision.get("why", ""), t=now / NS)

    # ----------------------------------------------------------------------------------- checkpoint
    def state_dict(self) -> dict:
        return {"buffer": self.buffer.state_dict(), "start": self.start, "job": None if self.job is None else
                dict(self.job), "governor": self.governor.state_dict(),
                "tracked": [(t, dict(p), dict(x)) for t, p, x in self.tracked],
                "faulted": None if self.faulted is None else dict(self.faulted),
                "robust_cov": {k: dict(v) for k, v in self.robust_cov.items()}}

    def load_state(self, state: dict) -> None:
        self.buffer.load_state(state["buffer"])
        self.start, self.job = state["start"], state["job"]
        self.governor.load_state(state["governor"])
        self.tracked = [(int(e[0]), dict(e[1]), dict(e[2])) for e in state.get("tracked", [])]
        self.faulted = state.get("faulted")
        self.robust_cov = {k: dict(v) for k, v in state.get("robust_cov", {}).items()}


def _between_variance(values, variances) -> float:
    """DerSimonian-Laird between-estimate variance ``tau^2`` of estimates *values* with *variances* [SI^2]."""
    w = 1.0 / np.asarray(variances, dtype=float)
    x = np.asarray(values, dtype=float)
    mean = float(w @ x / w.sum())
    q = float(w @ (x - mean) ** 2)
    return float(max(0.0, (q - (x.size - 1)) / (w.sum() - (w ** 2).sum() / w.sum())))


def _intervals(record) -> dict[str, str]:
    out = {}
    for name, p in record.parameters.items():
        out[name] = f"{p['value']:.4g} [{p['ci_low']:.4g}, {p['ci_high']:.4g}]"
    return out


# ------------------------------------------------------------------------------------------------- what-if
class WhatIfMonitor:
    """What-if from now: the line forked from the live twin's current state and calibrated posterior.

    The fork takes the tracked motor states (winding and housing temperature) and the twin's thermal parameters
    (the tracked ones drawn from the filter's posterior per replication, ``sample_posterior``), the ambient
    cycle of the last 24 h of telemetry, and starts the line at the current source time
    (:func:`scenarios.whatif.fork.calibrated_snapshot`); every action of the ``whatif`` group is replicated
    from it (:func:`scenarios.whatif.run.run_whatif`), compared with the baseline and a recommendation made.

    Parameters
    ----------
    spec : scenarios.specs.WhatIfSpec
        Actions, horizon, replications, seed.
    stations : sequence of str
        The line stations whose motor the twin tracks.
    every_ns : int or None
        Schedule in source time [ns] (None: only at the end and on :meth:`request`).
    final : bool
        Run once when the service stops.
    """

    def __init__(self, spec, *, stations=("filler",), every_ns: int | None = None, final: bool = True):
        self.spec, self.stations = spec, tuple(stations)
        self.every_ns, self.final = every_ns, bool(final)
        self.buffer = RowBuffer(("ambient_temperature",), 24 * HOUR_NS)
        self.next_at: int | None = None
        self.requested = False
        self.last = None  # (stamp, summary, recommendation)

    def request(self) -> None:
        """Run a what-if at the next block (an operator's request)."""
        self.requested = True

    def on_block(self, service, stamps, values, inn) -> None:
        j = service.feed.channels.index("ambient_temperature") if "ambient_temperature" in service.feed.channels \
            else None
        if j is not None:
            self.buffer.add(stamps, values[:, j:j + 1])
        if self.requested:
            self.requested = False
            self.run(service, int(stamps[-1]))

    def on_tick(self, service, boundary: int) -> None:
        if self.every_ns is None:
            return
        if self.next_at is None:
            self.next_at = boundary + self.every_ns
        elif boundary >= self.next_at:
            self.next_at = boundary + self.every_ns
            self.run(service, boundary)

    def on_stop(self, service) -> None:
        if self.final and service.applied and service.tracker.ukf_ is not None:
            self.run(service, service.last_stamp)

    def run(self, service, stamp: int):
        """Fork and run the what-if at source time *stamp* [UTC ns]; returns ``(summary, recommendation)``."""
        from scenarios.reference.line_config import line_spec_from_config
        from scenarios.reference.plant import ambient_cycle
        from scenarios.whatif import run_whatif
        from scenarios.whatif.decision import decide_whatif
        from scenarios.whatif.fork import calibrated_snapshot, line_time
        from sim.physics import MOTOR_THERMAL

        spec, tracker = self.spec, service.tracker
        thermal = MOTOR_THERMAL.spec.names("params")
        params = tracker.params_vector(0)
        motor = {k: params[k] for k in thermal if k in params}
        std = {k: float(v[0]) for k, v in tracker.std().items() if k in motor}
        seed_params = dict(motor)

        def posterior(rng):
            return {**seed_params, **{k: float(max(rng.normal(seed_params[k], s), 1e-9)) for k, s in std.items()}}

        names = tracker.model.spec.names("states")
        x = tracker.states()[0]
        states = {k: float(x[names.index(k)]) for k in MOTOR_THERMAL.spec.names("states") if k in names}
        ambient_series = self.buffer.frame(0, stamp)["ambient_temperature"]
        ambient = ambient_cycle(ambient_series) if ambient_series.notna().sum() >= 12 else None
        baseline = {a.name: a for a in spec.actions}.get(spec.baseline)
        line = baseline.apply(spec.line) if baseline is not None else spec.line
        base = line_spec_from_config(line, motor_params=motor, motor_stations=self.stations)
        if ambient is not None:
            import dataclasses

            base = dataclasses.replace(base, ambient=ambient)
        plan = spec.plan()
        at = line_time(pd.Timestamp(int(stamp), tz="UTC"))
        snapshot = calibrated_snapshot(base, states=states, stations=self.stations, time=at, streams=plan.streams(0))
        result = run_whatif(spec.line, spec.actions, plan=plan, baseline=spec.baseline, motor_params=motor,
                            motor_stations=self.stations, posterior=posterior if spec.sample_posterior else None,
                            ambient=ambient, snapshot=snapshot, failure_modes=spec.failure_modes)
        # the main job's decision: guardrails judged on intervals, risk, min_gain, "no clear winner"
        summary, _, rec, _ = decide_whatif(result, spec)
        service.timeline.add(stamp, "what-if", f"{len(spec.actions)} actions x {spec.replications} replications x "
                             f"{spec.horizon / 3600:g} h from the twin now (winding "
                             f"{states.get('winding_temperature', float('nan')) - 273.15:.1f} degC, "
                             f"R_ha {motor.get('thermal_resistance_housing_ambient', float('nan')):.4g} K/W): "
                             f"{rec.action} - {rec.text}", asset="", action=rec.action)
        if service.board is not None:
            service.board.set_recommendation(service.layout.assets[0], rec.text, action=rec.action,
                                             why="what-if from the live twin's current state", t=stamp / NS)
        self.last = (stamp, summary, rec)
        return summary, rec

    def state_dict(self) -> dict:
        return {"buffer": self.buffer.state_dict(), "next_at": self.next_at}

    def load_state(self, state: dict) -> None:
        self.buffer.load_state(state["buffer"])
        self.next_at = state["next_at"]


# ------------------------------------------------------------------------------------------------- build
def build_monitors(cfg, *, model, layout, channel_map=None, channels=None) -> list:
    """The monitors a ``live`` config asks for (detection, recalibration under governance, what-if)."""
    monitors: list = []
    det = cfg.detection
    period = _period(channel_map)
    alarms = None
    if det.enabled:
        uncovered = _uncovered(channels, model=model, layout=layout, covered=cfg.filter.channels,
                               single=cfg.filter.assets is None, context=det.pca.context) if det.pca.enabled and channels is not None else {}
        alarms = AlarmMonitor(assets=layout.assets, channels=list(cfg.filter.channels),
                              normal_rows=max(50, int(det.normal_h * 3600 / period)),
                              false_alarm_rate=det.false_alarm_rate, smoothing=det.smoothing,
                              covariance=det.covariance, min_on=max(1, int(round(det.min_on_s / period))),
                              min_off=max(1, int(round(det.min_off_s / period))), min_on_s=det.min_on_s,
                              min_off_s=det.min_off_s, min_hold_s=det.min_hold_s,
                              clear_fraction=det.clear_fraction, uncovered=uncovered,
                              pca={"use": det.pca.use, "n_components": det.pca.n_components, "false_alarm_rate": det.pca.false_alarm_rate,
                                   "input_smoothing": det.pca.input_smoothing, "smoothing": det.pca.smoothing})
        monitors.append(alarms)
    rc = cfg.recalibration
    if rc.enabled and alarms is not None and len(layout.assets) == 1 and channels is not None:
        from omegaconf import OmegaConf

        from scenarios.live.governance import Governor

        gov_cfg = OmegaConf.to_container(rc.governance, resolve=True) if not isinstance(rc.governance, dict) \
            else dict(rc.governance)
        governor = Governor.from_config(gov_cfg, audit=_audit_path(rc.audit))
        monitors.append(RecalibrationMonitor(alarms, governor, channels=channels,
                                             normal_ns=int(det.normal_h * HOUR_NS), window_ns=int(rc.window_h * HOUR_NS),
                                             shadow_ns=int(rc.shadow_h * HOUR_NS), diagnose=rc.diagnose,
                                             max_step=rc.max_step, asset=layout.assets[0],
                                             refit_faults=rc.refit_faults, min_margin=rc.min_margin,
                                             max_window_ns=int(max(rc.max_window_h, rc.window_h) * HOUR_NS),
                                             extend_ns=int(rc.extend_h * HOUR_NS)))
    wn = cfg.whatif_now
    if (wn.final or wn.every_h) and len(layout.assets) == 1:
        from hydra.utils import instantiate

        from scenarios.whatif.run import line_config_dict

        spec = instantiate(cfg.whatif, line=line_config_dict(cfg.line), seed=cfg.seed, _convert_="all")
        monitors.append(WhatIfMonitor(spec, stations=tuple(wn.stations), final=wn.final,
                                      every_ns=None if wn.every_h is None else int(wn.every_h * HOUR_NS)))
    return monitors


def _uncovered(channels, *, model, layout, covered, single: bool, context=(), separator: str = ".") -> dict:
    """The feed's channels no model covers - neither a tracked output nor a model input - measured for every
    asset, then the *context* channels (inputs they depend on, e.g. the shaft speed) when there are any:
    variable name -> feed column per asset (in ``layout.assets`` order)."""
    skip = set(covered) | set(model.spec.names("inputs"))
    index = {c: j for j, c in enumerate(channels)}
    names = []
    for c in channels:
        var = c if single else c.split(separator, 1)[-1]
        if var not in skip and var not in names:
            names.append(var)
    out = {}
    for var in names:
        cols = [index.get(var if single else f"{a}{separator}{var}", -1) for a in layout.assets]
        if min(cols) >= 0:
            out[var] = cols
    if out:
        for var in context:
            cols = [index.get(var if single else f"{a}{separator}{var}", -1) for a in layout.assets]
            if min(cols) >= 0 and var not in out:
                out[var] = cols
    return out


def _period(channel_map) -> float:
    periods = [c.period for c in getattr(channel_map, "channels", ()) if getattr(c, "period", None)]
    return float(min(periods)) if periods else 60.0


def _audit_path(path):
    if path is None:
        return None
    from pathlib import Path

    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import to_absolute_path

    return Path(to_absolute_path(path)) if HydraConfig.initialized() else Path(path).resolve()
