"""Read a historian CSV export into a :class:`TelemetryStream`.

Recipe: check the file, find the separator, check the header against the channel
map, then read every cell as a string (nothing is coerced behind our back) chunk by
chunk through the gates of :mod:`sim.telemetry.gates`.  Every cell ends either in
the frame or in the quarantine, and :meth:`TelemetryStream.check_accounting`
verifies that before the stream is returned.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from sim.exceptions import ChannelMapError, ConfigurationError, DataQualityWarning, TelemetryFileError
from sim.telemetry import gates
from sim.telemetry.channels import SEPARATORS, ChannelMap
from sim.telemetry.stream import QUARANTINE_COLUMNS, TelemetryStream, build_counts, empty_quarantine

__all__ = ["read_csv"]

#: Share of quarantined values above which a channel draws a DataQualityWarning.
QUARANTINE_WARNING_SHARE = 0.5


def read_csv(path: str | os.PathLike[str], channel_map: ChannelMap, *, chunksize: int | None = None
             ) -> TelemetryStream:
    """Read, map, gate and convert a telemetry CSV file.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file; the first line is the header.
    channel_map : ChannelMap
        Maps every data column onto a twin variable, with units and valid ranges.
    chunksize : int or None
        Rows per chunk (bounded parsing memory); None reads the file at once.  The
        result does not depend on it.

    Returns
    -------
    TelemetryStream
        SI values, the quarantine and the counts per gate.

    Raises
    ------
    TelemetryFileError
        Missing, empty, header-only or malformed file; separator not as configured.
    ChannelMapError
        Header and channel map disagree (unknown, missing or duplicated column).

    Notes
    -----
    Gates, in order, each counted per channel: ``timestamp_unparseable``,
    ``timestamp_duplicate`` (first row kept), ``timestamp_non_monotonic`` (no reorder
    buffer) reject whole rows; then ``missing``, ``unparseable``, ``non_finite`` and
    ``out_of_range`` (inclusive, in the source unit) reject single values.  Blank lines
    are rows (with an empty time cell), so ``row`` is the line number - 1 unless a quoted
    value spans lines.
    A ``DataQualityWarning`` is emitted for each channel with more than half of its
    values quarantined.
    """
    if not isinstance(channel_map, ChannelMap):
        raise ConfigurationError(
            f"channel_map is a {type(channel_map).__name__}; fix: pass a ChannelMap, "
            f"e.g. ChannelMap.from_yaml(path) or ChannelMap.from_dict(d)"
        )
    if chunksize is not None and (isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1):
        raise ConfigurationError(f"chunksize {chunksize!r} must be a positive int or None")
    path = Path(path)
    digest = _sha256(path)
    header = _header_line(path, channel_map.encoding)
    separator = _separator(header, channel_map.separator, path)
    columns = _header_fields(header, separator, path)
    _check_schema(columns, channel_map, path)
    accumulator = _Accumulator(channel_map)
    try:
        with warnings.catch_warnings():
            # index_col=False stops pandas from silently turning a surplus first field into the
            # index; the data loss it then warns about must be an error (nothing is dropped).
            warnings.simplefilter("error", pd.errors.ParserWarning)
            reader = pd.read_csv(
                path, sep=separator, header=0, names=columns, index_col=False, dtype=str, keep_default_na=False,
                na_filter=False, skip_blank_lines=False, encoding=channel_map.encoding, encoding_errors="replace",
                compression=None, engine="c", chunksize=chunksize,
            )
            for chunk in [reader] if chunksize is None else reader:
                accumulator.add(chunk)
    except (pd.errors.ParserError, pd.errors.ParserWarning, csv.Error) as err:
        detail = " ".join(str(err).split())
        if isinstance(err, pd.errors.ParserWarning):
            line = _first_long_line(path, separator, len(columns), channel_map.encoding)
            detail = f"line {line} has more fields than the header's {len(columns)}"
        if "inside string" in detail:
            fix = "a '\"' opens a quoted value that never closes; remove it or close the quote"
        else:
            fix = (f"more fields than the header often means an unquoted value that contains the separator, "
                   f"e.g. a decimal comma in a ','-separated file; then set separator: ';'")
        raise TelemetryFileError(
            f"telemetry file '{path}' is not well-formed CSV with separator {separator!r}: {detail}; "
            f"fix: repair that line ({fix})"
        ) from err
    if accumulator.rows == 0:
        raise TelemetryFileError(
            f"telemetry file '{path}' has a header but no data rows; fix: export a time range that contains data"
        )
    stream = accumulator.finish(source=str(path), content_hash=digest)
    stream.check_accounting()
    _warn_on_quality(stream)
    return stream


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
            size = handle.tell()
    except FileNotFoundError as err:
        raise TelemetryFileError(
            f"telemetry file '{path}' does not exist (resolved to '{path.absolute()}'); "
            f"fix: check the path and the working directory"
        ) from err
    except OSError as err:  # directory, permissions ...
        raise TelemetryFileError(
            f"telemetry file '{path}' cannot be read ({err.strerror or err}); fix: pass a readable CSV file"
        ) from err
    if size == 0:
        raise TelemetryFileError(f"telemetry file '{path}' is empty (0 bytes); fix: re-export it from the historian")
    return digest.hexdigest()


def _header_line(path: Path, encoding: str) -> str:
    with path.open("r", encoding=encoding, errors="replace", newline="") as handle:
        line = handle.readline()
    header = line.lstrip("\ufeff").rstrip("\r\n")
    if not header.strip():
        raise TelemetryFileError(
            f"telemetry file '{path}' has no header on its first line (it is blank); "
            f"fix: the first line must name the columns, e.g. 'timestamp,M1_Current'"
        )
    return header


def _separator(header: str, configured: str, path: Path) -> str:
    counts = {sep: header.count(sep) for sep in SEPARATORS}
    if configured == "auto":
        best = max(SEPARATORS, key=lambda sep: counts[sep])
        if counts[best] == 0:
            raise TelemetryFileError(
                f"telemetry file '{path}': cannot detect the separator, the header {header[:80]!r} contains "
                f"none of {list(SEPARATORS)}; fix: check that the file is a CSV export with a header line"
            )
        return best
    if counts[configured] == 0:
        found = [sep for sep in SEPARATORS if counts[sep]]
        if found:
            raise TelemetryFileError(
                f"telemetry file '{path}': with separator {configured!r} the header {header[:80]!r} is a single "
                f"column, but it contains {found[0]!r}; fix: set separator: {found[0]!r} in the channel map "
                f"(or separator: auto)"
            )
    return configured


def _header_fields(header: str, separator: str, path: Path) -> list[str]:
    try:
        fields = [f.strip() for f in next(csv.reader([header], delimiter=separator))]
    except csv.Error as err:
        raise TelemetryFileError(
            f"telemetry file '{path}': the header line cannot be split with separator {separator!r} ({err}); "
            f"fix: the first line must name the columns, e.g. 'timestamp,M1_Current'"
        ) from err
    dups = sorted({f for f in fields if fields.count(f) > 1})
    if dups:
        raise ChannelMapError(
            f"telemetry file '{path}': column(s) {dups} appear more than once in the header; "
            f"fix: rename them in the export so that each column is unique"
        )
    return fields


def _check_schema(columns: list[str], channel_map: ChannelMap, path: Path) -> None:
    mapped = set(channel_map.columns)
    if channel_map.time_column not in columns:
        raise ChannelMapError(
            f"telemetry file '{path}' has no time column {channel_map.time_column!r} (header: {columns}); "
            f"fix: set time_column in the channel map to the column holding the timestamps"
        )
    unknown = [c for c in columns if c != channel_map.time_column and c not in mapped]
    missing = [c for c in channel_map.columns if c not in columns]
    if unknown:
        if "" in unknown:
            unknown[unknown.index("")] = "<empty name: a separator at the end of the header line?>"
        hints = "".join(
            f"; did you mean {close[0]!r} for {col!r}?"
            for col in unknown if (close := difflib.get_close_matches(col, missing, n=1))
        )
        raise ChannelMapError(
            f"telemetry file '{path}': column(s) {unknown} are not in the channel map{hints}; fix: add a "
            f"channel with column: <name>, unit and si_unit for each to the channel map (mapped columns: "
            f"{list(channel_map.columns)})"
        )
    if missing:
        raise ChannelMapError(
            f"telemetry file '{path}': mapped column(s) {missing} are missing from the file (header: {columns}); "
            f"fix: remove those channels from the channel map or export them"
        )


def _first_long_line(path: Path, separator: str, width: int, encoding: str) -> int | str:
    """Line number of the first row with more than *width* fields (error path only)."""
    with path.open("r", encoding=encoding, errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=separator)
        for fields in reader:
            if len(fields) > width:
                return reader.line_num
    return "?"


class _Accumulator:
    """Runs chunks through the gates and collects frame rows, quarantine entries and counts."""

    def __init__(self, channel_map: ChannelMap):
        self.map = channel_map
        self.order = gates.TimeOrder()
        self.rows = 0
        self.stamps: list[np.ndarray] = []
        self.values: list[np.ndarray] = []
        self.entries: list[dict[str, np.ndarray]] = []

    def add(self, chunk: pd.DataFrame) -> None:
        m, n = self.map, len(chunk)
        rows = np.arange(self.rows + 1, self.rows + n + 1, dtype=np.int64)
        self.rows += n
        time_cells = chunk[m.time_column]
        times = gates.parse_times(time_cells, timezone=m.timezone, time_format=m.time_format)
        time_codes, stamps, latest = self.order.gate(times)
        keep = time_codes == 0
        out = np.flatnonzero(~keep)
        if out.size:  # whole rows rejected by a timestamp gate: one entry per channel
            time_raw = time_cells.iloc[out].to_numpy(dtype=object)
            reasons = np.array([
                gates.time_reason(code, raw, stamp, last, note, m.time_column)
                for code, raw, stamp, last, note in zip(
                    time_codes[out], time_raw, stamps[out], latest[out], times.note[out])
            ], dtype=object)
            for channel in m.channels:
                self._quarantine(rows[out], time_raw, stamps[out], channel.name,
                                 chunk[channel.column].iloc[out].to_numpy(dtype=object), time_codes[out], reasons)
        kept = chunk if keep.all() else chunk.loc[keep]
        kept_rows, kept_stamps = rows[keep], stamps[keep]
        values = np.full((len(kept), len(m.channels)), np.nan)
        for j, channel in enumerate(m.channels):
            source_values, codes = gates.value_gates(kept[channel.column], decimal=m.decimal,
                                                     valid_range=channel.valid_range)
            scale, offset = channel.scale_offset
            with np.errstate(over="ignore", invalid="ignore"):
                si = scale * source_values + offset
            overflow = (codes == 0) & ~np.isfinite(si)
            codes[overflow] = gates.NON_FINITE
            values[:, j] = np.where(codes == 0, si, np.nan)
            bad = np.flatnonzero(codes)
            if bad.size:  # the only per-cell Python work: reasons for rejected values
                raw = kept[channel.column].iloc[bad].to_numpy(dtype=object)
                reasons = np.array([
                    gates.value_reason(code, cell, value, channel.name, channel.unit, m.decimal,
                                       channel.valid_range, flag)
                    for code, cell, value, flag in zip(codes[bad], raw, source_values[bad], overflow[bad])
                ], dtype=object)
                self._quarantine(kept_rows[bad], kept[m.time_column].iloc[bad].to_numpy(dtype=object),
                                 kept_stamps[bad], channel.name, raw, codes[bad], reasons)
        self.stamps.append(kept_stamps)
        self.values.append(values)

    def _quarantine(self, rows, time_raw, stamps, channel, raw_values, codes, reasons) -> None:
        self.entries.append({
            "row": rows, "time_raw": time_raw, "time": stamps, "channel": np.full(rows.size, channel, dtype=object),
            "raw_value": raw_values, "gate": np.asarray(gates.GATES, dtype=object)[codes.astype(np.intp) - 1],
            "reason": reasons, "_order": np.full(rows.size, self.map.names.index(channel)),
        })

    def finish(self, *, source: str, content_hash: str) -> TelemetryStream:
        index = pd.DatetimeIndex(np.concatenate(self.stamps).view("datetime64[ns]"), name="time").tz_localize("UTC")
        frame = pd.DataFrame(np.concatenate(self.values), index=index, columns=list(self.map.names), dtype=np.float64)
        if self.entries:
            parts = {k: np.concatenate([e[k] for e in self.entries]) for k in self.entries[0]}
            order = np.lexsort((parts.pop("_order"), parts["row"]))
            quarantine = pd.DataFrame({k: parts[k][order] for k in QUARANTINE_COLUMNS})
            quarantine["time"] = pd.DatetimeIndex(quarantine["time"].to_numpy(np.int64).view("datetime64[ns]"),
                                                  ).tz_localize("UTC")
            for column in ("time_raw", "channel", "raw_value", "gate", "reason"):
                quarantine[column] = quarantine[column].astype(str)
        else:
            quarantine = empty_quarantine()
        return TelemetryStream(
            frame=frame, quarantine=quarantine, counts=build_counts(frame, quarantine, self.rows),
            t0=index[0] if len(index) else None, rows_read=self.rows, source=source,
            content_hash=content_hash, channel_map=self.map,
        )


def _warn_on_quality(stream: TelemetryStream) -> None:
    per_channel = stream.counts.drop(index="TOTAL")
    for name, row in per_channel.iterrows():
        share = row["quarantined"] / row["read"] if row["read"] else 0.0
        if share > QUARANTINE_WARNING_SHARE:
            gate_counts = ", ".join(f"{g} {row[g]}" for g in gates.GATES if row[g])
            warnings.warn(
                f"channel {name!r} of '{stream.source}': {share:.0%} of {row['read']} values quarantined "
                f"({gate_counts}); see stream.quarantine for the reasons",
                DataQualityWarning,
                stacklevel=3,
            )
