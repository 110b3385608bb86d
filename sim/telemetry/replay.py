"""Replay a TelemetryStream on the simulation clock."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np

from sim.exceptions import ConfigurationError
from sim.telemetry.stream import TelemetryStream

__all__ = ["replay"]


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
