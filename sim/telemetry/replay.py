"""Replay a TelemetryStream on the simulation clock, as fast as possible or in real time x speed.

The same model code runs either way: :func:`environment` picks ``simpy.Environment``
or ``simpy.rt.RealtimeEnvironment``, and :func:`replay` only talks to ``env``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

import math

import numpy as np
import simpy
import simpy.rt

from sim.exceptions import ConfigurationError
from sim.telemetry.stream import TelemetryStream

__all__ = ["replay", "environment"]


def environment(speed: float | None = None, *, initial_time: float = 0.0, strict: bool = False) -> simpy.Environment:
    """A SimPy environment: as fast as possible (*speed* None) or real time x *speed*.

    Parameters
    ----------
    speed : float or None
        Simulated seconds per wall-clock second, e.g. 1 (real time) or 60 (a minute per
        second); None runs as fast as possible.
    initial_time : float
        Start of the simulation clock [s].
    strict : bool
        For real time: raise ``RuntimeError`` when the model falls behind the wall clock.
    """
    if speed is None:
        return simpy.Environment(initial_time=initial_time)
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not math.isfinite(speed) or speed <= 0:
        raise ConfigurationError(f"speed {speed!r} must be a positive number (simulated s per wall-clock s) or None")
    return simpy.rt.RealtimeEnvironment(initial_time=initial_time, factor=1.0 / speed, strict=strict)


def replay(
    env: Any,
    stream: TelemetryStream,
    on_sample: Callable[[float, dict[str, float]], None],
    *,
    channels: Sequence[str] | None = None,
) -> Generator[Any, Any, None]:
    """SimPy process that delivers each telemetry row at its time since ``stream.t0``.

    Simulation time equals seconds since ``t0``: the sample at ``t`` [s] is delivered
    when ``env.now == t``.  Works unchanged with ``simpy.rt.RealtimeEnvironment``.

    Parameters
    ----------
    env : simpy.Environment
        The environment; ``env.now`` must not be past the first sample when the process starts.
    stream : TelemetryStream
        Validated telemetry.
    on_sample : callable
        Called as ``on_sample(t, {channel: value})`` [s, SI units] with only the
        non-NaN values; rows without any value are skipped.
    channels : sequence of str, optional
        Channel names to deliver; all by default.

    Examples
    --------
    >>> env.process(replay(env, stream, twin.assimilate))  # doctest: +SKIP
    """
    names = list(stream.frame.columns) if channels is None else list(channels)
    unknown = [c for c in names if c not in stream.frame.columns]
    if unknown:
        raise ConfigurationError(
            f"replay: channel(s) {unknown} are not in the stream; fix: choose from {list(stream.frame.columns)}"
        )
    seconds = stream.seconds
    values = stream.frame[names].to_numpy(dtype=np.float64)
    present = ~np.isnan(values)
    rows = np.flatnonzero(present.any(axis=1))
    if rows.size and env.now > seconds[rows[0]]:
        raise ConfigurationError(
            f"replay: env.now = {env.now} s is already past the first sample at {seconds[rows[0]]} s since "
            f"t0 = {stream.t0}; fix: start the replay at env.now <= 0 (simpy.Environment(initial_time=0)) "
            f"or replay stream.window({env.now}, ...)"
        )
    for i in rows:
        delay = float(seconds[i]) - env.now
        if delay > 0:  # a float rounding of env.now may leave a tiny negative delay: deliver now
            yield env.timeout(delay)
        on_sample(float(seconds[i]), {names[j]: float(values[i, j]) for j in np.flatnonzero(present[i])})
