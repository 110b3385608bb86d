"""Gate table chunks (CSV, Parquet, DataFrame; wide or long; text or typed cells).

:class:`TableGates` turns each chunk into one :class:`~sim.telemetry.gates.pipeline.SampleBatch`
per channel, runs the channel's gates and hands the result to a
:class:`~sim.telemetry.gates.collect.Collector`.  The state lives in the gates, so the
chunk size never changes the result.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pandas as pd

from sim.exceptions import ChannelMapError, ConfigurationError, TelemetryFileError
from sim.telemetry import gates
from sim.telemetry.channels import ChannelMap
from sim.telemetry.gates.collect import Collector, new_gates
from sim.telemetry.gates import NAT, ParsedTimes
from sim.telemetry.gates.parse import EPOCH_FORMATS, finite_numbers_arrow, parse_times_arrow, value_gates_arrow
from sim.telemetry.gates._cells import ArrowNumbers, ArrowText
from sim.telemetry.gates._passes import Released, TimeOrder
from sim.telemetry.gates.pipeline import _EMPTY, NS, ChannelGates, SampleBatch, Subset, text_of
from sim.telemetry.stream import TelemetryStream

__all__ = ["ArrowChunk", "CUT_LAST_ROW", "TableGates", "as_text", "future_limit", "times_of", "values_of"]

#: Key of ``DataFrame.attrs`` by which a source marks its last chunk when the file's last row is cut off
#: (a final line with fewer fields than the header and no line break); the value is the reason.  The
#: row is quarantined by the ``schema`` gate.
CUT_LAST_ROW = "twinbench_cut_last_row"

_NS_LOW, _NS_HIGH = pd.Timestamp.min.value, pd.Timestamp.max.value


def future_limit(channel_map: ChannelMap, now: pd.Timestamp | None) -> int | None:
    """Latest acceptable stamp [UTC ns]: *now* (default: the wall clock) + ``future_tolerance``."""
    if channel_map.future_tolerance is None:
        return None
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    if now.tzinfo is None:
        now = now.tz_localize("UTC")
    return int(now.value + round(channel_map.future_tolerance * NS))


def _typed_ns(stamps: pd.Series) -> np.ndarray:
    """UTC ns of a tz-aware datetime column; NAT where missing or outside the ns range."""
    index = pd.DatetimeIndex(stamps).tz_convert("UTC")
    ok = index.notna()
    out = np.full(len(index), NAT, dtype=np.int64)
    if ok.any():
        low, high = pd.Timestamp(_NS_LOW, tz="UTC"), pd.Timestamp(_NS_HIGH, tz="UTC")
        inside = ok & (index >= low) & (index <= high)
        out[inside] = index[inside].as_unit("ns").asi8
    return out


def times_of(cells: pd.Series | np.ndarray, channel_map: ChannelMap, *, zone: gates.ZoneForm | None = None
             ) -> ParsedTimes:
    """Parse a time column: text (see :func:`gates.parse_times`), datetimes or Unix seconds.

    Naive datetimes are local to ``channel_map.timezone``; numbers are Unix time in the unit of an epoch
    ``time_format`` (``epoch_ms`` ...; seconds otherwise); a
    ``datetime64[ns]`` numpy array (from :class:`ArrowChunk`) holds UTC stamps.  *zone*: the
    column's :class:`~sim.telemetry.gates.ZoneForm` for text stamps (a typed column has one form).
    """
    if isinstance(cells, ArrowText):  # Arrow text: the same parsing rule, common stamps by Arrow's cast
        return parse_times_arrow(cells, timezone=channel_map.timezone, time_format=channel_map.time_format,
                                 zone=zone)
    if isinstance(cells, ArrowNumbers):  # a float column with nulls (from ArrowChunk): Unix time [s]
        cells = pd.Series(cells.column.to_numpy(zero_copy_only=False), dtype=np.float64)
    elif isinstance(cells, np.ndarray) and cells.dtype.kind in "iuf":  # numbers from ArrowChunk: Unix time [s]
        cells = pd.Series(cells)
    if isinstance(cells, np.ndarray):
        ns = cells.view(np.int64)  # NaT is NAT
        bad = ns == NAT
        note = None
        if bad.any():
            note = np.full(ns.size, "", dtype=object)
            note[bad] = "the cell is empty or outside the years 1677 to 2262"
        return ParsedTimes(ns, ns, note)
    dtype, n = cells.dtype, len(cells)
    note = np.full(n, "", dtype=object)
    if isinstance(dtype, pd.DatetimeTZDtype):
        ns = _typed_ns(cells)
        first, second = ns, ns
    elif dtype.kind == "M":
        local = pd.DatetimeIndex(cells)
        inside = local.notna()
        if inside.any():
            inside &= (local >= pd.Timestamp(_NS_LOW)) & (local <= pd.Timestamp(_NS_HIGH))
        first, second, skipped = gates.localize(local.where(inside).as_unit("ns"), channel_map.timezone)
        note[skipped] = (f"local time does not exist in {channel_map.timezone} "
                         f"(clocks jump forward at the DST change)")
    elif dtype.kind in "iuf":
        unit = channel_map.time_format if channel_map.time_format in EPOCH_FORMATS else "epoch_s"
        per_unit = EPOCH_FORMATS[unit]
        if dtype.kind in "iu":  # exact integer arithmetic where it fits
            ints = cells.to_numpy(dtype=np.int64)
            ok = np.abs(ints) <= np.iinfo(np.int64).max // per_unit
            first = np.where(ok, ints, 0) * per_unit
            ok &= (first > _NS_LOW) & (first < _NS_HIGH)
        else:
            with np.errstate(invalid="ignore", over="ignore"):
                ns = cells.to_numpy(dtype=np.float64, na_value=np.nan) * float(per_unit)
            ok = np.isfinite(ns) & (ns > _NS_LOW) & (ns < _NS_HIGH)
            first = np.where(ok, np.round(np.nan_to_num(ns)), 0).astype(np.int64)
        first[~ok] = NAT
        second = first
        note[~ok] = f"not a Unix time in {unit[6:]} (years 1677 to 2262)"
    else:
        return gates.parse_times(as_text(cells), timezone=channel_map.timezone, time_format=channel_map.time_format,
                                 zone=zone)
    bad = (first == NAT) & (note == "")
    note[bad] = "the cell is empty or outside the years 1677 to 2262"
    return ParsedTimes(first, second, note)


def _cell_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def as_text(cells: pd.Series) -> pd.Series:
    """Cells of any type as text: bytes decoded (U+FFFD for bad bytes), missing ones empty."""
    if isinstance(cells.dtype, pd.StringDtype):
        return cells.fillna("")
    if cells.dtype == object:
        return pd.Series([_cell_text(v) for v in cells.to_numpy(dtype=object)], index=cells.index, dtype=object)
    return cells.astype(str)


def values_of(cells: pd.Series, *, decimal: str, valid_range: tuple[float, float] | None,
              thousands: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Value gates for one column: numbers as they are, anything else parsed as text."""
    if isinstance(cells, ArrowText):
        return value_gates_arrow(cells, decimal=decimal, valid_range=valid_range, thousands=thousands)
    if cells.dtype.kind in "iufb":
        return gates.numeric_value_gates(cells.to_numpy(dtype=np.float64, na_value=np.nan), valid_range=valid_range)
    return gates.value_gates(as_text(cells), decimal=decimal, valid_range=valid_range, thousands=thousands)


class ArrowChunk:
    """A record batch of a wide table, its columns converted on demand for :class:`TableGates`.

    Numeric columns become numpy arrays without a copy where Arrow allows it (nulls become
    NaN), timestamps with a time zone become UTC ``datetime64[ns]`` arrays, text columns
    :class:`~sim.telemetry.gates._cells.ArrowText` (parsed by Arrow compute where the cells allow
    it); every other column (naive timestamps, ...) becomes a pandas Series as ``to_pandas`` gives it.
    ``attrs`` holds what a source marks on the chunk (e.g. :data:`CUT_LAST_ROW`), as ``DataFrame.attrs``.
    """

    __slots__ = ("batch", "attrs")

    def __init__(self, batch, attrs: dict | None = None):
        self.batch = batch
        self.attrs = {} if attrs is None else attrs

    def __len__(self) -> int:
        return self.batch.num_rows

    def __getitem__(self, name: str) -> np.ndarray | pd.Series:
        import pyarrow as pa

        column = self.batch.column(name)
        kind = column.type
        try:
            if pa.types.is_float64(kind) and column.null_count:
                return ArrowNumbers(column)
            if pa.types.is_floating(kind) or pa.types.is_integer(kind):
                if column.null_count:
                    return column.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
                return column.to_numpy(zero_copy_only=True)
            if pa.types.is_string(kind) or pa.types.is_large_string(kind):
                return ArrowText(column)
            if pa.types.is_timestamp(kind) and kind.tz is not None:
                ns = column.cast(pa.timestamp("ns", tz=kind.tz))  # raises for stamps outside the ns range
                return ns.to_numpy(zero_copy_only=False).astype("datetime64[ns]", copy=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        return column.to_pandas()

    def to_pandas(self) -> pd.DataFrame:
        frame = self.batch.to_pandas()
        frame.attrs.update(self.attrs)
        return frame


def _in_range(values: np.ndarray, codes: np.ndarray, valid_range) -> np.ndarray:
    if valid_range is None:
        return codes
    low, high = valid_range
    codes = codes.copy()
    codes[(codes == 0) & ((values < low) | (values > high))] = gates.OUT_OF_RANGE
    return codes


class TableGates:
    """Gates for the chunks of one table.

    Parameters
    ----------
    channel_map : ChannelMap
        The map (``layout`` says whether chunks are wide or long).
    columns : sequence of str
        The table's columns, for the schema gate of wide tables.
    now : pandas.Timestamp, optional
        Time of reading for the future gate; the wall clock by default.
    keep_frame, max_quarantine
        Passed to :class:`~sim.telemetry.gates.collect.Collector`.
    workers : int or None
        Threads that gate the channels of a wide chunk in parallel; None: one per
        channel up to the number of CPUs (at most 8).  The result does not depend on it.
    expected_rows : int or None
        Rows the table is known to have (Parquet metadata, a DataFrame's length), or an upper
        estimate (a CSV file's size over its line length): the frame's memory is then taken
        once (memory reserved but never written costs no RAM).
    """

    def __init__(self, channel_map: ChannelMap, columns: Sequence[str], *, now: pd.Timestamp | None = None,
                 keep_frame: bool = True, max_quarantine: int | None = None, workers: int | None = None,
                 expected_rows: int | None = None, share_time: bool = True):
        self.map = m = channel_map
        if workers is None:
            workers = min(len(m.channels), os.cpu_count() or 1, 8)
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigurationError(f"workers {workers!r} must be a positive int or None")
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="telemetry-gates") if workers > 1 else None
        self.gates = new_gates(m)
        self.collector = Collector(m, keep_frame=keep_frame, max_quarantine=max_quarantine,
                                   capacity=expected_rows if m.layout == "wide" else None)
        self.rows = 0
        self.latest = NAT
        self.limit = future_limit(m, now)
        self.zone = gates.ZoneForm()  # naive or offset stamps: the first text stamp decides for the table
        columns = list(columns)
        if m.layout == "long":
            needed = [m.time_column, m.channel_column, m.value_column]
            absent = [c for c in needed if c not in columns]
            if absent:
                raise ChannelMapError(
                    f"long table lacks column(s) {absent} (columns: {columns}); fix: set time_column, "
                    f"channel_column and value_column in the channel map, or layout: wide"
                )
            self.unknown, self.missing = [c for c in columns if c not in needed], []
        else:
            mapped = set(m.columns)
            self.unknown = [c for c in columns if c != m.time_column and c not in mapped]
            self.missing = [c for c in m.columns if c not in columns]
        self.batches = 0
        self._pending: list = []  # the previous wide chunk's channels: results, or futures of the pool
        if m.layout == "wide" and share_time:
            # channels that read the time column with the same clock offset and lateness take the same time
            # decisions: one time order for all of them (a channel whose column is missing keeps its own)
            orders: dict[tuple[int, int, int], TimeOrder] = {}
            for c in m.channels:
                g = self.gates[c.name]
                if c.column not in self.missing and isinstance(g, ChannelGates):
                    g.time = orders.setdefault((g.time.offset_ns, g.time.lateness_ns, g.history), g.time)

    def add_all(self, chunks, *, empty: str) -> "TableGates":
        """Gate every chunk of a source; a source without data rows raises ``TelemetryFileError(empty)``."""
        for chunk in chunks:
            self.add(chunk)
        if self.rows == 0:
            raise TelemetryFileError(empty)
        return self

    def add(self, chunk: pd.DataFrame | ArrowChunk) -> None:
        """Gate one chunk (rows in file order): a DataFrame or an :class:`ArrowChunk`."""
        if isinstance(chunk, ArrowChunk) and self.map.layout == "long":
            chunk = chunk.to_pandas()
        m, n = self.map, len(chunk)
        if n == 0:
            return
        rows = np.arange(self.rows + 1, self.rows + n + 1, dtype=np.int64)
        self.rows += n
        time_cells = chunk[m.time_column]
        times = times_of(time_cells, m, zone=self.zone)
        cut = chunk.attrs.get(CUT_LAST_ROW, "")
        if cut:  # the file's last line was cut off: the row is quarantined whole, its stamp unused
            first, second = times.first.copy(), times.second.copy()
            note = np.full(n, "", dtype=object) if times.note is None else times.note.copy()
            first[-1], second[-1], note[-1] = NAT, NAT, cut
            times = ParsedTimes(first, second, note)
        stamps, self.latest = gates.resolve_ambiguous(times, self.latest)
        time_codes = np.where(stamps == NAT, gates.UNPARSEABLE_TIME, 0).astype(np.int8)
        if cut:
            time_codes[-1] = gates.SCHEMA
        if m.layout == "long":
            self._add_long(chunk, rows, time_cells, stamps, time_codes, times.note)
        else:
            self._add_wide(chunk, rows, time_cells, stamps, time_codes, times.note)
        for column in self.unknown:
            reason = np.full(n, f"column {column!r} is not in the channel map; fix: map it (column: {column!r}, "
                                f"unit, si_unit) or drop it from the export", dtype=object)
            everything = np.arange(n)
            self.collector.add_unmapped(rows, text_of(time_cells, everything), stamps,
                                        text_of(chunk[column], everything), reason)

    def _add_wide(self, chunk, rows, time_cells, stamps, time_codes, notes) -> None:
        m, n = self.map, len(chunk)
        self.batches += 1
        schema_codes = np.full(n, gates.SCHEMA, dtype=np.int8) if self.missing else None
        released: dict[int, Released] = {}  # by time order (shared by channels, see __init__)
        for channel in m.channels:  # (meanwhile the pool gates the previous chunk's channels)
            g = self.gates[channel.name]
            if isinstance(g, ChannelGates) and id(g.time) not in released:  # (else gates of their own, in tests)
                codes = schema_codes if channel.column in self.missing else time_codes
                released[id(g.time)] = g.time.run(stamps, codes, self.batches, self.limit, final=False)
        self._collect()
        columns = self.collector.columns if self.collector.keep_frame and self.collector.samples is None else None
        if columns is not None:
            most = max([n, *(r.stamps.size for r in released.values())])
            columns.reserve(max(columns.total, int(columns.filled.max(initial=0))) + most)

        def one(channel):
            if channel.column in self.missing:
                values, codes = np.full(n, np.nan), np.zeros(n, dtype=np.int8)
                batch = SampleBatch(stamps, schema_codes, notes, values, codes, rows,
                                    time_cells, np.full(n, "", dtype=object),
                                    schema_note=f"{channel.name}: mapped column {channel.column!r} is missing from "
                                                f"the table; fix: export it or remove the channel from the map")
            else:
                cells = chunk[channel.column]
                bits = None
                if isinstance(cells, ArrowNumbers):  # the kernel applies the value gates, nulls by the bitmap
                    values, codes, bits = cells.values, None, cells.valid_bits
                elif isinstance(cells, np.ndarray):
                    values, codes = cells.astype(np.float64, copy=False), None
                elif (isinstance(cells, ArrowText) and m.decimal == "." and m.thousands is None
                      and (values := finite_numbers_arrow(cells)) is not None):
                    codes = None  # (the kernel applies missing - NaN - and the range, as for numbers)
                else:
                    values, codes = values_of(cells, decimal=m.decimal, valid_range=channel.valid_range,
                                                    thousands=m.thousands)
                batch = SampleBatch(stamps, time_codes, notes, values, codes, rows, time_cells, cells,
                                    valid_bits=bits)
            # the kernel writes the SI values straight into the frame's block
            g = self.gates[channel.name]
            if isinstance(g, ChannelGates):
                out = None if columns is None else columns.room(self.collector.order[channel.name])
                result = g.process_released(batch, released[id(g.time)], out=out)
            else:
                result = g.process(batch, now_ns=self.limit)
            if columns is not None:  # the frame's fresh memory is first touched in this thread
                columns.stage(self.collector.order[channel.name], result.values)
            # the frame's count of accepted values (see build_counts), taken here while the values are in cache
            result.present = result.values.size - int(np.count_nonzero(np.isnan(result.values)))
            return result

        # channels are independent: their gates run in parallel (numpy and the kernels release the GIL), and
        # collected when the next chunk's time order is decided (or at the end)
        if self._pool is None:
            self._pending = [one(channel) for channel in m.channels]
        else:
            self._pending = [self._pool.submit(one, channel) for channel in m.channels]

    def _collect(self) -> None:
        """Hand the gated channels of the previous wide chunk to the collector, in channel order."""
        pending, self._pending = self._pending, []
        for channel, result in zip(self.map.channels, pending):
            self.collector.add(channel.name, result.result() if isinstance(result, Future) else result)

    def _add_long(self, chunk, rows, time_cells, stamps, time_codes, notes) -> None:
        m = self.map
        keys = pd.Categorical(chunk[m.channel_column].astype(object).where(chunk[m.channel_column].notna(), None))
        lookup = pd.Index(list(m.columns)).get_indexer(keys.categories.astype(str))
        codes = np.asarray(keys.codes)
        which = np.where(codes >= 0, lookup[np.maximum(codes, 0)] if lookup.size else -1, -1)
        value_cells = chunk[m.value_column]
        values, vcodes = values_of(value_cells, decimal=m.decimal, valid_range=None, thousands=m.thousands)
        for j, channel in enumerate(m.channels):
            sel = np.flatnonzero(which == j)
            if sel.size == 0:
                continue
            batch = SampleBatch(stamps[sel], time_codes[sel], notes[sel], values[sel],
                                _in_range(values[sel], vcodes[sel], channel.valid_range), rows[sel],
                                Subset(time_cells, sel), Subset(value_cells, sel))
            self.collector.add(channel.name, self.gates[channel.name].process(batch, now_ns=self.limit))
        lost = np.flatnonzero(which < 0)
        if lost.size:
            names = text_of(chunk[m.channel_column], lost)
            reasons = np.array([f"channel {k!r} in column {m.channel_column!r} is not in the channel map; fix: map "
                                f"it (column: {k!r}, unit, si_unit) or drop it from the export" for k in names],
                               dtype=object)
            if time_codes[-1] == gates.SCHEMA and lost[-1] == len(chunk) - 1:  # a cut last line (see add)
                reasons[-1] = notes[-1]
            self.collector.add_unmapped(rows[lost], text_of(time_cells, lost), stamps[lost],
                                        text_of(value_cells, lost), reasons)

    def close(self) -> None:
        """Stop the worker threads (also done by :meth:`finish`)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False)

    def finish(self, *, source: str, content_hash: str) -> TelemetryStream:
        """Release the reorder buffers and build the stream."""
        try:
            self._collect()
        finally:
            self.close()
        released: dict[int, Released] = {}  # each time order is released once, for every channel that shares it
        for name, g in self.gates.items():
            if not isinstance(g, ChannelGates):  # (gates of their own, in tests)
                self.collector.add(name, g.flush())
                continue
            if id(g.time) not in released:
                released[id(g.time)] = g.time.run(_EMPTY.stamps, _EMPTY.time_codes, 0, self.limit, final=True)
            self.collector.add(name, g.process_released(_EMPTY, released[id(g.time)], final=True))
        return self.collector.finish(self.gates, rows_read=self.rows, source=source, content_hash=content_hash,
                                     layout=self.map.layout)
