"""Numba kernels of the sequential gates: stuck-sensor runs and Hampel spikes.

Pure functions on arrays (STYLE rule 5): the state carried from one batch to the
next lives in small arrays that the caller owns and passes in, so a file read in
chunks and a live feed read in batches give the same flags as one long array.
The slow reference is ``tests/sim/telemetry/naive.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["OK", "STUCK", "SPIKE", "MAD_TO_SIGMA", "new_state", "stuck_and_spike_flags", "stuck_spike_step"]

OK, STUCK, SPIKE = 0, 1, 2
#: 1 / Phi^-1(3/4): scales the median absolute deviation to a standard deviation for normal data.
MAD_TO_SIGMA = 1.4826


def new_state(window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fresh kernel state: ``(counters, run_value, ring, ordered)`` for a spike window of *window*."""
    size = max(window, 1)
    return np.zeros(4, dtype=np.int64), np.zeros(1), np.zeros(size), np.zeros(size)


@njit(cache=True, nogil=True, inline="always")
def _median_and_mad(ordered, n):
    """Median and median absolute deviation of the sorted ``ordered[:n]``."""
    lo, hi = (n - 1) // 2, n // 2
    median = 0.5 * (ordered[lo] + ordered[hi])
    # Deviations below the median (walking left from position n//2 - 1) and above it
    # (walking right from n//2) are two increasing sequences: merge them up to rank n//2.
    left, right = n // 2 - 1, n // 2
    d_lo = 0.0
    d = 0.0
    for rank in range(hi + 1):
        if left >= 0 and (right >= n or median - ordered[left] <= ordered[right] - median):
            d = median - ordered[left]
            left -= 1
        else:
            d = ordered[right] - median
            right += 1
        if rank == lo:
            d_lo = d
    return median, 0.5 * (d_lo + d)


@njit(cache=True, nogil=True, inline="always")
def _bisect(ordered, n, x, right):
    """First index of the sorted ``ordered[:n]`` whose value is >= *x* (> *x* when *right*), n >= 1."""
    # branch-free binary search: window values arrive in random order, so a branchy search mispredicts
    base, length = 0, n
    while length > 1:
        half = length // 2
        v = ordered[base + half - 1]
        base += half * ((v < x) | (right & (v == x)))
        length -= half
    v = ordered[base]
    return base + ((v < x) | (right & (v == x)))


@njit(cache=True, nogil=True, inline="always")
def _replace_in_window(ordered, n, old, new, full):
    """Remove *old* (when *full*) and insert *new* into the sorted ``ordered[:n]``; returns the new size."""
    p = _bisect(ordered, n, new, True) if n > 0 else 0
    if not full:
        for j in range(n, p, -1):
            ordered[j] = ordered[j - 1]
        ordered[p] = new
        return n + 1
    d = _bisect(ordered, n, old, False)  # old is in the window: ordered[d] == old
    if p > d:  # shift the values between left by one, new goes just before p
        for j in range(d, p - 1):
            ordered[j] = ordered[j + 1]
        ordered[p - 1] = new
    else:
        for j in range(d, p, -1):
            ordered[j] = ordered[j - 1]
        ordered[p] = new
    return n


@njit(cache=True, nogil=True, inline="always")
def _sort_window(ring, ordered, n):
    """``ordered[:n]`` = the values of ``ring[:n]``, sorted (insertion sort: n is small)."""
    for j in range(n):
        x = ring[j]
        k = j
        while k > 0 and ordered[k - 1] > x:
            ordered[k] = ordered[k - 1]
            k -= 1
        ordered[k] = x


@njit(cache=True, nogil=True, inline="always")
def stuck_spike_step(x, stuck_samples, stuck_tolerance, window, threshold, min_deviation, ring, ordered,
                     run_length, count, pos, first, stale):
    """One value through the Hampel window and the stuck run.

    Returns ``(flag, run_length, count, pos, first, stale)``.  While the full window's
    range keeps every value within *min_deviation* of *x*, no spike is possible and the
    sorted copy is not kept up to date (*stale*); it is rebuilt from the ring when needed.
    """
    flag = OK
    if window > 0:
        if count == window:
            low = high = ring[0]
            for j in range(1, window):
                low = min(low, ring[j])
                high = max(high, ring[j])
            if x - low > min_deviation or high - x > min_deviation:  # |x - median| may exceed min_deviation
                if stale:
                    _sort_window(ring, ordered, window)
                    stale = False
                lo, hi = (count - 1) // 2, count // 2
                deviation = abs(x - 0.5 * (ordered[lo] + ordered[hi]))
                if deviation > min_deviation:  # only then is the MAD needed
                    median, mad = _median_and_mad(ordered, count)
                    if deviation > threshold * MAD_TO_SIGMA * mad:
                        flag = SPIKE
            else:
                stale = True
        old = ring[pos]
        if not stale:
            count = _replace_in_window(ordered, count, old, x, count == window)
        ring[pos] = x
        pos += 1
        if pos == window:
            pos = 0
    if flag == OK and stuck_samples > 0:
        if run_length > 0 and abs(x - first) <= stuck_tolerance:
            run_length += 1
        else:
            first = x
            run_length = 1
        if run_length > stuck_samples:
            flag = STUCK
    return flag, run_length, count, pos, first, stale


@njit(cache=True, nogil=True)
def stuck_and_spike_flags(values, ok, stuck_samples, stuck_tolerance, window, threshold, min_deviation,
                          counters, run_value, ring, ordered):
    """Flag stuck runs and spikes in time-ordered values; state arrays are updated in place.

    Parameters
    ----------
    values : float64[n]
        Values in time order [SI unit]; only those with *ok* are looked at.
    ok : bool[n]
        Values that passed every earlier gate.
    stuck_samples : int
        Longest plausible run of equal values; 0 disables the stuck check.
    stuck_tolerance : float
        Values within this of the run's first value are equal [SI unit].
    window : int
        Trailing Hampel window; 0 disables the spike check.
    threshold : float
        Robust z-score limit.
    min_deviation : float
        Deviations up to this are never spikes [SI unit].
    counters : int64[4]
        State: run length, values in the window, ring position, sorted copy out of date.
    run_value : float64[1]
        State: first value of the current run [SI unit].
    ring, ordered : float64[window]
        State: the window in arrival order and sorted.

    Returns
    -------
    int8[n]
        ``OK``, ``STUCK`` or ``SPIKE`` per value (``OK`` where not *ok*).
    """
    n = values.shape[0]
    flags = np.zeros(n, dtype=np.int8)
    run_length, count, pos, stale = counters[0], counters[1], counters[2], counters[3] != 0
    first = run_value[0]
    for i in range(n):
        if ok[i]:
            flags[i], run_length, count, pos, first, stale = stuck_spike_step(
                values[i], stuck_samples, stuck_tolerance, window, threshold, min_deviation, ring, ordered,
                run_length, count, pos, first, stale)
    counters[0], counters[1], counters[2], counters[3] = run_length, count, pos, stale
    run_value[0] = first
    return flags
