"""The vectorized gates of one channel before the compiled pass: the reference the fast path must equal.

This is the numpy implementation :mod:`sim.telemetry.gates.pipeline` used before its per-sample
work was folded into numba passes (``sim.telemetry.gates._passes``); the stuck and
spike checks use the plain-Python oracle of :mod:`tests.sim.telemetry.naive`.  Tests
swap it in for :class:`~sim.telemetry.gates.pipeline.ChannelGates` (see ``reference_path``)
and compare whole streams.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.telemetry import gates
from sim.telemetry.gates._cells import Buffer, text_of
from sim.telemetry.channels import Channel
from sim.telemetry.gates import NAT
from sim.telemetry.gates.pipeline import NS, ChannelResult, SampleBatch
from tests.sim.telemetry import naive

_NS_LOW, _NS_HIGH = pd.Timestamp.min.value, pd.Timestamp.max.value


class _Sequential:
    """Stuck and spike flags of :func:`naive.stuck_and_spike_flags`, with its state kept between calls."""

    def __init__(self, stuck, stuck_tolerance, window, threshold, min_deviation):
        self.stuck, self.stuck_tolerance = stuck, stuck_tolerance
        self.window, self.threshold, self.min_deviation = window, threshold, min_deviation
        self.tail: list[float] = []  # the last *window* ok values
        self.run_first, self.run_length = None, 0

    def __call__(self, values, ok):
        flags = np.zeros(len(values), dtype=np.int8)
        for i, x in enumerate(values):
            if not ok[i]:
                continue
            (flag,) = naive.stuck_and_spike_flags([x], [True], 0, 0.0, self.window, self.threshold,
                                                  self.min_deviation, history=self.tail)
            self.tail = self.tail[-self.window:] if self.window else []
            if flag == 0 and self.stuck:
                if self.run_length and abs(x - self.run_first) <= self.stuck_tolerance:
                    self.run_length += 1
                else:
                    self.run_first, self.run_length = x, 1
                if self.run_length > self.stuck:
                    flag = 1
            flags[i] = flag
        return flags


def _repeats(c: np.ndarray) -> np.ndarray:
    """Which values of *c* equal an earlier one (the first is not a repeat).

    Only a value not above every earlier one can repeat; those are few (late samples),
    so the common in-order case costs two passes and no sort.
    """
    dup = np.zeros(c.size, dtype=bool)
    if c.size < 2:
        return dup
    earlier_max = np.maximum.accumulate(c)[:-1]
    late = np.concatenate(([False], c[1:] <= earlier_max))
    if not late.any():
        return dup
    lj = np.flatnonzero(late)
    main_pos = np.flatnonzero(~late)
    main = c[main_pos]  # strictly increasing
    k = np.searchsorted(main, c[lj]).clip(max=main.size - 1)
    dup[lj] = (main[k] == c[lj]) & (main_pos[k] < lj)
    order = np.argsort(c[lj], kind="stable")
    ordered = c[lj][order]
    again = np.concatenate(([False], ordered[1:] == ordered[:-1]))
    dup[lj[order[again]]] = True
    return dup


class ReferenceGates:
    """The gates of one channel with their state; :meth:`process` one batch at a time.

    Parameters
    ----------
    channel : Channel
        The channel and its rules.
    decimal : str
        Decimal mark of text values (for reasons).
    time_column : str
        Name of the time column or field (for reasons).
    gap_factor : float
        A pause longer than ``gap_factor * channel.period`` is a gap.
    future_tolerance : float or None
        Allowed lead of stamps over the time of reading [s] (for reasons; the limit
        itself comes with each batch).
    history : int
        Accepted stamps remembered to tell a duplicate from a late sample; older
        repeats are reported as late.
    """

    def __init__(self, channel: Channel, *, decimal: str = ".", time_column: str = "timestamp",
                 gap_factor: float = 3.0, future_tolerance: float | None = None, history: int = 1 << 16):
        self.channel, self.decimal, self.time_column, self.history = channel, decimal, time_column, history
        self.future_tolerance = future_tolerance
        self.scale, self.offset = channel.scale_offset
        self.lateness_ns = int(round(channel.lateness * NS))
        self.offset_ns = int(round(channel.clock_offset * NS))
        self.gap_ns = None if channel.period is None else int(round(gap_factor * channel.period * NS))
        stuck, spike = channel.stuck, channel.spike
        self._stuck = (0, 0.0) if stuck is None else (stuck.samples, stuck.tolerance * abs(self.scale))
        self._spike = ((0, 1.0, 0.0) if spike is None
                       else (spike.window, spike.threshold, spike.min_deviation * abs(self.scale)))
        self._flags = _Sequential(self._stuck[0], self._stuck[1], *self._spike)
        self.newest = NAT  # newest stamp seen that passed the future gate [ns]
        self.floor = NAT  # newest stamp released [ns]
        self.last_accepted = NAT  # for the gap check [ns]
        self._log = np.empty(0, dtype=np.int64)  # recently released stamps, increasing
        self._buffer = Buffer()
        self._raws: dict[int, tuple[Any, Any]] = {}  # batch number -> (time_raw, value_raw)
        self._batches = 0
        self.read = 0
        self.by_code = np.zeros(len(gates.GATES) + 1, dtype=np.int64)
        self.accepted = 0

    @property
    def pending(self) -> int:
        """Samples held in the reorder buffer."""
        return self._buffer.size

    # -- time order ---------------------------------------------------------------------------------------
    def _known(self, stamps: np.ndarray, extra: np.ndarray) -> np.ndarray:
        """Which *stamps* equal an accepted stamp (the log, the buffer or *extra*)."""
        known = np.zeros(stamps.size, dtype=bool)
        for pool in (self._log, np.sort(np.concatenate([self._buffer.stamps(), extra]), kind="stable")):
            if pool.size:
                pos = np.searchsorted(pool, stamps).clip(max=pool.size - 1)
                known |= pool[pos] == stamps
        return known

    def _order(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Time-order gate of valid stamps *s*: (accepted mask, codes of the rest, newest before each)."""
        running = np.maximum.accumulate(np.concatenate(([self.newest], s)))
        before = running[:-1]
        self.newest = int(running[-1])
        limit = before.copy()
        if self.lateness_ns:
            seen = before != NAT
            limit[seen] -= self.lateness_ns
        accepted = (s > limit) & (s > self.floor)
        if self.lateness_ns and accepted.any():
            where = np.flatnonzero(accepted)
            candidates = s[where]
            dup = _repeats(candidates)
            if self._buffer.size:
                held = np.sort(self._buffer.stamps())
                pos = np.searchsorted(held, candidates).clip(max=held.size - 1)
                dup |= held[pos] == candidates
            accepted[where[dup]] = False
        codes = np.zeros(s.size, dtype=np.int8)
        rejected = np.flatnonzero(~accepted)
        if rejected.size:
            duplicate = self._known(s[rejected], s[accepted])
            codes[rejected] = np.where(duplicate, gates.DUPLICATE, gates.NON_MONOTONIC)
        return accepted, codes, before

    # -- one batch ----------------------------------------------------------------------------------------
    def process(self, batch: SampleBatch, *, now_ns: int | None = None) -> ChannelResult:
        """Gate one batch; returns what the reorder buffer released.

        Parameters
        ----------
        batch : SampleBatch
            The channel's raw samples in arrival order.
        now_ns : int or None
            Time of reading [UTC ns] for the future gate; None disables it.
        """
        n = batch.stamps.size
        self.read += n
        if batch.value_codes is None:  # numbers: the fast path applies the value gates in its kernel
            values, vcodes = gates.numeric_value_gates(batch.values, valid_range=self.channel.valid_range)
            if batch.valid_bits is not None:
                bits, offset = batch.valid_bits
                valid = np.unpackbits(bits, bitorder="little")[offset:offset + n].astype(bool)
                vcodes[~valid] = gates.MISSING
            batch = SampleBatch(batch.stamps, batch.time_codes, batch.time_notes, values, vcodes, batch.rows,
                                batch.time_raw, batch.value_raw, batch.schema_note)
        codes = batch.time_codes.astype(np.int8, copy=True)
        stamps = batch.stamps
        if self.offset_ns:
            stamps = stamps.copy()
            ok = (codes == 0) & (stamps > _NS_LOW + abs(self.offset_ns)) & (stamps < _NS_HIGH - abs(self.offset_ns))
            stamps[ok] -= self.offset_ns
            codes[(codes == 0) & ~ok] = gates.UNPARSEABLE_TIME
        limit = NAT
        if now_ns is not None:
            limit = now_ns
            codes[(codes == 0) & (stamps > limit)] = gates.FUTURE
        valid = np.flatnonzero(codes == 0)
        newest_before = np.full(n, NAT, dtype=np.int64)
        accepted = valid
        if valid.size:
            mask, order_codes, before = self._order(stamps[valid])
            codes[valid] = order_codes
            newest_before[valid] = before
            accepted = valid[mask]
        entries = []
        rejected = np.flatnonzero(codes)
        if rejected.size:
            entries.append(self._time_entries(batch, stamps, codes, rejected, newest_before, limit))
        # value gates and SI conversion of the time-accepted samples
        vcodes = batch.value_codes[accepted].astype(np.int8, copy=True)
        source = batch.values[accepted]
        with np.errstate(over="ignore", invalid="ignore"):
            si = self.scale * source + self.offset
        overflow = (vcodes == 0) & ~np.isfinite(si)
        vcodes[overflow] = gates.NON_FINITE
        # rows, raw cells and source values are needed only for reasons: keep a reference to the batch
        # while samples of it are held
        self._batches += 1
        self._raws[self._batches] = batch
        arrays = dict(stamps=stamps[accepted], si=si, codes=vcodes, index=accepted,
                      ref=np.full(accepted.size, self._batches, dtype=np.int64))
        return self._release(arrays, entries, final=False)

    def flush(self) -> ChannelResult:
        """Release every sample still in the reorder buffer (end of the source)."""
        return self._release(None, [], final=True)

    # -- reorder buffer and sequential gates --------------------------------------------------------------
    def _release(self, arrays, entries, *, final: bool) -> ChannelResult:
        if not self.lateness_ns:  # no reordering: accepted samples are already in time order
            out = arrays
        else:
            if arrays is not None and arrays["stamps"].size:
                self._buffer.add(**arrays)
            out = None
            if self._buffer.size:
                held = self._buffer.take()
                if not (np.diff(held["stamps"]) > 0).all():  # nearly sorted: the stable sort is adaptive
                    order = np.argsort(held["stamps"], kind="stable")
                    held = {k: v[order] for k, v in held.items()}
                boundary = np.iinfo(np.int64).max if final else self.newest - self.lateness_ns
                cut = int(np.searchsorted(held["stamps"], boundary, side="right"))
                out = {k: v[:cut] for k, v in held.items()}
                if cut < held["stamps"].size:
                    self._buffer.add(**{k: v[cut:] for k, v in held.items()})
        try:
            return self._sequential(out, entries)
        finally:
            live = set(np.unique(self._buffer.take_view("ref")).tolist()) if self._buffer.size else set()
            for ref in [r for r in self._raws if r not in live]:
                del self._raws[ref]

    def _sequential(self, out, entries) -> ChannelResult:
        if out is None or out["stamps"].size == 0:
            return self._result(np.empty(0, np.int64), np.empty(0), entries, np.empty((0, 2), np.int64))
        codes = out["codes"]
        window, threshold, min_dev = self._spike
        if self._stuck[0] or window:
            flags = self._flags(out["si"], codes == 0)
            codes = np.where(flags == 1, gates.STUCK, np.where(flags == 2, gates.SPIKE, codes)).astype(np.int8)
        stamps = out["stamps"]
        self.floor = int(stamps[-1])
        self._remember(stamps)
        good = codes == 0
        self.accepted += int(good.sum())
        values = np.where(good, out["si"], np.nan)
        bad = np.flatnonzero(~good)
        if bad.size:
            entries.append(self._value_entries(out, codes, bad))
        return self._result(stamps, values, entries, self._gaps(stamps[good]))

    def _remember(self, stamps: np.ndarray) -> None:
        log = np.concatenate([self._log, stamps]) if self._log.size else stamps.copy()
        self._log = log[-self.history:] if log.size > 2 * self.history else log

    def _gaps(self, good: np.ndarray) -> np.ndarray:
        if self.gap_ns is None or good.size == 0:
            if good.size:
                self.last_accepted = int(good[-1])
            return np.empty((0, 2), dtype=np.int64)
        chain = np.concatenate(([self.last_accepted], good)) if self.last_accepted != NAT else good
        self.last_accepted = int(good[-1])
        step = np.diff(chain)
        where = np.flatnonzero(step > self.gap_ns)
        return np.stack([chain[where], chain[where + 1]], axis=1)

    def _result(self, stamps, values, entries, gaps) -> ChannelResult:
        quarantine = None
        if entries:
            quarantine = [{k: np.concatenate([e[k] for e in entries]) for k in entries[0]}]
            self.by_code += np.bincount(quarantine[0]["code"], minlength=self.by_code.size)
        return ChannelResult(stamps, values, quarantine, gaps)

    # -- quarantine entries -------------------------------------------------------------------------------
    def _time_entries(self, batch, stamps, codes, idx, newest_before, limit) -> dict[str, np.ndarray]:
        time_raw = text_of(batch.time_raw, idx)
        notes = batch.time_notes
        if notes is None:
            notes = np.full(batch.stamps.size, "", dtype=object)
        reasons = []
        for k, i in enumerate(idx):
            code = int(codes[i])
            if code == gates.SCHEMA:
                reasons.append(batch.schema_note or ("" if notes is None else notes[i]))
            elif code == gates.UNPARSEABLE:  # decided by the source (e.g. a payload that is not JSON)
                reasons.append("" if notes is None else notes[i])
            else:
                note = "" if notes is None else notes[i]
                if code == gates.UNPARSEABLE_TIME and not note:
                    note = "the stamp is outside the years 1677 to 2262 after the clock offset"
                reasons.append(gates.time_reason(code, time_raw[k], int(stamps[i]), int(newest_before[i]), note,
                                                 self.time_column, lateness=self.channel.lateness,
                                                 future_tolerance=self.future_tolerance))
        return {"row": batch.rows[idx], "time_raw": time_raw, "time": stamps[idx],
                "raw_value": text_of(batch.value_raw, idx), "code": codes[idx].astype(np.intp),
                "reason": np.array(reasons, dtype=object)}

    def _value_entries(self, out, codes, bad) -> dict[str, np.ndarray]:
        c = self.channel
        time_raw = np.empty(bad.size, dtype=object)
        value_raw = np.empty(bad.size, dtype=object)
        rows = np.empty(bad.size, dtype=np.int64)
        source = np.empty(bad.size)
        refs = out["ref"][bad]
        for ref in np.unique(refs):
            mine = np.flatnonzero(refs == ref)
            batch = self._raws[int(ref)]
            index = out["index"][bad[mine]]
            time_raw[mine] = text_of(batch.time_raw, index)
            value_raw[mine] = text_of(batch.value_raw, index)
            rows[mine] = batch.rows[index]
            source[mine] = batch.values[index]
        reasons = []
        for k, i in enumerate(bad):
            code = int(codes[i])
            rule = c.stuck if code == gates.STUCK else c.spike
            overflow = code == gates.NON_FINITE and bool(np.isfinite(source[k]))
            reasons.append(gates.value_reason(code, value_raw[k], float(source[k]), c.name, c.unit,
                                              self.decimal, c.valid_range, overflow, rule=rule))
        return {"row": rows, "time_raw": time_raw, "time": out["stamps"][bad], "raw_value": value_raw,
                "code": codes[bad].astype(np.intp), "reason": np.array(reasons, dtype=object)}
