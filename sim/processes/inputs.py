"""Processes that drive physics inputs from schedules (forecasts, recorded profiles)."""

from __future__ import annotations

import numpy as np
import simpy

from sim.clock import PhysicsComponent
from sim.exceptions import ConfigurationError

__all__ = ["input_profile"]


def input_profile(env: simpy.Environment, component: PhysicsComponent, asset: int, name: str, times, values):
    """Set input *name* of *asset* to ``values[j]`` at ``times[j]`` [s] (zero-order hold).

    Values in the past are applied at once (the latest one that is due); the
    process ends after the last value.
    """
    times = np.asarray(times, dtype=float)
    values = np.asarray(values, dtype=float)
    if times.shape != values.shape or times.ndim != 1 or times.size == 0:
        raise ConfigurationError(f"input profile for {name!r}: times and values must be 1-D arrays of equal, "
                                 f"non-zero length; got {times.shape} and {values.shape}")
    if np.any(np.diff(times) <= 0):
        raise ConfigurationError(f"input profile for {name!r}: times must increase strictly")
    if not np.all(np.isfinite(values)):
        raise ConfigurationError(f"input profile for {name!r}: values must be finite; fill gaps before scheduling")
    start = int(np.searchsorted(times, env.now, side="right")) - 1
    if start >= 0:
        component.set_input(asset, name, values[start])
    for j in range(max(start + 1, 0), times.size):
        yield env.timeout(times[j] - env.now)
        component.set_input(asset, name, values[j])
