"""Random streams for replications with common random numbers.

The generator of a source is ``SeedSequence(seed, spawn_key=(replication,
crc32(name)))``: the experiment seed, a child per replication and a
grandchild per named source.  Every random source (jam intervals of station X, repair times, parameter
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
        self._keys: dict[int, str] = {}

    def __call__(self, name: str) -> np.random.Generator:
        """The generator of random source *name* (created on first use)."""
        gen = self._streams.get(name)
        if gen is None:
            key = zlib.crc32(name.encode("utf-8"))
            other = self._keys.setdefault(key, name)
            if other != name:
                raise ConfigurationError(f"random sources {other!r} and {name!r} hash to the same stream key; "
                                         f"rename one of them")
            seq = np.random.SeedSequence(entropy=self.seed, spawn_key=(self.replication, key))
            gen = np.random.Generator(np.random.PCG64(seq))
            self._streams[name] = gen
        return gen

    def names(self) -> list[str]:
        """Names of the streams used so far."""
        return list(self._streams)

    def state(self) -> dict[str, dict]:
        """Bit-generator state of every stream used so far (plain data, for snapshots)."""
        return {name: gen.bit_generator.state for name, gen in self._streams.items()}

    def set_state(self, state: dict[str, dict]) -> None:
        """Continue every stream in *state* exactly where it was taken."""
        for name, st in state.items():
            self(name).bit_generator.state = st

    def __repr__(self) -> str:
        return f"RandomStreams(seed={self.seed}, replication={self.replication})"
