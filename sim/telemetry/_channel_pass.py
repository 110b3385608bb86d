"""One compiled pass over the samples of one channel: every per-sample gate in arrival order.

For each sample of a batch, in arrival order: clock offset, future stamp, time order
(duplicates, late samples, reorder buffer), value gates (missing, non-finite, range),
conversion to SI as ``scale * x + offset``; each sample the reorder buffer releases
then passes the stuck and spike checks and the gap check, in time order.  With lateness 0
an in-order sample is released at once, without passing through the buffer.  Only the
rejected samples are written to the entry outputs (compact lists), so that a clean batch
touches no memory but the released stamps and values.

Pure function on arrays (STYLE rule 5): the state carried from one batch to the next
lives in :class:`PassState`'s arrays, which the caller owns, so a file read in chunks
gives the same result as one long array.  ``tests/sim/telemetry/reference_gates.py``
holds the vectorized reference the tests compare it with.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from sim.telemetry._kernels import SPIKE, STUCK, new_state, stuck_spike_step
from sim.telemetry.gates import (DUPLICATE, FUTURE, MISSING, NAT, NON_FINITE, NON_MONOTONIC, OUT_OF_RANGE,
                                 UNPARSEABLE_TIME)
from sim.telemetry.gates import SPIKE as SPIKE_GATE
from sim.telemetry.gates import STUCK as STUCK_GATE

__all__ = ["PassState", "gate_channel", "SETTINGS_I", "SETTINGS_F"]

_NS_LOW, _NS_HIGH = int(pd.Timestamp.min.value), int(pd.Timestamp.max.value)  # [ns]
_END = np.iinfo(np.int64).max  # release boundary at the end of the source
#: Layout of the integer settings: clock offset, latest acceptable stamp (NAT: none), lateness,
#: gap limit (-1: none) [ns]; stuck run, spike window [samples].
SETTINGS_I = ("offset_ns", "limit_ns", "lateness_ns", "gap_ns", "stuck_samples", "window")
#: Layout of the float settings: scale, offset, range low, range high (NaN: none) [unit]; stuck tolerance,
#: spike threshold, spike minimum deviation [SI unit].
SETTINGS_F = ("scale", "offset", "low", "high", "stuck_tolerance", "threshold", "min_deviation")
# Layout of the integer state.
(_NEWEST, _FLOOR, _LAST_GOOD, _RUN, _COUNT, _POS, _B_START, _B_END, _N_OUT, _N_GAPS, _LOG_POS, _LOG_SIZE,
 _ACCEPTED, _STALE, _N_LATE, _N_BAD) = range(16)


class PassState:
    """State of :func:`gate_channel` carried between batches (arrays the kernel updates in place).

    Parameters
    ----------
    window : int
        Spike window [samples].
    history : int
        Released stamps remembered to tell a duplicate from a late sample.
    capacity : int
        Initial room of the reorder buffer; :meth:`grow` doubles it.
    """

    def __init__(self, window: int, history: int = 1 << 16, capacity: int = 256):
        self.ints = np.zeros(16, dtype=np.int64)
        self.ints[[_NEWEST, _FLOOR, _LAST_GOOD]] = NAT
        self.floats = np.zeros(1)  # first value of the stuck run [SI unit]
        _, _, self.ring, self.ordered = new_state(window)
        self.log = np.zeros(max(history, 1), dtype=np.int64)
        self.buffer = (np.empty(capacity, np.int64), np.empty(capacity), np.empty(capacity, np.int8),
                       np.empty(capacity, np.int64), np.empty(capacity, np.int64))

    @property
    def pending(self) -> int:
        """Samples held in the reorder buffer."""
        return int(self.ints[_B_END] - self.ints[_B_START])

    @property
    def accepted(self) -> int:
        return int(self.ints[_ACCEPTED])

    @property
    def held_refs(self) -> np.ndarray:
        """Batch numbers of the samples held in the reorder buffer."""
        return self.buffer[3][self.ints[_B_START]:self.ints[_B_END]]

    def grow(self) -> None:
        end = int(self.ints[_B_END])
        self.buffer = tuple(np.concatenate([a[:end], np.empty_like(a)]) for a in self.buffer)

    def released(self) -> tuple[int, int, int, int]:
        """Entries written to the outputs since :meth:`reset_outputs`: released samples, gaps, samples
        rejected by the time gates, released samples rejected by the value gates."""
        return tuple(int(self.ints[j]) for j in (_N_OUT, _N_GAPS, _N_LATE, _N_BAD))

    def reset_outputs(self) -> None:
        self.ints[[_N_OUT, _N_GAPS, _N_LATE, _N_BAD]] = 0


@njit(cache=True, nogil=True, inline="always")
def _holds(stamps, start, end, s):
    """Whether the sorted ``stamps[start:end]`` holds *s*."""
    lo, hi = start, end
    while lo < hi:
        mid = (lo + hi) // 2
        if stamps[mid] < s:
            lo = mid + 1
        else:
            hi = mid
    return lo < end and stamps[lo] == s


@njit(cache=True, nogil=True, inline="always")
def _logged(log, pos, size, s):
    """Whether the ring *log* (its last *size* entries before *pos*, increasing) holds *s*."""
    cap = log.shape[0]
    lo, hi = 0, size
    while lo < hi:
        mid = (lo + hi) // 2
        if log[(pos - size + mid) % cap] < s:
            lo = mid + 1
        else:
            hi = mid
    return lo < size and log[(pos - size + lo) % cap] == s


@njit(cache=True, nogil=True)
def gate_channel(stamps, time_codes, values, value_codes, valid_bits, bit_offset, start, final, ref, settings_i,
                 settings_f,
                 state_i, state_f, ring, ordered, log, b_stamp, b_si, b_code, b_ref, b_index,
                 time_index, time_code, newest_before, out_stamp, out_si, bad_pos, bad_code, bad_ref, bad_index,
                 gaps):
    """Gate samples ``start:`` of one batch; returns where it stopped (``len(stamps)``, or earlier when
    the reorder buffer is full: grow it and call again from there).

    Parameters
    ----------
    stamps : int64[n]
        Stamps in arrival order [UTC ns], ``NAT`` where unparseable.
    time_codes : int8[n]
        0 or the gate code the source decided (such samples skip the time order).
    values : float64[n]
        Values in the source unit [unit].
    value_codes : int8[n] or int8[0]
        Value-gate codes decided by the source; empty: the kernel applies missing (NaN),
        non_finite (infinity) and out_of_range itself.
    valid_bits : uint8[m] or uint8[0]
        Arrow validity bitmap of *values* (bit ``bit_offset + i`` clear: a null, ``missing``);
        empty: no nulls.
    bit_offset : int
        Position of sample 0 in *valid_bits*.
    start : int
        First sample to gate.
    final : bool
        Release the whole reorder buffer at the end (end of the source).
    ref : int
        Batch number stored with buffered samples.
    settings_i, settings_f : int64[6], float64[7]
        See ``SETTINGS_I`` and ``SETTINGS_F``.
    state_i, state_f, ring, ordered, log, b_stamp, b_si, b_code, b_ref, b_index
        :class:`PassState` arrays, updated in place.
    time_index, time_code, newest_before : int64[n], int8[n], int64[n]
        Out, from ``state_i[_N_LATE]`` on, for each sample the time gates reject (in arrival order):
        its index, the gate code and the newest stamp seen before it [UTC ns].
    out_stamp, out_si : int64, float64 arrays of room ``pending + n``
        Out, from ``state_i[_N_OUT]`` on: released samples in time order: stamp [UTC ns], SI value
        (NaN where quarantined) [SI unit].
    bad_pos, bad_code, bad_ref, bad_index : arrays of room ``pending + n``
        Out, from ``state_i[_N_BAD]`` on, for each released sample a value gate rejects: its position
        in *out_stamp*, the gate code, its batch number and its index in that batch.
    gaps : int64[room, 2]
        Out, from ``state_i[_N_GAPS]`` on: (last accepted before, first accepted after) [UTC ns].
    """
    offset_ns, limit_ns, lateness_ns, gap_ns = settings_i[0], settings_i[1], settings_i[2], settings_i[3]
    stuck_samples, window = settings_i[4], settings_i[5]
    scale, offset, low, high = settings_f[0], settings_f[1], settings_f[2], settings_f[3]
    stuck_tolerance, threshold, min_deviation = settings_f[4], settings_f[5], settings_f[6]
    has_range = low == low
    own_codes = value_codes.shape[0] == 0
    has_bits = valid_bits.shape[0] > 0
    sequential = stuck_samples > 0 or window > 0
    abs_offset = abs(offset_ns)
    newest, floor, last_good = state_i[_NEWEST], state_i[_FLOOR], state_i[_LAST_GOOD]
    run_length, count, pos, stale = state_i[_RUN], state_i[_COUNT], state_i[_POS], state_i[_STALE] != 0
    b_start, b_end, k, n_gaps = state_i[_B_START], state_i[_B_END], state_i[_N_OUT], state_i[_N_GAPS]
    log_pos, log_size, accepted = state_i[_LOG_POS], state_i[_LOG_SIZE], state_i[_ACCEPTED]
    n_late, n_bad = state_i[_N_LATE], state_i[_N_BAD]
    direct = lateness_ns == 0  # in-order samples then leave at once: no reorder buffer work
    held = False  # a sample that skips the buffer waits in d_* for step 2
    d_stamp, d_si, d_code, d_index = NAT, 0.0, 0, 0
    first = state_f[0]
    capacity, history = b_stamp.shape[0], log.shape[0]
    n = stamps.shape[0]
    i = start
    while True:
        # -- 1. next sample: time gates, value gates, into the reorder buffer -------------------------
        boundary = NAT
        last = False
        if i < n:
            if b_end == capacity:
                if b_start == 0:
                    break  # full: the caller grows the buffer
                for j in range(b_start, b_end):  # compact
                    b_stamp[j - b_start], b_si[j - b_start], b_code[j - b_start] = b_stamp[j], b_si[j], b_code[j]
                    b_ref[j - b_start], b_index[j - b_start] = b_ref[j], b_index[j]
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
                        v = NON_FINITE  # overflow in the conversion
                    if direct and b_start == b_end:
                        # lateness 0 and nothing held: the sample is the newest and leaves at once (step 2)
                        held = True
                        d_stamp, d_si, d_code, d_index = s, si, v, i
                    else:
                        p = b_end
                        while p > b_start and b_stamp[p - 1] > s:  # late samples are few and close to the end
                            b_stamp[p], b_si[p], b_code[p] = b_stamp[p - 1], b_si[p - 1], b_code[p - 1]
                            b_ref[p], b_index[p] = b_ref[p - 1], b_index[p - 1]
                            p -= 1
                        b_stamp[p], b_si[p], b_code[p], b_ref[p], b_index[p] = s, si, v, ref, i
                        b_end += 1
                elif _holds(b_stamp, b_start, b_end, s) or _logged(log, log_pos, log_size, s):
                    code = DUPLICATE
                else:
                    code = NON_MONOTONIC
                if s > newest:
                    newest = s
                boundary = newest - lateness_ns
            if code != 0:
                time_index[n_late], time_code[n_late], newest_before[n_late] = i, code, newest  # never raised
                n_late += 1
            i += 1
        elif final:
            boundary, last = _END, True
        else:
            break
        # -- 2. release what no sample may precede any more: stuck, spike, gaps -----------------------
        while True:
            if b_start < b_end and b_stamp[b_start] <= boundary:
                s, si, v = b_stamp[b_start], b_si[b_start], b_code[b_start]
                s_ref, s_index = b_ref[b_start], b_index[b_start]
                b_start += 1
            elif held:  # (the buffer is empty: lateness 0 releases everything up to the newest stamp)
                s, si, v, s_ref, s_index = d_stamp, d_si, d_code, ref, d_index
                held = False
            else:
                break
            if v == 0 and sequential:
                flag, run_length, count, pos, first, stale = stuck_spike_step(
                    si, stuck_samples, stuck_tolerance, window, threshold, min_deviation, ring, ordered,
                    run_length, count, pos, first, stale)
                if flag == STUCK:
                    v = STUCK_GATE
                elif flag == SPIKE:
                    v = SPIKE_GATE
            if v == 0:
                if gap_ns >= 0 and last_good != NAT and s - last_good > gap_ns:
                    gaps[n_gaps, 0], gaps[n_gaps, 1] = last_good, s
                    n_gaps += 1
                last_good = s
                accepted += 1
                out_si[k] = si
            else:
                out_si[k] = np.nan
                bad_pos[n_bad], bad_code[n_bad], bad_ref[n_bad], bad_index[n_bad] = k, v, s_ref, s_index
                n_bad += 1
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
    state_i[_NEWEST], state_i[_FLOOR], state_i[_LAST_GOOD] = newest, floor, last_good
    state_i[_RUN], state_i[_COUNT], state_i[_POS], state_i[_STALE] = run_length, count, pos, stale
    state_i[_B_START], state_i[_B_END], state_i[_N_OUT], state_i[_N_GAPS] = b_start, b_end, k, n_gaps
    state_i[_LOG_POS], state_i[_LOG_SIZE], state_i[_ACCEPTED] = log_pos, log_size, accepted
    state_i[_N_LATE], state_i[_N_BAD] = n_late, n_bad
    state_f[0] = first
    return i
