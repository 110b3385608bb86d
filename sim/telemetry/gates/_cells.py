"""Small helpers of the pipeline: lazy raw cells, their text for reasons, the reorder buffer's storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ArrowNumbers", "ArrowText", "Subset", "pick", "text", "text_of", "Buffer"]


class ArrowNumbers:
    """A float64 Arrow column with nulls, seen without a copy: its values and its validity bitmap.

    Indexing (for the raw text of quarantined cells) gives the values with NaN for nulls.
    """

    __slots__ = ("column", "values", "valid_bits")

    def __init__(self, column):
        self.column = column
        _, data = column.buffers()[:2]
        offset = column.offset
        self.values = np.frombuffer(data, dtype=np.float64, count=offset + len(column))[offset:]
        self.valid_bits = (np.frombuffer(column.buffers()[0], dtype=np.uint8), offset)

    def __len__(self) -> int:
        return len(self.column)

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        import pyarrow as pa

        return self.column.take(pa.array(np.asarray(index, dtype=np.int64))).to_numpy(zero_copy_only=False)


class ArrowText:
    """A text column of an Arrow table (string or large_string), kept in Arrow for the parsing gates.

    The gates parse it with Arrow compute where the cells allow it (:func:`sim.telemetry.gates.parse.value_gates_arrow`,
    :func:`~sim.telemetry.gates.parse.parse_times_arrow`); :meth:`to_pandas` gives the cells to the careful
    path as a pandas Series (strings verbatim; nulls, from Parquet only, are missing and read as empty).
    Indexing (for the raw text of quarantined cells) gives the cells as the Series would.
    """

    __slots__ = ("array",)

    def __init__(self, array):
        import pyarrow as pa

        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def to_pandas(self, index: np.ndarray | None = None) -> pd.Series:
        """The cells (those at *index*, renumbered from 0) as pandas gives them (``to_pandas``)."""
        import pyarrow as pa

        array = self.array if index is None else self.array.take(pa.array(np.asarray(index, dtype=np.int64)))
        return array.to_pandas()

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        picked = self.array.take(np.asarray(index, dtype=np.int64))
        cells = picked.to_numpy(zero_copy_only=False).astype(object, copy=False)
        if picked.null_count:  # (as the Series of to_pandas gives them: NaN)
            cells[picked.is_null().to_numpy(zero_copy_only=False)] = np.nan
        return cells

    def empty(self) -> np.ndarray:
        """Cells that are empty or null (bool array), from the offsets alone."""
        import pyarrow as pa

        array = self.array
        n = len(array)
        kind = np.int64 if pa.types.is_large_string(array.type) else np.int32
        offsets = np.frombuffer(array.buffers()[1], dtype=kind, count=array.offset + n + 1)[array.offset:]
        empty = offsets[1:] == offsets[:-1]
        if array.null_count:
            empty |= array.is_null().to_numpy(zero_copy_only=False)
        return empty

    def without(self, cells: np.ndarray):
        """The Arrow array with the *cells* (bool array) null, without copying the text."""
        import pyarrow as pa

        array = self.array
        valid = ~cells
        if array.null_count:
            valid &= array.is_valid().to_numpy(zero_copy_only=False)
        n = len(array)
        kind = np.int64 if pa.types.is_large_string(array.type) else np.int32
        offsets = np.frombuffer(array.buffers()[1], dtype=kind, count=array.offset + n + 1)[array.offset:]
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
        return pa.Array.from_buffers(array.type, n, [bitmap, pa.py_buffer(offsets), array.buffers()[2]],
                                     null_count=int(n - np.count_nonzero(valid)))


class Subset:
    """The lazy view ``raw[index]`` of a raw column (read only where a reason is written)."""

    __slots__ = ("raw", "index")

    def __init__(self, raw: Any, index: np.ndarray):
        self.raw, self.index = raw, index


def pick(raw: Any, index: np.ndarray) -> np.ndarray:
    """Raw cells at *index*, typed as they are (numbers, UTC ``datetime64``, objects): :func:`text` writes them.

    Picking is cheap; writing the text is left for when a quarantine table is asked for.
    """
    if isinstance(raw, Subset):
        return pick(raw.raw, raw.index[index])
    if isinstance(raw, (ArrowNumbers, ArrowText)):
        return raw[index]
    if isinstance(raw, pd.Series):
        picked = raw.iloc[index]
        if isinstance(picked.dtype, pd.DatetimeTZDtype):
            return picked.dt.tz_convert("UTC").to_numpy(dtype="datetime64[ns]")
        if picked.dtype.kind == "M":  # naive: written without a zone, now
            return np.datetime_as_string(picked.to_numpy(dtype="datetime64[ns]"), unit="auto").astype(object)
        return picked.to_numpy(dtype=object)
    return np.asarray(raw)[index]


def text(picked: np.ndarray) -> np.ndarray:
    """Text of cells from :func:`pick`: strings verbatim, datetimes in ISO 8601 (UTC), others by ``str``."""
    if picked.dtype.kind == "M":
        return np.datetime_as_string(picked.astype("datetime64[ns]"), unit="auto", timezone="UTC").astype(object)
    return np.array(["" if v is None else str(v) for v in picked.tolist()], dtype=object)


def text_of(raw: Any, index: np.ndarray) -> np.ndarray:
    """Raw cells at *index* as text (strings verbatim, datetimes in ISO 8601, numbers by ``str``)."""
    return text(pick(raw, index))


@dataclass
class Buffer:
    """Accepted samples waiting in the reorder buffer (parallel arrays)."""

    parts: dict[str, list[np.ndarray]] = field(default_factory=dict)
    size: int = 0

    def add(self, **arrays: np.ndarray) -> None:
        for key, value in arrays.items():
            self.parts.setdefault(key, []).append(value)
        self.size += len(arrays["stamps"])

    def take(self) -> dict[str, np.ndarray]:
        merged = {k: np.concatenate(v) for k, v in self.parts.items()}
        self.parts, self.size = {}, 0
        return merged

    def stamps(self) -> np.ndarray:
        return self.take_view("stamps")

    def take_view(self, key: str) -> np.ndarray:
        """One array of the held samples, without taking them."""
        return np.concatenate(self.parts[key]) if self.size else np.empty(0, dtype=np.int64)
