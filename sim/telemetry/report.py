"""Data-quality report: counts by gate, the gap and outlier timeline, and a plot of both.

:func:`quality_report` summarizes a stream that was read; :func:`check_file` reads a
file chunk by chunk without keeping its values (files larger than memory), which is
what ``python -m sim.telemetry check`` runs.  Plots use matplotlib's object API with
the Agg canvas: no pyplot, no global backend switch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.exceptions import TelemetryError
from sim.telemetry.channels import UNMAPPED, ChannelMap
from sim.telemetry.gates import GATES
from sim.telemetry.sources.files import table_chunks
from sim.telemetry.stream import TelemetryStream
from sim.telemetry.gates.tables import TableGates

__all__ = ["QualityReport", "quality_report", "check_file", "plot_quality", "gate_colors"]


@dataclass(frozen=True)
class QualityReport:
    """Data quality of one source.

    Attributes
    ----------
    source : str
        File (or feed) the report is about.
    content_hash : str
        SHA-256 of the source (hex).
    rows_read : int
        Rows (or messages) read.
    counts : pandas.DataFrame
        As :attr:`TelemetryStream.counts`: per channel ``read``, ``accepted``,
        ``quarantined`` and one column per gate, plus ``TOTAL``.
    gaps : pandas.DataFrame
        As :attr:`TelemetryStream.gaps`.
    quarantine : pandas.DataFrame
        As :attr:`TelemetryStream.quarantine`, possibly only its first entries.
    quarantined_total : int
        Quarantine entries in all (``len(quarantine)`` when nothing was left out).
    start, end : pandas.Timestamp or None
        First and last accepted stamp [UTC].
    """

    source: str
    content_hash: str
    rows_read: int
    counts: pd.DataFrame
    gaps: pd.DataFrame
    quarantine: pd.DataFrame
    quarantined_total: int
    start: pd.Timestamp | None
    end: pd.Timestamp | None

    def timeline(self) -> pd.DataFrame:
        """Gaps and quarantined values in time order: ``time``, ``channel``, ``kind`` (``gap`` or the
        gate) and ``duration_s`` (0 for single values) [UTC, s]."""
        q = self.quarantine.loc[self.quarantine["time"].notna(), ["time", "channel", "gate"]]
        values = pd.DataFrame({"time": q["time"], "channel": q["channel"], "kind": q["gate"], "duration_s": 0.0})
        gaps = pd.DataFrame({"time": self.gaps["start"], "channel": self.gaps["channel"], "kind": "gap",
                             "duration_s": self.gaps["duration_s"]})
        parts = [p for p in (values, gaps) if len(p)]
        if not parts:
            return values.iloc[:0].reset_index(drop=True)
        return pd.concat(parts, ignore_index=True).sort_values("time", kind="stable").reset_index(drop=True)

    def metrics(self) -> dict[str, float]:
        """Flat ``{"<channel>.<count>": value}`` plus ``"<channel>.gaps"``, for a tracker's ``log_metrics``."""
        out: dict[str, float] = {"rows_read": float(self.rows_read)}
        for channel, row in self.counts.iterrows():
            for column, value in row.items():
                out[f"{channel}.{column}"] = float(value)
        per_channel = self.gaps["channel"].value_counts()
        for channel in self.counts.index:
            if channel not in ("TOTAL", UNMAPPED):
                out[f"{channel}.gaps"] = float(per_channel.get(channel, 0))
        return out

    def to_text(self) -> str:
        """The report as text: source, span, counts by gate (gates that fired), gaps per channel."""
        span = f"{self.start.isoformat()} .. {self.end.isoformat()}" if self.start is not None else "nothing accepted"
        used = [g for g in GATES if self.counts.loc["TOTAL", g] > 0]
        table = self.counts[["read", "accepted", "quarantined", *used]].to_string()
        lines = [f"telemetry '{self.source}' (sha256 {self.content_hash[:12]}), {self.rows_read} rows",
                 f"time span [UTC]: {span}", table]
        if len(self.gaps):
            by = self.gaps.groupby("channel")["duration_s"].agg(["count", "max"])
            lines.append("gaps: " + ", ".join(f"{c} {int(r['count'])} (longest {r['max']:g} s)"
                                               for c, r in by.iterrows()))
        else:
            lines.append("gaps: none")
        if used and "stuck" in used:
            lines.append("stuck: in each run of repeated values the first stuck.samples values were accepted (the run "
                         "was still plausible then); the 'stuck' count is the rest of each run")
        if self.quarantined_total > len(self.quarantine):
            lines.append(f"(quarantine: first {len(self.quarantine)} of {self.quarantined_total} entries kept)")
        return "\n".join(lines)


def quality_report(stream: TelemetryStream) -> QualityReport:
    """The data-quality report of a stream that was read (or received)."""
    index = stream.frame.index
    return QualityReport(
        source=stream.source, content_hash=stream.content_hash, rows_read=stream.rows_read, counts=stream.counts,
        gaps=stream.gaps, quarantine=stream.quarantine, quarantined_total=len(stream.quarantine),
        start=index[0] if len(index) else None, end=index[-1] if len(index) else None,
    )


def check_file(path: str | os.PathLike[str], channel_map: ChannelMap, *, chunksize: int | None = None,
               now: pd.Timestamp | None = None, max_quarantine: int | None = 100_000) -> QualityReport:
    """Validate a CSV or Parquet file without keeping its values (memory bounded by *chunksize*).

    Parameters
    ----------
    path : str or os.PathLike
        The file (Parquet by its ``.parquet``/``.pq``/``.parq`` name, else CSV).
    channel_map : ChannelMap
        The map.
    chunksize : int or None
        Rows per chunk (default 2**20).
    now : pandas.Timestamp, optional
        Time of reading for the ``timestamp_future`` gate.
    max_quarantine : int or None
        Keep at most this many quarantine entries in the report (counts stay complete).
    """
    columns, digest, chunks = table_chunks(path, channel_map, chunksize=chunksize)
    table = TableGates(channel_map, columns, now=now, keep_frame=False, max_quarantine=max_quarantine).add_all(
        chunks, empty=f"telemetry file '{path}' has a header but no data rows; fix: export a time range that "
                      f"contains data")
    stream = table.finish(source=str(path), content_hash=digest)
    counts = stream.counts.drop(index="TOTAL")
    if (counts["accepted"] + counts["quarantined"] != counts["read"]).any():
        raise TelemetryError(f"telemetry from '{path}' lost values:\n{counts.to_string()}\n"
                             f"this is a bug in sim.telemetry; please report it with the file")
    span = table.collector.span
    return QualityReport(
        source=str(path), content_hash=digest, rows_read=table.rows, counts=stream.counts, gaps=stream.gaps,
        quarantine=stream.quarantine, quarantined_total=int(stream.counts.loc["TOTAL", "quarantined"]),
        start=pd.Timestamp(span[0], tz="UTC") if span else None, end=pd.Timestamp(span[1], tz="UTC") if span else None,
    )


def gate_colors() -> dict[str, str]:
    """A fixed colour per gate (by its place in :data:`GATES`), so that a gate looks the same everywhere."""
    from matplotlib import colormaps

    palette = colormaps["tab20"]
    return {gate: palette(k % 20) for k, gate in enumerate(GATES)}


def plot_quality(report: QualityReport | TelemetryStream, path: str | os.PathLike[str]) -> Path:
    """Save a two-panel PNG: quarantined values per channel by gate, and the gap/outlier timeline.

    Parameters
    ----------
    report : QualityReport or TelemetryStream
        What to plot (a stream is summarized with :func:`quality_report` first).
    path : str or os.PathLike
        The PNG file to write.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import date2num
    from matplotlib.figure import Figure

    if isinstance(report, TelemetryStream):
        report = quality_report(report)
    counts = report.counts.drop(index="TOTAL")
    fired = [g for g in GATES if counts[g].sum() > 0]
    color = gate_colors()  # one colour per gate, the same in both panels and in every report
    fig = Figure(figsize=(12, 4.0 + 0.25 * len(counts)))
    FigureCanvasAgg(fig)
    ax, tl = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 2]})
    left = np.zeros(len(counts))
    for gate in fired:
        ax.barh(counts.index, counts[gate], left=left, color=color[gate], label=gate)
        left += counts[gate].to_numpy()
    ax.set_xlabel("quarantined values")
    total = report.counts.loc["TOTAL"]
    ax.set_title(f"{int(total['quarantined'])} of {int(total['read'])} values quarantined", fontsize=9)
    rows = {name: k for k, name in enumerate(counts.index)}
    timeline = report.timeline()
    markers = timeline[timeline["kind"] != "gap"]
    for gate, group in markers.groupby("kind"):
        tl.plot(date2num(group["time"].dt.tz_localize(None)), group["channel"].map(rows), "|", ms=10,
                color=color.get(gate, "k"), label=gate if gate not in fired else None)
    gaps = report.gaps
    if len(gaps):
        tl.barh(gaps["channel"].map(rows), gaps["duration_s"] / 86400.0,
                left=date2num(gaps["start"].dt.tz_localize(None)), height=0.5, color="0.6", label="gap")
    tl.xaxis_date()
    tl.set_yticks(range(len(rows)), list(rows), fontsize=7)
    tl.set_ylim(-0.7, len(rows) - 0.3)
    tl.set_xlabel("time [UTC]")
    if len(gaps):
        longest = gaps["duration_s"].max()
        gap_text = f"{len(gaps)} gap{'s' if len(gaps) != 1 else ''} (longest {longest / 60:.3g} min)"
    else:
        gap_text = "no gaps"
    tl.set_title(f"Quarantined values over time; {gap_text}", fontsize=9)
    handles = [h for a in (ax, tl) for h in a.get_legend_handles_labels()[0]]
    labels = [lab for a in (ax, tl) for lab in a.get_legend_handles_labels()[1]]
    if handles:  # one legend for both panels, below them: it never covers a bar
        fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=7, frameon=False)
    fig.autofmt_xdate()
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=110)
    return Path(path)
