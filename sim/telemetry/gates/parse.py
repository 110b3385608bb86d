"""Data-quality gates: parse timestamps and values, each rejection with a reason.

The parsing gates work on whole columns of raw strings (vectorized); only rejected
cells are touched one by one, to write their reasons.  The gates that need state
carried from chunk to chunk (time order, reorder buffer, stuck sensors, spikes,
gaps) live in :mod:`sim.telemetry.gates.pipeline`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

__all__ = [
    "GATES",
    "TIME_GATES",
    "VALUE_GATES",
    "MISSING_TOKENS",
    "ParsedTimes",
    "parse_times",
    "localize",
    "resolve_ambiguous",
    "value_gates",
    "numeric_value_gates",
    "time_reason",
    "value_reason",
]

#: Gate names in the order they are applied; the code of a gate is its index + 1 (0 = passed).
GATES: tuple[str, ...] = (
    "schema",
    "timestamp_unparseable",
    "timestamp_future",
    "timestamp_duplicate",
    "timestamp_non_monotonic",
    "missing",
    "unparseable",
    "non_finite",
    "out_of_range",
    "stuck",
    "spike",
    "redelivery",  # a live source read the same message again (MQTT QoS 1, OPC UA resubscribe): read once
)
TIME_GATES, VALUE_GATES = GATES[1:5], GATES[5:11]
(SCHEMA, UNPARSEABLE_TIME, FUTURE, DUPLICATE, NON_MONOTONIC, MISSING, UNPARSEABLE, NON_FINITE, OUT_OF_RANGE,
 STUCK, SPIKE, REDELIVERY) = range(1, 13)

#: Cell texts (case-insensitive, stripped) that mean "no value".
MISSING_TOKENS = frozenset({"", "nan", "null", "na", "n/a", "#n/a", "none", "nil"})

NAT = np.iinfo(np.int64).min  # the int64 view of NaT
_NS_MIN, _NS_MAX = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
# A UTC offset after a time of day: "...T12:00:00+01:00", "... 12:00Z", "...T120000-0500".
# Written for RE2 (pyarrow runs it natively; `\s` or `\d` would fall back to Python's re).
# Offsets it misses (e.g. after a tab) are still found by pandas, see _parse_naive.
_OFFSET = r"[T ][0-9]{1,2}(?::?[0-9]{2}){0,2}(?:[.,][0-9]+)? *(?:[Zz]|[+-][0-9]{1,2}(?::?[0-9]{2})?)$"
# The number grammar: plain decimal notation, optionally with an exponent.  Anything else
# ("1,234", "0x1F", "1_000", "ERR") is unparseable; "inf"/"infinity" are non-finite.
_PLAIN_NUMBER = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_INFINITY = frozenset({"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})


class ParsedTimes(NamedTuple):
    """Timestamps of one chunk as int64 UTC nanoseconds (``NAT`` where unparseable).

    ``first`` and ``second`` differ only for naive local stamps in the repeated hour of
    a DST fall-back: ``first`` reads them as summer time, ``second`` as winter time.
    ``note`` explains each ``NAT`` (empty string elsewhere).
    """

    first: np.ndarray
    second: np.ndarray
    note: np.ndarray


def _to_ns(stamps: pd.DatetimeIndex) -> np.ndarray:
    """UTC nanoseconds; stamps outside the datetime64[ns] range become NAT."""
    stamps = stamps.tz_convert("UTC")
    stamps = stamps.where((stamps >= _NS_MIN) & (stamps <= _NS_MAX))
    return stamps.as_unit("ns").asi8.copy()


def _parse_aware(text: pd.Series, fmt: str) -> np.ndarray:
    """UTC nanoseconds of stamps that carry an offset."""
    try:
        return _to_ns(pd.DatetimeIndex(pd.to_datetime(text, format=fmt, errors="coerce", utc=True)))
    except (ValueError, TypeError, OverflowError):
        return np.array([_one(t, fmt, utc=True)[1] for t in text], dtype=np.int64)


def _parse_naive(text: pd.Series, fmt: str) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Naive stamps (NaT where the text had an offset after all) and UTC nanoseconds of those."""
    try:
        parsed = pd.DatetimeIndex(pd.to_datetime(text, format=fmt, errors="coerce"))
    except (ValueError, TypeError, OverflowError):  # naive and offset stamps mixed: rare, go one by one
        pairs = [_one(t, fmt, utc=False) for t in text]
        return pd.DatetimeIndex([p[0] for p in pairs]), np.array([p[1] for p in pairs], dtype=np.int64)
    if parsed.tz is None:
        return parsed, np.full(len(text), NAT, dtype=np.int64)
    return pd.DatetimeIndex(np.full(len(text), NAT).view("datetime64[ns]")), _to_ns(parsed)


def _one(text: str, fmt: str, utc: bool) -> tuple[pd.Timestamp, int]:
    """``(naive stamp or NaT, UTC ns or NAT)`` of one cell; the same rules as the vectorized path."""
    try:
        stamp = pd.to_datetime(text, format=fmt, errors="coerce", utc=utc)
    except (ValueError, TypeError, OverflowError):
        return pd.NaT, NAT
    if stamp is pd.NaT:
        return pd.NaT, NAT
    if stamp.tzinfo is None:
        return stamp, NAT
    return pd.NaT, int(_to_ns(pd.DatetimeIndex([stamp]))[0])


def localize(local: pd.DatetimeIndex, timezone: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """UTC nanoseconds of naive local stamps: ``(summer reading, winter reading, skipped)``.

    The two readings differ only in the repeated hour of a DST fall-back; *skipped*
    marks stamps in the hour that a DST spring-forward skips (they become ``NAT``).
    """
    if timezone == "UTC":
        ns = _to_ns(local.tz_localize("UTC"))
        return ns, ns.copy(), np.zeros(len(local), dtype=bool)
    k = len(local)
    summer = local.tz_localize(timezone, ambiguous=np.ones(k, bool), nonexistent="NaT")
    winter = local.tz_localize(timezone, ambiguous=np.zeros(k, bool), nonexistent="NaT")
    return _to_ns(summer), _to_ns(winter), np.asarray(local.notna() & summer.isna())


def parse_times(raw: pd.Series, *, timezone: str, time_format: str | None) -> ParsedTimes:
    """Parse time cells; naive stamps are local to *timezone*, the rest carry offsets.

    Parameters
    ----------
    raw : pandas.Series
        Time cells as strings.
    timezone : str
        IANA zone of naive stamps.
    time_format : str or None
        ``strftime`` format, None for ISO 8601.
    """
    text = raw.fillna("").astype(str).str.strip()
    n = len(text)
    if time_format is None:
        fmt, aware = "ISO8601", text.str.contains(_OFFSET, regex=True).to_numpy(dtype=bool)
    else:
        fmt, aware = time_format, np.full(n, "%z" in time_format or "%Z" in time_format)
    first, second = np.full(n, NAT, dtype=np.int64), np.full(n, NAT, dtype=np.int64)
    note = np.full(n, "", dtype=object)
    if aware.any():
        first[aware] = second[aware] = _parse_aware(text[aware], fmt)
    naive = np.flatnonzero(~aware)
    if naive.size:
        local, offset_ns = _parse_naive(text.iloc[naive], fmt)
        first[naive], second[naive], skipped = localize(local, timezone)
        note[naive[skipped]] = f"local time does not exist in {timezone} (clocks jump forward at the DST change)"
        has_offset = offset_ns != NAT  # offsets the pattern did not spot
        first[naive[has_offset]] = second[naive[has_offset]] = offset_ns[has_offset]
    bad = (first == NAT) & (note == "")
    what = "an ISO 8601 timestamp" if time_format is None else f"a timestamp of format {time_format!r}"
    if bad.any():
        note[bad & (text == "").to_numpy(dtype=bool)] = "the cell is empty"
        note[bad & (note == "")] = f"not {what} (years 1677 to 2262)"
    return ParsedTimes(first, second, note)


def resolve_ambiguous(times: ParsedTimes, latest: int) -> tuple[np.ndarray, int]:
    """Stamps of one chunk with the DST fall-back hour resolved, and the new latest stamp.

    A naive stamp in the repeated hour is read as summer time unless that would go back
    before the latest stamp seen so far, then as winter time (the second pass).

    Parameters
    ----------
    times : ParsedTimes
        Parsed stamps [UTC ns].
    latest : int
        Latest valid stamp before this chunk [UTC ns] (``NAT`` if none).
    """
    stamps = times.first
    ambiguous = np.flatnonzero(times.first != times.second) if times.second is not times.first else ()
    if len(ambiguous):  # rare: naive stamps in the repeated hour of a DST fall-back
        stamps = stamps.copy()
        valid = stamps != NAT
        running, start = latest, 0
        for i in ambiguous:
            segment = stamps[start:i][valid[start:i]]
            running = max(running, int(segment.max())) if segment.size else running
            if stamps[i] <= running:
                stamps[i] = times.second[i]
            running, start = max(running, int(stamps[i])), i + 1
    if stamps.size:
        latest = max(latest, int(stamps.max()))  # (NAT is the smallest int64: never the max of valid stamps)
    return stamps, latest


def value_gates(
    raw: pd.Series, *, decimal: str, valid_range: tuple[float, float] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Parse value cells and apply the gates missing, unparseable, non_finite, out_of_range.

    Parameters
    ----------
    raw : pandas.Series
        Value cells as strings.
    decimal : str
        Decimal mark, ``"."`` or ``","``.
    valid_range : tuple[float, float] or None
        Inclusive range in the source unit [unit].

    Returns
    -------
    values : numpy.ndarray of float64
        Parsed values in the source unit (NaN where missing or unparseable) [unit].
    codes : numpy.ndarray of int8
        0 where the value passed, else the gate code.
    """
    text = raw.fillna("").astype(str).str.strip()
    if decimal != ".":
        foreign = text.str.contains(".", regex=False).to_numpy(dtype=bool)
        text = text.str.replace(decimal, ".", regex=False)
    else:
        foreign = np.zeros(len(text), dtype=bool)
    plain = text.str.fullmatch(_PLAIN_NUMBER).to_numpy(dtype=bool) & ~foreign
    values = np.full(len(text), np.nan)
    if plain.any():
        values[plain] = _to_float(text[plain])
    codes = np.where(plain, 0, UNPARSEABLE).astype(np.int8)
    codes[plain & np.isinf(values)] = NON_FINITE  # beyond the float64 range, e.g. "1e999"
    other = np.flatnonzero(~plain)
    if other.size:  # the rest is unparseable unless it is a missing-value marker or infinity
        lower = text.iloc[other].str.lower()
        infinite = other[lower.isin(_INFINITY).to_numpy(dtype=bool)]
        values[infinite] = np.where(text.iloc[infinite].str.startswith("-").to_numpy(dtype=bool), -np.inf, np.inf)
        codes[infinite] = NON_FINITE
        codes[other[lower.isin(MISSING_TOKENS).to_numpy(dtype=bool)]] = MISSING
    if valid_range is not None:
        low, high = valid_range
        codes[(codes == 0) & ((values < low) | (values > high))] = OUT_OF_RANGE
    return values, codes


def numeric_value_gates(values: np.ndarray, *, valid_range: tuple[float, float] | None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """The value gates for numbers that need no parsing (Parquet, DataFrame, JSON numbers).

    NaN is ``missing``, infinity ``non_finite``; the rest as in :func:`value_gates`.

    Parameters
    ----------
    values : numpy.ndarray
        Values in the source unit [unit], any real dtype.
    valid_range : tuple[float, float] or None
        Inclusive range in the source unit [unit].
    """
    values = np.asarray(values, dtype=np.float64)
    codes = np.zeros(values.size, dtype=np.int8)
    finite = np.isfinite(values)
    if not finite.all():
        codes[np.isnan(values)] = MISSING
        codes[np.isinf(values)] = NON_FINITE
    if valid_range is not None:
        low, high = valid_range
        codes[finite & ((values < low) | (values > high))] = OUT_OF_RANGE
    return values, codes


def _to_float(text: pd.Series) -> np.ndarray:
    """Parse strings of the plain number grammar (correctly rounded either way)."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:  # pragma: no cover - pandas without pyarrow
        return text.astype("float64").to_numpy(dtype=np.float64)
    return pc.cast(pa.array(text, type=pa.string()), pa.float64()).to_numpy(zero_copy_only=False)


def _utc(ns: int) -> str:
    return "none yet" if ns == NAT else pd.Timestamp(ns, tz="UTC").isoformat()


def time_reason(code: int, raw: str, stamp: int, latest: int, note: str, time_column: str, *,
                lateness: float = 0.0, future_tolerance: float | None = None) -> str:
    """Human text for a sample rejected by a timestamp gate.

    *lateness* is the allowed lateness [s]; *future_tolerance* the allowed lead over the time of reading [s].
    """
    if code == UNPARSEABLE_TIME:
        return f"time {raw!r} in column {time_column!r}: {note}; the whole row is quarantined"
    if code == FUTURE:
        return (f"time {raw!r} (= {_utc(stamp)}) lies in the future, more than future_tolerance "
                f"{future_tolerance or 0:g} s after the time of reading; fix the device clock or set its clock_offset")
    if code == DUPLICATE:
        return f"time {raw!r} (= {_utc(stamp)}) repeats an accepted timestamp; the first row is kept"
    if lateness > 0:
        return (f"time {raw!r} (= {_utc(stamp)}) is more than the allowed lateness {lateness:g} s older than "
                f"the newest timestamp {_utc(latest)}; it came too late for the reorder buffer")
    return (
        f"time {raw!r} (= {_utc(stamp)}) is earlier than the latest accepted timestamp "
        f"{_utc(latest)}; rows are not reordered"
    )


def value_reason(code: int, raw: str, value: float, channel: str, unit: str, decimal: str,
                 valid_range: tuple[float, float] | None, overflow: bool, *, rule: object = None) -> str:
    """Human text for a value rejected by a value gate (*rule*: the StuckRule or SpikeRule)."""
    if code == MISSING:
        return f"{channel}: cell {raw!r} is empty or a missing-value marker"
    if code == UNPARSEABLE:
        return (f"{channel}: value {raw!r} is not a number (expected plain decimal notation such as "
                f"'-12{decimal}5' or '1{decimal}2e3', decimal mark {decimal!r}, no thousands separator)")
    if code == NON_FINITE:
        if overflow:
            return f"{channel}: value {raw!r} {unit} overflows to infinity when converted to SI"
        if raw.strip().lower() in _INFINITY:
            return f"{channel}: value {raw!r} is infinite"
        if raw.strip().lower() == "nan":
            return f"{channel}: value {raw!r} is not a number (NaN)"
        return f"{channel}: value {raw!r} is beyond the float64 range (about 1.8e308)"
    if code == STUCK:
        return (f"{channel}: value {value:g} {unit} has repeated (within {rule.tolerance:g} {unit}) for more than "
                f"{rule.samples} samples: stuck sensor")
    if code == SPIKE:
        return (f"{channel}: value {value:g} {unit} is a spike: its robust z-score against the median of the "
                f"last {rule.window} values exceeds {rule.threshold:g} (and the deviation exceeds "
                f"{rule.min_deviation:g} {unit})")
    low, high = valid_range  # type: ignore[misc]
    return f"{channel}: value {value:g} {unit} is outside the valid range [{low:g}, {high:g}] {unit}"
