"""State-event helpers shared by the integrator kernels: crossings, armed events, the Illinois bracket.

A state event of a fleet watches ``g = y[out_index] - level`` of every asset
where it is armed and fires when *g* crosses zero in its *direction* (+1
rising, -1 falling, 0 both).  An integrator locates the crossing inside a step
on the step fraction ``th`` in [0, 1] by the Illinois method (regula falsi that
halves the value kept at a side chosen twice in a row)::

    lo, hi, g_lo, g_hi, side = 0.0, 1.0, g0, g1, 0
    while (hi - lo) * h > time_tol:
        th = illinois_fraction(lo, hi, g_lo, g_hi)
        g_th = <event function at th>
        lo, hi, g_lo, g_hi, side = illinois_bracket(lo, hi, g_lo, g_hi, side, th, g_th, direction)

The crossed side stays at ``hi``, which the integrator returns.
"""

from __future__ import annotations

from numba import njit

__all__ = ["ILLINOIS_MAX_ITERATIONS", "any_armed", "armed", "crossed", "illinois_bracket", "illinois_fraction"]

#: Bound on the Illinois iterations (the bracket shrinks superlinearly; 100 is never reached in practice).
ILLINOIS_MAX_ITERATIONS = 100


@njit(cache=True, inline="always")
def crossed(g0, g1, direction):
    """Whether the event function went from *g0* to *g1* across zero in *direction*."""
    if direction > 0:
        return g0 < 0.0 and g1 >= 0.0
    if direction < 0:
        return g0 > 0.0 and g1 <= 0.0
    return (g0 < 0.0 and g1 >= 0.0) or (g0 > 0.0 and g1 <= 0.0)


@njit(cache=True)
def any_armed(ev_active):
    """Whether any event is armed for any asset (``ev_active[asset, event]``)."""
    n, m = ev_active.shape
    for a in range(n):
        for j in range(m):
            if ev_active[a, j]:
                return True
    return False


@njit(cache=True)
def armed(ev_active, a):
    """Whether any event is armed for asset *a*."""
    for j in range(ev_active.shape[1]):
        if ev_active[a, j]:
            return True
    return False


@njit(cache=True, inline="always")
def illinois_fraction(lo, hi, g_lo, g_hi):
    """Next trial fraction: the secant through the bracket, its midpoint where the secant leaves it."""
    th = (lo * g_hi - hi * g_lo) / (g_hi - g_lo)
    if not (lo < th < hi):
        th = 0.5 * (lo + hi)
    return th


@njit(cache=True, inline="always")
def illinois_bracket(lo, hi, g_lo, g_hi, side, th, g_th, direction):
    """The bracket ``(lo, hi, g_lo, g_hi, side)`` after the trial ``g(th) = g_th``."""
    if crossed(g_lo, g_th, direction) or g_th == 0.0:
        if side == -1:
            g_lo *= 0.5
        return lo, th, g_lo, g_th, -1
    if side == 1:
        g_hi *= 0.5
    return th, hi, g_th, g_hi, 1
