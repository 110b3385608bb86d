"""Read a historian CSV export into a :class:`TelemetryStream`.

Recipe: check the file, find the separator, check the header against the channel
map, then read every cell as a string (nothing is coerced behind our back) chunk by
chunk through the gates (:mod:`sim.telemetry.gates.tables`, :mod:`sim.telemetry.gates.pipeline`).
Every cell ends either in the frame or in the quarantine, and
:meth:`TelemetryStream.check_accounting` verifies that before the stream is returned.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from sim.exceptions import ChannelMapError, ConfigurationError, DataQualityWarning, TelemetryFileError
from sim.telemetry import gates
from sim.telemetry.channels import SEPARATORS, UNMAPPED, ChannelMap
from sim.telemetry.stream import TelemetryStream
from sim.telemetry.gates.tables import TableGates

__all__ = ["read_csv", "csv_chunks", "check_schema", "file_sha256", "warn_on_quality"]

#: Share of quarantined values above which a channel draws a DataQualityWarning.
QUARANTINE_WARNING_SHARE = 0.5


def read_csv(path: str | os.PathLike[str], channel_map: ChannelMap, *, chunksize: int | None = None,
             now: pd.Timestamp | None = None) -> TelemetryStream:
    """Read, map, gate and convert a telemetry CSV file.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file; the first line is the header.
    channel_map : ChannelMap
        Maps every data column (wide) or channel name (long) onto a twin variable,
        with units, valid ranges and the quality rules.
    chunksize : int or None
        Rows per chunk (bounded parsing memory); None reads the file at once.  The
        result does not depend on it.
    now : pandas.Timestamp, optional
        Time of reading for the ``timestamp_future`` gate; the wall clock by default.

    Returns
    -------
    TelemetryStream
        SI values, the quarantine, the gaps and the counts per gate.

    Raises
    ------
    TelemetryFileError
        Missing, empty, header-only or malformed file; separator not as configured.
    ChannelMapError
        Header and channel map disagree (unknown, missing or duplicated column) and
        ``schema`` is ``"strict"``.

    Notes
    -----
    Every cell is read as a string (nothing is coerced behind our back).  The gates
    and their order are described in :mod:`sim.telemetry.gates.pipeline`; each is counted
    per channel.  Blank lines are rows (with an empty time cell), so ``row`` is the
    line number - 1 unless a quoted value spans lines.  A ``DataQualityWarning`` is
    emitted for each channel with more than half of its values quarantined.
    """
    columns, digest, chunks = csv_chunks(path, channel_map, chunksize=chunksize)
    table = TableGates(channel_map, columns, now=now).add_all(chunks, empty=(
        f"telemetry file '{path}' has a header but no data rows; fix: export a time range that contains data"))
    stream = table.finish(source=str(path), content_hash=digest)
    stream.check_accounting()
    warn_on_quality(stream)
    return stream


def csv_chunks(path: str | os.PathLike[str], channel_map: ChannelMap, *, chunksize: int | None = None
               ) -> tuple[list[str], str, Iterator[pd.DataFrame]]:
    """Check a CSV file against the map; return its columns, SHA-256 and an iterator of string chunks.

    Errors in the header raise at once; malformed lines raise (as ``TelemetryFileError``)
    while iterating.
    """
    if not isinstance(channel_map, ChannelMap):
        raise ConfigurationError(
            f"channel_map is a {type(channel_map).__name__}; fix: pass a ChannelMap, "
            f"e.g. ChannelMap.from_yaml(path) or ChannelMap.from_dict(d)"
        )
    if chunksize is not None and (isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1):
        raise ConfigurationError(f"chunksize {chunksize!r} must be a positive int or None")
    path = Path(path)
    digest = file_sha256(path)
    header = _header_line(path, channel_map.encoding)
    separator = _separator(header, channel_map.separator, path)
    columns = _header_fields(header, separator, path)
    check_schema(columns, channel_map, f"telemetry file '{path}'")
    return columns, digest, _chunks(path, separator, columns, channel_map, chunksize)


def _chunks(path: Path, separator: str, columns: list[str], channel_map: ChannelMap, chunksize: int | None
            ) -> Iterator[pd.DataFrame]:
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
            yield from [reader] if chunksize is None else reader
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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    block = bytearray(1 << 20)  # one buffer for the whole file: no fresh memory per read
    view = memoryview(block)
    try:
        with path.open("rb", buffering=0) as handle:
            while n := handle.readinto(block):
                digest.update(view[:n])
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


def check_schema(columns: list[str], channel_map: ChannelMap, where: str) -> None:
    """Raise ChannelMapError unless the table's columns fit the map (``schema: strict``).

    With ``schema: lenient`` only the time column (and for long tables the channel and
    value columns) must be there; the schema gate quarantines the rest.
    """
    m = channel_map
    if m.time_column not in columns:
        raise ChannelMapError(
            f"{where} has no time column {m.time_column!r} (header: {columns}); "
            f"fix: set time_column in the channel map to the column holding the timestamps"
        )
    if m.layout == "long":
        absent = [c for c in (m.channel_column, m.value_column) if c not in columns]
        if absent:
            raise ChannelMapError(
                f"{where} is read as a long table but lacks column(s) {absent} (header: {columns}); fix: set "
                f"channel_column and value_column in the channel map, or layout: wide"
            )
        extra = [c for c in columns if c not in (m.time_column, m.channel_column, m.value_column)]
        if extra and m.schema == "strict":
            raise ChannelMapError(
                f"{where}: column(s) {extra} are not part of the long layout ({m.time_column}, {m.channel_column}, "
                f"{m.value_column}); fix: drop them from the export, or set schema: lenient to quarantine them"
            )
        return
    if m.schema == "lenient":
        return
    mapped = set(m.columns)
    unknown = [c for c in columns if c != m.time_column and c not in mapped]
    missing = [c for c in m.columns if c not in columns]
    if unknown:
        if "" in unknown:
            unknown[unknown.index("")] = "<empty name: a separator at the end of the header line?>"
        hints = "".join(
            f"; did you mean {close[0]!r} for {col!r}?"
            for col in unknown if (close := difflib.get_close_matches(col, missing, n=1))
        )
        raise ChannelMapError(
            f"{where}: column(s) {unknown} are not in the channel map{hints}; fix: add a "
            f"channel with column: <name>, unit and si_unit for each to the channel map (mapped columns: "
            f"{list(m.columns)}), or set schema: lenient to quarantine them"
        )
    if missing:
        raise ChannelMapError(
            f"{where}: mapped column(s) {missing} are missing from the file (header: {columns}); "
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


def warn_on_quality(stream: TelemetryStream) -> None:
    """Warn (DataQualityWarning) for each channel with more than half of its values quarantined."""
    per_channel = stream.counts.drop(index="TOTAL")
    for name, row in per_channel.iterrows():
        if name == UNMAPPED:
            continue
        share = row["quarantined"] / row["read"] if row["read"] else 0.0
        if share > QUARANTINE_WARNING_SHARE:
            gate_counts = ", ".join(f"{g} {row[g]}" for g in gates.GATES if row[g])
            warnings.warn(
                f"channel {name!r} of '{stream.source}': {share:.0%} of {row['read']} values quarantined "
                f"({gate_counts}); see stream.quarantine for the reasons",
                DataQualityWarning,
                stacklevel=3,
            )
