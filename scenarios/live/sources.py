"""One adapter over every source of the living twin: a file replayed (as fast as possible or at k x real
time), MQTT or OPC UA.  The service reads them all through :meth:`Feed.poll`, one code path.

Every feed delivers :class:`Block` s: rows of gated SI samples (``stamps[k]`` [UTC ns] strictly increasing,
``values[k, C]`` on :attr:`Feed.channels`, NaN where a channel has no accepted value at that stamp), and a
*position* - what the checkpoint stores so that a restart skips what was already applied:

* :class:`FileFeed`: the file through :func:`sim.telemetry.read_file` (the same gates as every file); the
  position is the row offset in the gated frame.  ``speed=None`` replays as fast as the twin takes it,
  ``speed=k`` paces the stamps at k times real time.
* :class:`LiveFeed`: a :class:`sim.telemetry.LiveTelemetry` over an :class:`~sim.telemetry.MqttSource` or
  :class:`~sim.telemetry.OpcUaSource` (gates, reorder buffer, redelivery recognition); samples are grouped by
  stamp into rows, and a row is released once every channel has reported at or past its stamp (or after
  ``linger_s`` of wall time).  The position is the stamp of the last applied sample per publisher key (topic
  or node): MQTT keeps no replayable offset, so a persistent session redelivering after a restart is
  recognized by its stamp.  The sources reconnect by themselves with exponential back-off
  (``reconnect_delay``); :attr:`LiveFeed.reconnects` counts the reconnections.

Bad input: stamps that go back (a clock jump backwards, an out-of-order burst later than the channel's
reorder window) are quarantined by the gates (``non_monotonic``); a row at or before the last applied stamp
never reaches the twin and is counted in :attr:`Feed.dropped_late`.  A clock jump forward is a gap: the
filter predicts across it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.exceptions import ConfigurationError
from sim.telemetry import ChannelMap, LiveTelemetry, read_file

__all__ = ["Block", "Feed", "FileFeed", "LiveFeed"]

NS = 1_000_000_000


@dataclass(frozen=True)
class Block:
    """Rows of gated samples.

    Attributes
    ----------
    stamps : ndarray (k,) of int64
        Strictly increasing sample stamps [UTC ns].
    values : ndarray (k, C)
        SI values on the feed's channels; NaN: no accepted value at that stamp.
    position : dict
        The feed position after the last row (stored by the checkpoint).
    """

    stamps: np.ndarray
    values: np.ndarray
    position: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.stamps.shape[0])


class Feed:
    """Base of the feeds (see the module docstring)."""

    channels: tuple[str, ...] = ()
    dropped_late = 0

    def start(self) -> "Feed":
        return self

    def stop(self) -> Block | None:
        """Stop reading; returns the rows still held (a live source's reorder buffers), or None."""
        return None

    def seek(self, position: dict) -> None:  # pragma: no cover - every feed overrides it
        raise NotImplementedError

    def commit(self, block: Block) -> None:
        """Record *block* as applied: :meth:`position` is then the position after it."""
        self._position = dict(block.position)

    def position(self) -> dict:
        """The position after the last committed block (what the checkpoint stores)."""
        return dict(getattr(self, "_position", {}))

    def poll(self, max_rows: int) -> Block | None:  # pragma: no cover - every feed overrides it
        """The next rows (at most *max_rows*), an empty block when nothing is due yet, None at the end."""
        raise NotImplementedError

    @property
    def reconnects(self) -> int:
        return 0

    @property
    def connected(self) -> bool:
        return True

    def counts(self) -> pd.DataFrame | None:
        """The gate counts of what was read so far (None where not available)."""
        return None


# ---------------------------------------------------------------------------------------------------- files
class FileFeed(Feed):
    """A telemetry file (CSV or Parquet) replayed through the gates.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    channel_map : ChannelMap
        Its channel map.
    speed : float or None
        None: as fast as possible; k > 0: the stamps are paced at k times real time.
    now : pandas.Timestamp, optional
        Time of reading for the future gate (default: the file's last stamp + 1 h, so a recorded file is
        never "from the future").
    clock : callable
        Wall clock [s] (``time.monotonic``); a test may pass its own.
    sleep : callable
        How to wait [s] (``time.sleep``).
    """

    def __init__(self, path: str | os.PathLike[str], channel_map: ChannelMap, *, speed: float | None = None,
                 now: pd.Timestamp | None = None, clock=time.monotonic, sleep=time.sleep):
        if speed is not None and not (np.isfinite(speed) and speed > 0):
            raise ConfigurationError(f"source.speed = {speed!r} must be a positive factor of real time (e.g. 1000) "
                                     f"or null for as fast as possible")
        self.path, self.channel_map, self.speed = path, channel_map, speed
        self._now, self._clock, self._sleep = now, clock, sleep
        self.row = 0
        self.dropped_late = 0
        self._stream = None
        self._t0: tuple[float, int] | None = None

    def start(self) -> "FileFeed":
        if self._stream is None:
            now = self._now if self._now is not None else pd.Timestamp.max.tz_localize("UTC") - pd.Timedelta(days=1)
            self._stream = read_file(self.path, self.channel_map, now=now)
            frame = self._stream.frame
            self.channels = tuple(frame.columns)
            stamps = frame.index.asi8
            keep = np.concatenate([[True], np.diff(stamps) > 0]) if stamps.size else np.zeros(0, bool)
            self.dropped_late += int((~keep).sum())
            self._stamps = np.ascontiguousarray(stamps[keep])
            self._values = np.ascontiguousarray(frame.to_numpy(dtype=np.float64)[keep])
        return self

    @property
    def stream(self):
        """The gated :class:`~sim.telemetry.TelemetryStream` (quarantine, counts, content hash)."""
        return self._stream

    @property
    def rows(self) -> int:
        return int(self._stamps.shape[0])

    def counts(self):
        return self._stream.counts

    def seek(self, position: dict) -> None:
        row = int(position.get("row", 0))
        if not 0 <= row <= self.rows:
            raise ConfigurationError(f"the checkpoint's position row {row} lies outside the file's {self.rows} "
                                     f"gated rows; it belongs to another file - move the checkpoint away")
        self.row = row
        self._position = {"row": row}
        self._t0 = None

    def poll(self, max_rows: int) -> Block | None:
        if self.row >= self.rows:
            return None
        end = min(self.row + max_rows, self.rows)
        if self.speed is not None:
            end = self._due(end)
        block = Block(self._stamps[self.row:end], self._values[self.row:end], {"row": end})
        self.row = end
        return block

    def _due(self, end: int) -> int:
        """Rows whose paced wall time has come (waits for the next one when none has)."""
        now = self._clock()
        if self._t0 is None:
            self._t0 = (now, int(self._stamps[self.row]))
        wall0, stamp0 = self._t0
        due_stamp = stamp0 + int((now - wall0) * self.speed * NS)
        due = int(np.searchsorted(self._stamps, due_stamp, side="right"))
        if due <= self.row:
            wait = (self._stamps[self.row] - stamp0) / NS / self.speed - (now - wall0)
            self._sleep(min(max(wait, 0.0), 0.1))
            return self.row
        return min(end, due)


# ----------------------------------------------------------------------------------------------------- live
class LiveFeed(Feed):
    """A live source (MQTT, OPC UA) through :class:`sim.telemetry.LiveTelemetry`, rows by stamp.

    Parameters
    ----------
    live : LiveTelemetry
        The gated live source (not started yet).
    linger_s : float
        Wall time a row waits for channels that have not reported up to its stamp [s].
    clock : callable
        Wall clock [s].
    """

    def __init__(self, live: LiveTelemetry, *, linger_s: float = 0.5, clock=time.monotonic):
        self.live = live
        self.channels = tuple(live.map.names)
        self.linger_s = float(linger_s)
        self._clock = clock
        self._index = {name: j for j, name in enumerate(self.channels)}
        self._pending: dict[int, dict[str, float]] = {}
        self._seen_at: dict[int, float] = {}
        self._latest = {name: -1 for name in self.channels}  # newest stamp received per channel [ns]
        self.applied: dict[str, int] = {}  # per channel (publisher key): the last stamp applied [ns]
        self.dropped_late = 0
        self.skipped_replayed = 0
        self._started = False

    def start(self) -> "LiveFeed":
        """Start the source (once: a second call does nothing, a second client would take the session over)."""
        if not self._started:
            self.live.start()
            self._started = True
        return self

    def stop(self) -> Block | None:
        """Stop the source, gate what is queued, flush the reorder buffers; returns every row still held."""
        if not self._started:
            return None
        self._started = False
        self._add(self.live.stop(), self._clock())
        return self._release(None, len(self._pending))

    @property
    def source(self):
        return self.live.source

    @property
    def reconnects(self) -> int:
        return max(0, int(getattr(self.source, "connects", 1)) - 1)

    @property
    def connected(self) -> bool:
        flag = getattr(self.source, "connected", None)
        return bool(flag.is_set()) if flag is not None else True

    def wait_connected(self, timeout: float = 10.0) -> None:
        self.source.wait_connected(timeout)

    def counts(self):
        return self.live.stream().counts

    def seek(self, position: dict) -> None:
        self.applied = {str(k): int(v) for k, v in position.get("stamps", {}).items()}

    def poll(self, max_rows: int) -> Block | None:
        now = self._clock()
        self._add(self.live.poll(), now)
        if not self._pending:
            return Block(np.zeros(0, np.int64), np.zeros((0, len(self.channels))), self.position())
        return self._release(now, max_rows)

    def _add(self, samples, now) -> None:
        for stamp, name, value in samples:
            if stamp <= self.applied.get(name, -1):
                self.skipped_replayed += 1  # applied before the restart (at-least-once redelivery)
                continue
            row = self._pending.get(stamp)
            if row is None:
                row = self._pending[stamp] = {}
                self._seen_at[stamp] = now
            row[name] = value
            if stamp > self._latest[name]:
                self._latest[name] = stamp

    def _release(self, now, max_rows: int) -> Block:
        """Rows every channel has reported past (or that waited ``linger_s``; all when *now* is None)."""
        watermark = min(self._latest.values())
        ready = sorted(s for s in self._pending
                       if now is None or s <= watermark or now - self._seen_at[s] >= self.linger_s)
        ready = ready[:max_rows]
        stamps = np.array(ready, dtype=np.int64)
        values = np.full((len(ready), len(self.channels)), np.nan)
        for i, s in enumerate(ready):
            for name, value in self._pending.pop(s).items():
                values[i, self._index[name]] = value
            del self._seen_at[s]
        return Block(stamps, values, self.position())

    def commit(self, block: Block) -> None:
        """Record *block* as applied (the position the next checkpoint stores)."""
        for j, name in enumerate(self.channels):
            measured = np.isfinite(block.values[:, j])
            if measured.any():
                self.applied[name] = int(block.stamps[measured][-1])

    def position(self) -> dict:
        return {"stamps": dict(self.applied)}
