"""The time order of a wide table, decided once for all channels that share it; then one value pass per channel.

The time gates of :func:`sim.telemetry._channel_pass.gate_channel` (clock offset, future stamp,
time order, duplicates, reorder buffer, release) look at the stamps only, never at the values:
channels of a wide table that read the same timestamp column with the same clock offset and
lateness take the same decisions and release the same samples in the same order.
:func:`time_pass` takes those decisions once per batch; :func:`value_pass` then runs, per
channel, the value gates, the SI conversion, stuck, spike and the gap check over the released
samples, in the same order as ``gate_channel`` would.  The result is identical to one
``gate_channel`` per channel (``tests/sim/telemetry/test_telemetry_shared_pass.py``).

A released sample is named by its *source*: ``i >= 0``, sample *i* of the current batch, or
``-(c + 1)``, entry *c* of the carry: the SI values and value codes, computed by each channel,
of the samples the reorder buffer held at the end of the previous batch (in buffer order).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.telemetry import _channel_pass as _cp
from sim.telemetry._channel_pass import _END, _NS_HIGH, _NS_LOW, _holds, _logged
from sim.telemetry._kernels import SPIKE, STUCK, stuck_spike_step
from sim.telemetry.gates import (DUPLICATE, FUTURE, MISSING, NAT, NON_FINITE, NON_MONOTONIC, OUT_OF_RANGE,
                                 UNPARSEABLE_TIME)
from sim.telemetry.gates import SPIKE as SPIKE_GATE
from sim.telemetry.gates import STUCK as STUCK_GATE

__all__ = ["TimeState", "time_pass", "value_pass"]

# Layout of TimeState.ints.
(_NEWEST, _FLOOR, _B_START, _B_END, _N_OUT, _LOG_POS, _LOG_SIZE, _N_LATE) = range(8)
# Layout of the channel's integer state (the same slots as _channel_pass.PassState.ints).
_LAST_GOOD, _RUN, _COUNT, _POS = _cp._LAST_GOOD, _cp._RUN, _cp._COUNT, _cp._POS
_N_GAPS, _ACCEPTED, _STALE, _N_BAD = _cp._N_GAPS, _cp._ACCEPTED, _cp._STALE, _cp._N_BAD


class TimeState:
    """State of :func:`time_pass` carried between batches (the time part of ``PassState``)."""

    def __init__(self, history: int = 1 << 16, capacity: int = 256):
        self.ints = np.zeros(8, dtype=np.int64)
        self.ints[[_NEWEST, _FLOOR]] = NAT
        self.log = np.zeros(max(history, 1), dtype=np.int64)
        # stamp, batch number, index in that batch, source (see the module)
        self.buffer = (np.empty(capacity, np.int64), np.empty(capacity, np.int64), np.empty(capacity, np.int64),
                       np.empty(capacity, np.int64))

    @property
    def pending(self) -> int:
        return int(self.ints[_B_END] - self.ints[_B_START])

    @property
    def held_refs(self) -> np.ndarray:
        return self.buffer[1][self.ints[_B_START]:self.ints[_B_END]]

    def held_sources(self) -> np.ndarray:
        """Sources of the held samples, in buffer order (a copy)."""
        return self.buffer[3][self.ints[_B_START]:self.ints[_B_END]].copy()

    def renumber(self) -> None:
        """Name the held samples by their carry entry (buffer order), for the next batch."""
        start, end = int(self.ints[_B_START]), int(self.ints[_B_END])
        self.buffer[3][start:end] = -np.arange(1, end - start + 1, dtype=np.int64)

    def grow(self) -> None:
        end = int(self.ints[_B_END])
        self.buffer = tuple(np.concatenate([a[:end], np.empty_like(a)]) for a in self.buffer)

    def released(self) -> tuple[int, int]:
        return int(self.ints[_N_OUT]), int(self.ints[_N_LATE])

    def reset_outputs(self) -> None:
        self.ints[[_N_OUT, _N_LATE]] = 0


@njit(cache=True, nogil=True)
def time_pass(stamps, time_codes, start, final, ref, offset_ns, limit_ns, lateness_ns, state_i, log,
              b_stamp, b_ref, b_index, b_src, time_index, time_code, newest_before, out_stamp, out_src, out_ref,
              out_index):
    """The time gates of ``gate_channel`` for samples ``start:`` of one batch; returns where it stopped
    (``len(stamps)``, or earlier when the reorder buffer is full: grow it and call again from there).

    Out, from ``state_i[_N_LATE]`` on: the samples the time gates reject (index, code, newest stamp
    before); from ``state_i[_N_OUT]`` on: the released samples in time order (stamp, source, batch
    number, index in that batch).
    """
    abs_offset = abs(offset_ns)
    newest, floor = state_i[_NEWEST], state_i[_FLOOR]
    b_start, b_end, k = state_i[_B_START], state_i[_B_END], state_i[_N_OUT]
    log_pos, log_size, n_late = state_i[_LOG_POS], state_i[_LOG_SIZE], state_i[_N_LATE]
    direct = lateness_ns == 0
    held = False
    d_stamp, d_index = NAT, 0
    capacity, history = b_stamp.shape[0], log.shape[0]
    n = stamps.shape[0]
    i = start
    while True:
        boundary = NAT
        last = False
        if i < n:
            if b_end == capacity:
                if b_start == 0:
                    break
                for j in range(b_start, b_end):
                    b_stamp[j - b_start], b_ref[j - b_start] = b_stamp[j], b_ref[j]
                    b_index[j - b_start], b_src[j - b_start] = b_index[j], b_src[j]
                b_end -= b_start
                b_start = 0
            code = time_codes[i]
            s = stamps[i]
            if code == 0 and offset_ns != 0:
                if s > _NS_LOW + abs_offset and s < _NS_HIGH - abs_offset:
                    s -= offset_ns
                else:
                    code = UNPARSEABLE_TIME
            if code == 0 and limit_ns != NAT and s > limit_ns:
                code = FUTURE
            if code == 0:
                accept = s > floor and (newest == NAT or s > newest - lateness_ns)
                if accept and b_end > b_start and s <= b_stamp[b_end - 1]:
                    accept = not _holds(b_stamp, b_start, b_end, s)
                if accept:
                    if direct and b_start == b_end:
                        held = True
                        d_stamp, d_index = s, i
                    else:
                        p = b_end
                        while p > b_start and b_stamp[p - 1] > s:
                            b_stamp[p], b_ref[p] = b_stamp[p - 1], b_ref[p - 1]
                            b_index[p], b_src[p] = b_index[p - 1], b_src[p - 1]
                            p -= 1
                        b_stamp[p], b_ref[p], b_index[p], b_src[p] = s, ref, i, i
                        b_end += 1
                elif _holds(b_stamp, b_start, b_end, s) or _logged(log, log_pos, log_size, s):
                    code = DUPLICATE
                else:
                    code = NON_MONOTONIC
                if s > newest:
                    newest = s
                boundary = newest - lateness_ns
            if code != 0:
                time_index[n_late], time_code[n_late], newest_before[n_late] = i, code, newest
                n_late += 1
            i += 1
        elif final:
            boundary, last = _END, True
        else:
            break
        while True:
            if b_start < b_end and b_stamp[b_start] <= boundary:
                s = b_stamp[b_start]
                out_src[k], out_ref[k], out_index[k] = b_src[b_start], b_ref[b_start], b_index[b_start]
                b_start += 1
            elif held:
                s = d_stamp
                out_src[k], out_ref[k], out_index[k] = d_index, ref, d_index
                held = False
            else:
                break
            out_stamp[k] = s
            k += 1
            floor = s
            log[log_pos] = s
            log_pos = log_pos + 1 if log_pos + 1 < history else 0
            log_size = min(log_size + 1, history)
        if b_start == b_end:
            b_start = b_end = 0
        if last:
            break
    state_i[_NEWEST], state_i[_FLOOR], state_i[_B_START], state_i[_B_END] = newest, floor, b_start, b_end
    state_i[_N_OUT], state_i[_LOG_POS], state_i[_LOG_SIZE], state_i[_N_LATE] = k, log_pos, log_size, n_late
    return i


@njit(cache=True, nogil=True, inline="always")
def _value(values, value_codes, valid_bits, bit_offset, i, own_codes, has_bits, has_range, low, high, scale,
           offset):
    """SI value and value code of sample *i* (as ``gate_channel`` decides them)."""
    x = values[i]
    v = 0 if own_codes else value_codes[i]
    if own_codes:
        bit = bit_offset + i
        if x != x or (has_bits and not (valid_bits[bit >> 3] >> (bit & 7)) & 1):
            v = MISSING
        elif abs(x) == np.inf:
            v = NON_FINITE
        elif has_range and (x < low or x > high):
            v = OUT_OF_RANGE
    si = scale * x + offset
    if v == 0 and abs(si) == np.inf:
        v = NON_FINITE
    return si, v


@njit(cache=True, nogil=True)
def value_pass(values, value_codes, valid_bits, bit_offset, rel_stamp, rel_src, held_src, carry_si, carry_code,
               settings_i, settings_f, state_i, state_f, ring, ordered, out_si, bad_pos, bad_code, gaps,
               new_carry_si, new_carry_code):
    """One channel's value gates, SI conversion, stuck, spike and gap check over the released samples
    *rel_stamp* / *rel_src* of :func:`time_pass`; then the carry of the samples still held (*held_src*).

    Out: ``out_si`` (NaN where quarantined), from ``state_i[_N_BAD]`` on the rejected positions and
    codes, from ``state_i[_N_GAPS]`` on the gaps, ``new_carry_si`` / ``new_carry_code``.
    """
    gap_ns, stuck_samples, window = settings_i[3], settings_i[4], settings_i[5]
    scale, offset, low, high = settings_f[0], settings_f[1], settings_f[2], settings_f[3]
    stuck_tolerance, threshold, min_deviation = settings_f[4], settings_f[5], settings_f[6]
    has_range = low == low
    own_codes = value_codes.shape[0] == 0
    has_bits = valid_bits.shape[0] > 0
    sequential = stuck_samples > 0 or window > 0
    last_good, run_length, count, pos = state_i[_LAST_GOOD], state_i[_RUN], state_i[_COUNT], state_i[_POS]
    stale, n_gaps, accepted, n_bad = state_i[_STALE] != 0, state_i[_N_GAPS], state_i[_ACCEPTED], state_i[_N_BAD]
    first = state_f[0]
    for k in range(rel_src.shape[0]):
        src = rel_src[k]
        if src >= 0:
            si, v = _value(values, value_codes, valid_bits, bit_offset, src, own_codes, has_bits, has_range, low,
                           high, scale, offset)
        else:
            si, v = carry_si[-src - 1], carry_code[-src - 1]
        if v == 0 and sequential:
            flag, run_length, count, pos, first, stale = stuck_spike_step(
                si, stuck_samples, stuck_tolerance, window, threshold, min_deviation, ring, ordered,
                run_length, count, pos, first, stale)
            if flag == STUCK:
                v = STUCK_GATE
            elif flag == SPIKE:
                v = SPIKE_GATE
        if v == 0:
            s = rel_stamp[k]
            if gap_ns >= 0 and last_good != NAT and s - last_good > gap_ns:
                gaps[n_gaps, 0], gaps[n_gaps, 1] = last_good, s
                n_gaps += 1
            last_good = s
            accepted += 1
            out_si[k] = si
        else:
            out_si[k] = np.nan
            bad_pos[n_bad], bad_code[n_bad] = k, v
            n_bad += 1
    for j in range(held_src.shape[0]):
        src = held_src[j]
        if src >= 0:
            new_carry_si[j], new_carry_code[j] = _value(values, value_codes, valid_bits, bit_offset, src, own_codes,
                                                        has_bits, has_range, low, high, scale, offset)
        else:
            new_carry_si[j], new_carry_code[j] = carry_si[-src - 1], carry_code[-src - 1]
    state_i[_LAST_GOOD], state_i[_RUN], state_i[_COUNT], state_i[_POS] = last_good, run_length, count, pos
    state_i[_STALE], state_i[_N_GAPS], state_i[_ACCEPTED], state_i[_N_BAD] = stale, n_gaps, accepted, n_bad
    state_f[0] = first
