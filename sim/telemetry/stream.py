"""TelemetryStream: validated SI telemetry plus the quarantine that explains every gap."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.exceptions import ConfigurationError, TelemetryError
from sim.telemetry.channels import UNMAPPED, ChannelMap
from sim.telemetry.gates import GATES, TIME_GATES

__all__ = ["TelemetryStream", "QUARANTINE_COLUMNS", "GAP_COLUMNS", "build_counts", "empty_quarantine", "empty_gaps"]

#: Columns of :attr:`TelemetryStream.quarantine`, in order.
QUARANTINE_COLUMNS = ("row", "time_raw", "time", "channel", "raw_value", "gate", "reason")
#: Columns of :attr:`TelemetryStream.gaps`, in order.
GAP_COLUMNS = ("channel", "start", "end", "duration_s")


def empty_gaps() -> pd.DataFrame:
    """A gap table without entries, with the documented dtypes."""
    return pd.DataFrame({
        "channel": pd.Series([], dtype=str),
        "start": pd.Series([], dtype="datetime64[ns, UTC]"),
        "end": pd.Series([], dtype="datetime64[ns, UTC]"),
        "duration_s": pd.Series([], dtype="float64"),
    })


def empty_quarantine() -> pd.DataFrame:
    """A quarantine table without entries, with the documented dtypes."""
    return pd.DataFrame(
        {
            "row": pd.Series([], dtype="int64"),
            "time_raw": pd.Series([], dtype=str),
            "time": pd.Series([], dtype="datetime64[ns, UTC]"),
            "channel": pd.Series([], dtype=str),
            "raw_value": pd.Series([], dtype=str),
            "gate": pd.Series([], dtype=str),
            "reason": pd.Series([], dtype=str),
        }
    )


def _accepted_counts(frame: pd.DataFrame, *, block: int = 1 << 16) -> pd.Series:
    """Values that are not NaN, per column (``frame.notna().sum()`` without a mask as large as the frame)."""
    counts = []
    for j in range(frame.shape[1]):
        column = frame.iloc[:, j]
        if column.dtype != np.float64:
            counts.append(int(column.notna().sum()))
            continue
        x = column.to_numpy()
        counts.append(x.size - sum(int(np.isnan(x[k:k + block]).sum()) for k in range(0, x.size, block)))
    return pd.Series(counts, index=frame.columns, dtype=np.int64)


def build_counts(frame: pd.DataFrame, quarantine: pd.DataFrame | Any, read: int | Mapping[str, int], *,
                 accepted: Mapping[str, int] | None = None) -> pd.DataFrame:
    """Per-channel counts: ``read`` (given), ``accepted`` (frame), ``quarantined`` and per gate.

    ``read`` comes from the source (one number for all channels of a wide table, or
    per channel), ``accepted`` from the frame and ``quarantined`` from the quarantine
    (a table, or a :class:`~sim.telemetry.gates.quarantine.Quarantine`), so that
    :meth:`TelemetryStream.check_accounting` checks three independent tallies.  A row
    ``unmapped`` appears when data no channel is mapped to was read.  *accepted*: the values that
    are not NaN per frame column, when counted as the frame was written.
    """
    names = list(frame.columns)
    if isinstance(quarantine, pd.DataFrame):
        has_unmapped = bool((quarantine["channel"] == UNMAPPED).any())
        per_gate = pd.crosstab(quarantine["channel"], quarantine["gate"]) if len(quarantine) else pd.DataFrame()
    else:
        table = quarantine.counts()
        has_unmapped = bool(table[quarantine.names.index(UNMAPPED)].any()) if UNMAPPED in quarantine.names else False
        per_gate = pd.DataFrame(table, index=quarantine.names, columns=list(GATES))
    if (isinstance(read, Mapping) and read.get(UNMAPPED)) or has_unmapped:
        names.append(UNMAPPED)
    per_gate = per_gate.reindex(index=names, columns=list(GATES), fill_value=0).astype("int64")
    read_values = [read.get(n, 0) for n in names] if isinstance(read, Mapping) else [read] * len(names)
    counts = pd.DataFrame(
        {
            "read": np.asarray(read_values, dtype=np.int64),
            "accepted": (_accepted_counts(frame) if accepted is None else pd.Series(accepted, dtype=np.int64)).reindex(
                names, fill_value=0).to_numpy(dtype=np.int64),
            "quarantined": per_gate.sum(axis=1).to_numpy(dtype=np.int64),
        },
        index=pd.Index(names, name="channel", dtype=object),
    )
    counts = pd.concat([counts, per_gate.set_axis(counts.index)], axis=1)
    counts.loc["TOTAL"] = counts.sum()
    return counts.astype("int64")


class _TableOnFirstUse:
    """Data descriptor of :attr:`TelemetryStream.quarantine`: holds a table, or compact entries (an object
    with ``table()`` and ``counts()``, :class:`~sim.telemetry.gates.quarantine.Quarantine`) that become the
    table on first access."""

    def __set_name__(self, owner, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj, owner=None):
        if obj is None:
            raise AttributeError("no default")  # (dataclasses: the field has no default)
        value = obj.__dict__[self.slot]
        if not isinstance(value, pd.DataFrame):
            value = obj.__dict__[self.slot] = value.table()
        return value

    def __set__(self, obj, value) -> None:
        obj.__dict__[self.slot] = value


@dataclass(frozen=True, eq=False)
class TelemetryStream:
    """Validated telemetry in SI units, time-ordered, with the quarantine of rejected values.

    Attributes
    ----------
    frame : pandas.DataFrame
        Index ``time``: tz-aware UTC DatetimeIndex, strictly increasing (rows whose
        timestamp passed the time gates).  One float64 column per channel name, in SI
        units; NaN where that value was quarantined.
    quarantine : pandas.DataFrame
        One row per rejected value: ``row`` (1-based data row in the file, header
        excluded), ``time_raw`` (the time cell), ``time`` (parsed UTC stamp, NaT if
        unparseable), ``channel``, ``raw_value``, ``gate`` and ``reason``; sorted by
        row, then channel in map order.  Its texts are written on first access (see
        :mod:`sim.telemetry.gates.quarantine`); the counts never need them.
    counts : pandas.DataFrame
        Indexed by channel plus a ``TOTAL`` row; columns ``read``, ``accepted``,
        ``quarantined`` and one per gate.
    t0 : pandas.Timestamp or None
        First accepted timestamp [UTC]; None if no row was accepted.
    rows_read : int
        Data rows read (header excluded).
    source : str
        Path of the source file.
    content_hash : str
        SHA-256 of the source file's bytes (hex).
    channel_map : ChannelMap
        The map the file was read with.
    gaps : pandas.DataFrame
        One row per pause longer than ``gap_factor * period`` between accepted values of
        a channel: ``channel``, ``start`` and ``end`` (the accepted stamps around it,
        UTC) and ``duration_s`` [s].
    layout : str
        ``"wide"`` (every row holds every channel: ``read == rows_read`` per channel) or
        ``"long"`` (a row or message holds one channel: the reads add up to ``rows_read``).
    """

    frame: pd.DataFrame
    quarantine: pd.DataFrame = _TableOnFirstUse()  # type: ignore[assignment]
    counts: pd.DataFrame
    t0: pd.Timestamp | None
    rows_read: int
    source: str
    content_hash: str
    channel_map: ChannelMap
    gaps: pd.DataFrame = field(default_factory=empty_gaps)
    layout: str = "wide"

    def _quarantined_per_channel(self) -> pd.Series:
        """Quarantine entries per channel, from the table or the compact entries (without writing texts)."""
        q = self.__dict__["_quarantine"]
        if isinstance(q, pd.DataFrame):
            return q["channel"].value_counts()
        per = pd.Series(q.counts().sum(axis=1), index=q.names)
        return per[per > 0]

    @property
    def seconds(self) -> np.ndarray:
        """Time of each frame row since :attr:`t0` [s], float64."""
        if self.t0 is None:
            return np.empty(0, dtype=np.float64)
        return (self.frame.index.as_unit("ns").asi8 - self.t0.value).astype(np.float64) / 1e9

    def check_accounting(self) -> None:
        """Raise :class:`TelemetryError` unless ``accepted + quarantined == read`` per channel."""
        per_channel = self.counts.drop(index="TOTAL")
        by_channel = self._quarantined_per_channel()
        in_table = by_channel.reindex(per_channel.index, fill_value=0)
        mapped = per_channel.index != UNMAPPED
        if self.layout == "wide":
            rows_ok = ~mapped | (per_channel["read"] == self.rows_read).to_numpy()
        else:
            rows_ok = np.full(len(per_channel), int(per_channel["read"].sum()) == self.rows_read)
        broken = per_channel[
            (per_channel["accepted"] + per_channel["quarantined"] != per_channel["read"]).to_numpy()
            | (in_table.to_numpy() != per_channel["quarantined"].to_numpy())
            | ~rows_ok
        ]
        if len(broken) or set(by_channel.index) - set(per_channel.index):
            raise TelemetryError(
                f"telemetry from '{self.source}' lost values: accepted + quarantined != read for channels "
                f"{list(broken.index)}:\n{broken[['read', 'accepted', 'quarantined']].to_string()}\n"
                f"this is a bug in sim.telemetry; please report it with the file"
            )

    def window(self, start_s: float, end_s: float) -> TelemetryStream:
        """The part of the stream in ``[start_s, end_s)`` seconds since :attr:`t0`.

        Quarantined values are kept when their parsed timestamp lies in the window;
        unparseable timestamps belong to no window.  The new stream's ``t0`` is its own
        first accepted stamp, and its counts satisfy the same identity.

        Parameters
        ----------
        start_s, end_s : float
            Window bounds since :attr:`t0` [s], ``start_s < end_s``.
        """
        if not (math.isfinite(start_s) and math.isfinite(end_s)) or not start_s < end_s:
            raise ConfigurationError(
                f"window [{start_s}, {end_s}) s is empty or not finite; fix: pass finite start_s < end_s"
            )
        if self.t0 is None:
            return self
        low = self.t0 + pd.to_timedelta(start_s, unit="s")
        high = self.t0 + pd.to_timedelta(end_s, unit="s")
        index = self.frame.index
        frame = self.frame.loc[(index >= low) & (index < high)]
        times = self.quarantine["time"]
        quarantine = self.quarantine.loc[(times >= low) & (times < high)].reset_index(drop=True)
        read = frame.notna().sum().to_dict()
        for name, n in quarantine["channel"].value_counts().items():
            read[name] = read.get(name, 0) + int(n)
        if self.layout == "wide":
            rejected_rows = quarantine.loc[quarantine["gate"].isin(TIME_GATES), "row"].nunique()
            rows = len(frame) + int(rejected_rows)
        else:
            rows = int(sum(read.values()))
        starts = self.gaps["start"]
        return TelemetryStream(
            frame=frame,
            quarantine=quarantine,
            counts=build_counts(frame, quarantine, read),
            t0=frame.index[0] if len(frame) else None,
            rows_read=rows,
            source=self.source,
            content_hash=self.content_hash,
            channel_map=self.channel_map,
            gaps=self.gaps.loc[(starts >= low) & (starts < high)].reset_index(drop=True),
            layout=self.layout,
        )

    def summary(self) -> str:
        """A short text report: source, time span and counts per gate."""
        span = (
            f"{self.frame.index[0].isoformat()} .. {self.frame.index[-1].isoformat()}"
            if len(self.frame) else "no accepted timestamps"
        )
        used = [g for g in GATES if self.counts.loc["TOTAL", g] > 0]
        table = self.counts[["read", "accepted", "quarantined", *used]].to_string()
        return (
            f"telemetry '{self.source}' (sha256 {self.content_hash[:12]}), {self.rows_read} rows, "
            f"{len(self.frame)} accepted timestamps, {len(self.gaps)} gaps\ntime span [UTC]: {span}\n{table}"
        )
