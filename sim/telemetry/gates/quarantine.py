"""The quarantine of a stream, kept compact until its table is asked for.

Every rejected value is recorded when it is rejected: its row, parsed stamp, channel, gate,
its raw cells (typed, as :func:`~sim.telemetry.gates._cells.pick` took them) and what its reason
needs.  Writing the texts (raw cells, reasons) costs a Python string per entry, which is most
of the cost of gating a large, dirty file; :class:`Quarantine` writes them once, on the first
call of :meth:`Quarantine.table` (``TelemetryStream.quarantine``).  The counts per channel
and gate come from the compact entries, without the texts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.telemetry import gates
from sim.telemetry.gates._cells import text
from sim.telemetry.stream import QUARANTINE_COLUMNS, empty_quarantine

__all__ = ["Reasons", "Quarantine"]


@dataclass(frozen=True)
class Reasons:
    """Reason texts written later: ``func(time_text, value_text, **arrays, **options)``.

    *arrays* hold one element per entry (sliced with the entries), *options* are shared.
    """

    func: Callable[..., np.ndarray]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, index) -> "Reasons":
        return Reasons(self.func, {k: v[index] for k, v in self.arrays.items()}, self.options)

    def __call__(self, time_text: np.ndarray, value_text: np.ndarray) -> np.ndarray:
        return self.func(time_text, value_text, **self.arrays, **self.options)


class Quarantine:
    """Quarantine entries of a stream, by channel (*names*: map order, then ``unmapped``).

    Each entry is a dict of equal-length arrays: ``row``, ``time`` [UTC ns], ``code`` (gate),
    ``_order`` (channel index in *names*), ``time_raw`` and ``raw_value`` (cells from
    :func:`~sim.telemetry.gates._cells.pick`, or text) and ``reason`` (texts, or :class:`Reasons`).
    """

    def __init__(self, names: Sequence[str], entries: list[dict[str, Any]]):
        self.names = list(names)
        self._entries = entries
        self._table: pd.DataFrame | None = None

    def __len__(self) -> int:
        return sum(e["row"].size for e in self._entries)

    def counts(self) -> np.ndarray:
        """Entries per channel (row, in *names* order) and gate (column, ``gates.GATES`` order), int64."""
        shape = (len(self.names), len(gates.GATES))
        if not self._entries:
            return np.zeros(shape, dtype=np.int64)
        order = np.concatenate([e["_order"] for e in self._entries])
        code = np.concatenate([e["code"] for e in self._entries]).astype(np.int64) - 1
        flat = np.bincount(order * shape[1] + code, minlength=shape[0] * shape[1])
        return flat.reshape(shape).astype(np.int64)

    def table(self) -> pd.DataFrame:
        """The quarantine table (see ``TelemetryStream.quarantine``), sorted by row, then channel order."""
        if self._table is None:
            self._table = self._build()
            self._entries = []  # the table holds everything now
        return self._table

    def _build(self) -> pd.DataFrame:
        if not self._entries:
            return empty_quarantine()
        pieces = []
        for e in self._entries:
            time_text, value_text = text(e["time_raw"]), text(e["raw_value"])
            reason = e["reason"]
            pieces.append({"row": e["row"], "time": e["time"], "code": e["code"], "_order": e["_order"],
                           "time_raw": time_text, "raw_value": value_text,
                           "reason": reason if isinstance(reason, np.ndarray) else reason(time_text, value_text)})
        cols = {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}
        order = np.lexsort((cols["_order"], cols["row"]))
        cols["channel"] = np.asarray(self.names, dtype=object)[cols.pop("_order")]
        cols["gate"] = np.asarray(gates.GATES, dtype=object)[cols.pop("code").astype(np.intp) - 1]
        table = pd.DataFrame({k: cols[k][order] for k in QUARANTINE_COLUMNS})
        table["row"] = table["row"].astype("int64")
        table["time"] = pd.DatetimeIndex(table["time"].to_numpy(np.int64).view("datetime64[ns]")).tz_localize("UTC")
        for column in ("time_raw", "channel", "raw_value", "gate", "reason"):
            table[column] = table[column].astype(str)
        return table
