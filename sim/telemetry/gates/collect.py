"""Collect what the gates release into a :class:`TelemetryStream` (frame, quarantine, gaps, counts)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from sim.telemetry import gates
from sim.telemetry.channels import UNMAPPED, ChannelMap
from sim.telemetry.gates.pipeline import ChannelGates, ChannelResult
from sim.telemetry.gates.quarantine import Quarantine
from sim.telemetry.stream import TelemetryStream, build_counts, empty_gaps

__all__ = ["Collector", "SharedColumns", "new_gates"]

_UTC = pd.DatetimeTZDtype("ns", "UTC")


def _utc_index(stamps: np.ndarray) -> pd.DatetimeIndex:
    """The frame's index ``time`` over the UTC stamps [ns], without copying them where pandas allows it
    (a copy of a 10 M-row index costs as much as a gate)."""
    try:
        array = pd.arrays.DatetimeArray._simple_new(stamps.view("datetime64[ns]"), dtype=_UTC)
        return pd.DatetimeIndex._simple_new(array, name="time")
    except (AttributeError, TypeError):  # (private pandas constructors: the public one copies)
        return pd.DatetimeIndex(stamps.view("datetime64[ns]"), dtype=_UTC, name="time")


def new_gates(channel_map: ChannelMap) -> dict[str, ChannelGates]:
    """One fresh :class:`ChannelGates` per channel of *channel_map*, by name."""
    return {
        c.name: ChannelGates(c, decimal=channel_map.decimal, time_column=channel_map.time_column,
                             gap_factor=channel_map.gap_factor, future_tolerance=channel_map.future_tolerance)
        for c in channel_map.channels
    }


class SharedColumns:
    """Released samples of all channels of a wide table: the stamps once, the SI values in one block.

    Channel *j*'s values go to row *j* of a column-major ``(channels, capacity)`` block, at the
    positions of the shared stamps; a channel that releases the stamps first appends them.  The
    block grows by doubling (a *capacity* hint, e.g. the rows of a Parquet file, avoids that).
    Fresh memory costs a page fault per 4 KiB, so nothing is copied twice.

    Parameters
    ----------
    channels : int
        Number of channels.
    capacity : int or None
        Expected number of released stamps.
    """

    def __init__(self, channels: int, capacity: int | None = None):
        self.hint = capacity or 0
        self._stamps = np.empty(0, dtype=np.int64)
        self._block = np.empty((channels, 0))
        self.total = 0  # shared stamps so far
        self.filled = np.zeros(channels, dtype=np.int64)  # values written per channel
        self.staged = np.zeros(channels, dtype=np.int64)  # values put in place ahead of add()
        self._last, self._last_start = None, -1  # the stamps last stored or checked, and where

    def add(self, j: int, stamps: np.ndarray, values: np.ndarray) -> bool:
        """Store channel *j*'s next released samples; False (nothing stored) if its stamps differ."""
        start = int(self.filled[j])
        end = start + stamps.size
        common = min(end, self.total) - start
        staged, self.staged[j] = self.staged[j], 0
        # channels that share a time order hand in the very same stamps array: compared once
        same = stamps is self._last and start == self._last_start
        if common > 0 and not same and not np.array_equal(self._stamps[start:start + common], stamps[:common]):
            return False
        if end > self.total:
            self.reserve(end)
            self._stamps[self.total:end] = stamps[common:]
            self.total = end
        self._last, self._last_start = stamps, start
        if staged != stamps.size:
            self._block[j, start:end] = values
        self.filled[j] = end
        return True

    def stage(self, j: int, values: np.ndarray) -> None:
        """Put channel *j*'s next values in place ahead of :meth:`add` (which then only checks the stamps).

        Channels may stage at the same time from different threads: the first touch of fresh
        memory (a page fault per 4 KiB) is then shared out.  Nothing is put when there is no room
        (see :meth:`reserve`); a refused :meth:`add` leaves the values unused.
        """
        start = int(self.filled[j])
        if start + values.size <= self._stamps.size:
            target = self._block[j, start:start + values.size]
            if not (values.size and values.ctypes.data == target.ctypes.data and values.strides == target.strides):
                target[...] = values  # (values written in place, see room(), need no copy)
            self.staged[j] = values.size

    def room(self, j: int) -> np.ndarray:
        """The block's free room after channel *j*'s values (see :meth:`reserve`), for a kernel to write its
        next values in place, then :meth:`stage` them."""
        start = int(self.filled[j])
        return self._block[j, start:]

    def reserve(self, size: int) -> None:
        """Room for *size* shared stamps."""
        if size <= self._stamps.size:
            return
        capacity = max(size, self.hint, 2 * self._stamps.size)
        stamps, block = np.empty(capacity, dtype=np.int64), np.empty((self._block.shape[0], capacity))
        stamps[:self.total] = self._stamps[:self.total]
        block[:, :self.total] = self._block[:, :self.total]
        self._stamps, self._block = stamps, block

    def complete(self) -> bool:
        """Whether every channel has a value at every shared stamp."""
        return bool((self.filled == self.total).all())

    def stamps(self) -> np.ndarray:
        return self._stamps[:self.total]

    def values(self) -> np.ndarray:
        """``(channels, total)`` view of the block [SI unit]."""
        return self._block[:, :self.total]

    def split(self, names) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
        """What is stored so far as per-channel ``(stamps, values)`` pieces (for channels whose stamps differ)."""
        return {n: [(self._stamps[:f].copy(), self._block[j, :f].copy())] if f else []
                for j, (n, f) in enumerate(zip(names, self.filled.tolist()))}


class Collector:
    """Accumulates released samples, quarantine entries and gaps, channel by channel.

    Parameters
    ----------
    channel_map : ChannelMap
        The map; its channel order is the column order of the frame.
    keep_frame : bool
        Keep the accepted samples (False: only counts, quarantine and gaps, which is
        what ``telemetry check`` needs for files larger than memory).
    max_quarantine : int or None
        Keep at most this many quarantine entries (the counts stay complete).
    capacity : int or None
        Expected number of frame rows (e.g. the rows of the file): the frame's memory is taken once.
    """

    def __init__(self, channel_map: ChannelMap, *, keep_frame: bool = True, max_quarantine: int | None = None,
                 capacity: int | None = None):
        self.map, self.keep_frame, self.max_quarantine = channel_map, keep_frame, max_quarantine
        self.order = {name: k for k, name in enumerate(channel_map.names)}
        self.order[UNMAPPED] = len(self.order)
        self.columns = SharedColumns(len(channel_map.names), capacity)
        #: Per channel: (stamps, values) pieces, once the channels' released stamps differ (None until then).
        self.samples: dict[str, list[tuple[np.ndarray, np.ndarray]]] | None = None
        self.entries: list[dict[str, np.ndarray]] = []
        self.kept = 0
        self.gaps: list[tuple[str, np.ndarray]] = []
        self.unmapped_read = 0
        self.unmapped_quarantined = 0
        self.span: list[int] = []  # [first, last] released stamp [UTC ns]
        self.present: dict[str, int] = {}  # values that are not NaN in the frame, per channel

    def add(self, name: str, result: ChannelResult) -> None:
        """Take one channel's released samples (copied: they may be the gates' work memory), quarantine
        entries and gaps."""
        self.present[name] = self.present.get(name, 0) + (
            result.present if result.present is not None else result.values.size - int(np.isnan(result.values).sum()))
        if result.stamps.size:
            low, high = int(result.stamps[0]), int(result.stamps[-1])
            self.span = [min(self.span[0], low), max(self.span[1], high)] if self.span else [low, high]
            if self.keep_frame:
                if self.samples is None and not self.columns.add(self.order[name], result.stamps, result.values):
                    self.samples = self.columns.split(self.map.names)
                    self.columns = SharedColumns(len(self.map.names))  # its memory is no longer needed
                if self.samples is not None:
                    self.samples[name].append((result.stamps.copy(), result.values.copy()))
        for entry in result.quarantine or ():
            self._entries(name, entry)
        if result.gaps.size:
            self.gaps.append((name, result.gaps.copy()))

    def add_unmapped(self, rows: np.ndarray, time_raw: np.ndarray, stamps: np.ndarray, raw_value: np.ndarray,
                     reasons: np.ndarray) -> None:
        """Quarantine data that no channel is mapped to (``schema`` gate, pseudo-channel ``unmapped``)."""
        self.unmapped_read += rows.size
        self.unmapped_quarantined += rows.size
        self._entries(UNMAPPED, {"row": rows, "time_raw": time_raw, "time": stamps, "raw_value": raw_value,
                                 "code": np.full(rows.size, gates.SCHEMA, dtype=np.intp), "reason": reasons})

    def _entries(self, name: str, entry: dict[str, Any]) -> None:
        n = entry["row"].size
        if self.max_quarantine is not None:
            room = max(self.max_quarantine - self.kept, 0)
            if room < n:
                entry = {k: v[:room] for k, v in entry.items()}
                n = room
        if n:
            self.entries.append({**entry, "_order": np.full(n, self.order[name], dtype=np.int64)})
            self.kept += n

    def frame(self) -> pd.DataFrame:
        """Accepted samples as a wide frame: UTC index named ``time``, one SI column per channel."""
        names = list(self.map.names)
        if self.samples is None and self.columns.complete():
            # the usual wide table: every channel released the same stamps, kept once; the column-major
            # block becomes the frame's values without a copy
            stamps, values = self.columns.stamps(), self.columns.values().T
        else:
            samples = self.samples if self.samples is not None else self.columns.split(names)
            parts = {n: (np.concatenate([s for s, _ in v]) if v else np.empty(0, np.int64),
                         np.concatenate([x for _, x in v]) if v else np.empty(0)) for n, v in samples.items()}
            stamps = np.unique(np.concatenate([parts[n][0] for n in names]))
            values = np.full((stamps.size, len(names)), np.nan)
            for j, n in enumerate(names):
                values[np.searchsorted(stamps, parts[n][0]), j] = parts[n][1]
        index = _utc_index(stamps)
        return pd.DataFrame(values, index=index, columns=names, dtype=np.float64, copy=False)

    def quarantine(self) -> Quarantine:
        """The quarantine entries (their table is written when asked for), by row, then channel in map order."""
        return Quarantine([*self.map.names, UNMAPPED], self.entries)

    def gap_table(self) -> pd.DataFrame:
        """Gaps longer than ``gap_factor * period``, sorted by start, then channel order."""
        if not self.gaps:
            return empty_gaps()
        names = np.concatenate([np.full(len(g), n, dtype=object) for n, g in self.gaps])
        pairs = np.concatenate([g for _, g in self.gaps])
        start = pd.DatetimeIndex(pairs[:, 0].view("datetime64[ns]")).tz_localize("UTC")
        end = pd.DatetimeIndex(pairs[:, 1].view("datetime64[ns]")).tz_localize("UTC")
        table = pd.DataFrame({"channel": names.astype(str), "start": start, "end": end,
                              "duration_s": (pairs[:, 1] - pairs[:, 0]) / 1e9})
        key = table["channel"].map(self.order)
        return table.assign(_k=key).sort_values(["start", "_k"], kind="stable").drop(columns="_k").reset_index(
            drop=True)

    def read_counts(self, channel_gates: Mapping[str, ChannelGates]) -> dict[str, int]:
        """Values read per channel (and ``unmapped``), as the gates tallied them."""
        read = {name: g.read for name, g in channel_gates.items()}
        if self.unmapped_read:
            read[UNMAPPED] = self.unmapped_read
        return read

    def finish(self, channel_gates: Mapping[str, ChannelGates], *, rows_read: int, source: str,
               content_hash: str, layout: str) -> TelemetryStream:
        """The stream; with ``keep_frame=False`` the frame is empty and the counts come from the gates."""
        quarantine = self.quarantine()
        read = self.read_counts(channel_gates)
        if self.keep_frame:
            frame = self.frame()
            counts = build_counts(frame, quarantine, read, accepted=self.present)
        else:
            frame = pd.DataFrame({n: pd.Series([], dtype=np.float64) for n in self.map.names},
                                 index=pd.DatetimeIndex([], name="time").tz_localize("UTC"))
            counts = _counts_from_gates(channel_gates, read, self.unmapped_quarantined)
        return TelemetryStream(
            frame=frame, quarantine=quarantine, counts=counts, t0=frame.index[0] if len(frame) else None,
            rows_read=rows_read, source=source, content_hash=content_hash, channel_map=self.map,
            gaps=self.gap_table(), layout=layout,
        )


def _counts_from_gates(channel_gates: Mapping[str, ChannelGates], read: dict[str, int], unmapped: int
                       ) -> pd.DataFrame:
    rows = {}
    for name, g in channel_gates.items():
        rows[name] = [g.read, g.accepted, int(g.by_code[1:].sum()), *g.by_code[1:].tolist()]
    if unmapped:
        schema = [0] * len(gates.GATES)
        schema[gates.SCHEMA - 1] = unmapped
        rows[UNMAPPED] = [read[UNMAPPED], 0, unmapped, *schema]
    counts = pd.DataFrame.from_dict(rows, orient="index", columns=["read", "accepted", "quarantined", *gates.GATES])
    counts.index = pd.Index(list(rows), name="channel", dtype=object)
    counts.loc["TOTAL"] = counts.sum()
    return counts.astype("int64")
