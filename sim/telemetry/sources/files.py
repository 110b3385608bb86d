"""Recorded sources besides CSV: Parquet files and pandas DataFrames, plus one entry point for files.

All of them feed :class:`~sim.telemetry.gates.tables.TableGates` chunk by chunk, so a
Parquet file, a DataFrame and a CSV file with the same content give the same
stream (values, quarantine, counts and gaps).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import pandas as pd

from sim.exceptions import ConfigurationError, TelemetryFileError
from sim.telemetry.channels import ChannelMap
from sim.telemetry.sources.csv_source import file_sha256, check_schema, csv_chunks, read_csv, warn_on_quality
from sim.telemetry.stream import TelemetryStream
from sim.telemetry.gates.tables import ArrowChunk, TableGates

__all__ = ["read_parquet", "read_frame", "read_file", "table_chunks", "PARQUET_SUFFIXES"]

#: File name endings read as Parquet by :func:`read_file`; everything else is read as CSV.
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
#: Rows per chunk of Parquet files and DataFrames when none is given (bounded memory for files larger than
#: memory); CSV files are read in chunks of about ``csv_source.CHUNK_BYTES`` of text.
DEFAULT_CHUNK_ROWS = 1 << 20


def _check_map(channel_map: ChannelMap) -> None:
    if not isinstance(channel_map, ChannelMap):
        raise ConfigurationError(
            f"channel_map is a {type(channel_map).__name__}; fix: pass a ChannelMap, "
            f"e.g. ChannelMap.from_yaml(path) or ChannelMap.from_dict(d)"
        )


def _check_chunk_rows(chunk_rows: int | None) -> int:
    if chunk_rows is None:
        return DEFAULT_CHUNK_ROWS
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ConfigurationError(f"chunksize {chunk_rows!r} must be a positive int or None")
    return chunk_rows


def parquet_chunks(path: str | os.PathLike[str], channel_map: ChannelMap, *, chunksize: int | None = None
                   ) -> tuple[list[str], str, Iterator[pd.DataFrame]]:
    """Check a Parquet file against the map; return its columns, SHA-256 and an iterator of chunks.

    The chunks are :class:`~sim.telemetry.gates.tables.ArrowChunk` record batches: numeric and
    time-zone-aware timestamp columns reach the gates without passing through pandas.
    """
    _check_map(channel_map)
    rows = _check_chunk_rows(chunksize)
    path = Path(path)
    digest = file_sha256(path)
    handle = _open_parquet(path, channel_map)
    return list(handle.schema_arrow.names), digest, _parquet_batches(handle, path, rows)


def _open_parquet(path: Path, channel_map: ChannelMap):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path, memory_map=True)  # no fresh memory for the file's bytes
    except (pa.ArrowException, OSError) as err:
        raise TelemetryFileError(
            f"telemetry file '{path}' is not a readable Parquet file ({err}); fix: re-export it, or give the file "
            f"a .csv name if it is CSV"
        ) from err
    check_schema(list(handle.schema_arrow.names), channel_map, f"telemetry file '{path}'")
    return handle


def _parquet_batches(handle, path: Path, rows: int) -> Iterator[ArrowChunk]:
    import pyarrow as pa

    try:
        for batch in handle.iter_batches(batch_size=rows):
            yield ArrowChunk(batch)
    except (pa.ArrowException, OSError) as err:
        raise TelemetryFileError(f"telemetry file '{path}': a row group cannot be read ({err}); "
                                 f"fix: re-export the file") from err
    finally:
        handle.close()


def _read_ahead(chunks: Iterator, pool: ThreadPoolExecutor) -> Iterator:
    """*chunks*, each decoded in *pool* while the caller gates the one before (Arrow releases the GIL)."""
    ahead = pool.submit(next, chunks, None)
    try:
        while True:
            chunk = ahead.result()
            if chunk is None:
                return
            ahead = pool.submit(next, chunks, None)
            yield chunk
    finally:
        wait([ahead])  # a generator cannot be closed while another thread runs it
        chunks.close()


def _read_chunks(columns, digest, chunks, channel_map, *, source: str, now, expected_rows: int | None = None
                 ) -> TelemetryStream:
    table = TableGates(channel_map, columns, now=now, expected_rows=expected_rows).add_all(
        chunks, empty=f"telemetry '{source}' has no data rows; fix: export a time range that contains data")
    stream = table.finish(source=source, content_hash=digest() if callable(digest) else digest)
    stream.check_accounting()
    warn_on_quality(stream)
    return stream


def read_parquet(path: str | os.PathLike[str], channel_map: ChannelMap, *, chunksize: int | None = None,
                 now: pd.Timestamp | None = None) -> TelemetryStream:
    """Read, map, gate and convert a telemetry Parquet file, one record batch at a time.

    The file's SHA-256 is computed and the next record batch decoded in background threads
    while the gates run (hashlib and Arrow release the GIL).

    Parameters
    ----------
    path : str or os.PathLike
        The Parquet file, wide or long as ``channel_map.layout`` says.  Time columns may
        be timestamps (naive ones are local to ``channel_map.timezone``), text, or
        Unix time [s]; value columns numbers or text.
    channel_map : ChannelMap
        The map.
    chunksize : int or None
        Rows per record batch (default 2**20); the result does not depend on it.
    now : pandas.Timestamp, optional
        Time of reading for the ``timestamp_future`` gate; the wall clock by default.
    """
    _check_map(channel_map)
    rows = _check_chunk_rows(chunksize)
    path = Path(path)
    with ThreadPoolExecutor(2, thread_name_prefix="telemetry-read") as pool:
        digest = pool.submit(file_sha256, path)
        try:
            handle = _open_parquet(path, channel_map)
        except TelemetryFileError:
            digest.result()  # a missing file is reported as such
            raise
        chunks = _read_ahead(_parquet_batches(handle, path, rows), pool)
        try:
            return _read_chunks(list(handle.schema_arrow.names), digest.result, chunks, channel_map,
                                source=str(path), now=now, expected_rows=handle.metadata.num_rows)
        finally:
            chunks.close()


def read_frame(frame: pd.DataFrame, channel_map: ChannelMap, *, chunksize: int | None = None,
               now: pd.Timestamp | None = None, source: str = "<DataFrame>") -> TelemetryStream:
    """Gate a pandas DataFrame (wide or long) exactly as a file with the same cells.

    The time comes from ``channel_map.time_column``, or from a DatetimeIndex when the
    frame has no such column.  ``content_hash`` is the SHA-256 of pandas' row hashes.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    channel_map : ChannelMap
        The map.
    chunksize : int or None
        Rows per chunk (default 2**20); the result does not depend on it.
    now : pandas.Timestamp, optional
        Time of reading for the ``timestamp_future`` gate.
    source : str
        Name for reports.
    """
    _check_map(channel_map)
    if not isinstance(frame, pd.DataFrame):
        raise ConfigurationError(f"frame is a {type(frame).__name__}; fix: pass a pandas DataFrame")
    rows = _check_chunk_rows(chunksize)
    if channel_map.time_column not in frame.columns and isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.reset_index(names=channel_map.time_column)
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        raise ConfigurationError(f"frame columns {columns} are not unique; fix: rename the duplicates")
    frame = frame.set_axis(columns, axis=1)
    check_schema(columns, channel_map, f"DataFrame {source!r}")
    if len(frame) == 0:
        raise TelemetryFileError(f"DataFrame {source!r} has no rows; fix: pass a frame that contains data")
    digest = _frame_sha256(frame)
    chunks = (frame.iloc[k:k + rows] for k in range(0, len(frame), rows))
    return _read_chunks(columns, digest, chunks, channel_map, source=source, now=now, expected_rows=len(frame))


def _frame_sha256(frame: pd.DataFrame) -> str:
    """SHA-256 of pandas' row hashes; object columns of mixed types are hashed by the repr of their cells."""
    try:
        rows = pd.util.hash_pandas_object(frame, index=False)
    except (TypeError, ValueError, UnicodeError):
        rows = pd.util.hash_pandas_object(frame.astype(object).map(repr), index=False)
    digest = hashlib.sha256(rows.to_numpy().tobytes())
    digest.update(repr(list(frame.columns)).encode())
    return digest.hexdigest()


def table_chunks(path: str | os.PathLike[str], channel_map: ChannelMap, *, chunksize: int | None = None
                 ) -> tuple[list[str], str, Iterator[pd.DataFrame]]:
    """Columns, SHA-256 and chunk iterator of a CSV or Parquet file (chosen by the file name)."""
    if str(path).lower().endswith(PARQUET_SUFFIXES):
        return parquet_chunks(path, channel_map, chunksize=chunksize)
    return csv_chunks(path, channel_map, chunksize=chunksize)


def read_file(path: str | os.PathLike[str], channel_map: ChannelMap, *, chunksize: int | None = None,
              now: pd.Timestamp | None = None) -> TelemetryStream:
    """:func:`read_parquet` for ``.parquet``/``.pq``/``.parq`` files, :func:`read_csv` for the rest."""
    if str(path).lower().endswith(PARQUET_SUFFIXES):
        return read_parquet(path, channel_map, chunksize=chunksize, now=now)
    return read_csv(path, channel_map, chunksize=chunksize, now=now)
