"""Streaming gates: one :class:`ChannelGates` per channel carries its state from batch to batch.

Files (chunk by chunk) and live feeds (message batch by message batch) go through
the same code.  For each channel, in order:

1. ``schema`` and ``timestamp_unparseable`` come with the batch (set by the source);
2. the channel's ``clock_offset`` is subtracted, then ``timestamp_future``;
3. time order: a sample is accepted when it is newer than ``newest seen - lateness``
   and no accepted sample has its stamp (``timestamp_duplicate``, the first is kept);
   otherwise it is ``timestamp_non_monotonic`` (too late);
4. the value gates (``missing``, ``unparseable``, ``non_finite``, ``out_of_range``),
   then conversion to SI (an overflow is ``non_finite``);
5. the reorder buffer holds accepted samples until no sample may still arrive before
   them (``newest seen - lateness``), then releases them in time order;
6. released values pass ``stuck`` and ``spike`` and the gap check.

Steps 2 to 6 are one compiled pass per batch (:func:`sim.telemetry._channel_pass.gate_channel`);
this module feeds it and writes the quarantine entries of the rejected samples only, gate by
gate (:mod:`sim.telemetry.reasons`).  For a wide table, the channels that share clock offset and
lateness take steps 2, 3 and 5 once per batch (:mod:`sim.telemetry._shared_pass`, see
:meth:`ChannelGates.process_released`), with the same result.

A sample read is, at any moment, accepted, quarantined or pending in the reorder
buffer; :meth:`ChannelGates.flush` releases the buffer at the end of a source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.telemetry import gates
from sim.telemetry._cells import Subset, text_of
from sim.telemetry._channel_pass import PassState, gate_channel
from sim.telemetry._shared_pass import value_pass
from sim.telemetry.channels import Channel
from sim.telemetry.gates import NAT
from sim.telemetry.reasons import time_reasons, value_reasons

__all__ = ["NS", "SampleBatch", "ChannelResult", "ChannelGates", "Subset", "text_of"]

NS = 1_000_000_000  # nanoseconds per second
_NO_CODES = np.empty(0, dtype=np.int8)
_NO_BITS = np.empty(0, dtype=np.uint8)


@dataclass
class SampleBatch:
    """Raw samples of one channel, in arrival order.

    Attributes
    ----------
    stamps : numpy.ndarray of int64
        Parsed stamps [UTC ns]; ``NAT`` where unparseable.
    time_codes : numpy.ndarray of int8
        0, or a code the source decided: ``gates.SCHEMA``, ``gates.UNPARSEABLE_TIME`` or
        ``gates.UNPARSEABLE`` (a payload that cannot be decoded); such samples are
        quarantined at once and never enter the time order.
    time_notes : numpy.ndarray of object or None
        The reason text for those codes (for ``UNPARSEABLE_TIME``: why the stamp is not one).
    values : numpy.ndarray of float64
        Parsed values in the source unit (NaN where a value gate failed) [unit].
    value_codes : numpy.ndarray of int8 or None
        0 or the value-gate code (missing, unparseable, non_finite, out_of_range); None for
        numbers that need no parsing: then NaN is ``missing``, infinity ``non_finite`` and
        the channel's range is checked by the gates.
    rows : numpy.ndarray of int64
        Row in the file, or arrival number of a live message, 1-based.
    time_raw, value_raw : array-like
        The raw time and value cells, indexed only where a reason is written.
    schema_note : str
        Reason text for samples with ``gates.SCHEMA``.
    valid_bits : tuple[numpy.ndarray, int] or None
        With ``value_codes`` None: an Arrow validity bitmap of *values* and the bit of
        sample 0; a clear bit is a null (``missing``), whatever *values* holds there.
    """

    stamps: np.ndarray
    time_codes: np.ndarray
    time_notes: np.ndarray | None
    values: np.ndarray
    value_codes: np.ndarray | None
    rows: np.ndarray
    time_raw: Any
    value_raw: Any
    schema_note: str = ""
    valid_bits: tuple[np.ndarray, int] | None = None


@dataclass
class ChannelResult:
    """What one batch released: frame samples, quarantine entries and gaps of one channel.

    The arrays may be views of the gates' work memory, valid until their next ``process`` or
    ``flush``: keep copies (as :class:`~sim.telemetry.collect.Collector` does).
    """

    stamps: np.ndarray  # released, time-ordered [UTC ns]
    values: np.ndarray  # SI values, NaN where quarantined [SI unit]
    quarantine: dict[str, np.ndarray] | None  # row, time_raw, time, raw_value, code, reason
    gaps: np.ndarray  # int64 [k, 2]: (last accepted before, first accepted after) [UTC ns]


class ChannelGates:
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
        Released stamps remembered to tell a duplicate from a late sample; older
        repeats are reported as late.
    """

    def __init__(self, channel: Channel, *, decimal: str = ".", time_column: str = "timestamp",
                 gap_factor: float = 3.0, future_tolerance: float | None = None, history: int = 1 << 16):
        self.channel, self.decimal, self.time_column, self.history = channel, decimal, time_column, history
        self.future_tolerance = future_tolerance
        self.scale, self.offset = channel.scale_offset
        stuck, spike = channel.stuck, channel.spike
        low, high = (np.nan, np.nan) if channel.valid_range is None else channel.valid_range
        self._settings_i = np.array([
            int(round(channel.clock_offset * NS)), NAT, int(round(channel.lateness * NS)),
            -1 if channel.period is None else int(round(gap_factor * channel.period * NS)),
            0 if stuck is None else stuck.samples, 0 if spike is None else spike.window], dtype=np.int64)
        self._settings_f = np.array([
            self.scale, self.offset, low, high, 0.0 if stuck is None else stuck.tolerance * abs(self.scale),
            1.0 if spike is None else spike.threshold,
            0.0 if spike is None else spike.min_deviation * abs(self.scale)], dtype=np.float64)
        self._state = PassState(int(self._settings_i[5]), history)
        self._raws: dict[int, SampleBatch] = {}  # batch number -> batch, while samples of it are held
        self._batches = 0
        self._work: tuple[np.ndarray, ...] | None = None
        self.read = 0
        self.by_code = np.zeros(len(gates.GATES) + 1, dtype=np.int64)
        #: The shared time order (:class:`~sim.telemetry._shared_pass.TimeState`) when a table decides it
        #: for several channels at once (see :meth:`process_released`); None: this channel's own.
        self.shared = None
        self._carry = (np.empty(0), np.empty(0, np.int8))  # SI values and codes of the held samples
        self._shared_work: tuple[np.ndarray, ...] | None = None

    @property
    def pending(self) -> int:
        """Samples held in the reorder buffer."""
        return self._state.pending if self.shared is None else self.shared.pending

    @property
    def accepted(self) -> int:
        """Samples accepted so far (released and passed every gate)."""
        return self._state.accepted

    def process(self, batch: SampleBatch, *, now_ns: int | None = None) -> ChannelResult:
        """Gate one batch; returns what the reorder buffer released.

        Parameters
        ----------
        batch : SampleBatch
            The channel's raw samples in arrival order.
        now_ns : int or None
            Time of reading [UTC ns] for the future gate; None disables it.
        """
        self.read += batch.stamps.size
        self._batches += 1
        self._raws[self._batches] = batch
        self._settings_i[1] = NAT if now_ns is None else now_ns
        return self._run(batch, final=False)

    def flush(self) -> ChannelResult:
        """Release every sample still in the reorder buffer (end of the source)."""
        empty = np.empty(0, dtype=np.int64)
        batch = SampleBatch(empty, np.empty(0, np.int8), None, np.empty(0), None, empty, None, None)
        return self._run(batch, final=True)

    def _run(self, batch: SampleBatch, *, final: bool) -> ChannelResult:
        st = self._state
        n = batch.stamps.size
        stamps = np.ascontiguousarray(batch.stamps, dtype=np.int64)
        time_codes = np.ascontiguousarray(batch.time_codes, dtype=np.int8)
        values = np.ascontiguousarray(batch.values, dtype=np.float64)
        value_codes = _NO_CODES if batch.value_codes is None else np.ascontiguousarray(batch.value_codes, np.int8)
        bits, bit_offset = (_NO_BITS, 0) if batch.valid_bits is None else batch.valid_bits
        room = st.pending + n
        time_index, time_code, newest_before, out_stamp, out_si, *bad, gaps = self._scratch(n, room)
        st.reset_outputs()
        done = 0
        while True:
            done = gate_channel(stamps, time_codes, values, value_codes, bits, bit_offset, done, final, self._batches,
                                self._settings_i, self._settings_f, st.ints, st.floats, st.ring, st.ordered, st.log,
                                *st.buffer, time_index, time_code, newest_before, out_stamp, out_si, *bad, gaps)
            if done == n:
                break
            st.grow()
        k, n_gaps, n_late, n_bad = st.released()
        entries = []
        if n_late:
            entries.append(self._time_entries(batch, stamps, time_code[:n_late], time_index[:n_late],
                                              newest_before[:n_late]))
        if n_bad:
            bad_pos, bad_code, bad_ref, bad_index = (a[:n_bad] for a in bad)
            entries.append(self._value_entries(bad_code, bad_ref, bad_index, out_stamp[bad_pos]))
        return self._result(entries, st.held_refs, out_stamp[:k], out_si[:k], gaps[:n_gaps])

    def process_released(self, batch: SampleBatch, released: Any, *, final: bool = False,
                         out: np.ndarray | None = None) -> ChannelResult:
        """Gate one batch whose time order a table decided once for several channels
        (:func:`sim.telemetry._shared_pass.time_pass`, the same decisions as :meth:`process`);
        *released* holds them (see ``TableGates``).  With *final*, *batch* is empty and the
        shared reorder buffer was released (end of the source, as :meth:`flush`).  *out*, when it has
        room, receives the released SI values (the result's values are then a view of it)."""
        if not final:
            self.read += batch.stamps.size
            self._batches += 1
            self._raws[self._batches] = batch
            if released.ref != self._batches:
                raise RuntimeError("channels of a shared time order must see the same batches")
        st = self._state
        values = np.ascontiguousarray(batch.values, dtype=np.float64)
        value_codes = _NO_CODES if batch.value_codes is None else np.ascontiguousarray(batch.value_codes, np.int8)
        bits, bit_offset = (_NO_BITS, 0) if batch.valid_bits is None else batch.valid_bits
        k = released.stamps.size
        if self._shared_work is None or self._shared_work[0].size < k:
            size = max(k + k // 8, 1024)
            self._shared_work = (np.empty(size), np.empty(size, np.int64), np.empty(size, np.int8),
                                 np.empty((size, 2), np.int64))
        out_si, bad_pos, bad_code, gaps = self._shared_work
        if out is not None and out.size >= k:
            out_si = out
        m = released.held_src.size
        carry = (np.empty(m), np.empty(m, np.int8))
        st.reset_outputs()
        value_pass(values, value_codes, bits, bit_offset, released.stamps, released.src, released.held_src,
                   *self._carry, self._settings_i, self._settings_f, st.ints, st.floats, st.ring, st.ordered,
                   out_si, bad_pos, bad_code, gaps, *carry)
        self._carry = carry
        _, n_gaps, _, n_bad = st.released()
        entries = []
        if released.time_index.size:
            entries.append(self._time_entries(batch, np.ascontiguousarray(batch.stamps, dtype=np.int64),
                                              released.time_code, released.time_index, released.newest_before))
        if n_bad:
            where = bad_pos[:n_bad]
            entries.append(self._value_entries(bad_code[:n_bad], released.refs[where], released.index[where],
                                               released.stamps[where]))
        return self._result(entries, released.held_refs, released.stamps, out_si[:k], gaps[:n_gaps])

    def _result(self, entries: list, held_refs, stamps, values, gaps) -> ChannelResult:
        """Drop the raw batches no held sample refers to, count and join the quarantine entries."""
        live = set(np.unique(held_refs).tolist())
        for ref in [r for r in self._raws if r not in live]:
            del self._raws[ref]
        quarantine = None
        if entries:
            quarantine = {key: np.concatenate([e[key] for e in entries]) for key in entries[0]}
            self.by_code += np.bincount(quarantine["code"], minlength=self.by_code.size)
        return ChannelResult(stamps, values, quarantine, gaps)

    def _scratch(self, n: int, room: int) -> tuple[np.ndarray, ...]:
        """Work arrays of the kernel, kept from batch to batch (fresh memory costs a page fault per 4 KiB).

        Only the released samples fill theirs; the entries of rejected samples touch a few pages.
        """
        if self._work is None or self._work[0].size < n or self._work[3].size < room:
            size, size_out = max(n, 1024), max(room + room // 8, 1024)  # room for the held samples of later batches
            self._work = (np.empty(size, np.int64), np.empty(size, np.int8), np.empty(size, np.int64),
                          np.empty(size_out, np.int64), np.empty(size_out), np.empty(size_out, np.int64),
                          np.empty(size_out, np.int8), np.empty(size_out, np.int64), np.empty(size_out, np.int64),
                          np.empty((size_out, 2), np.int64))
        return tuple(a[:n] for a in self._work[:3]) + tuple(a[:room] for a in self._work[3:])

    # -- quarantine entries -------------------------------------------------------------------------------
    def _time_entries(self, batch, stamps, codes, idx, newest_before) -> dict[str, np.ndarray]:
        """Entries of the samples *idx* of *batch* that the time gates rejected with *codes*."""
        c = self.channel
        code = codes.astype(np.intp)
        time_raw = text_of(batch.time_raw, idx)
        notes = np.full(idx.size, "", dtype=object) if batch.time_notes is None else np.asarray(
            batch.time_notes, dtype=object)[idx]
        times = stamps[idx]
        shifted = (code == gates.FUTURE) | (code == gates.DUPLICATE) | (code == gates.NON_MONOTONIC)
        offset_ns = int(self._settings_i[0])
        if offset_ns and shifted.any():
            times = times.copy()
            times[shifted] -= offset_ns
        reasons = np.empty(idx.size, dtype=object)
        source = (code == gates.SCHEMA) | (code == gates.UNPARSEABLE)  # decided by the source
        if source.any():
            reasons[source] = notes[source]
            if batch.schema_note:
                reasons[code == gates.SCHEMA] = batch.schema_note
        timed = np.flatnonzero(~source)
        if timed.size:
            note = notes[timed]
            note[(code[timed] == gates.UNPARSEABLE_TIME) & (note == "")] = (
                "the stamp is outside the years 1677 to 2262 after the clock offset")
            reasons[timed] = time_reasons(code[timed], time_raw[timed], times[timed], newest_before[timed], note,
                                          self.time_column, lateness=c.lateness,
                                          future_tolerance=self.future_tolerance)
        return {"row": batch.rows[idx], "time_raw": time_raw, "time": times,
                "raw_value": text_of(batch.value_raw, idx), "code": code, "reason": reasons}

    def _value_entries(self, codes, refs, index_in_batch, stamps) -> dict[str, np.ndarray]:
        """Entries of released samples that a value gate rejected with *codes*: batch numbers *refs*,
        indices in those batches and stamps [UTC ns]."""
        size = codes.size
        time_raw = np.empty(size, dtype=object)
        value_raw = np.empty(size, dtype=object)
        rows = np.empty(size, dtype=np.int64)
        source = np.empty(size)
        batches = np.unique(refs)
        for ref in batches:
            mine = np.flatnonzero(refs == ref) if batches.size > 1 else slice(None)
            batch = self._raws[int(ref)]
            index = index_in_batch[mine]
            time_raw[mine] = text_of(batch.time_raw, index)
            value_raw[mine] = text_of(batch.value_raw, index)
            rows[mine] = batch.rows[index]
            source[mine] = batch.values[index]
        code = codes.astype(np.intp)
        overflow = (code == gates.NON_FINITE) & np.isfinite(source)
        reasons = value_reasons(code, value_raw, source, overflow, channel=self.channel, decimal=self.decimal)
        return {"row": rows, "time_raw": time_raw, "time": stamps, "raw_value": value_raw,
                "code": code, "reason": reasons}
