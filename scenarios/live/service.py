"""The living twin's loop: read a block from the feed, track, detect, decide, publish, checkpoint - until stopped.

One code path for every source (:mod:`scenarios.live.sources`): the loop only sees :class:`Block` s of gated
SI rows.  Per block, :meth:`LiveService.step`

1. drops rows at or before the last applied stamp (a row the checkpoint already holds, or a late one);
2. lays the row values out for the fleet (:class:`AssetLayout`) and runs the joint UKF of every asset
   (:class:`~scenarios.live.tracking.FleetTracker`): states and parameters follow the plant, and every measured
   channel gets its innovation with its expected spread;
3. keeps per-channel residual statistics and hands the block's innovations to the *monitors* (alarm
   detection, drift diagnosis, recalibration under governance - :mod:`scenarios.live.monitor`), which may
   change the twin (a promoted calibration) and add timeline events;
4. writes the board (the last row of the block: the board is a display, not a log);
5. records the block as applied and, every ``checkpoint_every`` rows, stores a checkpoint
   (:mod:`scenarios.live.checkpoint`).

:meth:`LiveService.run` loops until the feed ends, *stop* is set (SIGINT/SIGTERM in the app) or *max_rows*
rows were applied, then stores a final checkpoint.  :meth:`LiveService.resume` loads the last checkpoint and
seeks the feed to its position, so a restarted service applies every sample once (see the checkpoint module
for why this holds after a SIGKILL too).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scenarios.live.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from scenarios.live.sources import Block, Feed
from scenarios.live.timeline import Timeline
from scenarios.live.tracking import FleetTracker, Innovations
from sim.exceptions import ConfigurationError

__all__ = ["AssetLayout", "LiveResult", "LiveService", "ResidualStats"]

log = logging.getLogger("twinbench.live")
NS = 1_000_000_000
_MASK = (1 << 63) - 1


@dataclass(frozen=True)
class AssetLayout:
    """Where each asset's measured outputs and inputs sit in a feed's rows.

    Attributes
    ----------
    assets : tuple of str
        Asset names.
    outputs : ndarray (A, m) of int
        Column of each asset's measured channel (-1: not in the feed).
    inputs : ndarray (A, nu) of int
        Column of each asset's model input.
    """

    assets: tuple[str, ...]
    outputs: np.ndarray
    inputs: np.ndarray

    @classmethod
    def from_channels(cls, channels, *, outputs, inputs, assets=None, separator: str = "."):
        """The layout for feed *channels*: one asset named by the variables themselves (*assets* None), or the
        channels ``<asset><separator><variable>`` of every asset."""
        index = {c: j for j, c in enumerate(channels)}
        names = ("twin",) if assets is None else tuple(str(a) for a in assets)

        def col(asset, var, required):
            key = var if assets is None else f"{asset}{separator}{var}"
            if key not in index:
                if required:
                    raise ConfigurationError(f"the feed has no channel {key!r} (an input of the twin); channels: "
                                             f"{list(channels)[:12]}{' ...' if len(channels) > 12 else ''}; map it "
                                             f"in the channel map")
                return -1
            return index[key]

        out = np.array([[col(a, v, False) for v in outputs] for a in names], dtype=np.int64).reshape(len(names), -1)
        inp = np.array([[col(a, v, True) for v in inputs] for a in names], dtype=np.int64).reshape(len(names), -1)
        if (out < 0).all():
            raise ConfigurationError(f"none of the measured channels {list(outputs)} is in the feed; channels: "
                                     f"{list(channels)[:12]}")
        return cls(names, out, inp)

    def arrays(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``Y[k, A, m]`` and ``U[k, A, nu]`` from rows ``values[k, C]``."""
        padded = np.concatenate([values, np.full((values.shape[0], 1), np.nan)], axis=1)  # column -1: NaN
        return padded[:, self.outputs], padded[:, self.inputs]


@dataclass
class ResidualStats:
    """Running residual statistics per asset and channel (count, mean and mean square of residual / spread,
    mean spread)."""

    count: np.ndarray
    sum_z: np.ndarray
    sum_z2: np.ndarray
    sum_spread: np.ndarray

    @classmethod
    def zeros(cls, n_assets: int, n_channels: int) -> "ResidualStats":
        z = np.zeros((n_assets, n_channels))
        return cls(z.copy(), z.copy(), z.copy(), z.copy())

    def add(self, inn: Innovations) -> None:
        z = inn.normalized
        ok = np.isfinite(z)
        self.count += ok.sum(axis=0)
        self.sum_z += np.where(ok, z, 0.0).sum(axis=0)
        self.sum_z2 += np.where(ok, z * z, 0.0).sum(axis=0)
        self.sum_spread += np.where(ok, inn.spread, 0.0).sum(axis=0)

    def table(self, assets, channels) -> list[dict]:
        """One dict per asset and channel: samples, mean and RMS of residual/spread, mean spread [SI]."""
        n = np.maximum(self.count, 1)
        return [{"asset": a, "channel": c, "samples": int(self.count[i, j]), "z_mean": float(self.sum_z[i, j] / n[i, j]),
                 "z_rms": float(np.sqrt(self.sum_z2[i, j] / n[i, j])), "spread": float(self.sum_spread[i, j] / n[i, j])}
                for i, a in enumerate(assets) for j, c in enumerate(channels)]


@dataclass
class LiveResult:
    """What a run of the service did."""

    applied: int
    skipped: int
    late: int
    blocks: int
    stopped: str
    wall_s: float
    checkpoints: int
    timeline: Timeline = field(default_factory=Timeline)


class LiveService:
    """The living twin's loop (see the module docstring).

    Parameters
    ----------
    feed : Feed
        Where samples come from (started by :meth:`run`).
    tracker : FleetTracker
        The fleet's joint state-parameter filter.
    layout : AssetLayout
        Where each asset's channels sit in the feed rows.
    monitors : sequence
        Objects with ``on_block(service, block, innovations)`` (and optionally ``state_dict()`` /
        ``load_state(d)``, ``on_stop(service)``): detection, diagnosis, recalibration, what-if.
    board : LiveBoard, optional
        The shared live state (written with the last row of each block).
    checkpoint_path : path, optional
        Where to checkpoint (None: never).
    checkpoint_every : int
        Rows between checkpoints.
    block_rows : int
        Most rows per block.
    timeline : Timeline, optional
        Where events go.
    measure_latency : bool
        Record, per row, the wall time from its source stamp to the updated state on the board [s]
        (``latencies``, and the board's latency histogram): meaningful for live sources that stamp at the
        source.
    tick_s : float
        Source-time grid of the monitors' ``on_tick`` [s]: the rows are split at its multiples, so what a
        monitor does on a tick does not depend on how the source was cut into blocks.
    hold_on_alarm : bool
        Hold an asset's tracked parameters while one of its alarms is up (a monitor's ``active(asset)`` is true
        before the block): the filter keeps following the states, but does not learn the fault the alarm stands
        for into the healthy parameters (:meth:`FleetTracker.update`'s ``held``; docs/live.md).  Off by default: on
        the bundled nine days it stops the in-alarm learning, but not what a slow fault teaches the parameters
        before its alarm, and the aggregate coverage does not improve (docs/live.md, "Held parameters").
    """

    def __init__(self, feed: Feed, tracker: FleetTracker, layout: AssetLayout, *, monitors=(), board=None,
                 checkpoint_path=None, checkpoint_every: int = 5000, block_rows: int = 256,
                 timeline: Timeline | None = None, idle_sleep_s: float = 0.002, tick_s: float = 900.0,
                 measure_latency: bool = False, hold_on_alarm: bool = False):
        if checkpoint_every < 1 or block_rows < 1:
            raise ConfigurationError(f"checkpoint_every ({checkpoint_every}) and block_rows ({block_rows}) must be "
                                     f">= 1 rows")
        self.feed, self.tracker, self.layout = feed, tracker, layout
        self.monitors = list(monitors)
        self.board = board
        self.checkpoint_path = None if checkpoint_path is None else Path(checkpoint_path)
        self.checkpoint_every, self.block_rows = int(checkpoint_every), int(block_rows)
        self.timeline = timeline if timeline is not None else Timeline()
        self.idle_sleep_s = idle_sleep_s
        if not tick_s > 0:
            raise ConfigurationError(f"tick_s = {tick_s!r} must be > 0 seconds of source time, e.g. 900")
        self.tick_ns = int(round(tick_s * NS))
        self.cell = None  # the tick cell (stamp // tick) of the last applied row
        self.measure_latency = bool(measure_latency)
        self.hold_on_alarm = bool(hold_on_alarm)
        self.on_publish: list = []  # callables(service) after the board was written (e.g. the MQTT state publisher)
        self.latencies: deque = deque(maxlen=100_000)
        self.applied = 0
        self.stamp_sum = 0
        self.last_stamp = -1
        self.late = 0
        self.checkpoints = 0
        self.position: dict = {}
        self.stats = ResidualStats.zeros(len(layout.assets), len(tracker.channels))
        self._since_checkpoint = 0
        self.last_innovations: Innovations | None = None

    # ------------------------------------------------------------------------------------------ resume
    def resume(self) -> bool:
        """Load the last checkpoint (if any) and seek the feed to its position; True when one was loaded."""
        if self.checkpoint_path is None:
            return False
        ck = load_checkpoint(self.checkpoint_path)
        if ck is None:
            return False
        self.tracker = ck.tracker.attach(self.tracker.model) if ck.tracker is not None else self.tracker
        self.applied, self.stamp_sum, self.last_stamp = ck.applied, ck.stamp_sum, ck.last_stamp
        self.position = dict(ck.position)
        self.feed.seek(self.position)
        extra = ck.extra
        self.late = int(extra.get("late", 0))
        self.cell = extra.get("cell")
        if "stats" in extra:
            self.stats = ResidualStats(**extra["stats"])
        self.timeline.load_state(ck.timeline)
        for i, monitor in enumerate(self.monitors):
            state = extra.get("monitors", {}).get(str(i))
            if state is not None and hasattr(monitor, "load_state"):
                monitor.load_state(state)
        if self.board is not None and ck.board:
            self._restore_board(ck.board)
        log.info("resumed from %s: %d samples applied, position %s", self.checkpoint_path, self.applied,
                 self.position)
        return True

    def checkpoint(self) -> None:
        """Store the state and the feed position atomically."""
        if self.checkpoint_path is None:
            return
        monitors = {str(i): m.state_dict() for i, m in enumerate(self.monitors) if hasattr(m, "state_dict")}
        ck = Checkpoint(position=dict(self.position), tracker=self.tracker, applied=self.applied,
                        stamp_sum=self.stamp_sum, last_stamp=self.last_stamp,
                        detector=monitors.get("0", {}), board=self._board_counters(),
                        timeline=self.timeline.state_dict(),
                        extra={"late": self.late, "cell": self.cell, "monitors": monitors, "stats": dict(vars(self.stats))})
        save_checkpoint(self.checkpoint_path, ck)
        self.checkpoints += 1
        self._since_checkpoint = 0

    # --------------------------------------------------------------------------------------------- run
    def run(self, stop: threading.Event | None = None, *, max_rows: int | None = None,
            idle_timeout_s: float | None = None) -> LiveResult:
        """Run until the feed ends, *stop* is set, *max_rows* rows were applied in this run, or nothing arrived
        for *idle_timeout_s*; then store a final checkpoint."""
        stop = stop or threading.Event()
        t0 = time.perf_counter()
        blocks, applied0, skipped0 = 0, self.applied, self.tracker.skipped_
        self.feed.start()
        idle_since = time.monotonic()
        reason = "end of source"
        try:
            while True:
                if stop.is_set():
                    reason = "stop requested"
                    break
                if max_rows is not None and self.applied - applied0 >= max_rows:
                    reason = "max_rows"
                    break
                want = self.block_rows if max_rows is None else min(self.block_rows, max_rows - (self.applied - applied0))
                block = self.feed.poll(want)
                if block is None:
                    break
                if len(block) == 0:
                    if idle_timeout_s is not None and time.monotonic() - idle_since > idle_timeout_s:
                        reason = "idle timeout"
                        break
                    self._publish_source()
                    time.sleep(self.idle_sleep_s)
                    continue
                idle_since = time.monotonic()
                self.step(block)
                blocks += 1
                if self._since_checkpoint >= self.checkpoint_every:
                    self.checkpoint()
        finally:
            tail = self.feed.stop()  # a live source's reorder buffers, flushed
            if tail is not None and len(tail):
                self.step(tail)
            for monitor in self.monitors:
                if hasattr(monitor, "on_stop"):
                    monitor.on_stop(self)
            self.checkpoint()
        return LiveResult(applied=self.applied - applied0, skipped=self.tracker.skipped_ - skipped0, late=self.late,
                          blocks=blocks, stopped=reason, wall_s=time.perf_counter() - t0,
                          checkpoints=self.checkpoints, timeline=self.timeline)

    def step(self, block: Block) -> Innovations | None:
        """Apply one block (see the module docstring)."""
        stamps, values = block.stamps, block.values
        fresh = stamps > self.last_stamp
        if not fresh.all():
            self.late += int((~fresh).sum())
            stamps, values = stamps[fresh], values[fresh]
        inn = None
        if stamps.size:
            cells = stamps // self.tick_ns
            cuts = np.flatnonzero(np.diff(cells)) + 1
            for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, stamps.size]):
                cell = int(cells[lo])
                if self.cell is not None and cell > self.cell:
                    for monitor in self.monitors:
                        if hasattr(monitor, "on_tick"):
                            monitor.on_tick(self, cell * self.tick_ns)
                inn = self._apply(stamps[lo:hi], values[lo:hi]) or inn
                self.cell = cell
            if self.board is not None and self.last_innovations is not None:
                self._publish(self.last_innovations)
            if self.measure_latency:
                lat = (time.time_ns() - stamps) / NS
                self.latencies.extend(lat.tolist())
                if self.board is not None:
                    for v in lat:
                        self.board.observe_latency(float(v))
        self.feed.commit(block)
        self.position = self.feed.position()
        return inn

    def _apply(self, stamps, values) -> Innovations | None:
        Y, U = self.layout.arrays(values)
        inn = self.tracker.update(stamps, Y, U, held=self.held())
        if inn is not None:
            self.stats.add(inn)
            self.last_innovations = inn
            for monitor in self.monitors:
                monitor.on_block(self, stamps, values, inn)
        self.applied += int(stamps.size)
        self.stamp_sum = (self.stamp_sum + sum(stamps.tolist())) & _MASK
        self.last_stamp = int(stamps[-1])
        self._since_checkpoint += int(stamps.size)
        return inn

    def held(self) -> np.ndarray | None:
        """Per asset, whether its tracked parameters are held over the next block: an alarm of it is up (any
        monitor with an ``active(asset)`` method says so) and :attr:`hold_on_alarm`; None when none is."""
        if not self.hold_on_alarm:
            return None
        judges = [m.active for m in self.monitors if callable(getattr(m, "active", None))]
        held = np.array([any(judge(asset) for judge in judges) for asset in self.layout.assets], dtype=bool)
        return held if held.any() else None

    # ------------------------------------------------------------------------------------------- board
    def _publish(self, inn: Innovations) -> None:
        board, tr = self.board, self.tracker
        t = inn.stamps[-1] / NS
        for a, asset in enumerate(self.layout.assets):
            for c, channel in enumerate(tr.channels):
                pred, spread = float(inn.predicted[-1, a, c]), float(inn.spread[-1, a, c])
                measured = inn.predicted[-1, a, c] + inn.residual[-1, a, c]
                board.record_sample(asset, channel, t, None if not np.isfinite(measured) else float(measured),
                                    pred, pred - 2 * spread, pred + 2 * spread,
                                    unit=tr.model.spec.var("outputs", channel).unit, count=False)
            for p, name in enumerate(tr.parameters):
                value, sd = float(inn.params[-1, a, p]), float(inn.params_std[-1, a, p])
                board.record_parameter(asset, name, t, value, value - 1.96 * sd, value + 1.96 * sd,
                                       unit=tr.model.spec.var("params", name).unit)
        self._publish_source(lag_s=max(time.time() - t, 0.0))
        for publish in self.on_publish:
            publish(self)

    def _publish_source(self, lag_s: float | None = None) -> None:
        if self.board is not None:
            self.board.set_source(self.feed.connected, lag_s, reconnects=self.feed.reconnects)

    def _board_counters(self) -> dict:
        return {"applied": self.applied, "late": self.late, "reconnects": self.feed.reconnects}

    def _restore_board(self, counters: dict) -> None:
        self.board.set_source(self.feed.connected, None, reconnects=int(counters.get("reconnects", 0)))
