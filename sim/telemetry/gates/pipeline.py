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

Steps 2, 3 and 5 are one compiled pass over the stamps (:func:`sim.telemetry.gates._passes.time_pass`),
steps 4 and 6 one over the released values (:func:`sim.telemetry.gates._passes.value_pass`); this
module feeds them and writes the quarantine entries of the rejected samples only, gate by gate
(:mod:`sim.telemetry.gates.reasons`).  For a wide table, the channels that share clock offset and
lateness share one time order, decided once per batch (see :meth:`ChannelGates.process_released`).

A sample read is, at any moment, accepted, quarantined or pending in the reorder
buffer; :meth:`ChannelGates.flush` releases the buffer at the end of a source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.telemetry import gates
from sim.telemetry.gates._cells import Subset, pick, text_of
from sim.telemetry.gates._passes import Released, TimeOrder, ValueState, value_pass
from sim.telemetry.channels import Channel
from sim.telemetry.gates.quarantine import Reasons
from sim.telemetry.gates.reasons import time_reasons, value_reasons

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
    ``flush``: keep copies (as :class:`~sim.telemetry.gates.collect.Collector` does).
    """

    stamps: np.ndarray  # released, time-ordered [UTC ns]
    values: np.ndarray  # SI values, NaN where quarantined [SI unit]
    quarantine: list[dict[str, Any]] | None  # entries (see sim.telemetry.gates.quarantine.Quarantine)
    gaps: np.ndarray  # int64 [k, 2]: (last accepted before, first accepted after) [UTC ns]
    #: Values that are not NaN, when counted where the values were written (else None: count them)
    present: int | None = None


_NO_STAMPS = np.empty(0, dtype=np.int64)
_EMPTY = SampleBatch(_NO_STAMPS, _NO_CODES, None, np.empty(0), None, _NO_STAMPS, None, None)  # for flushes


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
        self._settings_i = np.array([  # see _passes.SETTINGS_I and SETTINGS_F
            int(round(channel.clock_offset * NS)), int(round(channel.lateness * NS)),
            -1 if channel.period is None else int(round(gap_factor * channel.period * NS)),
            0 if stuck is None else stuck.samples, 0 if spike is None else spike.window], dtype=np.int64)
        self._settings_f = np.array([
            self.scale, self.offset, low, high, 0.0 if stuck is None else stuck.tolerance * abs(self.scale),
            1.0 if spike is None else spike.threshold,
            0.0 if spike is None else spike.min_deviation * abs(self.scale)], dtype=np.float64)
        self._values = ValueState(int(self._settings_i[4]))
        #: The time order: the channel's own, or the one a table shares between channels (see
        #: :meth:`process_released`).
        self.time = TimeOrder(int(self._settings_i[0]), int(self._settings_i[1]), history)
        self._raws: dict[int, SampleBatch] = {}  # batch number -> batch, while samples of it are held
        self._batches = 0
        self.read = 0
        self.by_code = np.zeros(len(gates.GATES) + 1, dtype=np.int64)
        self._carry = (np.empty(0), np.empty(0, np.int8))  # SI values and codes of the held samples
        self._work: tuple[np.ndarray, ...] | None = None

    @property
    def pending(self) -> int:
        """Samples held in the reorder buffer."""
        return self.time.pending

    @property
    def accepted(self) -> int:
        """Samples accepted so far (released and passed every gate)."""
        return self._values.accepted

    def process(self, batch: SampleBatch, *, now_ns: int | None = None) -> ChannelResult:
        """Gate one batch with the channel's own time order; returns what the reorder buffer released.

        Parameters
        ----------
        batch : SampleBatch
            The channel's raw samples in arrival order.
        now_ns : int or None
            Latest acceptable stamp [UTC ns] for the future gate; None disables it.
        """
        released = self.time.run(batch.stamps, batch.time_codes, self._batches + 1, now_ns, final=False)
        return self.process_released(batch, released)

    def flush(self) -> ChannelResult:
        """Release every sample still in the reorder buffer (end of the source)."""
        return self.process_released(_EMPTY, self.time.run(_EMPTY.stamps, _EMPTY.time_codes, 0, None, final=True),
                                     final=True)

    def process_released(self, batch: SampleBatch, released: Released, *, final: bool = False,
                         out: np.ndarray | None = None) -> ChannelResult:
        """Gate one batch whose time order *released* holds (from :attr:`time`, or from a time order a
        table decided once for several channels).  With *final*, *batch* is empty and the reorder
        buffer was released (end of the source).  *out*, when it has room, receives the released SI
        values (the result's values are then a view of it)."""
        if not final:
            self.read += batch.stamps.size
            self._batches += 1
            self._raws[self._batches] = batch
            if released.ref != self._batches:
                raise RuntimeError("channels of a shared time order must see the same batches")
        st = self._values
        values = np.ascontiguousarray(batch.values, dtype=np.float64)
        value_codes = _NO_CODES if batch.value_codes is None else np.ascontiguousarray(batch.value_codes, np.int8)
        bits, bit_offset = (_NO_BITS, 0) if batch.valid_bits is None else batch.valid_bits
        k = released.stamps.size
        if self._work is None or self._work[0].size < k:
            # kept from batch to batch (fresh memory costs a page fault per 4 KiB); only the released
            # samples fill out_si, the entries of rejected samples touch a few pages
            size = max(k + k // 8, 1024)
            self._work = (np.empty(size), np.empty(size, np.int64), np.empty(size, np.int8),
                          np.empty((size, 2), np.int64))
        out_si, bad_pos, bad_code, gaps = self._work
        if out is not None and out.size >= k:
            out_si = out
        st.reset_outputs()
        value_pass(values, value_codes, bits, bit_offset, released.stamps, released.src, *self._carry,
                   self._settings_i, self._settings_f, st.ints, st.floats, st.window, out_si, bad_pos, bad_code, gaps,
                   False)
        n_gaps, n_bad = st.released()
        entries = []
        if n_bad:
            where = bad_pos[:n_bad]
            entries.append(self._value_entries(bad_code[:n_bad], released.refs[where], released.index[where],
                                               released.stamps[where]))
        # the samples still held: their SI values and codes, for the next batch
        m = released.held_src.size
        carry = (np.empty(m), np.empty(m, np.int8))
        if m:  # (values_only: the stamps argument is not read)
            value_pass(values, value_codes, bits, bit_offset, released.held_src, released.held_src, *self._carry,
                       self._settings_i, self._settings_f, st.ints, st.floats, st.window, carry[0], bad_pos, carry[1],
                       gaps, True)
        self._carry = carry
        if released.time_index.size:
            entries.insert(0, self._time_entries(batch, np.ascontiguousarray(batch.stamps, dtype=np.int64),
                                                 released.time_code, released.time_index, released.newest_before))
        return self._result(entries, released.held_refs, released.stamps, out_si[:k], gaps[:n_gaps])

    def _result(self, entries: list, held_refs, stamps, values, gaps) -> ChannelResult:
        """Drop the raw batches no held sample refers to, count the quarantine entries."""
        live = set(np.unique(held_refs).tolist())
        for ref in [r for r in self._raws if r not in live]:
            del self._raws[ref]
        for e in entries:
            self.by_code += np.bincount(e["code"], minlength=self.by_code.size)
        return ChannelResult(stamps, values, entries or None, gaps)

    # -- quarantine entries (texts are written when the table is asked for: sim.telemetry.gates.quarantine) --------
    def _time_entries(self, batch, stamps, codes, idx, newest_before) -> dict[str, Any]:
        """Entries of the samples *idx* of *batch* that the time gates rejected with *codes*."""
        code = codes.astype(np.intp)
        notes = np.full(idx.size, "", dtype=object) if batch.time_notes is None else np.asarray(
            batch.time_notes, dtype=object)[idx]
        times = stamps[idx]
        shifted = (code == gates.FUTURE) | (code == gates.DUPLICATE) | (code == gates.NON_MONOTONIC)
        offset_ns = int(self._settings_i[0])
        if offset_ns and shifted.any():
            times = times.copy()
            times[shifted] -= offset_ns
        # (kept until the table is written: no views of work memory)
        reasons = Reasons(_time_reasons, {"code": code, "times": times, "newest_before": newest_before.copy(),
                                          "notes": notes},
                          {"schema_note": batch.schema_note, "time_column": self.time_column,
                           "lateness": self.channel.lateness, "future_tolerance": self.future_tolerance})
        return {"row": batch.rows[idx], "time_raw": pick(batch.time_raw, idx), "time": times,
                "raw_value": pick(batch.value_raw, idx), "code": code, "reason": reasons}

    def _value_entries(self, codes, refs, index_in_batch, stamps) -> dict[str, Any]:
        """Entries of released samples that a value gate rejected with *codes*: batch numbers *refs*,
        indices in those batches and stamps [UTC ns]."""
        one_batch = bool((refs == refs[0]).all())  # (the usual case: no held sample of an earlier batch)
        batches = refs[:1] if one_batch else np.unique(refs)
        if one_batch:
            batch = self._raws[int(batches[0])]
            time_raw, value_raw = pick(batch.time_raw, index_in_batch), pick(batch.value_raw, index_in_batch)
            rows, source = batch.rows[index_in_batch], batch.values[index_in_batch]
        else:  # (held samples of earlier batches: a few; their cells may differ in type, so as text)
            size = codes.size
            time_raw, value_raw = np.empty(size, dtype=object), np.empty(size, dtype=object)
            rows, source = np.empty(size, dtype=np.int64), np.empty(size)
            for ref in batches:
                mine = np.flatnonzero(refs == ref)
                batch = self._raws[int(ref)]
                index = index_in_batch[mine]
                time_raw[mine] = text_of(batch.time_raw, index)
                value_raw[mine] = text_of(batch.value_raw, index)
                rows[mine] = batch.rows[index]
                source[mine] = batch.values[index]
        code = codes.astype(np.intp)
        reasons = Reasons(_value_reasons, {"code": code, "source": source},
                          {"channel": self.channel, "decimal": self.decimal})
        return {"row": rows, "time_raw": time_raw, "time": stamps, "raw_value": value_raw,
                "code": code, "reason": reasons}


def _time_reasons(time_text, value_text, *, code, times, newest_before, notes, schema_note, time_column, lateness,
                  future_tolerance) -> np.ndarray:
    """Reasons of time-gate entries (see :class:`~sim.telemetry.gates.quarantine.Reasons`)."""
    reasons = np.empty(code.size, dtype=object)
    source = (code == gates.SCHEMA) | (code == gates.UNPARSEABLE)  # decided by the source
    if source.any():
        reasons[source] = notes[source]
        if schema_note:
            reasons[code == gates.SCHEMA] = schema_note
    timed = np.flatnonzero(~source)
    if timed.size:
        note = notes[timed]
        note[(code[timed] == gates.UNPARSEABLE_TIME) & (note == "")] = (
            "the stamp is outside the years 1677 to 2262 after the clock offset")
        reasons[timed] = time_reasons(code[timed], time_text[timed], times[timed], newest_before[timed], note,
                                      time_column, lateness=lateness, future_tolerance=future_tolerance)
    return reasons


def _value_reasons(time_text, value_text, *, code, source, channel, decimal) -> np.ndarray:
    """Reasons of value-gate entries (see :class:`~sim.telemetry.gates.quarantine.Reasons`)."""
    overflow = (code == gates.NON_FINITE) & np.isfinite(source)
    return value_reasons(code, value_text, source, overflow, channel=channel, decimal=decimal)
