"""Value columns of a CSV block read as numbers by pyarrow's reader, their raw text kept in the block's bytes.

Why: parsing the numbers is most of what the gates do with a clean export's text, and pyarrow's CSV reader
parses them as it splits the lines (multi-threaded, in C++) without first copying every cell into a text
column.  The quarantine still needs each rejected cell's text exactly as the file holds it, so the block's
bytes and the start of each of its lines are kept (:class:`BlockLines`); a quarantined cell's text is cut
from its line when the gates pick it (:class:`CsvNumbers`), which touches a few lines, not the block.

The rule that keeps the stream the same as the text path's (and pandas'): pyarrow reads a value column as
``float64`` (empty cells null, nothing else null) only where that gives what the gates would give the text.
The typed read refuses any cell outside its number grammar (``ERR``, ``1,5``, ``0x1F``, a cell of spaces ...),
and it reads ``nan``, ``inf``, ``1e999`` as non-finite numbers; every cell it accepts as a finite number is,
after trimming spaces and tabs, a number of the gates' plain grammar with the same value (the same Arrow
string-to-float routine as the gates' cast; ``tests/sim/telemetry/test_telemetry_csv_typed.py`` checks it on
random cells).  So a column whose cells the typed read refuses, or reads as non-finite, is read as text
(by the gates, as before) for the rest of the file, and the block is read again; a block whose lines
pyarrow would count differently from their line breaks (a carriage return alone, a blank line) is read as
text (:func:`line_starts` finds them).  A clean file is read typed; a quirky one costs what it cost before,
plus the line index of the blocks tried typed (about 0.07 CPU-s per 200 MB) and at most :data:`MAX_REFUSALS`
refused typed reads of one block each (after that many, the rest of the file is read as text).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
from numba import njit

from sim.telemetry.gates._cells import ArrowNumbers
from sim.telemetry.gates.tables import ArrowChunk

__all__ = ["BlockLines", "CsvChunk", "CsvNumbers", "TypedColumns", "cut_fields", "line_starts", "read_typed",
           "MAX_REFUSALS"]

#: Typed reads of one file that may be refused (a refused cell drops its column; any other refusal, e.g. a line
#: with too many fields, leaves the block to the text read) before the rest of the file is read as text.
MAX_REFUSALS = 8

_LF, _CR = 10, 13
# (eight bytes at a time: a word holds a byte b exactly when (w ^ b*ONES) has a zero byte, which the
# classic test ((x - ONES) & ~x & HIGH) != 0 tells; most words of a line hold neither LF nor CR)
_ONES, _HIGH = np.uint64(0x0101010101010101), np.uint64(0x8080808080808080)
_LFS, _CRS = np.uint64(_LF * 0x0101010101010101), np.uint64(_CR * 0x0101010101010101)


@njit(cache=True, nogil=True)
def line_starts(buffer, starts):
    """Byte offsets of the lines of *buffer* (uint8): ``starts[k]`` is where line *k* starts, ``starts[count]``
    the end of the last line; returns *count*, or -1 where pyarrow would not see one row per line break.

    A line ends at ``\\n`` (``\\r\\n`` too); the last line may lack a line break.  -1: a carriage return
    that is not followed by ``\\n`` and is not the buffer's last byte (pyarrow ends a line there), or a blank
    line (no bytes but its line end).  *starts* needs room for ``len(buffer) // 2 + 2`` offsets.
    """
    n = buffer.size
    words = buffer[:n - n % 8].view(np.uint64)
    count = 0
    starts[0] = 0
    begin = 0
    i = 0
    while i < n:
        if i % 8 == 0 and i + 8 <= n:  # skip a word without LF and CR
            word = words[i // 8]
            lf, cr = word ^ _LFS, word ^ _CRS
            if (((lf - _ONES) & ~lf) | ((cr - _ONES) & ~cr)) & _HIGH == 0:
                i += 8
                continue
        byte = buffer[i]
        if byte == _LF:
            end = i - 1 if i > begin and buffer[i - 1] == _CR else i
            if end == begin:
                return -1
            count += 1
            starts[count] = i + 1
            begin = i + 1
        elif byte == _CR and i + 1 < n and buffer[i + 1] != _LF:
            return -1
        i += 1
    if begin < n:  # a last line without a line break
        if n - begin == 1 and buffer[n - 1] == _CR:
            return -1
        count += 1
        starts[count] = n
    return count


@njit(cache=True, nogil=True)
def cut_fields(buffer, starts, rows, field, separator, offsets, out):
    """Copy field *field* of the lines *rows* of *buffer* (uint8; line offsets *starts* from :func:`line_starts`)
    into *out*, one after another: row ``rows[k]``'s field is ``out[offsets[k]:offsets[k + 1]]``; returns the
    bytes written.  Fields are split at the byte *separator*; the line break (``\n``, ``\r\n``) is not part
    of the last field.  *out* needs room for the lines' bytes, *offsets* for ``rows.size + 1`` values.
    """
    total = 0
    offsets[0] = 0
    for k in range(rows.size):
        begin, end = starts[rows[k]], starts[rows[k] + 1]
        if end > begin and buffer[end - 1] == _LF:
            end -= 1
        if end > begin and buffer[end - 1] == _CR:
            end -= 1
        i, seen = begin, 0
        while seen < field and i < end:
            if buffer[i] == separator:
                seen += 1
            i += 1
        while i < end and buffer[i] != separator:
            out[total] = buffer[i]
            total += 1
            i += 1
        offsets[k + 1] = total
    return total


class BlockLines:
    """The bytes of a block of whole lines (UTF-8, as pyarrow read them) and where each line starts.

    Parameters
    ----------
    data : bytes or memoryview
        The block.
    starts : numpy.ndarray of int64
        ``rows + 1`` offsets from :func:`line_starts`.
    separator : str
        The field separator, one ASCII character (as every one of
        :data:`~sim.telemetry.channels.SEPARATORS`).
    """

    __slots__ = ("data", "starts", "separator")

    def __init__(self, data: bytes | memoryview, starts: np.ndarray, separator: str):
        if len(separator.encode("utf-8")) != 1:
            raise ValueError(f"separator {separator!r} is not one ASCII character; fix: use one of ',', ';', "
                             f"'\\t', '|'")
        self.data, self.starts, self.separator = data, starts, separator.encode("utf-8")[0]

    @classmethod
    def scan(cls, data: bytes | memoryview, separator: str) -> "BlockLines | None":
        """The lines of *data*, or None where pyarrow would count its rows differently (see :func:`line_starts`)."""
        work = np.empty(len(data) // 2 + 2, dtype=np.int64)  # (pages never written cost no RAM)
        count = line_starts(np.frombuffer(data, dtype=np.uint8), work)
        if count < 0:
            return None
        return cls(data, work[:count + 1].copy(), separator)

    @property
    def rows(self) -> int:
        return self.starts.size - 1

    def cells(self, rows: np.ndarray, field: int) -> np.ndarray:
        """The text of field *field* of the lines *rows* (object array of str), as the file holds it."""
        import pyarrow as pa

        rows = np.ascontiguousarray(rows, dtype=np.int64)
        buffer = np.frombuffer(self.data, dtype=np.uint8)
        room = int((self.starts[rows + 1] - self.starts[rows]).sum())
        offsets, out = np.empty(rows.size + 1, dtype=np.int64), np.empty(room, dtype=np.uint8)
        total = cut_fields(buffer, self.starts, rows, field, self.separator, offsets, out)
        # (Arrow writes the Python strings; a cell of a float64 column is ASCII, so valid UTF-8)
        text = pa.Array.from_buffers(pa.large_string(), rows.size, [None, pa.py_buffer(offsets),
                                                                     pa.py_buffer(out[:total])])
        return text.to_numpy(zero_copy_only=False).astype(object, copy=False)


class CsvNumbers(ArrowNumbers):
    """A float64 column of a typed CSV block: its values and validity bitmap (for the compiled value pass, as
    :class:`~sim.telemetry.gates._cells.ArrowNumbers`) and, when indexed, the raw text of its cells.

    Parameters
    ----------
    column : pyarrow.Array
        The column (float64, nulls for empty cells).
    lines : BlockLines
        The block the column was read from.
    first : int
        The block's line of the column's first cell.
    field : int
        The column's place in the line.
    """

    __slots__ = ("lines", "first", "field")

    def __init__(self, column, lines: BlockLines, first: int, field: int):
        validity, data = column.buffers()[:2]
        offset = column.offset
        self.column = column
        self.values = np.frombuffer(data, dtype=np.float64, count=offset + len(column))[offset:]
        self.valid_bits = (np.frombuffer(validity, dtype=np.uint8), offset) if column.null_count else None
        self.lines, self.first, self.field = lines, first, field

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        """The cells at *index* as the file holds them (text), for the quarantine."""
        return self.lines.cells(self.first + np.asarray(index, dtype=np.int64), self.field)


class CsvChunk(ArrowChunk):
    """A record batch of a typed CSV block: its float64 columns are :class:`CsvNumbers`, the rest as in
    :class:`~sim.telemetry.gates.tables.ArrowChunk` (text columns as Arrow text).

    Parameters
    ----------
    batch : pyarrow.RecordBatch
        Rows ``first`` to ``first + len(batch)`` of the block.
    lines : BlockLines
        The block.
    first : int
        The block's line of the batch's first row.
    """

    __slots__ = ("lines", "first")

    def __init__(self, batch, lines: BlockLines, first: int, attrs: dict | None = None):
        super().__init__(batch, attrs)
        self.lines, self.first = lines, first

    def __getitem__(self, name: str):
        import pyarrow as pa

        field = self.batch.schema.get_field_index(name)
        column = self.batch.column(field)
        if pa.types.is_float64(column.type):
            return CsvNumbers(column, self.lines, self.first, field)
        return super().__getitem__(name)


class TypedColumns:
    """The value columns of one file that pyarrow's reader still reads as float64 (state of one read).

    A column leaves the set when a typed read refuses one of its cells or reads one as non-finite
    (see the module); it is then read as text for the rest of the file.  After :data:`MAX_REFUSALS`
    refused reads every column is read as text.
    """

    def __init__(self, columns: Iterable[str]):
        self.columns = set(columns)
        self.refusals = 0

    def refuse(self, names: Iterable[str] = ()) -> None:
        """A typed read was refused (for the cells of the columns *names*, which leave the set)."""
        self.columns.difference_update(names)
        self.refusals += 1
        if self.refusals >= MAX_REFUSALS:
            self.columns.clear()

    def __bool__(self) -> bool:
        return bool(self.columns)


def _refused_column(message: str, columns: list[str]) -> str | None:
    """The column a pyarrow conversion error names ("In CSV column #3: CSV conversion error ..."), or None."""
    head = "In CSV column #"
    if not message.startswith(head) or "conversion error" not in message:
        return None
    digits = message[len(head):].split(":", 1)[0]
    return columns[int(digits)] if digits.isdigit() and int(digits) < len(columns) else None


def _non_finite(table, names: Iterable[str]) -> list[str]:
    """The float64 columns of *table* among *names* that hold a non-null NaN or infinity."""
    import pyarrow.compute as pc

    return [name for name in names if pc.all(pc.is_finite(table.column(name))).as_py() is False]


def read_typed(data: bytes | memoryview, separator: str, columns: list[str], typed: TypedColumns,
               read: Callable[[dict], object]):
    """Read a block with the *typed* columns as float64: ``(table, lines)``, or None (read it as text).

    Parameters
    ----------
    data : bytes or memoryview
        The block of whole lines, UTF-8.
    separator : str
        The field separator.
    columns : list of str
        The file's columns, in order.
    typed : TypedColumns
        The columns to read as float64; columns that the typed read refuses leave it (see the module).
    read : callable
        ``read(types)``: pyarrow's table of the block with the column types *types* (empty cells null in
        float64 columns); raises ``pyarrow.ArrowInvalid`` where it cannot read the block.
    """
    import pyarrow as pa

    if not typed:
        return None
    lines = BlockLines.scan(data, separator)
    if lines is None:
        return None
    while typed:
        names = [c for c in columns if c in typed.columns]
        try:
            table = read({c: (pa.float64() if c in typed.columns else pa.string()) for c in columns})
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            refused = _refused_column(str(err), columns)
            if refused is None or refused not in typed.columns:
                typed.refuse()
                return None  # (not a cell's value: the text read decides how the block is read)
            typed.refuse([refused])
            continue
        if table.num_rows != lines.rows:  # (cannot happen after line_starts; kept as the premise's guard)
            typed.refuse()
            return None
        bad = _non_finite(table, names)
        if bad:
            typed.refuse(bad)
            continue
        return table, lines
    return None
