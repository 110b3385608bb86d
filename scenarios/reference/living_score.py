r"""Score a living twin's timeline against the living scenario's truth (:mod:`scenarios.reference.living`).

The twin's timeline comes in as plain tables (pandas DataFrames, or lists of
dicts with these keys), so any service can be scored without importing it.
Time stamps are UTC (tz-aware, or ISO strings with an offset; naive stamps are
taken as UTC).

=================  ==================================================================================
table              columns
=================  ==================================================================================
alarms             ``raised`` (required), ``cleared`` (optional; missing/NaT: still active at the
                   record's end), ``estimated_onset`` (optional: when the twin thinks the change began)
diagnoses          ``time``, ``hypothesis`` (the name the twin's diagnosis ranked first)
recalibrations     ``time`` (when the twin changed its parameters); other columns are ignored
tracks             ``time``, ``parameter``, ``low``, ``high`` (the twin's interval for a truth parameter,
                   held until the parameter's next row)
events             :func:`~scenarios.reference.living.truth_events` or :func:`read_events`: ``event``,
                   ``onset``, ``end``, ``alarm`` (should a twin alarm), ``hypothesis`` (the right
                   diagnosis), ``parameter``
clean_days         ``start``, ``end`` (:func:`~scenarios.reference.living.clean_days`)
truth              :func:`~scenarios.reference.living.truth_parameters`: UTC index, one column per
                   parameter (held until the next row)
=================  ==================================================================================

The rules, exactly:

* An event with ``alarm`` true has the *scoring window* ``[onset, end + grace)``.
  An alarm raised in it *detects* the event; the first such alarm gives the
  detection delay ``raised - onset`` [s] and, with an ``estimated_onset``, the
  onset error ``estimated_onset - onset`` [s].
* Every alarm raised outside all scoring windows is a *false alarm*: on a clean
  day, during a quiet event (``alarm`` false, e.g. the measured heat wave:
  the twin should follow it) or elsewhere.  *Alarm-hours on clean days* is the
  time any alarm (false or not) is active inside a clean day [h].
* The diagnosis of an event is the first diagnosis in its scoring window (for
  a quiet event: in ``[onset, end + grace)`` but outside every scoring
  window); it is *right* when its hypothesis is the event's ``hypothesis``.
* Recalibrations are counted the same way, per event, on clean days and
  during quiet events (where none should happen).
* Coverage of a parameter over an interval is the fraction of that time in
  which the track's interval ``[low, high]`` holds the truth's value, both
  piecewise constant (time before a parameter's first track row counts as not
  covered).  Per event: its parameter over its ``[onset, end)`` - or, when the
  twin does not track the parameter but the state it drives
  (:data:`EVENT_STATES`: a fouling rate drives the strainer's resistance, a
  wear rate the bearing's wear), that state; per parameter: over the span from
  the first track row to the end of the record.  A twin that holds a fault
  parameter at its healthy value until it has diagnosed the fault cannot cover
  an event before its diagnosis, so each event also gets the coverage from its
  first diagnosis to its end (``coverage_diagnosed``: are the diagnosed
  intervals honest?) and that stretch's share of the event
  (``diagnosed_share``: the most such a twin can reach, set by the detection
  and diagnosis delay).
* NAB-style summary (after the Numenta Anomaly Benchmark, simplified): the
  first alarm in a scoring window earns ``A_TP * sigma(y)`` with
  ``y = (raised - w_end) / (w_end - w_start)`` in ``[-1, 0)`` and
  ``sigma(y) = 2 / (1 + exp(5 y)) - 1``; a missed window costs ``A_FN``;
  every false alarm costs ``A_FP`` (NAB weighs false alarms right after a
  window less; here all cost the same).  The raw score is normalised as
  ``100 (S - S_null) / (S_perfect - S_null)`` with ``S_null = -A_FN n`` (no
  alarms) and ``S_perfect = A_TP sigma(-1) n`` (every window detected at its
  start), n windows.  Profiles :data:`NAB_PROFILES`: ``standard`` (A_TP 1,
  A_FP 0.11, A_FN 1), ``low_fp`` (A_FP 0.22), ``low_fn`` (A_FN 2).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.exceptions import ConfigurationError

__all__ = ["EVENT_STATES", "NAB_PROFILES", "LivingScore", "coverage_fraction", "nab_sigma", "read_events",
           "score_living"]

#: Event parameter -> the state it drives (what a filter tracks of it): per-event coverage falls back to it.
EVENT_STATES = {"fouling_rate": "strainer_resistance", "ambient_load": "local_air_excess",
                "sensor_drift_rate": "sensor_offset", "bearing_wear_rate": "bearing_wear"}

#: NAB application profiles: weights of a true positive, a false positive and a false negative.
NAB_PROFILES = {"standard": (1.0, 0.11, 1.0), "low_fp": (1.0, 0.22, 1.0), "low_fn": (1.0, 0.11, 2.0)}


@dataclass(frozen=True)
class LivingScore:
    """What :func:`score_living` finds.

    Attributes
    ----------
    events : pandas.DataFrame
        One row per event (index ``event``): ``alarm`` (expected), ``detected``, ``first_alarm``, ``delay_s``
        [s], ``estimated_onset``, ``onset_error_s`` [s], ``alarms`` (raised in its window), ``diagnosis``,
        ``diagnosis_right``, ``diagnosed_at`` (that diagnosis's time), ``recalibrations``, ``coverage`` (its
        parameter - or the state it drives - over the event; NaN without a track), ``covered`` (which of the two:
        the tracked name, or None), ``coverage_diagnosed`` (the same from ``diagnosed_at`` to the event's end;
        NaN without a diagnosis before the end), ``diagnosed_share`` (that stretch over the event's duration) and
        ``nab`` (the window's standard-profile score; NaN for quiet events).
    false_alarms : pandas.DataFrame
        The false alarms: ``raised``, ``cleared``, ``where`` (``clean day``, ``quiet event <name>`` or
        ``other``).
    coverage : pandas.DataFrame
        Per tracked parameter (index): ``hours`` tracked and ``coverage`` over them.
    summary : dict
        The headline numbers (see :func:`score_living`).
    """

    events: pd.DataFrame
    false_alarms: pd.DataFrame
    coverage: pd.DataFrame
    summary: dict


def nab_sigma(y: float) -> float:
    """NAB's scaled sigmoid ``2 / (1 + exp(5 y)) - 1`` of the relative position *y* in a window."""
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def read_events(path=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The events table and the clean days of a ``living_events.json`` (default: the bundled one).

    Returns
    -------
    events, clean_days : pandas.DataFrame
        As :func:`~scenarios.reference.living.truth_events` (``channels`` as tuples) and
        :func:`~scenarios.reference.living.clean_days`, with UTC timestamps.
    """
    if path is None:
        path = Path(__file__).with_name("data") / "living_events.json"
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigurationError(f"events file '{path}' cannot be read ({err.strerror}); fix: check the path, or "
                                 f"write it with `python -m scenarios.reference.living`") from err
    except json.JSONDecodeError as err:
        raise ConfigurationError(f"events file '{path}' is not valid JSON ({err}); fix: regenerate it with "
                                 f"`python -m scenarios.reference.living`") from err
    if not (isinstance(doc, dict) and {"events", "clean_days"} <= set(doc)):
        raise ConfigurationError(f"events file '{path}' lacks 'events' or 'clean_days'; fix: regenerate it with "
                                 f"`python -m scenarios.reference.living`")
    events = pd.DataFrame(doc["events"])
    for column in ("onset", "end"):
        events[column] = pd.to_datetime(events[column], utc=True)
    events["channels"] = events["channels"].map(tuple)
    days = pd.DataFrame(doc["clean_days"], columns=["date", "start", "end"])
    for column in ("start", "end"):
        days[column] = pd.to_datetime(days[column], utc=True)
    return events, days[["start", "end", "date"]]


# ----------------------------------------------------------------- input tables
def _table(data, name: str, required: Sequence[str], times: Sequence[str]) -> pd.DataFrame:
    """*data* (DataFrame, list of dicts or None) as a DataFrame with *required* columns and UTC *times*."""
    if data is None:
        frame = pd.DataFrame(columns=list(required))
    elif isinstance(data, pd.DataFrame):
        frame = data.copy()
    elif isinstance(data, Sequence) and all(isinstance(row, Mapping) for row in data):
        frame = pd.DataFrame(list(data), columns=None if data else list(required))
    else:
        raise ConfigurationError(f"{name} is a {type(data).__name__}; fix: pass a pandas DataFrame or a list of dicts "
                                 f"with the columns {list(required)}")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ConfigurationError(f"{name} lacks the column(s) {missing} (it has {list(frame.columns)}); fix: give "
                                 f"{list(required)} (see scenarios.reference.living_score)")
    for column in times:
        if column not in frame.columns:
            frame[column] = pd.NaT
        try:
            frame[column] = pd.to_datetime(frame[column], utc=True)
        except (ValueError, TypeError) as err:
            raise ConfigurationError(f"{name}: column {column!r} holds values that are not time stamps ({err}); "
                                     f"fix: give UTC times (ISO 8601 with offset, or tz-aware timestamps)") from err
    for column in times:
        if column in required and frame[column].isna().any():
            row = int(np.flatnonzero(frame[column].isna().to_numpy())[0])
            raise ConfigurationError(f"{name}: row {row} has no {column!r} time; fix: give every row its time")
    return frame.reset_index(drop=True)


def _inside(times: pd.Series, start, end) -> np.ndarray:
    return ((times >= start) & (times < end)).to_numpy(dtype=bool)


def _overlap_hours(starts: pd.Series, ends: pd.Series, a, b) -> float:
    """Total overlap of the intervals [starts, ends) with [a, b) [h]."""
    total = 0.0
    for s, e in zip(starts, ends):
        total += max(0.0, (min(e, b) - max(s, a)).total_seconds())
    return total / 3600.0


def coverage_fraction(track: pd.DataFrame, truth: pd.Series, start, end) -> float:
    """Fraction of ``[start, end)`` in which the track's ``[low, high]`` holds the truth (both held constant
    between their rows; before the track's first row nothing is covered).

    Parameters
    ----------
    track : pandas.DataFrame
        Columns ``time`` (UTC), ``low``, ``high``, for one parameter.
    truth : pandas.Series
        The parameter's truth on a UTC index.
    start, end : pandas.Timestamp
        The interval [UTC].
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if not end > start:
        raise ConfigurationError(f"coverage interval [{start}, {end}) is empty; fix: give end > start")
    track = track.sort_values("time", kind="stable")
    truth = truth.sort_index()
    t_track = track["time"].to_numpy(dtype="datetime64[ns]")
    t_truth = truth.index.to_numpy(dtype="datetime64[ns]") if len(truth) else np.array([], "datetime64[ns]")
    a, b = np.datetime64(start.tz_convert("UTC").tz_localize(None), "ns"), np.datetime64(
        end.tz_convert("UTC").tz_localize(None), "ns")
    edges = np.unique(np.concatenate([[a, b], t_track, t_truth]))
    edges = edges[(edges >= a) & (edges <= b)]
    seg_start, seg_len = edges[:-1], np.diff(edges).astype(np.float64)
    i = np.searchsorted(t_track, seg_start, side="right") - 1
    j = np.searchsorted(t_truth, seg_start, side="right") - 1
    ok = (i >= 0) & (j >= 0)
    low = np.where(ok, track["low"].to_numpy(dtype=float)[np.clip(i, 0, None)], np.nan)
    high = np.where(ok, track["high"].to_numpy(dtype=float)[np.clip(i, 0, None)], np.nan)
    value = np.where(ok, truth.to_numpy(dtype=float)[np.clip(j, 0, None)] if len(truth) else np.nan, np.nan)
    covered = ok & (low <= value) & (value <= high)
    return float(seg_len[covered].sum() / seg_len.sum())


# ----------------------------------------------------------------- the score
def score_living(alarms, diagnoses, recalibrations, events, *, clean_days, tracks=None, truth=None,
                 grace: float = 3600.0, record_end=None) -> LivingScore:
    """Score a twin's alarms, diagnoses, recalibrations and parameter tracks against the scenario's truth.

    Parameters
    ----------
    alarms, diagnoses, recalibrations : pandas.DataFrame or list of dict or None
        The twin's timeline (columns in the module's table; None: none).
    events : pandas.DataFrame or list of dict
        The truth table (:func:`~scenarios.reference.living.truth_events` or :func:`read_events`).
    clean_days : pandas.DataFrame or list of dict
        Clean days (``start``, ``end``).
    tracks : pandas.DataFrame or list of dict, optional
        The twin's parameter intervals; needs *truth*.
    truth : pandas.DataFrame, optional
        The truth's parameters (:func:`~scenarios.reference.living.truth_parameters`).
    grace : float
        Time after an event's end in which an alarm, diagnosis or recalibration still counts for it [s].
    record_end : timestamp-like, optional
        End of the record (open alarms are active until then); default: the latest time in the inputs.

    Returns
    -------
    LivingScore
        ``summary`` keys: ``events`` (alarm-expected), ``detected``, ``missed``, ``mean_delay_s``,
        ``median_delay_s``, ``diagnosed``, ``diagnoses_right``, ``false_alarms``, ``false_alarms_clean_days``,
        ``false_alarms_quiet_events``, ``alarm_hours_clean_days`` [h], ``clean_days``, ``recalibrations_clean_days``,
        ``recalibrations_quiet_events``, ``coverage`` (time-weighted over all tracked parameters; NaN without
        tracks), ``coverage_events`` and ``coverage_diagnosed`` (the mean over the alarm-worthy events of their
        ``coverage`` and ``coverage_diagnosed``, those that have one; NaN if none) and ``nab_standard``,
        ``nab_low_fp``, ``nab_low_fn`` (normalised, 100 = perfect, 0 = no alarms).
    """
    if not (isinstance(grace, (int, float)) and math.isfinite(grace) and grace >= 0):
        raise ConfigurationError(f"grace = {grace!r} must be a finite number of seconds >= 0")
    alarms = _table(alarms, "alarms", ["raised"], ["raised", "cleared", "estimated_onset"])
    diagnoses = _table(diagnoses, "diagnoses", ["time", "hypothesis"], ["time"])
    recalibrations = _table(recalibrations, "recalibrations", ["time"], ["time"])
    events = _table(events, "events", ["event", "onset", "end", "alarm", "hypothesis", "parameter"],
                    ["onset", "end"])
    days = _table(clean_days, "clean_days", ["start", "end"], ["start", "end"])
    if (events["end"] <= events["onset"]).any():
        bad = events.loc[events["end"] <= events["onset"], "event"].tolist()
        raise ConfigurationError(f"events {bad} end before they begin; fix: give end > onset")
    if tracks is not None and truth is None:
        raise ConfigurationError("tracks were given without truth; fix: pass truth=truth_parameters(scenario)")
    tracks = _table(tracks, "tracks", ["time", "parameter", "low", "high"], ["time"])
    grace_td = pd.Timedelta(seconds=float(grace))
    if record_end is None:
        stamps = [events["end"].max() + grace_td, days["end"].max(), alarms["raised"].max(), alarms["cleared"].max(),
                  diagnoses["time"].max(), recalibrations["time"].max(), tracks["time"].max()]
        record_end = max(s for s in stamps if not pd.isna(s))
    record_end = pd.Timestamp(record_end)
    record_end = record_end.tz_localize("UTC") if record_end.tzinfo is None else record_end.tz_convert("UTC")

    loud = events[events["alarm"].astype(bool)]
    quiet = events[~events["alarm"].astype(bool)]

    def in_windows(times: pd.Series) -> np.ndarray:
        hit = np.zeros(len(times), dtype=bool)
        for row in loud.itertuples(index=False):
            hit |= _inside(times, row.onset, row.end + grace_td)
        return hit

    def in_days(times: pd.Series) -> np.ndarray:
        hit = np.zeros(len(times), dtype=bool)
        for row in days.itertuples(index=False):
            hit |= _inside(times, row.start, row.end)
        return hit

    alarm_in_window = in_windows(alarms["raised"])
    diagnosis_in_window = in_windows(diagnoses["time"])
    recal_in_window = in_windows(recalibrations["time"])

    rows = []
    tp, fn = [], 0
    for ev in events.itertuples(index=False):
        lo, hi = ev.onset, ev.end + grace_td
        if ev.alarm:
            a_mask, d_mask, r_mask = (_inside(alarms["raised"], lo, hi), _inside(diagnoses["time"], lo, hi),
                                      _inside(recalibrations["time"], lo, hi))
        else:
            a_mask = _inside(alarms["raised"], lo, hi) & ~alarm_in_window
            d_mask = _inside(diagnoses["time"], lo, hi) & ~diagnosis_in_window
            r_mask = _inside(recalibrations["time"], lo, hi) & ~recal_in_window
        hits = alarms[a_mask].sort_values("raised", kind="stable")
        first = hits.iloc[0] if len(hits) else None
        diag = diagnoses[d_mask].sort_values("time", kind="stable")
        diagnosis = diag["hypothesis"].iloc[0] if len(diag) else None
        diagnosed_at = diag["time"].iloc[0] if len(diag) else pd.NaT
        nab = np.nan
        if ev.alarm:
            if first is None:
                fn += 1
            else:
                y = (first["raised"] - hi) / (hi - lo)
                tp.append(nab_sigma(y))
                nab = NAB_PROFILES["standard"][0] * tp[-1]
        estimated = first["estimated_onset"] if first is not None else pd.NaT
        rows.append({
            "event": ev.event, "alarm": bool(ev.alarm), "detected": bool(ev.alarm and first is not None),
            "first_alarm": first["raised"] if (ev.alarm and first is not None) else pd.NaT,
            "delay_s": (first["raised"] - ev.onset).total_seconds() if (ev.alarm and first is not None) else np.nan,
            "estimated_onset": estimated if ev.alarm else pd.NaT,
            "onset_error_s": (estimated - ev.onset).total_seconds() if (ev.alarm and not pd.isna(estimated))
            else np.nan,
            "alarms": int(a_mask.sum()), "diagnosis": diagnosis,
            "diagnosis_right": None if diagnosis is None else bool(diagnosis == ev.hypothesis),
            "diagnosed_at": diagnosed_at, "recalibrations": int(r_mask.sum()), "coverage": np.nan, "covered": None,
            "coverage_diagnosed": np.nan,
            "diagnosed_share": float(max(0.0, (ev.end - diagnosed_at).total_seconds()) / (ev.end - ev.onset)
                                     .total_seconds()) if not pd.isna(diagnosed_at) else 0.0, "nab": nab,
        })
    table = pd.DataFrame(rows).set_index("event")

    # false alarms: raised outside every scoring window
    false = alarms[~alarm_in_window].copy()
    where = np.full(len(false), "other", dtype=object)
    for ev in quiet.itertuples(index=False):
        where[_inside(false["raised"], ev.onset, ev.end + grace_td) & (where == "other")] = f"quiet event {ev.event}"
    where[in_days(false["raised"])] = "clean day"
    false["where"] = where
    false = false[["raised", "cleared", "where"]].reset_index(drop=True)
    cleared = alarms["cleared"].where(alarms["cleared"].notna(), record_end)
    alarm_hours = sum(_overlap_hours(alarms["raised"], cleared, d.start, d.end) for d in days.itertuples(index=False))
    recal_quiet = int(table.loc[~table["alarm"], "recalibrations"].sum()) if len(table) else 0

    # coverage
    cover_rows = {}
    if len(tracks):
        for name, track in tracks.groupby("parameter", sort=True):
            if name not in truth.columns:
                raise ConfigurationError(f"tracks: parameter {name!r} has no truth; fix: track one of "
                                         f"{list(truth.columns)}")
            first_time = track["time"].min()
            if record_end > first_time:
                cover_rows[name] = {"hours": (record_end - first_time).total_seconds() / 3600.0,
                                    "coverage": coverage_fraction(track, truth[name], first_time, record_end)}
        for ev in events.itertuples(index=False):
            for name in (ev.parameter, EVENT_STATES.get(ev.parameter)):
                track = tracks[tracks["parameter"] == name]
                if name is not None and len(track) and name in truth.columns:
                    table.loc[ev.event, "coverage"] = coverage_fraction(track, truth[name], ev.onset, ev.end)
                    table.loc[ev.event, "covered"] = name
                    since = table.loc[ev.event, "diagnosed_at"]
                    if not pd.isna(since) and since < ev.end:
                        table.loc[ev.event, "coverage_diagnosed"] = coverage_fraction(track, truth[name], since,
                                                                                      ev.end)
                    break
    coverage = pd.DataFrame.from_dict(cover_rows, orient="index", columns=["hours", "coverage"])
    coverage.index.name = "parameter"

    n, n_false = len(loud), len(false)
    nab = {}
    for profile, (a_tp, a_fp, a_fn) in NAB_PROFILES.items():
        raw = a_tp * sum(tp) - a_fn * fn - a_fp * n_false
        null, perfect = -a_fn * n, a_tp * nab_sigma(-1.0) * n
        nab[f"nab_{profile}"] = 100.0 * (raw - null) / (perfect - null) if n else np.nan
    delays = table.loc[table["detected"], "delay_s"] if len(table) else pd.Series(dtype=float)
    judged = table["diagnosis_right"].dropna() if len(table) else pd.Series(dtype=object)
    summary = {
        "events": n, "detected": int(table["detected"].sum()) if len(table) else 0, "missed": fn,
        "mean_delay_s": float(delays.mean()) if len(delays) else np.nan,
        "median_delay_s": float(delays.median()) if len(delays) else np.nan,
        "diagnosed": int(len(judged)), "diagnoses_right": int(judged.astype(bool).sum()),
        "false_alarms": n_false, "false_alarms_clean_days": int((false["where"] == "clean day").sum()),
        "false_alarms_quiet_events": int(false["where"].str.startswith("quiet event").sum()),
        "alarm_hours_clean_days": alarm_hours, "clean_days": len(days),
        "recalibrations_clean_days": int(in_days(recalibrations["time"]).sum()),
        "recalibrations_quiet_events": recal_quiet,
        "coverage": float((coverage["hours"] * coverage["coverage"]).sum() / coverage["hours"].sum())
        if len(coverage) else np.nan,
        **{f"coverage_{key}": float(values.mean()) if len(values) else np.nan for key, values in (
            ("events", table.loc[table["alarm"], "coverage"].dropna() if len(table) else pd.Series(dtype=float)),
            ("diagnosed", table.loc[table["alarm"], "coverage_diagnosed"].dropna() if len(table)
             else pd.Series(dtype=float)))},
        **nab,
    }
    return LivingScore(events=table, false_alarms=false, coverage=coverage, summary=summary)
