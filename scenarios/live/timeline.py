"""The living twin's timeline: what happened, in source time - alarms with onsets, diagnoses, recalibrations
with before/after intervals, promotions and rejections, what-ifs.

:class:`Timeline` is a plain list of :class:`Event` s (checkpointed with the service); :meth:`Timeline.render`
prints it one event a line, ordered by source time::

    2026-07-20 10:03:20Z  alarm raised       twin  residual d2 14.2 > 9.1 (onset 10:01:10Z; flow, motor_current)
    2026-07-20 10:33:20Z  diagnosis          twin  strainer_fouling (weight 0.97) ahead of sensor_drift ...
    2026-07-20 10:33:21Z  recalibration      twin  pipe_resistance 11020 [10990, 11050] -> 11410 [11370, 11450]
    2026-07-20 11:33:21Z  promoted           twin  challenger v2: residual RMS 1.02 vs champion 2.31 on ...
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

__all__ = ["KINDS", "Event", "Timeline"]

#: Event kinds, in the words the timeline prints.
KINDS = ("started", "resumed", "alarm raised", "alarm escalated", "alarm cleared", "diagnosis pending", "diagnosis",
         "recalibration", "calibration failed", "promoted", "rejected", "rolled back", "prognosis", "what-if",
         "stopped", "source")


@dataclass(frozen=True)
class Event:
    """One timeline entry.

    Attributes
    ----------
    time : int
        Source time of the event [UTC ns].
    kind : str
        One of :data:`KINDS`.
    asset : str
        The asset it concerns ("" for the service).
    text : str
        What happened and why, one line.
    details : dict
        JSON-able details (intervals, scores, versions).
    """

    time: int
    kind: str
    asset: str
    text: str
    details: dict = field(default_factory=dict)

    def line(self) -> str:
        stamp = pd.Timestamp(int(self.time), tz="UTC").strftime("%Y-%m-%d %H:%M:%SZ")
        return f"{stamp}  {self.kind:<18} {self.asset:<6} {self.text}"


class Timeline:
    """An append-only list of events (see the module docstring)."""

    def __init__(self, events=()):
        self.events: list[Event] = list(events)

    def add(self, time: int, kind: str, text: str, *, asset: str = "", **details) -> Event:
        """Append an event at source time *time* [UTC ns]; returns it."""
        if kind not in KINDS:
            raise ValueError(f"timeline kind {kind!r} is not one of {KINDS}")
        event = Event(int(time), kind, asset, text, details)
        self.events.append(event)
        return event

    def of_kind(self, *kinds: str) -> list[Event]:
        return [e for e in self.events if e.kind in kinds]

    def __len__(self) -> int:
        return len(self.events)

    def render(self) -> str:
        """The events one a line, in source-time order (stable for equal times)."""
        return "\n".join(e.line() for e in sorted(self.events, key=lambda e: e.time))

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """The timeline as the living scorer's tables (:mod:`scenarios.reference.living_score`): alarms
        (``raised``, ``cleared``, ``estimated_onset``, ``asset``), diagnoses (``time``, ``hypothesis``) and
        recalibrations (``time``: promotions of a challenger, which change the twin's parameters)."""
        def ts(ns):
            return pd.Timestamp(int(ns), tz="UTC") if ns is not None else pd.NaT

        cleared = {e.details.get("alarm"): e.time for e in self.of_kind("alarm cleared")}
        alarms = pd.DataFrame([{"raised": ts(e.time), "cleared": ts(cleared.get(e.details.get("alarm"))),
                                "estimated_onset": ts(e.details.get("onset")), "asset": e.asset}
                               for e in self.of_kind("alarm raised")],
                              columns=["raised", "cleared", "estimated_onset", "asset"])
        diagnoses = pd.DataFrame([{"time": ts(e.time), "hypothesis": e.details.get("best")}
                                  for e in self.of_kind("diagnosis")], columns=["time", "hypothesis"])
        recal = pd.DataFrame([{"time": ts(e.time)} for e in self.of_kind("promoted")
                              if not e.text.startswith("first champion")], columns=["time"])
        return alarms, diagnoses, recal

    def state_dict(self) -> list[dict]:
        return [asdict(e) for e in self.events]

    def load_state(self, state) -> "Timeline":
        self.events = [Event(**e) for e in (state or [])]
        return self
