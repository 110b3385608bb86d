"""Reason texts of quarantined samples, built per gate for whole arrays of rejected samples.

The texts are those of :func:`sim.telemetry.gates.time_reason` and
:func:`sim.telemetry.gates.value_reason`; here each gate's template is filled for all its
samples at once, so that a file with many rejects costs no Python call per sample.
"""

from __future__ import annotations

import numpy as np

from sim.telemetry import gates
from sim.telemetry.gates import NAT
from sim.telemetry.gates.parse import REDELIVERY

__all__ = ["utc_text", "time_reasons", "value_reasons"]


def utc_text(ns: np.ndarray) -> np.ndarray:
    """ISO 8601 text of UTC stamps as ``pandas.Timestamp.isoformat`` writes it (``"none yet"`` for NAT)."""
    ns = np.asarray(ns, dtype=np.int64)
    out = np.full(ns.size, "none yet", dtype=object)
    seen = ns != NAT
    for unit, pick in (("s", ns % 1_000_000_000 == 0), ("us", (ns % 1000 == 0) & (ns % 1_000_000_000 != 0)),
                       ("ns", ns % 1000 != 0)):
        pick &= seen
        if pick.any():
            text = np.datetime_as_string(ns[pick].view("datetime64[ns]"), unit=unit)
            out[pick] = np.char.add(text, "+00:00").astype(object)
    return out


def _reprs(raws: np.ndarray) -> list[str]:
    return [repr(r) for r in raws]


def time_reasons(codes: np.ndarray, raws: np.ndarray, stamps: np.ndarray, latest: np.ndarray, notes: np.ndarray,
                 time_column: str, *, lateness: float, future_tolerance: float | None) -> np.ndarray:
    """Reasons of samples rejected by the time gates ``timestamp_unparseable`` .. ``timestamp_non_monotonic``
    (and ``redelivery``, whose reason a live source wrote in *notes*).

    Parameters
    ----------
    codes : numpy.ndarray of int
        Gate code per sample.
    raws, notes : numpy.ndarray of object
        Raw time cells and notes of the parser (for ``timestamp_unparseable``).
    stamps, latest : numpy.ndarray of int64
        Parsed stamp and newest stamp seen before the sample [UTC ns].
    time_column : str
        Name of the time column.
    lateness, future_tolerance : float
        The channel's allowed lateness and the map's future tolerance [s].
    """
    out = np.empty(codes.size, dtype=object)
    for code in np.unique(codes):
        pick = np.flatnonzero(codes == code)
        if code == REDELIVERY:  # decided by a live source, whose note is the whole reason
            out[pick] = notes[pick]
            continue
        r = _reprs(raws[pick])
        if code == gates.UNPARSEABLE_TIME:
            out[pick] = [f"time {a} in column {time_column!r}: {b}; the whole row is quarantined"
                         for a, b in zip(r, notes[pick])]
            continue
        at = utc_text(stamps[pick])
        if code == gates.FUTURE:
            tail = (f") lies in the future, more than future_tolerance {future_tolerance or 0:g} s after the time "
                    f"of reading; fix the device clock or set its clock_offset")
            out[pick] = [f"time {a} (= {b}{tail}" for a, b in zip(r, at)]
        elif code == gates.DUPLICATE:
            out[pick] = [f"time {a} (= {b}) repeats an accepted timestamp; the first row is kept"
                         for a, b in zip(r, at)]
        elif lateness > 0:
            mid = f") is more than the allowed lateness {lateness:g} s older than the newest timestamp "
            out[pick] = [f"time {a} (= {b}{mid}{c}; it came too late for the reorder buffer"
                         for a, b, c in zip(r, at, utc_text(latest[pick]))]
        else:
            out[pick] = [f"time {a} (= {b}) is earlier than the latest accepted timestamp {c}; rows are not reordered"
                         for a, b, c in zip(r, at, utc_text(latest[pick]))]
    return out


def _g(values: np.ndarray) -> list[str]:
    return [f"{v:g}" for v in values.tolist()]


def value_reasons(codes: np.ndarray, raws: np.ndarray, values: np.ndarray, overflow: np.ndarray, *, channel,
                  decimal: str) -> np.ndarray:
    """Reasons of samples rejected by the value gates ``missing`` .. ``spike``.

    Parameters
    ----------
    codes : numpy.ndarray of int
        Gate code per sample.
    raws : numpy.ndarray of object
        Raw value cells as text.
    values : numpy.ndarray of float64
        Parsed values in the source unit [unit].
    overflow : numpy.ndarray of bool
        Finite source values that overflow to infinity in SI.
    channel : Channel
        The channel (name, unit, range and rules).
    decimal : str
        Decimal mark of text values.
    """
    c, unit = channel, channel.unit
    out = np.empty(codes.size, dtype=object)
    for code in np.unique(codes):
        pick = np.flatnonzero(codes == code)
        if code == gates.MISSING:
            out[pick] = [f"{c.name}: cell {a} is empty or a missing-value marker" for a in _reprs(raws[pick])]
        elif code == gates.UNPARSEABLE:
            tail = (f" is not a number (expected plain decimal notation such as '-12{decimal}5' or "
                    f"'1{decimal}2e3', decimal mark {decimal!r}; grouped numbers such as '1.030,5' need the channel "
                    f"map's thousands key)")
            out[pick] = [f"{c.name}: value {a}{tail}" for a in _reprs(raws[pick])]
        elif code == gates.NON_FINITE:  # rare: one text per sample
            out[pick] = [gates.value_reason(int(code), str(a), float(v), c.name, unit, decimal, c.valid_range, bool(o))
                         for a, v, o in zip(raws[pick], values[pick], overflow[pick])]
        elif code == gates.STUCK:
            rule = c.stuck
            tail = (f" {unit} has repeated (within {rule.tolerance:g} {unit}) for more than {rule.samples} samples: "
                    f"stuck sensor (the run's first {rule.samples} values were accepted before the run became "
                    f"implausible; this and every further value of the run are quarantined)")
            out[pick] = [f"{c.name}: value {v}{tail}" for v in _g(values[pick])]
        elif code == gates.SPIKE:
            rule = c.spike
            tail = (f" {unit} is a spike: its robust z-score against the median of the last {rule.window} values "
                    f"exceeds {rule.threshold:g} (and the deviation exceeds {rule.min_deviation:g} {unit}), and it "
                    f"jumped as far from the value before it")
            out[pick] = [f"{c.name}: value {v}{tail}" for v in _g(values[pick])]
        else:
            low, high = c.valid_range
            tail = f" {unit} is outside the valid range [{low:g}, {high:g}] {unit}"
            out[pick] = [f"{c.name}: value {v}{tail}" for v in _g(values[pick])]
    return out
