"""Data-quality gates: parse timestamps and values, each rejection with a reason.

The parsing gates work on whole columns of raw strings (vectorized); only rejected
cells are touched one by one, to write their reasons.  The gates that need state
carried from chunk to chunk (time order, reorder buffer, stuck sensors, spikes,
gaps) live in :mod:`sim.telemetry.gates.pipeline`.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np
import pandas as pd

__all__ = [
    "GATES",
    "TIME_GATES",
    "VALUE_GATES",
    "MISSING_TOKENS",
    "ParsedTimes",
    "TIME_WORDS",
    "ZoneForm",
    "parse_times",
    "why_not_a_stamp",
    "localize",
    "resolve_ambiguous",
    "value_gates",
    "value_gates_arrow",
    "finite_numbers_arrow",
    "parse_times_arrow",
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
# The one parsing rule of time text, on every path (CSV, Parquet and DataFrame text, long tables, live
# payloads; any chunk size).  Each cell is judged alone:
# 1. spaces and tabs around the stamp are dropped; any other control character (NUL, CR, ...) rejects it;
# 2. ISO 8601 (no time_format): the cell must match _ISO_STAMP as a whole: a full date (YYYY-MM-DD or
#    YYYYMMDD), optionally a time of day (hh, hh:mm, hh:mm:ss, hhmm, hhmmss, a decimal fraction) and a
#    UTC offset (Z, +hh, +hhmm or +hh:mm).  So words ("now", "today": pandas reads them as the wall
#    clock, and the same file would give another stream on every read) and cut offsets ("-04:0") are
#    rejected, whatever the neighbours;
# 3. with a time_format: letters must be month or weekday names, AM/PM, the format's own literal letters
#    (the "T" of "%Y-%m-%dT%H:%M:%S"), or Z/UTC/GMT where the format has %z/%Z; an offset at the end of a
#    "...%z" format must be complete;
# 4. pandas parses the cells that pass, all at once (a cell's result never depends on the others).
# The patterns are RE2 (pyarrow runs them natively; `\s` or `\d` would fall back to Python's re).
_ISO_STAMP = (r"^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{8})"
              r"(?:[T ](?:[0-9]{1,2}(?::[0-9]{2}(?::[0-9]{2})?)?|[0-9]{4}(?:[0-9]{2})?)(?:[.][0-9]+)?"
              r"(?: *(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?))?)?$")
_ISO_OFFSET = r"[T ].*[Z+-]"  # (in a cell that matches _ISO_STAMP: the time of day carries an offset)
_OFFSET_END = r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)$"
_CONTROL = r"[\x{0}-\x{1f}\x{7f}-\x{9f}]"  # (tabs around a stamp are trimmed first)
_LETTER = r"\pL"
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: Words a time cell may hold when a ``time_format`` is set (besides the format's own literal letters).
TIME_WORDS = frozenset([*_MONTHS, *(m[:3] for m in _MONTHS), *_DAYS, *(d[:3] for d in _DAYS), "am", "pm"])
_RELATIVE = frozenset({"now", "today", "yesterday", "tomorrow", "tonight", "noon", "midnight"})
# The number grammar: plain decimal notation, optionally with an exponent.  Anything else
# ("1,234", "0x1F", "1_000", "ERR") is unparseable; "inf"/"infinity" are non-finite.
_PLAIN_NUMBER = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_INFINITY = frozenset({"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})
# Stamps the Arrow fast path reads (parse_times_arrow): a subset of _ISO_STAMP (date, time of day to the second,
# up to 9 decimals, a complete offset; years 1700 to 2199, so inside the ns range) on which Arrow's cast and
# pandas' ISO 8601 reading agree (tests/sim/telemetry/test_telemetry_csv_arrow.py checks it); an impossible date
# (Feb 30) makes the cast raise, and the chunk then takes the careful path.
_FAST_STAMP = (r"^(?:1[7-9]|2[01])[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[T ]"
               r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:[.][0-9]{1,9})?(?:Z|[+-](?:0[0-9]|1[0-4]):[0-5][0-9])$")


class ParsedTimes(NamedTuple):
    """Timestamps of one chunk as int64 UTC nanoseconds (``NAT`` where unparseable).

    ``first`` and ``second`` differ only for naive local stamps in the repeated hour of
    a DST fall-back: ``first`` reads them as summer time, ``second`` as winter time.
    ``note`` explains each ``NAT`` (empty string elsewhere).
    """

    first: np.ndarray
    second: np.ndarray
    note: np.ndarray


class ZoneForm:
    """Whether the stamps of one time column carry UTC offsets: fixed by its first stamp, in file order.

    A column that mixes naive stamps (local to the map's ``timezone``) with offset stamps is
    ambiguous: the naive ones were most likely written by another device or export setting,
    and their zone is a guess.  Stamps of the other form than the column's first stamp are
    quarantined (``timestamp_unparseable``, with the reason) rather than failing the whole
    file: every other row stays usable, and because the first stamp decides, the result does
    not depend on the chunk size.  One instance per table (or live feed) is passed to
    :func:`parse_times` chunk after chunk.
    """

    def __init__(self) -> None:
        self.offsets: bool | None = None  # None until the first stamp was seen
        self.first = ""

    def other_form(self, text: pd.Series, with_offset: np.ndarray, naive: np.ndarray, timezone: str
                   ) -> tuple[np.ndarray, str]:
        """Cells of the other form than the column's, and the reason for them."""
        if self.offsets is None:
            formed = np.flatnonzero(with_offset | naive)
            if not formed.size:
                return naive & False, ""
            self.offsets, self.first = bool(with_offset[formed[0]]), str(text.iloc[formed[0]])
        if self.offsets:
            return naive, (f"it has no UTC offset, but the column's stamps carry one (the first: {self.first!r}); "
                           f"naive and offset stamps are not mixed in one column, since the zone of a naive stamp "
                           f"is then a guess; fix: export every stamp with its offset")
        return with_offset, (f"it carries a UTC offset, but the column's stamps have none (the first: {self.first!r}, "
                             f"read as {timezone} time); naive and offset stamps are not mixed in one column; fix: "
                             f"export every stamp in one form")


def _to_ns(stamps: pd.DatetimeIndex) -> np.ndarray:
    """UTC nanoseconds; stamps outside the datetime64[ns] range become NAT."""
    stamps = stamps.tz_convert("UTC")
    stamps = stamps.where((stamps >= _NS_MIN) & (stamps <= _NS_MAX))
    return stamps.as_unit("ns").asi8.copy()


def _arrow(text: pd.Series):
    import pyarrow as pa

    return pa.array(text.array if isinstance(text.dtype, pd.StringDtype) else text.to_numpy(dtype=object),
                    from_pandas=True)


def _matches(text: pd.Series, pattern: str) -> np.ndarray:
    """Cells in which the RE2 *pattern* matches (anchor it for a whole-cell match)."""
    try:
        import pyarrow.compute as pc
    except ImportError:  # pragma: no cover - pandas without pyarrow
        return text.str.contains(pattern.replace("\\pL", "[^\\W\\d_]"), regex=True).to_numpy(dtype=bool)
    return pc.match_substring_regex(_arrow(text), pattern).to_numpy(zero_copy_only=False).astype(bool, copy=False)


def _trimmed(raw: pd.Series) -> pd.Series:
    """Time cells as text without the spaces and tabs around them (missing cells empty)."""
    return raw.fillna("").astype(str).str.strip(" \t")


def _format_words(time_format: str) -> frozenset[str]:
    """Words a cell may hold with *time_format*: names, AM/PM, the format's literal letters, zone letters."""
    literal = re.findall(r"[^\W\d_]+", re.sub(r"%.", " ", time_format))
    zone = {"z", "utc", "gmt"} if ("%z" in time_format or "%Z" in time_format) else set()
    return TIME_WORDS | {w.lower() for w in literal} | zone


def _well_formed(text: pd.Series, time_format: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Cells that pass steps 1 to 3 of the parsing rule, and those of them that carry a UTC offset."""
    if time_format is None:
        ok = _matches(text, _ISO_STAMP)
        return ok, ok & _matches(text, _ISO_OFFSET) if ok.any() else ok
    ok = ~_matches(text, _CONTROL)
    letters = _matches(text, _LETTER) & ok
    if letters.any():  # letters left once the allowed words are taken out: a word that is no part of a stamp
        import pyarrow.compute as pc

        words = sorted(_format_words(time_format), key=len, reverse=True)
        rest = pc.replace_substring_regex(_arrow(text[letters]), "(?i)" + "|".join(words), "")
        ok[np.flatnonzero(letters)[pc.match_substring_regex(rest, _LETTER).to_numpy(zero_copy_only=False)]] = False
    if time_format.endswith("%z"):
        ok &= _matches(text, _OFFSET_END)
    return ok, ok & ("%z" in time_format or "%Z" in time_format)


def _parse(text: pd.Series, fmt: str, utc: bool) -> pd.DatetimeIndex:
    """pandas' reading of well-formed cells (NaT where it refuses one), all cells at once."""
    try:
        parsed = pd.DatetimeIndex(pd.to_datetime(text, format=fmt, errors="coerce", utc=utc))
    except (ValueError, TypeError, OverflowError):  # pandas refused the column: the same call, cell by cell
        parsed = pd.DatetimeIndex([_parse(text.iloc[i:i + 1], fmt, utc)[0] if len(text) > 1 else pd.NaT
                                   for i in range(len(text))], tz="UTC" if utc else None)
    if (parsed.tz is not None) != utc:  # (an offset where none was expected, or the reverse: not this form)
        parsed = pd.DatetimeIndex(np.full(len(text), NAT).view("datetime64[ns]"), tz="UTC" if utc else None)
    return parsed


def why_not_a_stamp(cell: str, time_format: str | None) -> str:
    """The reason a time cell is not a timestamp under the parsing rule (for rejected cells only)."""
    what = "an ISO 8601 timestamp" if time_format is None else f"a timestamp of format {time_format!r}"
    if cell == "":
        return "the cell is empty"
    control = re.search("[\x00-\x1f\x7f-\x9f]", cell)
    if control:
        return (f"it contains the control character U+{ord(control.group()):04X} at position {control.start()}; "
                f"a timestamp is printable text")
    allowed = {"t", "z"} if time_format is None else _format_words(time_format)
    for word in re.findall(r"[^\W\d_]+", cell):
        if word.lower() not in allowed:
            if word.lower() in _RELATIVE:
                return (f"{word!r} is a word, not {what}: relative words are refused, since the same file must give "
                        f"the same stream on every read")
            return f"{word!r} is no part of {what}"
    if time_format is None or time_format.endswith("%z"):
        offset = re.search(r"(?<=[0-9])\s*([+-][0-9:]*)$", cell) if re.search(r"[T ]", cell) else None
        if offset and not re.fullmatch(r"[+-][0-9]{2}(?::?[0-9]{2})?", offset.group(1)):
            return f"its UTC offset {offset.group(1)!r} is incomplete; expected Z, +hh, +hhmm or +hh:mm"
    return f"not {what} (years 1677 to 2262)"


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


#: ``time_format`` values for numeric epoch stamps (seconds, milliseconds, microseconds, nanoseconds since
#: 1970-01-01T00:00:00Z) -> nanoseconds per unit.  Epoch stamps are UTC by definition: the map's timezone
#: does not apply to them.
EPOCH_FORMATS = {"epoch_s": 10**9, "epoch_ms": 10**6, "epoch_us": 10**3, "epoch_ns": 1}
_EPOCH_NUMBER = r"[+-]?(?:[0-9]+[.]?[0-9]*|[.][0-9]+)"


def _epoch_times(text: pd.Series, time_format: str) -> ParsedTimes:
    """Numeric epoch stamps -> UTC ns (NAT, with the reason, for anything else or outside 1677..2262)."""
    n = len(text)
    per_unit = EPOCH_FORMATS[time_format]
    ok = _matches(text, _EPOCH_NUMBER)
    ns = np.full(n, NAT, dtype=np.int64)
    note = np.full(n, "", dtype=object)
    if ok.any():
        cells = text[ok]
        whole = cells.str.fullmatch(r"[+-]?[0-9]+").to_numpy(dtype=bool)
        values = np.full(len(cells), np.nan)
        exact = np.zeros(len(cells), dtype=np.int64)
        if whole.any():  # integers exactly (a float64 loses nanoseconds beyond 2**53)
            big = cells[whole].str.lstrip("+-").str.len().to_numpy() > 18
            ints = cells[whole].where(~big, "0").astype(np.int64).to_numpy()
            limit = np.iinfo(np.int64).max // per_unit
            inside = ~big & (np.abs(ints) <= limit)
            exact_w = np.where(inside, ints * per_unit, 0)
            exact[whole] = exact_w
            values[whole] = np.where(inside, 0.0, np.nan)
        if (~whole).any():
            f = cells[~whole].astype(np.float64).to_numpy() * per_unit
            inside_f = np.abs(f) < 9.2e18
            exact[~whole] = np.where(inside_f, np.round(np.where(inside_f, f, 0.0)), 0).astype(np.int64)
            values[~whole] = np.where(inside_f, 0.0, np.nan)
        good = np.isfinite(values)
        low, high = _to_ns(pd.DatetimeIndex([_NS_MIN, _NS_MAX]))
        good &= (exact > low) & (exact < high)
        where = np.flatnonzero(ok)
        ns[where[good]] = exact[good]
    bad = np.flatnonzero(ns == NAT)
    for i in bad:
        cell = text.iloc[i]
        note[i] = ("the cell is empty" if cell == "" else
                   f"{cell!r} is not a number of {time_format[6:]} since 1970-01-01T00:00:00Z (time_format "
                   f"{time_format!r}), or lies outside the years 1677 to 2262")
    return ParsedTimes(ns, ns, note)


def parse_times(raw: pd.Series, *, timezone: str, time_format: str | None, zone: ZoneForm | None = None
                ) -> ParsedTimes:
    """Parse time cells by the parsing rule (see the module); naive stamps are local to *timezone*.

    Parameters
    ----------
    raw : pandas.Series
        Time cells as strings.
    timezone : str
        IANA zone of naive stamps.
    time_format : str or None
        ``strftime`` format, one of :data:`EPOCH_FORMATS` (numeric epoch stamps, UTC), or None for ISO 8601.
    zone : ZoneForm, optional
        The column's zone form, carried from chunk to chunk: stamps of the other form than the
        column's first are rejected.  None: naive and offset stamps may mix.
    """
    text = _trimmed(raw)
    if time_format in EPOCH_FORMATS:
        return _epoch_times(text, time_format)
    n = len(text)
    fmt = "ISO8601" if time_format is None else time_format
    ok, aware = _well_formed(text, time_format)
    first, second = np.full(n, NAT, dtype=np.int64), np.full(n, NAT, dtype=np.int64)
    note = np.full(n, "", dtype=object)
    with_offset, naive = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    if aware.any():
        first[aware] = second[aware] = _to_ns(_parse(text[aware], fmt, utc=True))
        with_offset[aware] = first[aware] != NAT
    local_cells = np.flatnonzero(ok & ~aware)
    if local_cells.size:
        local = _parse(text.iloc[local_cells], fmt, utc=False)
        first[local_cells], second[local_cells], skipped = localize(local, timezone)
        note[local_cells[skipped]] = f"local time does not exist in {timezone} (clocks jump forward at the DST change)"
        naive[local_cells] = np.asarray(local.notna())
    if zone is not None and (with_offset.any() or naive.any()):
        other, why = zone.other_form(text, with_offset, naive, timezone)
        if other.any():
            first[other] = second[other] = NAT
            note[other] = why
    bad = np.flatnonzero((first == NAT) & (note == ""))
    for i in bad:  # (rejected cells only)
        note[i] = why_not_a_stamp(text.iloc[i], time_format)
    return ParsedTimes(first, second, note)


def parse_times_arrow(cells, *, timezone: str, time_format: str | None, zone: ZoneForm | None = None
                      ) -> ParsedTimes:
    """:func:`parse_times` of an Arrow text column (:class:`~sim.telemetry.gates._cells.ArrowText`): the same result.

    Once the column's stamps are known to carry UTC offsets (*zone*; or while no stamp decided that yet),
    the column is read by Arrow's strict ISO 8601 cast (``YYYY-MM-DD[T ]hh[:mm[:ss[.f]]]`` with ``Z`` or
    ``+hh[[:]mm]``, nanoseconds checked for overflow; it refuses naive stamps, spaces, impossible dates and
    times) with the empty cells left out.  Where Arrow takes every other cell, these are the stamps, as
    pandas reads them (``tests/sim/telemetry/test_telemetry_csv_arrow.py`` checks it on random stamps),
    and only the empty cells go through :func:`parse_times`.  Where Arrow refuses a cell, the stamps in the
    common form (``_FAST_STAMP``) are cast and the rest go through :func:`parse_times`; every other
    ``time_format``, and a column of naive stamps, goes through :func:`parse_times` whole.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    array = cells.array
    n = len(array)
    if time_format is not None or zone is None or zone.offsets is False or n == 0:
        return parse_times(cells.to_pandas(), timezone=timezone, time_format=time_format, zone=zone)
    empty = cells.empty()
    n_empty = int(np.count_nonzero(empty))
    if n_empty < n:
        try:
            stamps = pc.cast(cells.without(empty) if n_empty else array, pa.timestamp("ns", tz="UTC"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a cell Arrow refuses: see _matched_times
            return _matched_times(cells, timezone=timezone, zone=zone)
        ns = stamps.to_numpy(zero_copy_only=False).view(np.int64)
        if int(np.count_nonzero(ns == NAT)) == n_empty:  # (NAT itself is no stamp: careful path)
            if zone.offsets is None:  # (every stamp carries an offset: the first decides the column's form)
                first = int(np.argmin(empty)) if n_empty else 0
                zone.offsets, zone.first = True, str(array[first].as_py())
            if not n_empty:
                return ParsedTimes(ns, ns, np.full(n, "", dtype=object))
            rest = np.flatnonzero(empty)
            careful = parse_times(cells.to_pandas(rest), timezone=timezone, time_format=time_format, zone=zone)
            first_ns, note = ns.copy(), np.full(n, "", dtype=object)
            first_ns[rest], note[rest] = careful.first, careful.note
            second = first_ns.copy()
            second[rest] = careful.second
            return ParsedTimes(first_ns, second, note)
    return _matched_times(cells, timezone=timezone, zone=zone)


def _matched_times(cells, *, timezone: str, zone: ZoneForm) -> ParsedTimes:
    """:func:`parse_times_arrow` where Arrow's cast refuses a cell: the stamps of the common form (``_FAST_STAMP``,
    found by the regular expression) by the cast, the other cells by :func:`parse_times`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = cells.array
    n = len(array)
    fast = pc.fill_null(pc.match_substring_regex(array, _FAST_STAMP), False).to_numpy(zero_copy_only=False)
    every = bool(fast.all())
    if not (every or (zone.offsets and fast.any())):  # (the first stamp of the column decides: careful path)
        return parse_times(cells.to_pandas(), timezone=timezone, time_format=None, zone=zone)
    try:
        stamps = pc.cast(array if every else array.filter(pa.array(fast)), pa.timestamp("ns", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # an impossible date: the careful path decides
        return parse_times(cells.to_pandas(), timezone=timezone, time_format=None, zone=zone)
    ns = stamps.to_numpy(zero_copy_only=False).view(np.int64)
    if zone.offsets is None:  # (every cell is a stamp with an offset: the first decides the column's form)
        zone.offsets, zone.first = True, str(array[0].as_py())
    if every:
        return ParsedTimes(ns, ns, np.full(n, "", dtype=object))
    first = np.full(n, NAT, dtype=np.int64)
    note = np.full(n, "", dtype=object)
    first[fast] = ns
    rest = np.flatnonzero(~fast)
    careful = parse_times(cells.to_pandas(rest), timezone=timezone, time_format=None, zone=zone)
    first[rest], note[rest] = careful.first, careful.note
    second = first.copy()
    second[rest] = careful.second
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
    raw: pd.Series, *, decimal: str, valid_range: tuple[float, float] | None, thousands: str | None = None
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
    thousands : str or None
        Thousands separator: cells whose separators group exactly three digits lose them before parsing
        (``1.030,5`` -> ``1030.5`` with decimal ``","``); any other use of it leaves the cell unparseable.

    Returns
    -------
    values : numpy.ndarray of float64
        Parsed values in the source unit (NaN where missing or unparseable) [unit].
    codes : numpy.ndarray of int8
        0 where the value passed, else the gate code.
    """
    text = raw.fillna("").astype(str).str.strip()
    if thousands is not None:
        grouped = text.str.fullmatch(_grouped_number(decimal, thousands)).to_numpy(dtype=bool)
        if grouped.any():
            text = text.copy()
            text[grouped] = text[grouped].str.replace(thousands, "", regex=False)
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


def value_gates_arrow(cells, *, decimal: str, valid_range: tuple[float, float] | None,
                      thousands: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`value_gates` of an Arrow text column (:class:`~sim.telemetry.gates._cells.ArrowText`): the same result.

    With decimal ``"."`` and no thousands separator the column is cast by Arrow at once (empty cells
    and nulls left out); the cast refuses every cell outside the plain number grammar but the words
    ``nan`` and ``inf``/``infinity``, and these give NaN or infinity: the cells the cast refuses or
    makes non-finite (and only those) go through :func:`value_gates`.  Any other decimal mark or a
    thousands separator: :func:`value_gates` for the whole column.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if decimal != "." or thousands is not None:
        return value_gates(cells.to_pandas(), decimal=decimal, valid_range=valid_range, thousands=thousands)
    array = cells.array
    n = len(array)
    if n == 0:
        return np.empty(0), np.empty(0, dtype=np.int8)
    empty = cells.empty()
    try:
        if empty.any():  # (nulls are skipped by the cast: the same buffers with the empty cells null)
            parsed = pc.cast(cells.without(empty), pa.float64()).to_numpy(zero_copy_only=False)
        else:
            parsed = pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)
        values = parsed if parsed.flags.writeable else parsed.copy()
        careful = ~np.isfinite(values)
        careful[empty] = False
    except pa.ArrowInvalid:  # a cell outside the grammar: the plain ones by the grammar itself
        plain = pc.fill_null(pc.match_substring_regex(array, "^" + _PLAIN_NUMBER + "$"), False)
        plain = plain.to_numpy(zero_copy_only=False)
        values = np.full(n, np.nan)
        if plain.any():
            values[plain] = pc.cast(array.filter(pa.array(plain)), pa.float64()).to_numpy(zero_copy_only=False)
        careful = ~(plain & np.isfinite(values)) & ~empty
    codes = np.zeros(n, dtype=np.int8)
    codes[empty] = MISSING
    rest = np.flatnonzero(careful)
    if rest.size:
        values[rest], codes[rest] = value_gates(cells.to_pandas(rest), decimal=decimal, valid_range=None)
    if valid_range is not None:
        low, high = valid_range
        codes[(codes == 0) & ((values < low) | (values > high))] = OUT_OF_RANGE
    return values, codes


def finite_numbers_arrow(cells) -> np.ndarray | None:
    """The numbers of an Arrow text column (decimal ``"."``, no thousands separator) for the compiled value gates,
    or None where a cell needs :func:`value_gates_arrow`.

    Arrow's float cast with the empty cells left out (they become NaN); where it takes every other cell and
    makes each a finite number, these are the cells' values under the plain number grammar (see
    :func:`value_gates_arrow`), NaN marks exactly the ``missing`` cells, and the compiled pass
    (:func:`~sim.telemetry.gates._passes.value_pass`) applies ``missing`` and ``out_of_range`` itself, as
    for a numeric column: one pass over the values instead of the codes of :func:`value_gates_arrow`.
    None (a cell the cast refuses, or ``nan``/``inf``/``1e999``, which the cast makes non-finite) is rare.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    array = cells.array
    n = len(array)
    empty = cells.empty()
    n_empty = int(np.count_nonzero(empty))
    if n == 0 or n_empty == n:
        return None
    try:
        values = pc.cast(cells.without(empty) if n_empty else array, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        return None
    if n - int(np.count_nonzero(np.isfinite(values))) != n_empty:  # a non-finite cell: value_gates_arrow
        return None
    return values


def _grouped_number(decimal: str, thousands: str) -> str:
    """A number with thousands grouped by *thousands*: 1 to 3 leading digits, then groups of exactly three."""
    d, t = re.escape(decimal), re.escape(thousands)
    return rf"[+-]?[0-9]{{1,3}}(?:{t}[0-9]{{3}})+(?:{d}[0-9]*)?(?:[eE][+-]?[0-9]+)?"


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
                f"'-12{decimal}5' or '1{decimal}2e3', decimal mark {decimal!r}; grouped numbers such as '1.030,5' need the channel map's "
                f"thousands key)")
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
                f"{rule.samples} samples: stuck sensor (the run's first {rule.samples} values were accepted before "
                f"the run became implausible; this and every further value of the run are quarantined)")
    if code == SPIKE:
        return (f"{channel}: value {value:g} {unit} is a spike: its robust z-score against the median of the "
                f"last {rule.window} values exceeds {rule.threshold:g} (and the deviation exceeds "
                f"{rule.min_deviation:g} {unit}), and it jumped as far from the value before it")
    low, high = valid_range  # type: ignore[misc]
    return f"{channel}: value {value:g} {unit} is outside the valid range [{low:g}, {high:g}] {unit}"
