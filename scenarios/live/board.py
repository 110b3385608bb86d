"""The live board: the one thread-safe state the service loop writes and the outside world reads.

The service loop *writes* what it measured, estimated and decided (:meth:`LiveBoard.record_sample`,
:meth:`~LiveBoard.record_parameter`, :meth:`~LiveBoard.raise_alarm`, :meth:`~LiveBoard.set_recommendation`,
:meth:`~LiveBoard.set_source` ...); the HTTP endpoints, the web page and the MQTT publisher *read* it
(:meth:`LiveBoard.snapshot`, :meth:`~LiveBoard.asset_state`, :meth:`~LiveBoard.readiness`,
:attr:`~LiveBoard.registry`).  Every history is a ring buffer, so memory is bounded however long the twin runs.

Each board owns its Prometheus :class:`~prometheus_client.CollectorRegistry` (never the process-global default
registry), so two services - or two tests - in one process do not share metrics.

Operator commands (acknowledge an alarm, approve a promotion, request a what-if, write a setpoint) are parsed and
checked here too (:func:`parse_command`, :class:`CommandPolicy`), because both transports - HTTP
(``scenarios.live.http``) and MQTT (``scenarios.live.mqtt_io``) - take the same commands.  The default policy is
advisory: every setpoint is refused.

Snapshot schema (``LiveBoard.snapshot()``, JSON-able; times are Unix seconds [s] UTC, values in the channel's SI
unit, ``null`` where unknown)::

    {"schema": "twinbench.live/1", "time": 1764765000.0,
     "source": {"connected": true, "lag_s": 0.4, "lag_bound_s": 30.0, "reconnects": 0, "ready": true,
                "reason": "source connected, lag 0.4 s < 30 s"},
     "calibration": {"<asset>": {"version": 3, "label": "champion", "time": ...}},
     "channels": [{"asset": "M1", "channel": "winding_temperature", "unit": "K", "samples": 1200,
                   "residual_rms": 0.31,
                   "last": {"t": ..., "measured": 351.5, "twin": 351.2, "lower": 350.6, "upper": 351.8},
                   "history": {"t": [...], "measured": [...], "twin": [...], "lower": [...], "upper": [...]}}],
     "parameters": [{"asset": "M1", "name": "thermal_resistance_housing_ambient", "unit": "K/W",
                     "last": {"t": ..., "value": 0.075, "lower": 0.07, "upper": 0.08},
                     "history": {"t": [...], "value": [...], "lower": [...], "upper": [...]}}],
     "alarms": {"active": [<alarm>...], "recent": [<alarm>...]},
     "decisions": [{"t": ..., "asset": "M1", "kind": "promotion", "version": 3, "decision": "approved",
                    "reason": "..."}],
     "recommendations": {"<asset>": {"t": ..., "asset": "M1", "text": "...", "action": "...", "why": "...",
                                     "details": {...}}},
     "recommendation": <the most recent of them, or null>,
     "rul": [{"asset": "M1", "mode": "bearing_wear", "active": true, "level": 0.9, "unit": "s",
              "last": {"t": ..., "median": 36000.0, "lower": 30000.0, "upper": 44000.0},
              "history": {"t": [...], "median": [...], "lower": [...], "upper": [...]},
              "p_failure": 1.0, "horizon_s": 259200.0, "state": 0.52, "threshold": 1.0}],
     "counters": {"samples": [{"asset", "channel", "count"}], "quarantined": [{"channel", "gate", "count"}],
                  "commands": [{"verb", "outcome", "count"}]},
     "latency": {"count": 1000, "p50_ms": 0.8, "p99_ms": 3.1},
     "commands": [<recent command results>]}

An alarm is ``{"id": 7, "asset", "name", "channel", "severity", "state", "active", "acknowledged", "onset",
"cleared", "acknowledged_at", "acknowledged_by", "shelved_until", "explanation"}`` with ``state`` one of
``unacknowledged`` (active, not acknowledged), ``acknowledged`` (active, acknowledged), ``cleared-unacknowledged``
(returned to normal before anyone acknowledged it), ``cleared`` (returned to normal and acknowledged: it moves to
``recent``) and ``shelved`` (suppressed by an operator until ``shelved_until``).
"""

from __future__ import annotations

import hmac
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from sim.exceptions import ConfigurationError, TwinbenchError
from sim.telemetry.sources.live import Secret, secret_from

__all__ = [
    "ALARM_STATES",
    "COMMAND_VERBS",
    "SEVERITIES",
    "Command",
    "CommandPolicy",
    "CommandRefused",
    "LATENCY_BUCKETS",
    "LiveBoard",
    "Operator",
    "SetpointEnvelope",
    "jsonable",
    "parse_command",
    "run_command",
]

#: Alarm severities, lowest first.
SEVERITIES = ("low", "medium", "high", "critical")
#: What an alarm's ``state`` can be (see the module docstring).
ALARM_STATES = ("unacknowledged", "acknowledged", "cleared-unacknowledged", "cleared", "shelved")
#: Operator command verbs (topic ``<prefix>/cmd/<verb>``, or ``"verb"`` in the HTTP body).
COMMAND_VERBS = ("ack", "shelve", "approve", "whatif", "setpoint")
#: Buckets of ``twinbench_update_latency_seconds`` [s]: 0.5 ms to 5 s, dense around the 20 ms target.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _num(x) -> float | None:
    """A finite float, or None (JSON has no NaN)."""
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise ConfigurationError(f"value {x!r} must be a number (or None for unknown); fix: pass a float in the "
                                 f"channel's SI unit") from None
    return x if math.isfinite(x) else None


def jsonable(value: Any) -> Any:
    """*value* as strict JSON data for the wire: numpy scalars and arrays, tuples and sets converted, a
    non-finite float becomes None (``null``: JSON has no NaN), timestamps ISO 8601 text, other objects their
    ``str`` (a service callback's result may hold any of them)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset, deque)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _time(t) -> float:
    """A finite time stamp [Unix s]."""
    try:
        value = float(t)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise ConfigurationError(f"time stamp {t!r} must be a finite number of Unix seconds; fix: pass e.g. "
                                 f"pandas.Timestamp(...).timestamp()")
    return value


def _name(value, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ConfigurationError(f"{what} {value!r} must be a non-empty string of at most 200 characters; "
                                 f"fix: pass the asset/channel name as text, e.g. 'M1'")
    return value


# ----------------------------------------------------------------------------------------------------------------
# Alarms


@dataclass
class _Alarm:
    id: int
    asset: str
    name: str
    severity: str
    explanation: str
    onset: float
    channel: str | None = None
    active: bool = True
    acknowledged: bool = False
    cleared: float | None = None
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    shelved_until: float | None = None

    def state(self, now: float) -> str:
        if self.shelved_until is not None and now < self.shelved_until:
            return "shelved"
        if self.active:
            return "acknowledged" if self.acknowledged else "unacknowledged"
        return "cleared" if self.acknowledged else "cleared-unacknowledged"

    def to_dict(self, now: float) -> dict[str, Any]:
        return {"id": self.id, "asset": self.asset, "name": self.name, "channel": self.channel,
                "severity": self.severity, "state": self.state(now), "active": self.active,
                "acknowledged": self.acknowledged, "onset": self.onset, "cleared": self.cleared,
                "acknowledged_at": self.acknowledged_at, "acknowledged_by": self.acknowledged_by,
                "shelved_until": self.shelved_until, "explanation": self.explanation}


class _Track:
    """A bounded history of equally shaped rows (a ring buffer per column)."""

    __slots__ = ("columns", "rows")

    def __init__(self, columns: tuple[str, ...], maxlen: int):
        self.columns = columns
        self.rows: deque[tuple] = deque(maxlen=maxlen)

    def append(self, row: tuple) -> None:
        self.rows.append(row)

    def last(self) -> dict[str, Any] | None:
        return dict(zip(self.columns, self.rows[-1])) if self.rows else None

    def columns_dict(self, points: int | None) -> dict[str, list]:
        rows = list(self.rows) if points is None else list(self.rows)[-points:] if points > 0 else []
        return {c: [r[i] for r in rows] for i, c in enumerate(self.columns)}


class _Metrics:
    """The Prometheus side of one board: counters and the latency histogram, plus a collector for the gauges."""

    def __init__(self, board: LiveBoard, registry: CollectorRegistry):
        self.samples = Counter("twinbench_samples", "Samples taken in by the twin (accepted by the gates)",
                               ["asset", "channel"], registry=registry)
        self.quarantined = Counter("twinbench_quarantined", "Samples quarantined by a telemetry gate",
                                   ["channel", "gate"], registry=registry)
        self.reconnects = Counter("twinbench_source_reconnects", "Reconnections of the telemetry source",
                                  registry=registry)
        self.commands = Counter("twinbench_commands", "Operator commands by verb and outcome (accepted/refused)",
                                ["verb", "outcome"], registry=registry)
        self.latency = Histogram("twinbench_update_latency_seconds",
                                 "Time from a sample's arrival to the updated state being published [s]",
                                 buckets=LATENCY_BUCKETS, registry=registry)
        self._samples: dict[tuple[str, str], Any] = {}
        self._board = board
        registry.register(self)

    def sample_child(self, asset: str, channel: str):
        child = self._samples.get((asset, channel))
        if child is None:
            child = self._samples[(asset, channel)] = self.samples.labels(asset, channel)
        return child

    def describe(self):  # the gauges' families without collecting (the registry calls this at register time)
        return []

    def collect(self):
        """The gauges, read from the board at scrape time."""
        b = self._board
        lag = GaugeMetricFamily("twinbench_source_lag_seconds",
                                "How far the twin's state lags behind the source [s] (NaN: unknown)")
        connected = GaugeMetricFamily("twinbench_source_connected", "1 when the telemetry source is connected")
        rms = GaugeMetricFamily("twinbench_residual_rms",
                                "RMS of measured minus twin over the channel's history [SI unit of the channel]",
                                labels=["asset", "channel"])
        alarms = GaugeMetricFamily("twinbench_active_alarms", "Active alarms (shelved included)",
                                   labels=["asset", "severity"])
        version = GaugeMetricFamily("twinbench_calibration_version", "Calibration (twin) version in use",
                                    labels=["asset"])
        rul = GaugeMetricFamily("twinbench_remaining_useful_life_seconds",
                                "Remaining useful life of a failure mode in progress, its median and interval "
                                "bounds [s] (inf: beyond the prediction's horizon)", labels=["asset", "mode", "bound"])
        with b._lock:
            now = b._clock()
            effective = b._effective_lag(now)
            lag.add_metric([], math.nan if effective is None else effective)
            connected.add_metric([], 1.0 if b._connected else 0.0)
            for (asset, channel), ch in b._channels.items():
                value = b._residual_rms(ch)
                rms.add_metric([asset, channel], math.nan if value is None else value)
            counts: dict[tuple[str, str], int] = {}
            for a in b._alarms.values():
                if a.active:
                    counts[(a.asset, a.severity)] = counts.get((a.asset, a.severity), 0) + 1
            for asset in sorted({a.asset for a in b._alarms.values()} | set(b._assets)):
                for severity in SEVERITIES:
                    alarms.add_metric([asset, severity], counts.get((asset, severity), 0))
            for asset, cal in b._calibration.items():
                version.add_metric([asset], cal["version"])
            for (asset, mode), entry in b._rul.items():
                last = entry["track"].last() if entry["active"] else None
                if last is not None:
                    for bound in ("median", "lower", "upper"):
                        rul.add_metric([asset, mode, bound], math.inf if last[bound] is None else last[bound])
        return [lag, connected, rms, alarms, version, rul]


@dataclass
class _Channel:
    unit: str
    track: _Track
    samples: int = 0


class LiveBoard:
    """Thread-safe live state of a running twin, with bounded memory and its own Prometheus registry.

    Parameters
    ----------
    history : int
        Points kept per channel and per parameter track (ring buffers).
    recent : int
        Finished alarms, governance decisions and command results kept.
    lag_bound_s : float
        Readiness bound on the lag behind the source [s] (``/readyz`` answers 503 above it).
    clock : callable, optional
        Wall clock in Unix seconds (default :func:`time.time`); tests pass a fake one.

    Notes
    -----
    Writers and readers may run in any threads: every method takes the board's lock for a short, bounded time
    (copying at most ``history`` points per series).  The lag the board reports is the lag the service last set
    plus the wall time since it set it, so a service that stops updating turns not-ready by itself.
    """

    def __init__(self, *, history: int = 600, recent: int = 200, lag_bound_s: float = 30.0,
                 clock: Callable[[], float] | None = None):
        if int(history) < 2 or int(recent) < 1:
            raise ConfigurationError(f"history ({history}) must be >= 2 and recent ({recent}) >= 1 points; "
                                     f"fix: e.g. history=600, recent=200")
        if not (lag_bound_s > 0):
            raise ConfigurationError(f"lag_bound_s ({lag_bound_s}) must be > 0 s; fix: e.g. lag_bound_s=30")
        self.history, self.recent, self.lag_bound_s = int(history), int(recent), float(lag_bound_s)
        self._clock = clock or time.time
        self._lock = threading.RLock()
        self._channels: dict[tuple[str, str], _Channel] = {}
        self._parameters: dict[tuple[str, str], tuple[str, _Track]] = {}
        self._alarms: dict[int, _Alarm] = {}  # active, or cleared but not yet acknowledged
        self._recent_alarms: deque[_Alarm] = deque(maxlen=self.recent)
        self._next_alarm = 1
        self._decisions: deque[dict] = deque(maxlen=self.recent)
        self._commands: deque[dict] = deque(maxlen=self.recent)
        self._recommendations: dict[str, dict] = {}
        self._last_recommendation: dict | None = None
        self._calibration: dict[str, dict] = {}
        self._rul: dict[tuple[str, str], dict] = {}  # (asset, mode) -> {"track", "active", details}
        self._revisions: dict[str, int] = {}  # asset -> parameter points + calibration changes
        self._asset_channels: dict[str, list[tuple[str, _Channel]]] = {}
        self._assets: set[str] = set()
        self._connected = False
        self._lag: tuple[float, float] | None = None  # (lag [s], when it was set [clock s])
        self._reconnects = 0
        self._quarantined: dict[tuple[str, str], int] = {}
        self._command_counts: dict[tuple[str, str], int] = {}
        self._latencies: deque[float] = deque(maxlen=10_000)
        self._latency_count = 0
        self._listeners: list[Callable[[str, dict], None]] = []
        self.registry = CollectorRegistry(auto_describe=False)
        self._metrics = _Metrics(self, self.registry)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None, *, clock: Callable[[], float] | None = None) -> LiveBoard:
        """From a plain mapping ``{history: 600, recent: 200, lag_bound_s: 30}`` (all optional)."""
        config = dict(config or {})
        unknown = sorted(set(config) - {"history", "recent", "lag_bound_s"})
        if unknown:
            raise ConfigurationError(f"board config: unknown key(s) {unknown}; fix: use history, recent, lag_bound_s")
        return cls(**config, clock=clock)

    # ------------------------------------------------------------------------------------------------ writes

    def record_sample(self, asset: str, channel: str, t: float, measured: float | None = None,
                      twin: float | None = None, lower: float | None = None, upper: float | None = None, *,
                      unit: str | None = None, count: bool = True) -> None:
        """One point of a channel: the measured value and the twin's estimate with its band.

        Parameters
        ----------
        asset, channel : str
            Asset (e.g. ``"M1"``) and channel (the twin variable, e.g. ``"winding_temperature"``).
        t : float
            Source time of the point [Unix s].
        measured : float, optional
            Measured value [SI unit] (None: a twin-only point).
        twin, lower, upper : float, optional
            The twin's estimate and its band [SI unit].
        unit : str, optional
            The channel's SI unit, shown on the page (kept from the first call that gives it).
        count : bool
            Count the point in ``twinbench_samples_total`` when it has a measured value.
        """
        key = (asset, channel)
        row = (_time(t), _num(measured), _num(twin), _num(lower), _num(upper))
        with self._lock:
            ch = self._channels.get(key)
            if ch is None:
                _name(asset, "asset"), _name(channel, "channel")
                ch = self._channels[key] = _Channel(unit or "", _Track(("t", "measured", "twin", "lower", "upper"),
                                                                       self.history))
                self._asset_channels.setdefault(asset, []).append((channel, ch))
                self._assets.add(asset)
            elif unit and not ch.unit:
                ch.unit = unit
            ch.track.append(row)
            if count and row[1] is not None:
                ch.samples += 1
        if count and row[1] is not None:
            self._metrics.sample_child(asset, channel).inc()

    def count_quarantined(self, channel: str, gate: str, n: int = 1) -> None:
        """Count *n* samples of *channel* quarantined by *gate* (a gate name of ``sim.telemetry.gates.GATES``)."""
        if n <= 0:
            return
        with self._lock:
            self._quarantined[(channel, gate)] = self._quarantined.get((channel, gate), 0) + int(n)
        self._metrics.quarantined.labels(channel, gate).inc(n)

    def set_source(self, connected: bool, lag_s: float | None = None, *, reconnects: int | None = None) -> None:
        """The source's connection, the lag of the twin's state behind it [s], and its reconnect count so far.

        *reconnects* is the source's running total (e.g. ``MqttSource.connects - 1``); the board counts the
        difference, so calling this often with the same total counts nothing twice.
        """
        with self._lock:
            self._connected = bool(connected)
            if lag_s is not None:
                lag = _num(lag_s)
                self._lag = None if lag is None else (max(lag, 0.0), self._clock())
            new = 0
            if reconnects is not None and reconnects > self._reconnects:
                new, self._reconnects = int(reconnects) - self._reconnects, int(reconnects)
        if new:
            self._metrics.reconnects.inc(new)

    def observe_latency(self, seconds: float) -> None:
        """One update latency: a sample's arrival to the updated state being published [s]."""
        seconds = float(seconds)
        self._metrics.latency.observe(seconds)
        with self._lock:
            self._latencies.append(seconds)
            self._latency_count += 1

    def record_parameter(self, asset: str, name: str, t: float, value: float, lower: float | None = None,
                         upper: float | None = None, *, unit: str = "") -> None:
        """One point of a parameter track: the estimate and its interval at source time *t* [Unix s]."""
        key = (asset, name)
        row = (_time(t), _num(value), _num(lower), _num(upper))
        with self._lock:
            entry = self._parameters.get(key)
            if entry is None:
                _name(asset, "asset"), _name(name, "parameter")
                entry = self._parameters[key] = (unit, _Track(("t", "value", "lower", "upper"), self.history))
                self._assets.add(asset)
            entry[1].append(row)
            self._revisions[asset] = self._revisions.get(asset, 0) + 1

    def set_rul(self, asset: str, mode: str, *, t: float, median_s: float, low_s: float, high_s: float,
                level: float, p_failure: float | None = None, horizon_s: float | None = None,
                state: float | None = None, threshold: float | None = None) -> None:
        """A remaining-useful-life estimate of failure mode *mode* at source time *t* [Unix s]: the median and the
        central interval of probability *level* [s from *t*; inf: beyond the horizon], P(failure before the
        horizon), the degradation state now and its failure threshold."""
        if not 0 < float(level) < 1:
            raise ConfigurationError(f"RUL level = {level!r} must lie in (0, 1), e.g. 0.9")
        row = (_time(t), _num(median_s), _num(low_s), _num(high_s))
        with self._lock:
            entry = self._rul.get((asset, mode))
            if entry is None:
                _name(asset, "asset"), _name(mode, "failure mode")
                entry = self._rul[(asset, mode)] = {"track": _Track(("t", "median", "lower", "upper"),
                                                                    self.history)}
                self._assets.add(asset)
            entry["track"].append(row)
            entry.update(active=True, level=float(level), p_failure=_num(p_failure), horizon_s=_num(horizon_s),
                         state=_num(state), threshold=_num(threshold))
            self._revisions[asset] = self._revisions.get(asset, 0) + 1
        self._notify("rul", {"asset": asset, "mode": mode, "t": row[0], "median_s": row[1], "low_s": row[2],
                             "high_s": row[3], "level": float(level)})

    def end_rul(self, asset: str, mode: str, *, t: float | None = None) -> None:
        """The failure mode is no longer in progress (the part was replaced): its track stays, inactive."""
        with self._lock:
            entry = self._rul.get((asset, mode))
            if entry is not None:
                entry["active"] = False
                entry["ended"] = self._clock() if t is None else float(t)
                self._revisions[asset] = self._revisions.get(asset, 0) + 1

    def _rul_dict(self, asset: str, mode: str, entry: dict, points: int | None) -> dict[str, Any]:
        return {"asset": asset, "mode": mode, "unit": "s", **{k: v for k, v in entry.items() if k != "track"},
                "last": entry["track"].last(), "history": entry["track"].columns_dict(points)}

    def set_calibration_version(self, asset: str, version: int, label: str | None = None,
                                t: float | None = None) -> None:
        """The calibration (twin) version *asset* runs with, e.g. a registered model version."""
        if isinstance(version, bool) or not isinstance(version, int):
            raise ConfigurationError(f"calibration version {version!r} must be an int (a registered version "
                                     f"number); fix: pass int(version)")
        with self._lock:
            self._assets.add(_name(asset, "asset"))
            self._revisions[asset] = self._revisions.get(asset, 0) + 1
            self._calibration[asset] = {"version": version, "label": label,
                                        "time": self._clock() if t is None else float(t)}
        self._notify("calibration", {"asset": asset, "version": version, "label": label})

    def record_decision(self, asset: str, kind: str, decision: str, reason: str, *, version: int | None = None,
                        t: float | None = None) -> dict:
        """A governance decision (e.g. kind ``"promotion"``, decision ``"approved"``/``"refused"``), with why."""
        entry = {"t": self._clock() if t is None else float(t), "asset": asset, "kind": kind,
                 "version": version, "decision": decision, "reason": reason}
        with self._lock:
            self._decisions.append(entry)
        self._notify("decision", dict(entry))
        return entry

    def set_recommendation(self, asset: str, text: str, *, action: str | None = None, why: str = "",
                           details: Mapping[str, Any] | None = None, t: float | None = None) -> dict:
        """The last recommendation for *asset*: human text, the action it names, why, and JSON-able details."""
        entry = {"t": self._clock() if t is None else float(t), "asset": asset, "text": str(text),
                 "action": action, "why": why, "details": dict(details or {})}
        with self._lock:
            self._assets.add(_name(asset, "asset"))
            self._recommendations[asset] = entry
            self._last_recommendation = entry
        self._notify("advice", dict(entry))
        return entry

    # alarms ----------------------------------------------------------------------------------------------

    def raise_alarm(self, asset: str, name: str, *, severity: str, explanation: str, channel: str | None = None,
                    t: float | None = None) -> int:
        """Raise alarm *name* on *asset*; returns its id.

        While an alarm of the same asset and name is active (or cleared but not yet acknowledged), raising it
        again updates it (severity, explanation) and returns the same id: an alarm does not duplicate itself.
        A raise while it is cleared-unacknowledged makes it active again (unacknowledged).
        """
        if severity not in SEVERITIES:
            raise ConfigurationError(f"alarm severity {severity!r} is not one of {SEVERITIES}; fix: use one of them")
        now = self._clock() if t is None else float(t)
        with self._lock:
            _name(asset, "asset"), _name(name, "alarm name")
            alarm = next((a for a in self._alarms.values() if a.asset == asset and a.name == name), None)
            if alarm is None:
                alarm = _Alarm(self._next_alarm, asset, name, severity, explanation, now, channel)
                self._alarms[alarm.id] = alarm
                self._next_alarm += 1
                self._assets.add(asset)
                event = "raised"
            else:
                if not alarm.active:
                    alarm.active, alarm.acknowledged, alarm.cleared = True, False, None
                    alarm.acknowledged_at = alarm.acknowledged_by = None
                    event = "raised"
                else:
                    event = "updated"
                alarm.severity, alarm.explanation = severity, explanation
                alarm.channel = channel or alarm.channel
            data = alarm.to_dict(self._clock())
        self._notify("alarm", {"event": event, **data})
        return data["id"]

    def acknowledge_alarm(self, alarm_id: int, by: str | None = None) -> dict:
        """An operator acknowledges alarm *alarm_id*; a cleared one moves to the recent alarms."""
        with self._lock:
            alarm = self._alarm(alarm_id)
            if not alarm.acknowledged:
                alarm.acknowledged, alarm.acknowledged_at, alarm.acknowledged_by = True, self._clock(), by
            self._retire(alarm)
            data = alarm.to_dict(self._clock())
        self._notify("alarm", {"event": "acknowledged", **data})
        return data

    def clear_alarm(self, alarm_id: int, t: float | None = None) -> dict:
        """Alarm *alarm_id* returned to normal; an acknowledged one moves to the recent alarms."""
        with self._lock:
            alarm = self._alarm(alarm_id)
            if alarm.active:
                alarm.active, alarm.cleared = False, self._clock() if t is None else float(t)
            self._retire(alarm)
            data = alarm.to_dict(self._clock())
        self._notify("alarm", {"event": "cleared", **data})
        return data

    def shelve_alarm(self, alarm_id: int, seconds: float, by: str | None = None) -> dict:
        """Shelve alarm *alarm_id* for *seconds* (it stays counted, but shows as ``shelved``)."""
        if not (0 < float(seconds) <= 7 * 86400):
            raise ConfigurationError(f"shelving time {seconds!r} s must lie in (0, 604800] s (one week at most); "
                                     f"fix: pass e.g. 3600")
        with self._lock:
            alarm = self._alarm(alarm_id)
            alarm.shelved_until = self._clock() + float(seconds)
            data = alarm.to_dict(self._clock())
        self._notify("alarm", {"event": "shelved", "by": by, **data})
        return data

    def _alarm(self, alarm_id: int) -> _Alarm:
        alarm = self._alarms.get(alarm_id)
        if alarm is None:
            known = sorted(self._alarms)[:20]
            raise CommandRefused(f"alarm {alarm_id!r} is not active nor awaiting acknowledgement (open alarms: "
                                 f"{known}); fix: use an id from /api/state alarms.active", kind="rejected")
        return alarm

    def _retire(self, alarm: _Alarm) -> None:
        if not alarm.active and alarm.acknowledged:
            del self._alarms[alarm.id]
            self._recent_alarms.append(alarm)

    def find_alarm(self, asset: str, name: str) -> int | None:
        """The id of *asset*'s open alarm *name* (active, or cleared and not acknowledged), or None."""
        with self._lock:
            return next((a.id for a in self._alarms.values() if a.asset == asset and a.name == name), None)

    # commands --------------------------------------------------------------------------------------------

    def record_command(self, result: Mapping[str, Any]) -> None:
        """Keep an operator command's result (accepted or refused) and count it by verb and outcome."""
        verb = str(result.get("verb") or "unknown")
        verb = verb if verb in COMMAND_VERBS else "unknown"  # (a label per unknown verb would not stay small)
        outcome = "accepted" if result.get("accepted") else "refused"
        with self._lock:
            self._commands.append(dict(result))
            self._command_counts[(verb, outcome)] = self._command_counts.get((verb, outcome), 0) + 1
        self._metrics.commands.labels(verb, outcome).inc()

    def apply_command(self, command: Command) -> dict | None:
        """Carry out the commands the board itself can (``ack``, ``shelve``); returns their result, else None.

        A service's command callback can start with ``result = board.apply_command(command)`` and handle the
        other verbs (``approve``, ``whatif``, ``setpoint``) itself.
        """
        if command.verb == "ack":
            return self.acknowledge_alarm(command.args["alarm"], by=command.user)
        if command.verb == "shelve":
            return self.shelve_alarm(command.args["alarm"], command.args["seconds"], by=command.user)
        return None

    # listeners -------------------------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[str, dict], None]) -> None:
        """Call ``listener(kind, data)`` after each alarm event, recommendation, decision or calibration change.

        *kind* is ``"alarm"``, ``"advice"``, ``"decision"`` or ``"calibration"``.  Listeners run in the writer's
        thread, outside the board's lock; keep them short (e.g. an MQTT publish).
        """
        with self._lock:
            self._listeners.append(listener)

    def _notify(self, kind: str, data: dict) -> None:
        for listener in list(self._listeners):
            listener(kind, data)

    # ------------------------------------------------------------------------------------------------- reads

    def _effective_lag(self, now: float) -> float | None:
        if self._lag is None:
            return None
        lag, when = self._lag
        return lag + max(now - when, 0.0)

    def readiness(self) -> tuple[bool, str]:
        """Whether the twin is ready (source connected and its state current) and why (or why not)."""
        with self._lock:
            lag = self._effective_lag(self._clock())
            connected = self._connected
        if not connected:
            return False, "the telemetry source is not connected"
        if lag is None:
            return False, "no lag reported yet: the twin has not followed the source yet"
        if lag >= self.lag_bound_s:
            return False, f"lag {lag:.3g} s is not below the bound {self.lag_bound_s:g} s"
        return True, f"source connected, lag {lag:.3g} s < {self.lag_bound_s:g} s"

    @staticmethod
    def _residual_rms(ch: _Channel) -> float | None:
        total, n = 0.0, 0
        for _, measured, twin, _, _ in ch.track.rows:
            if measured is not None and twin is not None:
                total += (measured - twin) ** 2
                n += 1
        return math.sqrt(total / n) if n else None

    def _latency_summary(self) -> dict[str, Any]:
        values = sorted(self._latencies)
        if not values:
            return {"count": self._latency_count, "p50_ms": None, "p99_ms": None}

        def q(p):  # nearest-rank quantile
            return 1e3 * values[min(len(values) - 1, max(0, math.ceil(p * len(values)) - 1))]

        return {"count": self._latency_count, "p50_ms": q(0.5), "p99_ms": q(0.99)}

    def snapshot(self, points: int | None = None) -> dict[str, Any]:
        """The whole board as a JSON-able dict (schema in the module docstring).

        Parameters
        ----------
        points : int, optional
            Keep only the last *points* of each history (0: none; default: all kept points).
        """
        ready, reason = self.readiness()
        with self._lock:
            now = self._clock()
            lag = self._effective_lag(now)
            channels = [{"asset": a, "channel": c, "unit": ch.unit, "samples": ch.samples,
                         "residual_rms": self._residual_rms(ch), "last": ch.track.last(),
                         "history": ch.track.columns_dict(points)}
                        for (a, c), ch in self._channels.items()]
            parameters = [{"asset": a, "name": n, "unit": unit, "last": track.last(),
                           "history": track.columns_dict(points)}
                          for (a, n), (unit, track) in self._parameters.items()]
            active = sorted(self._alarms.values(), key=lambda x: (-SEVERITIES.index(x.severity), x.onset))
            return {
                "schema": "twinbench.live/1",
                "time": now,
                "source": {"connected": self._connected, "lag_s": lag, "lag_bound_s": self.lag_bound_s,
                           "reconnects": self._reconnects, "ready": ready, "reason": reason},
                "calibration": {a: dict(c) for a, c in self._calibration.items()},
                "channels": channels,
                "parameters": parameters,
                "alarms": {"active": [a.to_dict(now) for a in active],
                           "recent": [a.to_dict(now) for a in reversed(self._recent_alarms)]},
                "decisions": [dict(d) for d in reversed(self._decisions)],
                "recommendations": {a: dict(r) for a, r in self._recommendations.items()},
                "recommendation": None if self._last_recommendation is None else dict(self._last_recommendation),
                "rul": [self._rul_dict(a, m, e, points) for (a, m), e in self._rul.items()],
                "counters": {
                    "samples": [{"asset": a, "channel": c, "count": ch.samples}
                                for (a, c), ch in self._channels.items()],
                    "quarantined": [{"channel": c, "gate": g, "count": n}
                                    for (c, g), n in sorted(self._quarantined.items())],
                    "commands": [{"verb": v, "outcome": o, "count": n}
                                 for (v, o), n in sorted(self._command_counts.items())]},
                "latency": self._latency_summary(),
                "commands": [dict(c) for c in reversed(self._commands)],
            }

    def asset_state(self, asset: str) -> dict[str, Any]:
        """The compact current state of one asset (no histories), e.g. for the retained MQTT state message.

        ``{"asset", "time", "connected", "lag_s", "ready", "calibration_version", "active_alarms",
        "channels": {channel: {"t", "measured", "twin", "lower", "upper", "unit"}},
        "rul": {mode: {"t", "median", "lower", "upper", "unit", "level", "active"}}}`` (remaining useful life [s])
        """
        with self._lock:
            now = self._clock()
            lag = self._effective_lag(now)
            return {"asset": asset, "time": now, "connected": self._connected, "lag_s": lag,
                    "ready": bool(self._connected and lag is not None and lag < self.lag_bound_s),
                    "calibration_version": self._calibration.get(asset, {}).get("version"),
                    "active_alarms": sum(1 for a in self._alarms.values() if a.asset == asset and a.active),
                    "channels": {c: {**(ch.track.last() or {}), "unit": ch.unit}
                                 for c, ch in self._asset_channels.get(asset, ())},
                    "rul": {m: {**(e["track"].last() or {}), "unit": "s", "level": e["level"], "active": e["active"]}
                            for (a, m), e in self._rul.items() if a == asset}}

    def asset_estimates(self, asset: str) -> dict[str, Any]:
        """The current parameter estimates of one asset, with their intervals (the channels' estimates and bands
        are in :meth:`asset_state`).

        ``{"asset", "time", "revision", "calibration_version", "parameters": {name: {"t", "value", "lower",
        "upper", "unit"}}}``; ``revision`` grows with every parameter point and calibration change of the asset.
        """
        with self._lock:
            params = {n: {**(track.last() or {}), "unit": unit}
                      for (a, n), (unit, track) in self._parameters.items() if a == asset}
            return {"asset": asset, "time": self._clock(), "revision": self._revisions.get(asset, 0),
                    "calibration_version": self._calibration.get(asset, {}).get("version"),
                    "parameters": params}

    def estimates_revision(self, asset: str) -> int:
        """How many parameter points and calibration changes *asset* has had (cheap: publish estimates on change)."""
        with self._lock:
            return self._revisions.get(asset, 0)

    @property
    def assets(self) -> list[str]:
        """The assets the board has seen, sorted."""
        with self._lock:
            return sorted(self._assets)

    def metrics_text(self) -> bytes:
        """The board's metrics in the Prometheus text format."""
        return generate_latest(self.registry)


# ----------------------------------------------------------------------------------------------------------------
# Operator commands


class CommandRefused(TwinbenchError):
    """An operator command was refused; ``kind`` says why and maps to an HTTP status.

    Kinds: ``malformed`` (400: not valid JSON, unknown verb, a missing or mistyped field), ``unauthorised``
    (403: unknown user, wrong token, verb not granted), ``forbidden`` (403: a setpoint while the twin is
    advisory, or outside its envelope) and ``rejected`` (409: well-formed and allowed, but the service cannot
    carry it out, e.g. an unknown alarm id); ``failed`` (500) is what :func:`run_command` reports when the
    service's callback broke with an unexpected error.
    """

    STATUS = {"malformed": 400, "unauthorised": 403, "forbidden": 403, "rejected": 409, "failed": 500}

    def __init__(self, reason: str, *, kind: str = "malformed"):
        if kind not in self.STATUS:
            raise ValueError(f"CommandRefused kind {kind!r} is not one of {sorted(self.STATUS)}")
        super().__init__(reason)
        self.reason, self.kind = reason, kind

    @property
    def status(self) -> int:
        return self.STATUS[self.kind]


@dataclass(frozen=True)
class Command:
    """A parsed, well-formed operator command (not yet authorised: see :meth:`CommandPolicy.check`).

    Attributes
    ----------
    verb : str
        One of :data:`COMMAND_VERBS`.
    user : str
        Who sent it.
    args : dict
        The verb's arguments, checked and typed (see :func:`parse_command`).
    request_id : str, optional
        The sender's id of the request, echoed in the result.
    token : str, optional
        The sender's token (never logged or echoed).
    """

    verb: str
    user: str
    args: dict
    request_id: str | None = None
    token: str | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The command without its token: safe to log and publish."""
        return {"verb": self.verb, "user": self.user, "request_id": self.request_id, "args": dict(self.args)}


def _field(data: Mapping, key: str, kinds, verb: str, *, required: bool = True, check=None, rule: str = ""):
    if key not in data or data[key] is None:
        if required:
            raise CommandRefused(f"{verb}: field {key!r} is missing; fix: send e.g. {_EXAMPLES[verb]}")
        return None
    value = data[key]
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        value = None  # (a bool is an int to Python, never a number or an id here)
    if value is None or not isinstance(value, kinds) or (check is not None and not check(value)):
        raise CommandRefused(f"{verb}: field {key!r} = {data[key]!r} {rule or 'has the wrong type'}; "
                             f"fix: send e.g. {_EXAMPLES[verb]}")
    return value


_EXAMPLES = {
    "ack": '{"user": "alice", "alarm": 7}',
    "shelve": '{"user": "alice", "alarm": 7, "seconds": 3600}',
    "approve": '{"user": "alice", "asset": "M1", "version": 3}',
    "whatif": '{"user": "alice", "asset": "M1", "actions": ["speed_down_10"], "horizon_h": 8}',
    "setpoint": '{"user": "alice", "asset": "M1", "name": "speed", "value": 1450.0}',
}
_COMMON = {"user", "token", "request_id", "verb"}
_ARGS = {"ack": {"alarm"}, "shelve": {"alarm", "seconds"}, "approve": {"asset", "version"},
         "whatif": {"asset", "actions", "horizon_h"}, "setpoint": {"asset", "name", "value"}}


def _finite(x) -> bool:
    return math.isfinite(float(x))


def parse_command(verb: str | None, payload: bytes | str | Mapping[str, Any]) -> Command:
    """Parse and check one operator command (raises :class:`CommandRefused` ``malformed`` with the reason).

    Every command is a JSON object with ``user`` (text), optional ``token`` and ``request_id``, and per verb:

    ============ =========================================================================================
    verb         fields
    ============ =========================================================================================
    ``ack``      ``alarm`` (int id)
    ``shelve``   ``alarm`` (int id), ``seconds`` (number in (0, 604800])
    ``approve``  ``asset`` (text), ``version`` (int: the calibration version to promote)
    ``whatif``   ``asset`` (text), ``actions`` (non-empty list of action names), optional ``horizon_h`` (> 0)
    ``setpoint`` ``asset`` (text), ``name`` (text), ``value`` (finite number)
    ============ =========================================================================================

    Unknown fields are refused (a typo must not pass silently).
    """
    example = _EXAMPLES.get(verb if isinstance(verb, str) else "", '{"user": "alice", "alarm": 7} on <prefix>/cmd/ack')
    what = verb if isinstance(verb, str) and verb in COMMAND_VERBS else "command"
    if isinstance(payload, (bytes, bytearray, str)):
        text = payload.decode("utf-8", errors="replace") if isinstance(payload, (bytes, bytearray)) else payload
        if len(text) > 65536:
            raise CommandRefused(f"{what}: payload of {len(text)} characters exceeds 65536; fix: send a short "
                                 f"JSON object such as {example}")
        try:
            data = json.loads(text)
        except ValueError as err:
            raise CommandRefused(f"{what}: payload {text[:80]!r} is not valid JSON ({err}); fix: send e.g. "
                                 f"{example}") from None
    else:
        data = payload
    if not isinstance(data, Mapping):
        raise CommandRefused(f"{what}: payload must be a JSON object, got {type(data).__name__}; fix: send e.g. "
                             f"{example}")
    if verb is None:
        raise CommandRefused(f"the command names no verb (HTTP: a 'verb' field; MQTT: the topic "
                             f"<prefix>/cmd/<verb>); fix: use one of {list(COMMAND_VERBS)}")
    if verb not in COMMAND_VERBS:
        raise CommandRefused(f"unknown command verb {verb!r}; fix: use one of {list(COMMAND_VERBS)}")
    unknown = sorted(set(data) - _COMMON - _ARGS[verb])
    if unknown:
        raise CommandRefused(f"{verb}: unknown field(s) {unknown}; fix: use {sorted(_ARGS[verb] | {'user'})} "
                             f"(and optionally token, request_id), e.g. {_EXAMPLES[verb]}")
    if "verb" in data and data["verb"] != verb:
        raise CommandRefused(f"{verb}: field 'verb' = {data['verb']!r} contradicts the verb {verb!r}; "
                             f"fix: leave it out or make them equal")
    text_ok = lambda s: 0 < len(s) <= 200  # noqa: E731
    user = _field(data, "user", str, verb, check=text_ok, rule="must be non-empty text (<= 200 characters)")
    token = _field(data, "token", str, verb, required=False)
    request_id = _field(data, "request_id", (str, int), verb, required=False)
    args: dict[str, Any] = {}
    if verb in ("ack", "shelve"):
        args["alarm"] = _field(data, "alarm", int, verb, rule="must be an integer alarm id")
    if verb == "shelve":
        args["seconds"] = float(_field(data, "seconds", (int, float), verb, check=lambda s: 0 < s <= 7 * 86400,
                                       rule="must be a number of seconds in (0, 604800]"))
    if verb in ("approve", "whatif", "setpoint"):
        args["asset"] = _field(data, "asset", str, verb, check=text_ok, rule="must be non-empty text")
    if verb == "approve":
        args["version"] = _field(data, "version", int, verb, check=lambda v: v >= 0,
                                 rule="must be a non-negative integer version")
    if verb == "whatif":
        actions = _field(data, "actions", list, verb,
                         check=lambda a: 0 < len(a) <= 50 and all(isinstance(x, str) and text_ok(x) for x in a),
                         rule="must be a non-empty list (at most 50) of action names")
        args["actions"] = list(actions)
        horizon = _field(data, "horizon_h", (int, float), verb, required=False,
                         check=lambda h: _finite(h) and 0 < h <= 24 * 366, rule="must be hours in (0, 8784]")
        args["horizon_h"] = None if horizon is None else float(horizon)
    if verb == "setpoint":
        args["name"] = _field(data, "name", str, verb, check=text_ok, rule="must be non-empty text")
        args["value"] = float(_field(data, "value", (int, float), verb, check=_finite,
                                     rule="must be a finite number"))
    return Command(verb, user, args, None if request_id is None else str(request_id), token)


@dataclass(frozen=True)
class Operator:
    """Who may send which commands.

    Parameters
    ----------
    name : str
        The user name commands carry in ``user``.
    verbs : frozenset of str
        The verbs granted (from :data:`COMMAND_VERBS`).
    token : Secret, optional
        Where the user's token is kept; when set, a command must carry the same ``token``.
    """

    name: str
    verbs: frozenset
    token: Secret | None = None

    def __post_init__(self) -> None:
        bad = sorted(set(self.verbs) - set(COMMAND_VERBS))
        if bad:
            raise ConfigurationError(f"operator {self.name!r}: unknown verb(s) {bad}; fix: use {list(COMMAND_VERBS)}")


@dataclass(frozen=True)
class SetpointEnvelope:
    """Where a setpoint may be written: ``minimum <= value <= maximum`` and at most *max_rate* per second.

    Parameters
    ----------
    minimum, maximum : float
        The bounds [the setpoint's unit].
    max_rate : float, optional
        Largest change per second [unit/s] from the last accepted write (or from *initial*) to the new value.
    initial : float, optional
        The setpoint's value before the twin wrote any (the rate of the first write is judged from it).
    """

    minimum: float
    maximum: float
    max_rate: float | None = None
    initial: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.minimum) and math.isfinite(self.maximum) and self.minimum <= self.maximum):
            raise ConfigurationError(f"setpoint envelope [{self.minimum}, {self.maximum}] needs finite min <= max; "
                                     f"fix: e.g. {{min: 1200, max: 1500, max_rate: 10}}")
        if self.max_rate is not None and not (self.max_rate > 0):
            raise ConfigurationError(f"setpoint envelope max_rate {self.max_rate} must be > 0 [unit/s]; "
                                     f"fix: leave it out for no rate limit")


class CommandPolicy:
    """Who may command what, and where setpoints may go.  The default is advisory: all setpoints refused.

    Parameters
    ----------
    operators : iterable of Operator
        The users and their verbs.  Empty: every command is unauthorised.
    setpoints_enabled : bool
        Allow setpoint writes at all (default False: advisory).
    envelopes : mapping
        ``"<asset>/<name>"`` -> :class:`SetpointEnvelope`; a setpoint without an envelope is refused.
    clock : callable, optional
        Wall clock [Unix s] for rate limits.
    """

    def __init__(self, operators: Iterable[Operator] = (), *, setpoints_enabled: bool = False,
                 envelopes: Mapping[str, SetpointEnvelope] | None = None,
                 clock: Callable[[], float] | None = None):
        self.operators = {op.name: op for op in operators}
        self.setpoints_enabled = bool(setpoints_enabled)
        self.envelopes = dict(envelopes or {})
        self._clock = clock or time.time
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, float]] = {}  # setpoint key -> (value, when)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None, *, clock=None) -> CommandPolicy:
        """From a plain mapping (a Hydra node converted to a dict)::

            operators:
              alice: {verbs: [ack, shelve, approve, whatif], token_env: TWINBENCH_TOKEN_ALICE}
              bob: {verbs: [ack]}
            setpoints:
              enabled: false                     # advisory (default)
              envelopes:
                M1/speed: {min: 1200, max: 1500, max_rate: 10, initial: 1450}

        A literal ``token`` is refused (use ``token_env`` or ``token_file``).
        """
        config = dict(config or {})
        unknown = sorted(set(config) - {"operators", "setpoints"})
        if unknown:
            raise ConfigurationError(f"commands config: unknown key(s) {unknown}; fix: use operators, setpoints")
        operators = []
        for name, spec in dict(config.get("operators") or {}).items():
            spec = dict(spec or {})
            bad = sorted(set(spec) - {"verbs", "token", "token_env", "token_file"})
            if bad:
                raise ConfigurationError(f"operator {name!r}: unknown key(s) {bad}; fix: use verbs, token_env, "
                                         f"token_file")
            token = secret_from(spec, "token", where=f"operators.{name}")
            operators.append(Operator(str(name), frozenset(spec.get("verbs") or ()), token))
        setpoints = dict(config.get("setpoints") or {})
        bad = sorted(set(setpoints) - {"enabled", "envelopes"})
        if bad:
            raise ConfigurationError(f"setpoints: unknown key(s) {bad}; fix: use enabled, envelopes")
        envelopes = {}
        for key, env in dict(setpoints.get("envelopes") or {}).items():
            env = dict(env or {})
            extra = sorted(set(env) - {"min", "max", "max_rate", "initial"})
            if extra or "min" not in env or "max" not in env:
                raise ConfigurationError(f"setpoints.envelopes.{key}: needs min and max (optional max_rate, "
                                         f"initial), got {sorted(env)}; fix: e.g. {{min: 1200, max: 1500}}")
            envelopes[str(key)] = SetpointEnvelope(float(env["min"]), float(env["max"]),
                                                   None if env.get("max_rate") is None else float(env["max_rate"]),
                                                   None if env.get("initial") is None else float(env["initial"]))
        return cls(operators, setpoints_enabled=bool(setpoints.get("enabled", False)), envelopes=envelopes,
                   clock=clock)

    def check(self, command: Command) -> None:
        """Raise :class:`CommandRefused` (``unauthorised`` or ``forbidden``) unless *command* may be carried out.

        An accepted setpoint is remembered as the base of the next write's rate limit.
        """
        op = self.operators.get(command.user)
        if op is None:
            raise CommandRefused(f"{command.verb}: user {command.user!r} is not an operator of this twin; fix: "
                                 f"add them under commands.operators", kind="unauthorised")
        if op.token is not None:
            expected = op.token.reveal(f"operators.{op.name}.token")
            if command.token is None or not hmac.compare_digest(command.token.encode(), expected.encode()):
                raise CommandRefused(f"{command.verb}: user {command.user!r} sent a missing or wrong token; fix: "
                                     f"send the user's token in 'token'", kind="unauthorised")
        if command.verb not in op.verbs:
            raise CommandRefused(f"{command.verb}: user {command.user!r} may not {command.verb} (granted: "
                                 f"{sorted(op.verbs)}); fix: grant the verb under commands.operators."
                                 f"{command.user}.verbs", kind="unauthorised")
        if command.verb == "setpoint":
            self._check_setpoint(command)

    def _check_setpoint(self, command: Command) -> None:
        key = f"{command.args['asset']}/{command.args['name']}"
        value = command.args["value"]
        if not self.setpoints_enabled:
            raise CommandRefused(f"setpoint {key} = {value:g}: the twin is advisory (setpoints.enabled is false), "
                                 f"it writes no setpoint; fix: set commands.setpoints.enabled: true and an "
                                 f"envelope for {key}", kind="forbidden")
        env = self.envelopes.get(key)
        if env is None:
            raise CommandRefused(f"setpoint {key} = {value:g}: no envelope is configured for {key} (configured: "
                                 f"{sorted(self.envelopes)}); fix: add commands.setpoints.envelopes.{key}",
                                 kind="forbidden")
        if not env.minimum <= value <= env.maximum:
            raise CommandRefused(f"setpoint {key} = {value:g} lies outside its envelope [{env.minimum:g}, "
                                 f"{env.maximum:g}]; fix: choose a value inside it", kind="forbidden")
        with self._lock:
            now = self._clock()
            last = self._last.get(key)
            if last is None and env.initial is not None:
                last = (env.initial, -math.inf)
            if env.max_rate is not None and last is not None:
                change, dt = abs(value - last[0]), now - last[1]
                if change > 0 and (dt <= 0 or change / dt > env.max_rate):
                    allowed = env.max_rate * max(dt, 0.0)
                    raise CommandRefused(
                        f"setpoint {key} = {value:g} changes it by {change:g} from {last[0]:g} in {max(dt, 0):.3g} "
                        f"s, faster than max_rate {env.max_rate:g}/s (at most {allowed:.3g} now); fix: step it "
                        f"more slowly", kind="forbidden")
            self._last[key] = (value, now)

    def to_dict(self) -> dict[str, Any]:
        """The policy as a config mapping, tokens as references only: safe to log and track."""
        ops = {}
        for name, op in self.operators.items():
            ops[name] = {"verbs": sorted(op.verbs)}
            if op.token is not None:
                ops[name].update({f"token_{k}": v for k, v in op.token.to_dict().items()})
        return {"operators": ops, "setpoints": {
            "enabled": self.setpoints_enabled,
            "envelopes": {k: {"min": e.minimum, "max": e.maximum, "max_rate": e.max_rate, "initial": e.initial}
                          for k, e in self.envelopes.items()}}}



def run_command(verb: str | None, payload: bytes | str | Mapping[str, Any], *, policy: CommandPolicy,
                handler: Callable[[Command], Any] | None = None, board: LiveBoard | None = None,
                logger=None, via: str = "") -> dict[str, Any]:
    """Parse, authorise and carry out one operator command; never raises for a refusal.

    The steps: :func:`parse_command` (malformed -> refused), :meth:`CommandPolicy.check` (unauthorised or
    forbidden -> refused), then *handler* (the service's callback; without one, :meth:`LiveBoard.apply_command`
    handles ``ack``/``shelve`` and the other verbs are rejected).  A handler refuses by raising
    :class:`CommandRefused` (or any :class:`~sim.exceptions.TwinbenchError`, taken as ``rejected``); another
    exception is a failure of the service (``failed``, logged with its traceback).  Every outcome is kept on
    *board* (:meth:`LiveBoard.record_command`) and logged on *logger* (event ``command_accepted`` or
    ``command_refused`` with the reason; the token is never logged).

    Returns
    -------
    dict
        ``{"request_id", "verb", "user", "via", "time", "accepted", "status", "kind", "reason", "result"}``:
        ``status`` 200 or the refusal's HTTP status, ``kind`` None or the refusal's kind, ``result`` what the
        handler returned (JSON-able) or None.
    """
    import logging

    clock = board._clock if board is not None else time.time
    out: dict[str, Any] = {"request_id": None, "verb": verb, "user": None, "via": via, "time": clock(),
                           "accepted": False, "status": 200, "kind": None, "reason": "", "result": None}
    peek = payload  # what the sender said, for the result and the log even when the command is malformed
    if isinstance(payload, (bytes, bytearray, str)) and len(payload) <= 65536:
        try:
            peek = json.loads(payload)
        except ValueError:
            peek = None
    if isinstance(peek, Mapping):
        out["request_id"] = str(peek["request_id"]) if isinstance(peek.get("request_id"), (str, int)) else None
        out["user"] = peek["user"] if isinstance(peek.get("user"), str) else None
    try:
        command = parse_command(verb, payload)  # type: ignore[arg-type]
        out.update(request_id=command.request_id, user=command.user)
        policy.check(command)
        if handler is not None:
            result = handler(command)
        elif board is not None and command.verb in ("ack", "shelve"):
            result = board.apply_command(command)
        else:
            raise CommandRefused(f"{command.verb}: this twin has no handler for {command.verb!r} commands; fix: "
                                 f"start the service with a command callback", kind="rejected")
        out.update(accepted=True, result=jsonable(result), reason="accepted")
    except CommandRefused as err:
        out.update(status=err.status, kind=err.kind, reason=err.reason)
    except TwinbenchError as err:
        out.update(status=409, kind="rejected", reason=f"{verb}: {err}")
    except Exception as err:  # noqa: BLE001 - a broken callback must not take the transport down
        out.update(status=500, kind="failed", reason=f"{verb}: the service failed to carry it out "
                                                     f"({type(err).__name__}: {err}); see the service log")
        if logger is not None:
            logger.exception("command_failed", extra={"event": "command_failed", "verb": verb, "via": via})
    if board is not None:
        board.record_command(out)
    if logger is not None:
        event = "command_accepted" if out["accepted"] else "command_refused"
        asset = None
        if isinstance(peek, Mapping) and isinstance(peek.get("asset"), str):
            asset = peek["asset"]
        logger.log(logging.INFO if out["accepted"] else logging.WARNING, event, extra={
            "event": event, "verb": verb, "user": out["user"], "request_id": out["request_id"], "via": via,
            "asset": asset, "status": out["status"], "kind": out["kind"], "reason": out["reason"]})
    return out
