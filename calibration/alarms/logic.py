"""The alarm state machine operators expect (ISA-18.2 / EEMUA 191): raise, acknowledge, shelve, clear.

:class:`AlarmLogic` turns a per-sample statistic (one row per asset) into events, asset by asset:

* **raise** when the statistic stays above the threshold for ``min_on`` samples *and* ``min_on_s`` seconds;
* **clear** when it stays below ``clear_fraction * threshold`` (the deadband) for ``min_off`` samples and
  ``min_off_s`` seconds, and the alarm has been up for at least ``min_hold_s`` - a statistic hovering at the
  threshold never chatters;
* **severity** 1..4 (``SEVERITIES``: low, medium, high, critical) from the peak over the threshold
  (``severity_bands``) plus one level for every ``escalate_after_s`` the alarm stays up; a rise while up is an
  ``"escalated"`` event;
* **onset**: a CUSUM of ``statistic / threshold - onset_reference`` runs all the time; the estimated onset is
  the first sample of its current excursion above zero (the last time it left zero, the backward search of a
  change point), so an alarm raised late after a step still dates the step; it restarts at every clear, so the
  next alarm dates its own excursion, not the first one of a statistic that never fell back to the reference;
* **acknowledge** and **shelve** (until a time): a shelved asset raises nothing until the shelf expires (an
  alarm whose condition still holds then is raised at once);
* **top channels**: with per-channel ``contributions`` the event names the channels that carried the
  statistic over the samples that raised it;
* **explanation**: the live service attaches text (e.g. :func:`explain_diagnosis` of a
  :class:`calibration.DiagnosisResult`) with :meth:`AlarmLogic.explain`; later events of that alarm carry it.

Samples whose statistic is NaN (nothing measured) change nothing.  Samples at or before the last time an asset
has processed are skipped, so a service that replays its input from a checkpoint's position does not count a
sample twice; :meth:`AlarmLogic.state_dict` / :meth:`AlarmLogic.from_state` carry everything, so the same
samples give the same events whether or not the process restarted in between.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from sim.exceptions import ConfigurationError

__all__ = ["SEVERITIES", "Alarm", "AlarmEvent", "AlarmLogic", "explain_diagnosis"]

#: Severity names by level (1-based).
SEVERITIES = ("low", "medium", "high", "critical")
EVENT_KINDS = ("raised", "escalated", "cleared", "acknowledged", "shelved")


@dataclass(frozen=True)
class AlarmEvent:
    """One change of an alarm.

    Attributes
    ----------
    kind : str
        ``"raised"``, ``"escalated"``, ``"cleared"``, ``"acknowledged"`` or ``"shelved"``.
    time : float
        When it happened [s, the caller's time axis].
    asset : str
        Asset name.
    alarm_id : str
        ``"<asset>/<source>/<n>"``: the same for every event of one alarm.
    source : str
        What raised it: ``"statistic"`` (a detector) or ``"data_quality"``.
    severity : int
        1..4 (see ``SEVERITIES``).
    onset : float
        Estimated start of the abnormal behaviour [s].
    peak : float
        Largest statistic since the alarm's excursion began.
    threshold : float
        The threshold in force.
    statistic : float
        The statistic at this event.
    top_channels : tuple of (str, float)
        Channels with their share of the statistic over the raising samples, largest first.
    explanation : str
        Text attached by the service (a diagnosis); empty until then.
    """

    kind: str
    time: float
    asset: str
    alarm_id: str
    source: str
    severity: int
    onset: float
    peak: float
    threshold: float
    statistic: float
    top_channels: tuple = ()
    explanation: str = ""

    @property
    def severity_name(self) -> str:
        return SEVERITIES[self.severity - 1] if 1 <= self.severity <= len(SEVERITIES) else "none"

    def with_explanation(self, text: str) -> "AlarmEvent":
        return replace(self, explanation=str(text))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["top_channels"] = [list(c) for c in self.top_channels]
        d["severity_name"] = self.severity_name
        return d


@dataclass(frozen=True)
class Alarm:
    """An alarm that is up now (see :meth:`AlarmLogic.active_alarms`)."""

    asset: str
    alarm_id: str
    source: str
    raised: float
    onset: float
    severity: int
    peak: float
    threshold: float
    acknowledged: bool
    shelved_until: float
    top_channels: tuple = ()
    explanation: str = ""

    @property
    def severity_name(self) -> str:
        return SEVERITIES[self.severity - 1]


def explain_diagnosis(result, *, max_lines: int = 3) -> str:
    """A short explanation of an alarm from a :class:`calibration.DiagnosisResult`: the winner with its evidence.

    Returns e.g. ``"strainer_fouling (BIC margin 14.2 over baseline: very strong; BIC weight 0.999;
    fouling_rate = 3.1e-05); residuals white (Ljung-Box p = 0.41)"``.
    """
    best = result.best
    row = result.ranking.loc[best]
    crit = result.criterion.upper()
    parts = [str(best)]
    ev = []
    if result.runner_up is not None:
        ev.append(f"{crit} margin {result.margin:.1f} over {result.runner_up}: {result.strength}")
        weight = row["bic_weight"] if result.criterion == "bic" else row["akaike_weight"]
        ev.append(f"{'BIC' if result.criterion == 'bic' else 'Akaike'} weight {float(weight):.3f}")
    else:
        ev.append("the only hypothesis that could be fitted")
    est = row["estimates"] or {}
    if est:
        ev.append(", ".join(f"{k} = {float(v):.3g}" for k, v in list(est.items())[:max_lines]))
    text = f"{parts[0]} ({'; '.join(ev)})"
    p = row["ljung_box_p"]
    if p is not None and not (isinstance(p, float) and math.isnan(p)):
        text += (f"; residuals white (Ljung-Box p = {float(p):.2g})" if bool(row["white"]) else
                 f"; residuals not white (Ljung-Box p = {float(p):.2g}): part of the effect is unexplained")
    return text


_FLOAT_STATE = ("last_time", "above_since", "below_since", "raised_at", "peak", "cusum", "cusum_start", "onset",
                "shelved_until", "last_stat", "threshold")
_INT_STATE = ("active", "above_n", "below_n", "severity", "acked", "count")


class AlarmLogic:
    """Per-asset alarm state machine with hysteresis, minimum hold, severity, onset and checkpoints.

    Parameters
    ----------
    threshold : float or sequence of float
        One threshold per asset (or one for all) [unit of the statistic], e.g. a detector's ``threshold_``.
    assets : sequence of str, optional
        Asset names (``"asset0"``, ... by default); their number fixes the statistic's leading axis.
    channels : sequence of str, optional
        Channel names for ``top_channels`` (the columns of ``contributions``).
    clear_fraction : float
        The alarm clears below ``clear_fraction * threshold`` (the deadband), in (0, 1].
    min_on, min_off : int
        Consecutive samples above the threshold to raise / below the clear level to clear.
    min_on_s, min_off_s : float
        The same as durations [s] (both the count and the duration must be met).
    min_hold_s : float
        Shortest time an alarm stays up once raised [s].
    severity_bands : sequence of 4 float
        Peak / threshold ratios at which severity reaches 1, 2, 3, 4.
    escalate_after_s : float or None
        One more severity level for every this many seconds the alarm stays up [s]; None: never.
    onset_reference : float
        Reference of the onset CUSUM in units of the threshold (normal samples sit below it).
    top : int
        How many channels an event names.
    source : str
        Written into every event (``"statistic"``, ``"data_quality"``).
    keep : int
        Number of recent samples whose time, statistic and alarm state :meth:`history` keeps (0: none; the last
        block is always in ``last_statistic_`` and ``last_active_``).
    """

    def __init__(self, threshold, *, assets=None, channels=None, clear_fraction=0.8, min_on=3, min_off=3,
                 min_on_s=0.0, min_off_s=0.0, min_hold_s=0.0, severity_bands=(1.0, 2.0, 4.0, 8.0),
                 escalate_after_s=None, onset_reference=0.5, top=3, source="statistic", keep=0):
        thr = np.atleast_1d(np.asarray(threshold, dtype=float)).ravel()
        if assets is None:
            assets = [f"asset{i}" for i in range(thr.size)]
        assets = [str(a) for a in ([assets] if isinstance(assets, str) else assets)]
        if thr.size == 1 and len(assets) > 1:
            thr = np.full(len(assets), thr[0])
        if thr.size != len(assets):
            raise ConfigurationError(f"{thr.size} thresholds for {len(assets)} assets {assets}; give one per asset or "
                                     f"one for all")
        if not np.all(np.isfinite(thr)) or np.any(thr <= 0):
            raise ConfigurationError(f"threshold = {thr.tolist()} must be positive and finite (a statistic level)")
        if not 0.0 < float(clear_fraction) <= 1.0:
            raise ConfigurationError(f"clear_fraction = {clear_fraction!r} must lie in (0, 1], e.g. 0.8 (clear 20 % "
                                     f"below the threshold)")
        for name, v in (("min_on", min_on), ("min_off", min_off), ("top", top), ("keep", keep)):
            if int(v) != v or v < (0 if name in ("top", "keep") else 1):
                raise ConfigurationError(f"{name} = {v!r} must be a positive integer count of samples")
        for name, v in (("min_on_s", min_on_s), ("min_off_s", min_off_s), ("min_hold_s", min_hold_s)):
            if not (math.isfinite(float(v)) and v >= 0):
                raise ConfigurationError(f"{name} = {v!r} must be a finite duration >= 0 [s]")
        bands = [float(b) for b in severity_bands]
        if len(bands) != len(SEVERITIES) or any(b2 < b1 for b1, b2 in zip(bands, bands[1:])) or bands[0] <= 0:
            raise ConfigurationError(f"severity_bands = {list(severity_bands)} must be {len(SEVERITIES)} increasing "
                                     f"positive peak/threshold ratios, e.g. (1, 2, 4, 8)")
        if escalate_after_s is not None and not float(escalate_after_s) > 0:
            raise ConfigurationError(f"escalate_after_s = {escalate_after_s!r} must be a positive duration [s] or None")
        self.config = {"assets": assets, "channels": None if channels is None else [str(c) for c in channels],
                       "clear_fraction": float(clear_fraction), "min_on": int(min_on), "min_off": int(min_off),
                       "min_on_s": float(min_on_s), "min_off_s": float(min_off_s), "min_hold_s": float(min_hold_s),
                       "severity_bands": bands,
                       "escalate_after_s": None if escalate_after_s is None else float(escalate_after_s),
                       "onset_reference": float(onset_reference), "top": int(top), "source": str(source),
                       "keep": int(keep)}
        n = len(assets)
        m = 0 if channels is None else len(channels)
        self._s = {k: np.full(n, -math.inf if k in ("last_time", "shelved_until") else math.nan)
                   for k in _FLOAT_STATE}
        self._s["threshold"] = thr.copy()
        self._s["cusum"] = np.zeros(n)
        for k in _INT_STATE:
            self._s[k] = np.zeros(n, dtype=np.int64)
        self._contrib = np.zeros((n, m))
        self._explanation = [""] * n
        self._top = [()] * n
        self.last_active_ = np.zeros((n, 0), dtype=bool)
        self.last_statistic_ = np.zeros((n, 0))
        self._hist = {"time": np.zeros(0), "statistic": np.zeros((n, 0)), "active": np.zeros((n, 0), dtype=bool)}

    @classmethod
    def for_detector(cls, detector, *, assets=None, **settings) -> "AlarmLogic":
        """Logic with a fitted detector's thresholds and channel names."""
        return cls(detector.threshold_, assets=assets, channels=detector.channels_, **settings)

    # ---------------------------------------------------------------- properties
    @property
    def assets(self) -> list[str]:
        return list(self.config["assets"])

    @property
    def threshold(self) -> np.ndarray:
        return self._s["threshold"].copy()

    @property
    def active(self) -> np.ndarray:
        """Whether each asset's alarm is up now."""
        return self._s["active"].astype(bool)

    def _index(self, asset) -> int:
        if isinstance(asset, (int, np.integer)) and 0 <= asset < len(self.config["assets"]):
            return int(asset)
        try:
            return self.config["assets"].index(str(asset))
        except ValueError:
            raise ConfigurationError(f"unknown asset {asset!r}; the logic knows {self.config['assets']}") from None

    def _alarm_id(self, i) -> str:
        return f"{self.config['assets'][i]}/{self.config['source']}/{int(self._s['count'][i])}"

    def _severity(self, i, t) -> int:
        s = self._s
        ratio = s["peak"][i] / s["threshold"][i]
        level = int(np.searchsorted(self.config["severity_bands"], ratio, side="right"))
        esc = self.config["escalate_after_s"]
        if esc is not None and math.isfinite(s["raised_at"][i]):
            level += int((t - s["raised_at"][i]) // esc)
        return int(min(max(level, 1), len(SEVERITIES)))

    def _event(self, kind, i, t, stat) -> AlarmEvent:
        s = self._s
        return AlarmEvent(kind=kind, time=float(t), asset=self.config["assets"][i], alarm_id=self._alarm_id(i),
                          source=self.config["source"], severity=int(s["severity"][i]), onset=float(s["onset"][i]),
                          peak=float(s["peak"][i]), threshold=float(s["threshold"][i]), statistic=float(stat),
                          top_channels=self._top[i], explanation=self._explanation[i])

    def _top_channels(self, i) -> tuple:
        names = self.config["channels"]
        if not names:
            return ()
        c = np.clip(self._contrib[i], 0.0, None)
        total = c.sum()
        if not total > 0:
            return ()
        order = np.argsort(-c, kind="stable")[:self.config["top"]]
        return tuple((names[j], round(float(c[j] / total), 6)) for j in order if c[j] > 0)

    # -------------------------------------------------------------------- update
    def update(self, times, statistic, contributions=None) -> list[AlarmEvent]:
        """Consume a block of samples and return the events it causes, in time order per asset.

        Parameters
        ----------
        times : array_like, shape (n,)
            Sample times [s], increasing (shared by all assets).
        statistic : array_like, shape (n,) or (A, n)
            The detector statistic per asset and sample (NaN: no information).
        contributions : array_like, shape (n, m) or (A, n, m), optional
            Per-channel contributions (for ``top_channels``).

        Notes
        -----
        After the call ``last_active_`` (``(A, n)`` bool) says whether each asset's alarm was up at each sample.
        """
        t = np.asarray(times, dtype=float).ravel()
        x = np.asarray(statistic, dtype=float)
        A = len(self.config["assets"])
        if x.ndim == 1:
            x = x[None]
        if x.shape != (A, t.size):
            raise ConfigurationError(f"statistic has shape {np.shape(statistic)}; with {A} assets and {t.size} times "
                                     f"it must be ({A}, {t.size})" + (f" or ({t.size},)" if A == 1 else ""))
        c = None
        if contributions is not None and self.config["channels"]:
            c = np.asarray(contributions, dtype=float)
            if c.ndim == 2:
                c = c[None]
            m = len(self.config["channels"])
            if c.shape != (A, t.size, m):
                raise ConfigurationError(f"contributions have shape {np.shape(contributions)}; expected "
                                         f"({A}, {t.size}, {m}) for the channels {self.config['channels']}")
        cfg, s = self.config, self._s
        active_out = np.zeros((A, t.size), dtype=bool)
        events: list[AlarmEvent] = []
        cf, ref = cfg["clear_fraction"], cfg["onset_reference"]
        for i in range(A):
            thr = s["threshold"][i]
            ratio = x[i] / thr
            for j in range(t.size):
                tj, r = t[j], ratio[j]
                if not tj > s["last_time"][i] or not math.isfinite(r):
                    active_out[i, j] = bool(s["active"][i])
                    continue
                s["last_time"][i] = tj
                s["last_stat"][i] = x[i, j]
                # onset CUSUM: the excursion start is the first sample after it last sat at zero
                if s["cusum"][i] <= 0.0:
                    s["cusum_start"][i] = tj
                s["cusum"][i] = max(0.0, s["cusum"][i] + r - ref)
                if s["cusum"][i] <= 0.0:
                    s["cusum_start"][i] = math.nan
                if r > 1.0:
                    if s["above_n"][i] == 0:
                        s["above_since"][i] = tj
                        if not s["active"][i]:
                            s["peak"][i] = -math.inf
                            self._contrib[i] = 0.0
                    s["above_n"][i] += 1
                    if c is not None and not s["active"][i]:
                        self._contrib[i] += np.nan_to_num(c[i, j])
                else:
                    s["above_n"][i] = 0
                if s["active"][i] or s["above_n"][i]:
                    s["peak"][i] = max(s["peak"][i], x[i, j])
                if not s["active"][i]:
                    if (s["above_n"][i] >= cfg["min_on"] and tj - s["above_since"][i] >= cfg["min_on_s"]
                            and tj >= s["shelved_until"][i]):
                        s["active"][i] = 1
                        s["acked"][i] = 0
                        s["count"][i] += 1
                        s["raised_at"][i] = tj
                        start = s["cusum_start"][i]
                        s["onset"][i] = min(start, s["above_since"][i]) if math.isfinite(start) else s["above_since"][i]
                        s["below_n"][i] = 0
                        self._explanation[i] = ""
                        self._top[i] = self._top_channels(i)
                        s["severity"][i] = self._severity(i, tj)
                        events.append(self._event("raised", i, tj, x[i, j]))
                else:
                    level = self._severity(i, tj)
                    if level > s["severity"][i]:
                        s["severity"][i] = level
                        if tj >= s["shelved_until"][i]:
                            events.append(self._event("escalated", i, tj, x[i, j]))
                    if r < cf:
                        if s["below_n"][i] == 0:
                            s["below_since"][i] = tj
                        s["below_n"][i] += 1
                    else:
                        s["below_n"][i] = 0
                    if (s["below_n"][i] >= cfg["min_off"] and tj - s["below_since"][i] >= cfg["min_off_s"]
                            and tj - s["raised_at"][i] >= cfg["min_hold_s"]):
                        events.append(self._event("cleared", i, tj, x[i, j]))
                        s["active"][i] = 0
                        s["severity"][i] = 0
                        s["below_n"][i] = 0
                        s["above_n"][i] = 0
                        s["raised_at"][i] = math.nan
                        # the next alarm's onset must date its own excursion: restart the onset CUSUM here
                        s["cusum"][i] = 0.0
                        s["cusum_start"][i] = math.nan
                        self._explanation[i] = ""
                        self._top[i] = ()
                active_out[i, j] = bool(s["active"][i])
        self.last_active_ = active_out
        self.last_statistic_ = x.copy()
        if cfg["keep"]:
            k = cfg["keep"]
            h = self._hist
            self._hist = {"time": np.concatenate([h["time"], t])[-k:],
                          "statistic": np.concatenate([h["statistic"], x], axis=1)[:, -k:],
                          "active": np.concatenate([h["active"], active_out], axis=1)[:, -k:]}
        events.sort(key=lambda e: e.time)
        return events

    def history(self, asset=0) -> dict:
        """The last ``keep`` samples of an asset: ``time`` [s], ``statistic``, ``threshold`` and ``active``."""
        i = self._index(asset)
        return {"time": self._hist["time"].copy(), "statistic": self._hist["statistic"][i].copy(),
                "threshold": float(self._s["threshold"][i]), "active": self._hist["active"][i].copy()}

    # ---------------------------------------------------------- operator actions
    def acknowledge(self, asset, time) -> list[AlarmEvent]:
        """Acknowledge the asset's alarm if it is up and not yet acknowledged; returns the event (or nothing)."""
        i = self._index(asset)
        if not self._s["active"][i] or self._s["acked"][i]:
            return []
        self._s["acked"][i] = 1
        return [self._event("acknowledged", i, time, self._s["last_stat"][i])]

    def shelve(self, asset, until, time) -> list[AlarmEvent]:
        """Shelve the asset until *until* [s]: it raises nothing (and does not escalate) before then."""
        i = self._index(asset)
        if not float(until) > float(time):
            raise ConfigurationError(f"shelve until {until!r} must be later than the time {time!r} of the request")
        self._s["shelved_until"][i] = float(until)
        return [self._event("shelved", i, time, self._s["last_stat"][i])]

    def explain(self, asset, text: str) -> None:
        """Attach an explanation (e.g. :func:`explain_diagnosis`) to the asset's current alarm."""
        i = self._index(asset)
        if not self._s["active"][i]:
            raise ConfigurationError(f"asset {asset!r} has no alarm up to explain; explain an alarm between its "
                                     f"'raised' and 'cleared' events")
        self._explanation[i] = str(text)

    def active_alarms(self) -> list[Alarm]:
        """The alarms that are up now, one per asset at most."""
        s = self._s
        return [Alarm(asset=self.config["assets"][i], alarm_id=self._alarm_id(i), source=self.config["source"],
                      raised=float(s["raised_at"][i]), onset=float(s["onset"][i]), severity=int(s["severity"][i]),
                      peak=float(s["peak"][i]), threshold=float(s["threshold"][i]), acknowledged=bool(s["acked"][i]),
                      shelved_until=float(s["shelved_until"][i]), top_channels=self._top[i],
                      explanation=self._explanation[i])
                for i in range(len(self.config["assets"])) if s["active"][i]]

    # ---------------------------------------------------------------- checkpoint
    def state_dict(self) -> dict:
        """Configuration and state as plain JSON-able data (infinities and NaN as strings)."""
        return {"type": "AlarmLogic", "config": dict(self.config),
                "state": {k: [_num(v) for v in self._s[k].tolist()] for k in _FLOAT_STATE + _INT_STATE},
                "contrib": self._contrib.tolist(), "explanation": list(self._explanation),
                "top": [[list(p) for p in tc] for tc in self._top],
                "history": {"time": [_num(v) for v in self._hist["time"].tolist()],
                            "statistic": [[_num(v) for v in row] for row in self._hist["statistic"].tolist()],
                            "active": self._hist["active"].astype(int).tolist()}}

    @classmethod
    def from_state(cls, state: dict) -> "AlarmLogic":
        """Logic rebuilt from :meth:`state_dict`."""
        if state.get("type") != "AlarmLogic":
            raise ConfigurationError(f"state of a {state.get('type')!r} is not an AlarmLogic checkpoint")
        cfg = dict(state["config"])
        threshold = [_unnum(v) for v in state["state"]["threshold"]]
        logic = cls(threshold, **cfg)
        return logic.load_state(state)

    def load_state(self, state: dict) -> "AlarmLogic":
        """Take over the state of :meth:`state_dict` (the configuration must match)."""
        if state["config"]["assets"] != self.config["assets"]:
            raise ConfigurationError(f"checkpoint assets {state['config']['assets']} differ from "
                                     f"{self.config['assets']}; rebuild with AlarmLogic.from_state")
        self.config = dict(state["config"])
        for k in _FLOAT_STATE:
            self._s[k] = np.array([_unnum(v) for v in state["state"][k]], dtype=float)
        for k in _INT_STATE:
            self._s[k] = np.array(state["state"][k], dtype=np.int64)
        self._contrib = np.array(state["contrib"], dtype=float).reshape(len(self.config["assets"]), -1)
        self._explanation = list(state["explanation"])
        self._top = [tuple((str(a), float(b)) for a, b in tc) for tc in state["top"]]
        h = state.get("history")
        if h is not None:
            n = len(self.config["assets"])
            self._hist = {"time": np.array([_unnum(v) for v in h["time"]], dtype=float),
                          "statistic": np.array([[_unnum(v) for v in row] for row in h["statistic"]],
                                                dtype=float).reshape(n, -1),
                          "active": np.array(h["active"], dtype=bool).reshape(n, -1)}
        return self


def _num(v):
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)  # 'inf', '-inf', 'nan': JSON has no literal for them
    return v


def _unnum(v):
    return float(v) if isinstance(v, str) else v

