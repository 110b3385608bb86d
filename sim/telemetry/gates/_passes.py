"""The compiled passes of the gates: the time order of a batch, then one value pass per channel.

For each batch of a channel's samples:

1. :func:`time_pass` (the stamps only) takes, in arrival order, the clock offset, the future
   stamp, the time order (duplicates, late samples) and the reorder buffer, and releases the
   samples no later sample may precede any more, in time order;
2. :func:`value_pass` takes the released samples, in time order, through the value gates
   (missing, non-finite, range), the conversion to SI (``scale * x + offset``), the stuck and
   spike checks and the gap check.

The time pass never looks at values: the channels of a wide table that read the same timestamp
column with the same clock offset and lateness take the same decisions, so a table runs it once
per batch for all of them (:class:`TimeOrder`); a channel of its own (a long table, a live feed)
runs it for itself.  Only the rejected samples are written to the entry outputs (compact lists),
so a clean batch touches no memory but the released stamps and values.

A released sample is named by its *source*: ``i >= 0``, sample *i* of the current batch, or
``-(c + 1)``, entry *c* of the carry: the SI values and value codes, computed by each channel,
of the samples the reorder buffer held at the end of the previous batch (in buffer order).

Pure functions on arrays (STYLE rule 5): the state carried from one batch to the next lives in
:class:`TimeState` and :class:`ValueState`, whose arrays the caller owns, so a file read in
chunks gives the same result as one long array.  ``tests/sim/telemetry/reference_gates.py``
holds the vectorized reference the tests compare with, ``tests/sim/telemetry/naive.py`` the
plain stuck and spike rules.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from sim.telemetry.gates._kernels import MAD_TO_SIGMA, median_and_mad, replace_in_window, sort_window
from sim.telemetry.gates import (DUPLICATE, FUTURE, MISSING, NAT, NON_FINITE, NON_MONOTONIC, OUT_OF_RANGE,
                                 UNPARSEABLE_TIME)
from sim.telemetry.gates import SPIKE as SPIKE_GATE
from sim.telemetry.gates import STUCK as STUCK_GATE

__all__ = ["SETTINGS_I", "SETTINGS_F", "TimeState", "TimeOrder", "Released", "ValueState", "time_pass",
           "value_pass", "stuck_and_spike_flags"]

_NS_LOW, _NS_HIGH = int(pd.Timestamp.min.value), int(pd.Timestamp.max.value)  # [ns]
_END = np.iinfo(np.int64).max  # release boundary at the end of the source
#: Layout of a channel's integer settings: clock offset, lateness, gap limit (-1: none) [ns]; stuck run,
#: spike window [samples].
SETTINGS_I = ("offset_ns", "lateness_ns", "gap_ns", "stuck_samples", "window")
#: Layout of the float settings: scale, offset, range low, range high (NaN: none) [unit]; stuck tolerance,
#: spike threshold, spike minimum deviation [SI unit].
SETTINGS_F = ("scale", "offset", "low", "high", "stuck_tolerance", "threshold", "min_deviation")

# Layout of TimeState.ints.
(_NEWEST, _FLOOR, _B_START, _B_END, _N_OUT, _LOG_POS, _LOG_SIZE, _N_LATE) = range(8)
# Layout of ValueState.ints and ValueState.floats.
(_LAST_GOOD, _RUN, _COUNT, _POS, _STALE, _N_GAPS, _ACCEPTED, _N_BAD) = range(8)
(_FIRST, _PASS_LOW, _PASS_HIGH, _PREVIOUS) = range(4)


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


class TimeState:
    """State of :func:`time_pass` carried between batches.

    Parameters
    ----------
    history : int
        Released stamps remembered to tell a duplicate from a late sample.
    capacity : int
        Initial room of the reorder buffer; :meth:`grow` doubles it.
    """

    def __init__(self, history: int = 1 << 16, capacity: int = 256):
        self.ints = np.zeros(8, dtype=np.int64)
        self.ints[[_NEWEST, _FLOOR]] = NAT
        self.log = np.zeros(max(history, 1), dtype=np.int64)
        # stamp, batch number, index in that batch, source (see the module)
        self.buffer = (np.empty(capacity, np.int64), np.empty(capacity, np.int64), np.empty(capacity, np.int64),
                       np.empty(capacity, np.int64))

    @property
    def pending(self) -> int:
        """Samples held in the reorder buffer."""
        return int(self.ints[_B_END] - self.ints[_B_START])

    @property
    def held_refs(self) -> np.ndarray:
        """Batch numbers of the held samples."""
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


class Released:
    """What :func:`time_pass` decided for one batch (arrays valid until the batch after the next).

    Attributes: ``ref`` (the batch number), the released samples in time order (``stamps``,
    ``src``, batch numbers ``refs``, ``index`` in their batch), the samples the time gates
    rejected (``time_index``, ``time_code``, ``newest_before``) and the samples still held
    (``held_src``, ``held_refs``).
    """

    __slots__ = ("ref", "stamps", "src", "refs", "index", "time_index", "time_code", "newest_before", "held_src",
                 "held_refs")


class TimeOrder:
    """The time order of one channel, or of the channels of a wide table that share clock offset and lateness.

    Parameters
    ----------
    offset_ns, lateness_ns : int
        Clock offset and allowed lateness [ns].
    history : int
        Released stamps remembered to tell a duplicate from a late sample.
    """

    def __init__(self, offset_ns: int, lateness_ns: int, history: int):
        self.offset_ns, self.lateness_ns = offset_ns, lateness_ns
        self.state = TimeState(history)
        # two sets of work arrays, used in turn: a batch's Released stays valid while the next batch's time
        # order is decided (TableGates overlaps the two)
        self._work: list[tuple[np.ndarray, ...] | None] = [None, None]
        self._turn = 0

    @property
    def pending(self) -> int:
        return self.state.pending

    def run(self, stamps: np.ndarray, time_codes: np.ndarray, ref: int, limit: int | None, *, final: bool
            ) -> Released:
        """Take one batch (*ref*: its number) through the time gates; *limit*: the latest acceptable stamp
        [UTC ns] or None; *final*: release everything held (end of the source)."""
        st = self.state
        stamps = np.ascontiguousarray(stamps, dtype=np.int64)
        time_codes = np.ascontiguousarray(time_codes, dtype=np.int8)
        n = stamps.size
        room = st.pending + n
        self._turn = turn = 1 - self._turn
        work = self._work[turn]
        if work is None or work[0].size < n or work[3].size < room:
            # kept from batch to batch: fresh memory costs a page fault per 4 KiB
            size, size_out = max(n, 1024), max(room + room // 8, 1024)
            work = self._work[turn] = (np.empty(size, np.int64), np.empty(size, np.int8), np.empty(size, np.int64),
                                       *(np.empty(size_out, np.int64) for _ in range(4)))
        time_index, time_code, newest_before = (a[:n] for a in work[:3])
        out = tuple(a[:room] for a in work[3:])
        st.reset_outputs()
        done = 0
        while True:
            done = time_pass(stamps, time_codes, done, final, ref, self.offset_ns, NAT if limit is None else limit,
                             self.lateness_ns, st.ints, st.log, *st.buffer, time_index, time_code, newest_before,
                             *out)
            if done == n:
                break
            st.grow()
        k, n_late = st.released()
        r = Released()
        r.ref = ref
        r.stamps, r.src, r.refs, r.index = (a[:k] for a in out)
        r.time_index, r.time_code, r.newest_before = time_index[:n_late], time_code[:n_late], newest_before[:n_late]
        r.held_src, r.held_refs = st.held_sources(), st.held_refs.copy()
        st.renumber()
        return r


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


class ValueState:
    """State of :func:`value_pass` carried between batches, for one channel.

    ``window`` holds the spike window's four rows: the last *window* values in a ring, their
    sorted copy, and the suffix minima and maxima of the ring's last complete pass.
    """

    def __init__(self, window: int):
        self.ints = np.zeros(8, dtype=np.int64)
        self.ints[_LAST_GOOD] = NAT
        self.floats = np.array([0.0, np.inf, -np.inf, np.nan])
        self.window = np.zeros((4, max(window, 1)))

    @property
    def accepted(self) -> int:
        return int(self.ints[_ACCEPTED])

    def released(self) -> tuple[int, int]:
        """Gaps and rejected released samples written since :meth:`reset_outputs`."""
        return int(self.ints[_N_GAPS]), int(self.ints[_N_BAD])

    def reset_outputs(self) -> None:
        self.ints[[_N_GAPS, _N_BAD]] = 0


@njit(cache=True, nogil=True)
def value_pass(values, value_codes, valid_bits, bit_offset, rel_stamp, rel_src, carry_si, carry_code, settings_i,
               settings_f, state_i, state_f, window_state, out_si, bad_pos, bad_code, gaps, values_only):
    """One channel's value gates, SI conversion, stuck, spike and gap check over the released samples
    *rel_stamp* / *rel_src* of :func:`time_pass`; with *values_only*, only the value gates and SI
    conversion of the samples *rel_src* (for the carry of the held samples: ``out_si`` and ``bad_code``
    get every sample's SI value and code, the state is left as it is).

    Parameters
    ----------
    values : float64[n]
        The batch's values in the source unit [unit].
    value_codes : int8[n] or int8[0]
        Value-gate codes decided by the source; empty: the pass applies missing (NaN),
        non_finite (infinity) and out_of_range itself.
    valid_bits : uint8[m] or uint8[0]
        Arrow validity bitmap of *values* (bit ``bit_offset + i`` clear: a null, ``missing``);
        empty: no nulls.
    rel_stamp, rel_src : int64[k]
        Released samples in time order: stamp [UTC ns] and source (see the module).
    carry_si, carry_code
        SI values and codes of the previous carry.
    settings_i, settings_f : int64[5], float64[7]
        See ``SETTINGS_I`` and ``SETTINGS_F``.
    state_i, state_f, window_state
        :class:`ValueState` arrays, updated in place.
    out_si : float64[>= k]
        Out: SI values of the released samples, NaN where quarantined [SI unit].
    bad_pos, bad_code : int64, int8 arrays of room k
        Out, from ``state_i[_N_BAD]`` on: position in the released samples and gate code of each
        rejected one.
    gaps : int64[room, 2]
        Out, from ``state_i[_N_GAPS]`` on: (last accepted before, first accepted after) [UTC ns].
    values_only : bool
        See above.

    Notes
    -----
    The spike check is a trailing Hampel filter that respects steps and ramps: a value is a spike when
    it is further than ``tol = max(threshold * 1.4826 * MAD, min_deviation)`` from the median of the
    *window* values before it (spikes and stuck values included; values a value gate rejected are not)
    AND further than ``tol`` from the value just before it.  A ramp (each value close to the previous)
    is never a spike; a genuine step loses only its first value (no look-ahead: a live value is judged
    when it arrives), the next one continues from it; an isolated spike is caught, and the value after
    it is judged against the window, not against the spike.
    The median is needed only where some value of the window lies further than
    ``min_deviation`` from the new one: the window's minimum and maximum decide that in O(1)
    (van Herk / Gil-Werman: the ring's previous pass by its suffix extremes, the current pass by
    running ones).  Elsewhere the sorted copy is left stale and rebuilt from the ring when needed.
    The loop is written out in one body (no helper calls): numba keeps its state in registers that
    way, about twice as fast.
    """
    gap_ns, stuck_samples, window = settings_i[2], settings_i[3], settings_i[4]
    scale, offset, low, high = settings_f[0], settings_f[1], settings_f[2], settings_f[3]
    tolerance, threshold, min_deviation = settings_f[4], settings_f[5], settings_f[6]
    own_codes = value_codes.shape[0] == 0
    has_bits = valid_bits.shape[0] > 0
    ring, ordered, suffix_low, suffix_high = window_state[0], window_state[1], window_state[2], window_state[3]
    last_good, run_length, count, pos = state_i[_LAST_GOOD], state_i[_RUN], state_i[_COUNT], state_i[_POS]
    stale, n_gaps, accepted, n_bad = state_i[_STALE] != 0, state_i[_N_GAPS], state_i[_ACCEPTED], state_i[_N_BAD]
    first, pass_low, pass_high = state_f[_FIRST], state_f[_PASS_LOW], state_f[_PASS_HIGH]
    previous = state_f[_PREVIOUS]
    for k in range(rel_src.shape[0]):
        src = rel_src[k]
        if src >= 0:  # the value gates
            x = values[src]
            v = 0 if own_codes else value_codes[src]
            if own_codes:
                bit = bit_offset + src
                if x != x or (has_bits and not (valid_bits[bit >> 3] >> (bit & 7)) & 1):
                    v = MISSING
                elif abs(x) == np.inf:
                    v = NON_FINITE
                elif x < low or x > high:
                    v = OUT_OF_RANGE
            x = scale * x + offset
            if v == 0 and abs(x) == np.inf:
                v = NON_FINITE  # overflow in the conversion
        else:
            x, v = carry_si[-src - 1], carry_code[-src - 1]
        if values_only:  # (loop-invariant: compiled out of the loop)
            out_si[k], bad_code[k] = x, v
            continue
        if v == 0 and window > 0:
            if count == window:  # the window is full: is a spike possible?
                w_low, w_high = suffix_low[pos], suffix_high[pos]
                w_low = w_low if w_low < pass_low else pass_low
                w_high = w_high if w_high > pass_high else pass_high
                if x - w_low > min_deviation or w_high - x > min_deviation:
                    if stale:
                        sort_window(ring, ordered, window)
                        stale = False
                    deviation = abs(x - 0.5 * (ordered[(window - 1) // 2] + ordered[window // 2]))
                    if deviation > min_deviation:  # only then is the MAD needed
                        median, mad = median_and_mad(ordered, window)
                        limit = threshold * MAD_TO_SIGMA * mad
                        if deviation > limit and not abs(x - previous) <= max(limit, min_deviation):
                            v = SPIKE_GATE  # (a NaN previous - none yet - never excuses a jump)
                else:
                    stale = True
            previous = x
            if not stale:
                count = replace_in_window(ordered, count, ring[pos], x, count == window)
            ring[pos] = x
            pass_low = x if x < pass_low else pass_low
            pass_high = x if x > pass_high else pass_high
            pos += 1
            if pos == window:  # a pass of the ring is complete: its suffix extremes
                pos = 0
                w_low = w_high = ring[window - 1]
                suffix_low[window - 1], suffix_high[window - 1] = w_low, w_high
                for j in range(window - 2, -1, -1):
                    y = ring[j]
                    w_low = y if y < w_low else w_low
                    w_high = y if y > w_high else w_high
                    suffix_low[j], suffix_high[j] = w_low, w_high
                pass_low, pass_high = np.inf, -np.inf
        if v == 0 and stuck_samples > 0:
            if run_length > 0 and abs(x - first) <= tolerance:
                run_length += 1
            else:
                first = x
                run_length = 1
            if run_length > stuck_samples:
                v = STUCK_GATE
        if v == 0:
            s = rel_stamp[k]
            if gap_ns >= 0 and last_good != NAT and s - last_good > gap_ns:
                gaps[n_gaps, 0], gaps[n_gaps, 1] = last_good, s
                n_gaps += 1
            last_good = s
            accepted += 1
            out_si[k] = x
        else:
            out_si[k] = np.nan
            bad_pos[n_bad], bad_code[n_bad] = k, v
            n_bad += 1
    state_i[_LAST_GOOD], state_i[_RUN], state_i[_COUNT], state_i[_POS] = last_good, run_length, count, pos
    state_i[_STALE], state_i[_N_GAPS], state_i[_ACCEPTED], state_i[_N_BAD] = stale, n_gaps, accepted, n_bad
    state_f[_FIRST], state_f[_PASS_LOW], state_f[_PASS_HIGH], state_f[_PREVIOUS] = first, pass_low, pass_high, previous


_NO_BITS = np.empty(0, dtype=np.uint8)


def stuck_and_spike_flags(values: np.ndarray, ok: np.ndarray, stuck_samples: int, stuck_tolerance: float,
                          window: int, threshold: float, min_deviation: float, state: ValueState) -> np.ndarray:
    """The stuck and spike checks of :func:`value_pass` alone, over time-ordered *values* (SI).

    Returns int8 flags: 0 (ok, or not *ok*), 1 (stuck), 2 (spike); *state* carries the window and
    the run to the next call.  (For tests against the plain rules of ``tests/sim/telemetry/naive.py``.)
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    n = values.size
    codes = np.where(np.asarray(ok, dtype=bool), 0, MISSING).astype(np.int8)
    settings_i = np.array([0, 0, -1, stuck_samples, window], dtype=np.int64)
    settings_f = np.array([1.0, 0.0, np.nan, np.nan, stuck_tolerance, threshold, min_deviation])
    index = np.arange(n, dtype=np.int64)
    bad_pos, bad_code = np.empty(n, np.int64), np.empty(n, np.int8)
    state.reset_outputs()
    value_pass(values, codes, _NO_BITS, 0, index, index, np.empty(0), np.empty(0, np.int8), settings_i, settings_f,
               state.ints, state.floats, state.window, np.empty(n), bad_pos, bad_code, np.empty((0, 2), np.int64),
               False)
    _, n_bad = state.released()
    flags = np.zeros(n, dtype=np.int8)
    pos, code = bad_pos[:n_bad], bad_code[:n_bad]
    flags[pos[code == STUCK_GATE]] = 1
    flags[pos[code == SPIKE_GATE]] = 2
    return flags
