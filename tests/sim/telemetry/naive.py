"""Slow, obviously-correct references for the telemetry kernels (the oracle pattern of tests/oracles.py)."""

from __future__ import annotations

import statistics


def stuck_and_spike_flags(values, ok, stuck_samples, stuck_tolerance, window, threshold, min_deviation, *,
                          history=None):
    """0 ok, 1 stuck, 2 spike per value; same rules as sim.telemetry.gates._passes.value_pass, written plainly.

    *history*: earlier ok values (appended to in place), to continue a sequence.
    """
    flags = [0] * len(values)
    history = [] if history is None else history  # every ok value, in order (the Hampel window is its tail)
    run_first, run_length = None, 0
    for i, x in enumerate(values):
        if not ok[i]:
            continue
        flag = 0
        if window and len(history) >= window:
            tail = history[-window:]
            median = statistics.median(tail)
            mad = statistics.median([abs(v - median) for v in tail])
            tolerance = max(threshold * 1.4826 * mad, min_deviation)
            if abs(x - median) > tolerance and abs(x - history[-1]) > tolerance:  # a jump from level and neighbour
                flag = 2
        history.append(x)
        if flag == 0 and stuck_samples:
            if run_length and abs(x - run_first) <= stuck_tolerance:
                run_length += 1
            else:
                run_first, run_length = x, 1
            if run_length > stuck_samples:
                flag = 1
        flags[i] = flag
    return flags


def time_order(stamps, lateness):
    """Per stamp (arrival order): 'ok', 'duplicate' or 'late' under the reorder-buffer rule."""
    newest, accepted, out = None, set(), []
    for s in stamps:
        if newest is not None and s <= newest - lateness:
            out.append("duplicate" if s in accepted else "late")
        elif s in accepted:
            out.append("duplicate")
        else:
            accepted.add(s)
            out.append("ok")
        newest = s if newest is None else max(newest, s)
    return out
