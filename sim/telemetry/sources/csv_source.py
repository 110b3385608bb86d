"""Read a historian CSV export into a :class:`TelemetryStream`.

Recipe: check the file, find the separator, check the header against the channel
map, then read every cell as a string (nothing is coerced behind our back) chunk by
chunk through the gates (:mod:`sim.telemetry.gates.tables`, :mod:`sim.telemetry.gates.pipeline`).
Every cell ends either in the frame or in the quarantine, and
:meth:`TelemetryStream.check_accounting` verifies that before the stream is returned.

Two readers, one result: where the file allows it (UTF-8 or a single-byte ASCII-compatible encoding, a
header without quotes), the data is cut into blocks of whole lines and each block is parsed by pyarrow's
multi-threaded CSV reader with every column as text (``pa.string()``, nothing coerced, empty cells kept as
empty text); the gates then parse the text with Arrow compute (:class:`~sim.telemetry.gates.tables.ArrowChunk`).
The mapped value columns of a wide table with plain numbers (decimal ``"."``, no thousands separator) are
parsed as ``float64`` by pyarrow's reader itself wherever that gives what the gates would give the text, the
raw text of quarantined cells taken from the block's bytes (:mod:`~sim.telemetry.sources.csv_typed`).
A block that pyarrow cannot read exactly as pandas does - a line with too few or too many fields, a blank
line, bytes that are not UTF-8, a NUL character - is read by pandas' C parser alone, and from the first
quote character on (a quoted value may span lines) the rest of the file is.  Malformed files raise the
error of the pandas reader, which names the line.  ``engine="pandas"`` reads the whole file with pandas,
``engine="arrow_text"`` as ``"auto"`` but with every column as text (no typed value columns); the stream is
the same (``tests/sim/telemetry/test_telemetry_csv_arrow.py`` and the fuzz suite compare).

Memory: the file is always streamed, by default in chunks of about :data:`CHUNK_BYTES` of text,
and the frame's memory is reserved once from an upper estimate of the rows (file size over
the shortest of the first lines; reserved memory that is never written costs no RAM).  So
reading a file needs about the frame's size plus a few chunks, not the file's cells as
Python objects.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import io
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from sim.exceptions import ChannelMapError, ConfigurationError, DataQualityWarning, TelemetryFileError
from sim.telemetry import gates
from sim.telemetry.channels import SEPARATORS, UNMAPPED, ChannelMap
from sim.telemetry.stream import TelemetryStream
from sim.telemetry.gates.tables import CUT_LAST_ROW, ArrowChunk, TableGates
from sim.telemetry.sources.csv_typed import CsvChunk, TypedColumns, read_typed

__all__ = ["read_csv", "csv_chunks", "check_schema", "file_sha256", "warn_on_quality", "CHUNK_BYTES", "ENGINES"]

#: Share of quarantined values above which a channel draws a DataQualityWarning.
QUARANTINE_WARNING_SHARE = 0.5
#: Text per chunk when no chunk size is given [bytes] (rows = this / the length of the first lines).
CHUNK_BYTES = 2 << 20
_SAMPLE_BYTES = 1 << 16  # what the line length is estimated from [bytes]
#: ``engine`` values of :func:`read_csv`: ``"auto"`` (pyarrow where the file allows it, value columns as numbers
#: where the cells allow it, see the module), ``"arrow_text"`` (the same with every column as text, for
#: comparison) or ``"pandas"`` (pandas' C parser for the whole file); the stream is the same.
ENGINES = ("auto", "arrow_text", "pandas")
_MIN_BLOCK, _MAX_BLOCK = 1 << 20, 4 * CHUNK_BYTES  # the least and most text parsed by pyarrow at once [bytes]
_MAX_LINE_BLOCKS = 64  # a line longer than this many blocks (e.g. a file with CR line ends only): pandas reads on


def read_csv(path: str | os.PathLike[str], channel_map: ChannelMap, *, chunksize: int | None = None,
             now: pd.Timestamp | None = None, engine: str = "auto") -> TelemetryStream:
    """Read, map, gate and convert a telemetry CSV file.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file; the first line is the header.
    channel_map : ChannelMap
        Maps every data column (wide) or channel name (long) onto a twin variable,
        with units, valid ranges and the quality rules.
    chunksize : int or None
        Rows per chunk; None (default): about :data:`CHUNK_BYTES` of text per chunk.  The
        file is always streamed, and the result does not depend on the chunk size.
    now : pandas.Timestamp, optional
        Time of reading for the ``timestamp_future`` gate; the wall clock by default.
    engine : {"auto", "arrow_text", "pandas"}
        ``"auto"``: pyarrow's CSV reader where the file allows it, pandas' elsewhere, value columns as
        numbers where the cells allow it (see the module); ``"arrow_text"``: the same with every column
        as text; ``"pandas"``: pandas' C parser for the whole file.  The stream is the same.

    Returns
    -------
    TelemetryStream
        SI values, the quarantine, the gaps and the counts per gate.

    Raises
    ------
    TelemetryFileError
        Missing, empty, header-only or malformed file; separator not as configured; bytes
        that the ``encoding`` cannot decode at all (e.g. a UTF-16 file without BOM).
    ChannelMapError
        Header and channel map disagree (unknown, missing or duplicated column) and
        ``schema`` is ``"strict"``.

    Notes
    -----
    Every cell is read as a string (nothing is coerced behind our back).  The gates
    and their order are described in :mod:`sim.telemetry.gates.pipeline`; each is counted
    per channel.  Blank lines are rows (with an empty time cell), so ``row`` is the
    line number - 1 unless a quoted value spans lines.  A last line with fewer fields than the
    header and no line break at its end was cut off while the file was written: its values are
    quarantined by the ``schema`` gate (a shorter line elsewhere only lacks values: ``missing``).
    Bytes the ``encoding`` cannot decode become U+FFFD (the cell is then quarantined).  A
    ``DataQualityWarning`` is emitted for each channel with more than half of its values quarantined.
    """
    _check_arguments(channel_map, chunksize, engine)
    path = Path(path)
    # the file is hashed in a background thread while it is read and gated (hashlib releases the GIL): the
    # bytes of the blocks pyarrow parses as they are read, the rest of the file (pandas) by a read of its own
    with ThreadPoolExecutor(1, thread_name_prefix="telemetry-hash") as pool:
        try:
            columns, chunks = _open_chunks(path, channel_map, chunksize, engine, hash_pool=pool)
            table = TableGates(channel_map, columns, now=now, expected_rows=chunks.rows_estimate)
            table.add_all(chunks, empty=(f"telemetry file '{path}' has a header but no data rows; fix: export a "
                                         f"time range that contains data"))
        except Exception:
            file_sha256(path)  # a missing, empty or unreadable file is reported as such
            raise
        stream = table.finish(source=str(path), content_hash=chunks.content_hash())
    stream.check_accounting()
    warn_on_quality(stream)
    return stream


class CsvChunks:
    """The text chunks of a CSV file (DataFrames of strings or :class:`ArrowChunk` of Arrow text), read when
    iterated; ``rows_estimate`` is an upper estimate of its rows.  *digest*, when the chunks hash the file
    as they read it: a callable that gives the SHA-256 once they have been read (see :meth:`content_hash`)."""

    def __init__(self, chunks: Iterator[pd.DataFrame | ArrowChunk], rows_estimate: int, path: Path,
                 digest: Callable[[], str] | None = None):
        self.chunks, self.rows_estimate, self.path, self._digest = chunks, rows_estimate, path, digest

    def content_hash(self) -> str:
        """SHA-256 of the file's bytes (hex), the same as :func:`file_sha256`: from the bytes read with the
        chunks (call it once every chunk has been read), or by a read of its own."""
        return self._digest() if self._digest is not None else file_sha256(self.path)

    def __iter__(self) -> Iterator[pd.DataFrame | ArrowChunk]:
        return self.chunks

    def __next__(self) -> pd.DataFrame | ArrowChunk:
        return next(self.chunks)

    def close(self) -> None:
        self.chunks.close()


def csv_chunks(path: str | os.PathLike[str], channel_map: ChannelMap, *, chunksize: int | None = None,
               engine: str = "auto") -> tuple[list[str], str, CsvChunks]:
    """Check a CSV file against the map; return its columns, SHA-256 and an iterator of text chunks.

    Errors in the header raise at once; malformed lines raise (as ``TelemetryFileError``)
    while iterating.  *chunksize* None: about :data:`CHUNK_BYTES` of text per chunk.  *engine*:
    see :func:`read_csv`.
    """
    _check_arguments(channel_map, chunksize, engine)
    path = Path(path)
    digest = file_sha256(path)
    columns, chunks = _open_chunks(path, channel_map, chunksize, engine)
    return columns, digest, chunks


def _check_arguments(channel_map: ChannelMap, chunksize: int | None, engine: str) -> None:
    if engine not in ENGINES:
        raise ConfigurationError(f"engine {engine!r} is not one of {list(ENGINES)}; fix: leave the default 'auto'")
    if not isinstance(channel_map, ChannelMap):
        raise ConfigurationError(
            f"channel_map is a {type(channel_map).__name__}; fix: pass a ChannelMap, "
            f"e.g. ChannelMap.from_yaml(path) or ChannelMap.from_dict(d)"
        )
    if chunksize is not None and (isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1):
        raise ConfigurationError(f"chunksize {chunksize!r} must be a positive int or None")


def _open_chunks(path: Path, channel_map: ChannelMap, chunksize: int | None, engine: str, *,
                 hash_pool: ThreadPoolExecutor | None = None) -> tuple[list[str], CsvChunks]:
    """:func:`csv_chunks` without the hash: the columns and the chunks.

    With *hash_pool* (one thread), the chunks hash the file as they read it, in that thread
    (:meth:`CsvChunks.content_hash`); where pandas reads the whole file, the pool hashes it by a read of its own.
    """
    header = _header_line(path, channel_map.encoding)
    separator = _separator(header, channel_map.separator, path)
    columns = _header_fields(header, separator, path)
    check_schema(columns, channel_map, f"telemetry file '{path}'")
    size, line_bytes = _line_bytes(path)
    block_bytes = CHUNK_BYTES if chunksize is None else min(max(_MIN_BLOCK, chunksize * line_bytes), _MAX_BLOCK)
    if chunksize is None:
        chunksize = max(1024, CHUNK_BYTES // line_bytes)
    cut = _cut_last_line(path, separator, len(columns), channel_map.encoding)
    start = _arrow_start(path, channel_map.encoding) if engine != "pandas" else None
    digest = None
    if start is None:
        chunks = _chunks(path, separator, columns, channel_map, chunksize, cut)
        if hash_pool is not None:
            digest = hash_pool.submit(file_sha256, path).result
    else:
        hasher = None if hash_pool is None else _Hasher(hash_pool, path)
        chunks = _mark_last(_arrow_chunks(path, start, separator, columns, channel_map, chunksize, block_bytes,
                                          hasher, numbers=engine == "auto"), cut)
        digest = None if hasher is None else hasher.hexdigest
    # rows: 1.5 x the estimate from the mean line length (memory reserved but never written costs no RAM;
    # should the estimate be short, the frame's memory grows by doubling)
    return columns, CsvChunks(chunks, 3 * size // (2 * line_bytes) + 1024, path, digest)


class _Hasher:
    """SHA-256 of a file from its bytes as they are read, in order, by one background thread (*pool*).

    The reader sets the file's *size* when it opens it, hands in consecutive pieces (:meth:`add`) or lets it
    read the rest of the file from an offset (:meth:`add_rest`); :meth:`hexdigest` waits for the pieces and
    checks that they covered the *size* bytes that were read.
    """

    def __init__(self, pool: ThreadPoolExecutor, path: Path):
        self.pool, self.path = pool, path
        self.digest = hashlib.sha256()
        self.size: int | None = None  # bytes the reader reads [bytes]
        self.covered = 0  # bytes handed in [bytes]

    def add(self, piece: bytes | memoryview) -> None:
        """Hash the next *piece* of the file (kept alive until it is hashed)."""
        self.covered += len(piece)
        self.pool.submit(self.digest.update, piece)

    def add_rest(self, offset: int) -> None:
        """Hash the file from byte *offset* on to its *size*, by a read of its own."""
        if offset != self.covered:
            raise RuntimeError(f"the hash covers {self.covered} bytes of '{self.path}', the rest starts at {offset}")
        self.covered = self.size
        self.pool.submit(self._read_rest, offset, self.size - offset)

    def _read_rest(self, offset: int, count: int) -> None:
        block = bytearray(1 << 20)
        view = memoryview(block)
        with self.path.open("rb", buffering=0) as handle:
            handle.seek(offset)
            while count > 0 and (n := handle.readinto(view[:min(count, len(block))])):
                self.digest.update(view[:n])
                count -= n

    def hexdigest(self) -> str:
        """The hex digest, once every piece handed in is hashed."""
        self.pool.submit(lambda: None).result()  # (the pool's one thread hashes the pieces in order)
        if self.covered != self.size:
            raise RuntimeError(f"the hash covers {self.covered} of the {self.size} bytes read from '{self.path}'")
        return self.digest.hexdigest()


def _transcoding(encoding: str) -> str | None:
    """How pyarrow reads text in *encoding*: "" as it is (UTF-8), the codec's name for a single-byte
    ASCII-compatible encoding (decoded block by block, bad bytes as U+FFFD), None: not at all (pandas)."""
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        return None
    if codec.name in ("utf-8", "utf-8-sig"):
        return ""
    try:
        every = bytes(range(256)).decode(codec.name, errors="replace")
    except (UnicodeError, LookupError, TypeError):
        return None
    single = len(every) == 256 and every[:128] == bytes(range(128)).decode("ascii")
    return codec.name if single else None


def _arrow_start(path: Path, encoding: str) -> int | None:
    """Byte offset of the first data line, where pyarrow can read the file (see the module), else None."""
    if _transcoding(encoding) is None:
        return None
    with path.open("rb") as handle:
        head = handle.read(_SAMPLE_BYTES)
    end = head.find(b"\n")
    if end < 0:
        return None  # a header longer than the sample, a header alone, or lines ended by CR only: pandas
    header = head[:end]
    if b'"' in header or b"\r" in header[:-1] or b"\x00" in header:
        return None
    return end + 1


def _mark_last(chunks: Iterable[pd.DataFrame | ArrowChunk], cut: str) -> Iterator[pd.DataFrame | ArrowChunk]:
    """*chunks*, the last one marked with the reason *cut* (:data:`CUT_LAST_ROW`) unless it is empty."""
    if not cut:
        yield from chunks
        return
    previous = None  # one chunk held back: the last one is marked
    for chunk in chunks:
        if previous is not None:
            yield previous
        previous = chunk
    if previous is not None:
        previous.attrs[CUT_LAST_ROW] = cut
        yield previous


def _typed_columns(channel_map: ChannelMap, columns: list[str]) -> TypedColumns:
    """The columns pyarrow's reader may read as float64 (see :mod:`~sim.telemetry.sources.csv_typed`): the
    mapped value columns of a wide table whose numbers are plain (decimal ``"."``, no thousands separator)."""
    m = channel_map
    if m.layout != "wide" or m.decimal != "." or m.thousands is not None:
        return TypedColumns(())
    mapped = set(m.columns)
    return TypedColumns(c for c in columns if c in mapped and c != m.time_column)


def _arrow_chunks(path: Path, start: int, separator: str, columns: list[str], channel_map: ChannelMap,
                  chunksize: int, block_bytes: int, hasher: _Hasher | None = None, *, numbers: bool = True
                  ) -> Iterator[pd.DataFrame | ArrowChunk]:
    """The data lines from byte *start* on, block by block of whole lines: pyarrow, or pandas (see the module).

    A background thread reads and parses the next block while the gates take the current one; only the
    blocks in flight are in memory.  *hasher*: hashes the bytes as they are read (the header, each block,
    and the rest of the file where pandas reads it).  With *numbers*, value columns are read as numbers
    where the cells allow it (:class:`~sim.telemetry.sources.csv_typed.CsvChunk`), else as text.
    """
    transcode = _transcoding(channel_map.encoding)
    typed = _typed_columns(channel_map, columns) if numbers else TypedColumns(())  # (changed only by the block thread, one block after another)
    with path.open("rb") as handle, ThreadPoolExecutor(1, thread_name_prefix="csv-blocks") as pool:
        size = os.fstat(handle.fileno()).st_size
        offset = start
        if hasher is not None:
            hasher.size = size
            hasher.add(handle.read(start))  # the header (the block thread seeks before each read)
        ahead = pool.submit(_read_block, handle, offset, size, block_bytes, separator, columns, transcode, hasher,
                            typed)
        while True:
            block = ahead.result()
            if block is None:
                return
            end, table, text, lines = block
            if table is None and text is None:  # pandas reads the rest of the file
                if hasher is not None:
                    hasher.add_rest(offset)
                yield from _pandas_from(path, offset, separator, columns, channel_map, chunksize)
                return
            offset = end
            ahead = pool.submit(_read_block, handle, offset, size, block_bytes, separator, columns, transcode,
                                hasher, typed)
            if table is None:
                yield from _pandas_from(path, 0, separator, columns, channel_map, chunksize, block=text)
            else:
                first = 0
                for batch in table.to_batches(max_chunksize=chunksize):
                    yield ArrowChunk(batch) if lines is None else CsvChunk(batch, lines, first)
                    first += batch.num_rows
            del block, table, text, lines


def _read_block(handle, offset: int, size: int, block_bytes: int, separator: str, columns: list[str],
                transcode: str, hasher: _Hasher | None = None, typed: TypedColumns | None = None):
    """Read the whole lines of about *block_bytes* from byte *offset* on and parse them with pyarrow.

    Returns None at the end of the file, else ``(end, table, text, lines)``: *end* the byte after the block;
    *table* pyarrow's columns, or None with the block's bytes in *text* where pyarrow cannot read them
    as pandas does (NUL characters; see :func:`_arrow_table`); *table* and *text* None: pandas reads
    the rest of the file (a quote character - a quoted value may span lines - or a line that never ends).
    *lines*: the block's :class:`~sim.telemetry.sources.csv_typed.BlockLines` where the *typed* columns
    were read as float64 (see :func:`~sim.telemetry.sources.csv_typed.read_typed`), None where every
    column is text.  *hasher* gets the bytes of the block (not those of the rest of the file).
    """
    if offset >= size:
        return None
    handle.seek(offset)
    text = handle.read(block_bytes)
    if offset + len(text) < size:
        cut = text.rfind(b"\n")
        while cut < 0:  # a line longer than the block: up to its end, unless it never ends (CR line ends)
            more = handle.read(block_bytes)
            if not more or len(text) > _MAX_LINE_BLOCKS * block_bytes:
                return offset, None, None, None
            found = more.find(b"\n")
            text += more
            cut = -1 if found < 0 else len(text) - len(more) + found
    else:
        cut = len(text) - 1
    if text.find(b'"', 0, cut + 1) >= 0:
        return offset, None, None, None
    nul = text.find(bytes(1), 0, cut + 1) >= 0
    if cut + 1 < len(text):  # (a view: a copy of the block would cost a fresh allocation's page faults)
        text = memoryview(text)[:cut + 1]
    if hasher is not None:
        hasher.add(text)
    if nul:
        return offset + len(text), None, text, None
    table, lines = _arrow_table(text, separator, columns, transcode, typed)
    return offset + len(text), table, (text if table is None else None), lines


def _arrow_table(text: bytes | memoryview, separator: str, columns: list[str], transcode: str,
                 typed: TypedColumns | None = None):
    """pyarrow's reading of one block of whole lines: ``(table, lines)``.  The *typed* columns as float64 where
    :func:`~sim.telemetry.sources.csv_typed.read_typed` allows it (*lines* the block's lines), else every
    column as text (*lines* None); *table* None where pyarrow cannot read the block as pandas would (too few
    or too many fields, a blank line, bytes that are not UTF-8)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    # pyarrow checks that text is UTF-8 unless it is known to be: ASCII, or encoded here
    check_utf8 = not transcode and bool(text) and int(np.frombuffer(text, dtype=np.uint8).max()) >= 0x80
    if transcode:  # (a single-byte encoding: each byte decodes alone, as pandas decodes the whole file)
        text = str(text, transcode, errors="replace").encode("utf-8")
    block = pa.py_buffer(text)
    threads = os.cpu_count() or 1

    def read(types: dict):
        return pacsv.read_csv(
            block,
            read_options=pacsv.ReadOptions(column_names=columns, use_threads=True,
                                           block_size=max(block.size // threads + 1, 1 << 16)),
            parse_options=pacsv.ParseOptions(delimiter=separator, quote_char=False, escape_char=False,
                                             newlines_in_values=False, ignore_empty_lines=False),
            # (null_values only apply to the float64 columns: the text columns keep every cell as it is)
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False, null_values=[""],
                                                 check_utf8=check_utf8),
        ).combine_chunks()

    if typed:
        got = read_typed(text, separator, columns, typed, read)
        if got is not None:
            return got
    try:
        return read({c: pa.string() for c in columns}), None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None, None


def _pandas_from(path: Path, offset: int, separator: str, columns: list[str], channel_map: ChannelMap,
                 chunksize: int, block: bytes | None = None) -> Iterator[pd.DataFrame]:
    """pandas' chunks of the file's data lines from byte *offset* on (or of the lines *block*).

    A malformed line raises the error of reading the whole file with pandas (so it names the line).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            if block is None:
                source = path.open("rb")
                source.seek(offset)
            else:
                source = io.BytesIO(block)
            with source:
                reader = pd.read_csv(
                    source, sep=separator, header=None, names=columns, index_col=False, dtype=str,
                    keep_default_na=False, na_filter=False, skip_blank_lines=False, encoding=channel_map.encoding,
                    encoding_errors="replace", compression=None, engine="c", chunksize=chunksize,
                )
                with reader:
                    yield from reader
    except (UnicodeError, pd.errors.ParserError, pd.errors.ParserWarning, csv.Error) as err:
        # the error as the whole file read by pandas gives it (line numbers counted from the file's start)
        for _ in _chunks(path, separator, columns, channel_map, max(chunksize, 1 << 16), ""):
            pass
        raise TelemetryFileError(
            f"telemetry file '{path}' is not well-formed CSV with separator {separator!r}: "
            f"{' '.join(str(err).split())}; fix: repair that line"
        ) from err


def _line_bytes(path: Path) -> tuple[int, int]:
    """The file's size and the mean length of its first lines (at least 2) [bytes]."""
    with path.open("rb") as handle:
        sample = handle.read(_SAMPLE_BYTES)
        size = handle.seek(0, os.SEEK_END)
    lines = sample.split(b"\n")[1:-1] or [sample]  # (the header and a partial last line left out)
    return size, max(2, sum(len(line) + 1 for line in lines) // len(lines))


def _cut_last_line(path: Path, separator: str, width: int, encoding: str) -> str:
    """The reason why the file's last row is cut off, or "" (see :func:`read_csv`)."""
    try:
        ascii_lines = b"a\nb\r".decode(encoding) == "a\nb\r"
    except UnicodeError:
        ascii_lines = False
    if ascii_lines:  # read the tail only
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            block = _SAMPLE_BYTES
            while True:
                handle.seek(max(size - block, 0))
                tail = handle.read()
                if tail.endswith((b"\n", b"\r")):
                    return ""
                start = max(tail.rfind(b"\n"), tail.rfind(b"\r"))
                if start >= 0 or block >= size:
                    break
                block *= 4
        if start < 0:
            return ""  # one line: the header
        last = tail[start + 1:].decode(encoding, errors="replace")
    else:  # UTF-16, UTF-32 ...: decode the whole file (rare)
        with path.open("r", encoding=encoding, errors="replace", newline="") as handle:
            tail = ""
            while block_text := handle.read(1 << 20):
                tail = (tail + block_text)[-(1 << 20):]
        if tail.endswith(("\n", "\r")) or "\n" not in tail and "\r" not in tail:
            return ""
        last = tail[max(tail.rfind("\n"), tail.rfind("\r")) + 1:]
    try:
        fields = next(csv.reader([last], delimiter=separator), [])
    except csv.Error:
        return ""
    if len(fields) >= width:
        return ""
    return (f"the file's last line has {len(fields)} of the header's {width} fields and no line break at its end: "
            f"it was cut off while the file was written; fix: re-export the file, or remove the partial line")


def _chunks(path: Path, separator: str, columns: list[str], channel_map: ChannelMap, chunksize: int, cut: str
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
            with reader:
                yield from _mark_last(reader, cut)
    except UnicodeError as err:
        raise _decode_error(path, channel_map.encoding, err) from err
    except (pd.errors.ParserError, pd.errors.ParserWarning, csv.Error) as err:
        detail = " ".join(str(err).split())
        if isinstance(err, pd.errors.ParserWarning):
            line = _first_long_line(path, separator, len(columns), channel_map.encoding)
            detail = f"line {line} has more fields than the header's {len(columns)}"
        if "inside string" in detail:
            fix = "a '\"' opens a quoted value that never closes; remove it or close the quote"
        else:
            fix = ("more fields than the header often means an unquoted value that contains the separator, "
                   "e.g. a decimal comma in a ','-separated file; then set separator: ';'")
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


def _decode_error(path: Path, encoding: str, err: UnicodeError) -> TelemetryFileError:
    """The file error for bytes that *encoding* cannot decode even with replacement (e.g. a missing BOM)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                decoder.decode(block)
                offset += len(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as strict:
        offset += strict.start  # (in the block the decoder was given)
    except UnicodeError:
        pass  # (no position: the decoder refused the block it was given)
    return TelemetryFileError(
        f"telemetry file '{path}' cannot be decoded with encoding {encoding!r} at byte {offset} ({err}); "
        f"fix: set encoding in the channel map to the file's encoding (e.g. 'utf-8', 'utf-16', 'cp1252')"
    )


def _header_line(path: Path, encoding: str) -> str:
    try:
        with path.open("r", encoding=encoding, errors="replace", newline="") as handle:
            line = handle.readline()
    except UnicodeError as err:
        raise _decode_error(path, encoding, err) from err
    header = line.lstrip("\ufeff").rstrip("\r\n")
    if "\x00" in header:  # ASCII text in UTF-16 or UTF-32 read with an 8-bit encoding
        with path.open("rb") as handle:
            first = handle.read(_SAMPLE_BYTES)
        raise TelemetryFileError(
            f"telemetry file '{path}': its header holds NUL characters (the first at byte {first.find(bytes(1))}), "
            f"so it is not text in encoding {encoding!r} but most likely UTF-16 or UTF-32; fix: set encoding "
            f"in the channel map, e.g. encoding: utf-16"
        )
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
