"""Random streams for replications with common random numbers.

Every random source (jam intervals of station X, repair times, parameter
samples ...) draws from its own generator, derived from the experiment seed,
the replication index and the *name* of the source - not from the order in
which sources are created.  The same replication index therefore sees the same
random numbers in every scenario (common random numbers), and adding a source
does not shift the others.
"""

from __future__ import annotations

import zlib

import numpy as np

from sim.exceptions import ConfigurationError

__all__ = ["RandomStreams"]


class RandomStreams:
    """Named, independent ``numpy.random.Generator`` streams for one replication.

    Parameters
    ----------
    seed : int
        Experiment seed (>= 0).
    replication : int
        Replication index (>= 0).
    """

    def __init__(self, seed: int, replication: int = 0):
        if int(seed) < 0 or int(replication) < 0:
            raise ConfigurationError(f"seed ({seed}) and replication ({replication}) must be non-negative integers")
        self.seed = int(seed)
        self.replication = int(replication)
        self._streams: dict[str, np.random.Generator] = {}

    def __call__(self, name: str) -> np.random.Generator:
        """The generator of random source *name* (created on first use)."""
        gen = self._streams.get(name)
        if gen is None:
            key = zlib.crc32(name.encode("utf-8"))
            seq = np.random.SeedSequence(entropy=self.seed, spawn_key=(self.replication, key))
            gen = np.random.Generator(np.random.PCG64(seq))
            self._streams[name] = gen
        return gen

    def __repr__(self) -> str:
        return f"RandomStreams(seed={self.seed}, replication={self.replication})"
