"""Numba helpers of the spike check: a small sorted window, its median and its MAD.

:func:`sim.telemetry.gates._passes.value_pass` inlines them into its loop.
"""

from __future__ import annotations

from numba import njit

__all__ = ["MAD_TO_SIGMA", "median_and_mad", "replace_in_window", "sort_window"]

#: 1 / Phi^-1(3/4): scales the median absolute deviation to a standard deviation for normal data.
MAD_TO_SIGMA = 1.4826


@njit(cache=True, nogil=True, inline="always")
def median_and_mad(ordered, n):
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
def replace_in_window(ordered, n, old, new, full):
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
def sort_window(ring, ordered, n):
    """``ordered[:n]`` = the values of ``ring[:n]``, sorted (insertion sort: n is small)."""
    for j in range(n):
        x = ring[j]
        k = j
        while k > 0 and ordered[k - 1] > x:
            ordered[k] = ordered[k - 1]
            k -= 1
        ordered[k] = x
