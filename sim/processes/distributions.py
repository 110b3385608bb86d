"""Random durations as small immutable objects, and a buffered sampler per random source.

A distribution only knows its parameters; random numbers come from the named
stream of the random source (see :mod:`sim.streams`) through a
:class:`Sampler`, which draws blocks of values at once.  Draws stay in the
order of the stream, so every source sees the same numbers however often it is
asked (common random numbers), and a scalar draw costs a list index instead of
a numpy call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.exceptions import ConfigurationError

__all__ = ["Distribution", "Constant", "Exponential", "Normal", "LogNormal", "Uniform", "Weibull", "Sampler",
           "as_distribution"]


def _positive(owner: str, **values) -> None:
    for key, value in values.items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ConfigurationError(f"{owner}: {key} = {value!r} must be a finite number > 0 [s or -]; "
                                     f"fix the distribution's parameters")


class Distribution:
    """Base class: ``draw(rng, n)`` returns *n* non-negative values; ``mean`` is the expectation."""

    mean: float

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class Constant(Distribution):
    """Always *value* [s]; draws nothing from the stream."""

    value: float

    def __post_init__(self):
        if not (math.isfinite(self.value) and self.value >= 0):
            raise ConfigurationError(f"Constant: value = {self.value!r} must be finite and >= 0")

    @property
    def mean(self) -> float:
        return float(self.value)

    def draw(self, rng, n):
        return np.full(n, float(self.value))


@dataclass(frozen=True)
class Exponential(Distribution):
    """Exponential with the given mean [s]."""

    mean: float

    def __post_init__(self):
        _positive("Exponential", mean=self.mean)

    def draw(self, rng, n):
        return rng.exponential(self.mean, n)


@dataclass(frozen=True)
class Normal(Distribution):
    """Normal(mean, sd), negative draws clipped to 0 [s]."""

    mean: float
    sd: float

    def __post_init__(self):
        _positive("Normal", mean=self.mean)
        if not (math.isfinite(self.sd) and self.sd >= 0):
            raise ConfigurationError(f"Normal: sd = {self.sd!r} must be finite and >= 0")

    def draw(self, rng, n):
        return np.maximum(rng.normal(self.mean, self.sd, n), 0.0)


@dataclass(frozen=True)
class LogNormal(Distribution):
    """Lognormal given by its mean [s] and coefficient of variation [-]."""

    mean: float
    cv: float

    def __post_init__(self):
        _positive("LogNormal", mean=self.mean)
        if not (math.isfinite(self.cv) and self.cv >= 0):
            raise ConfigurationError(f"LogNormal: cv = {self.cv!r} must be finite and >= 0")

    def draw(self, rng, n):
        if self.cv == 0:
            return np.full(n, float(self.mean))
        sigma2 = math.log1p(self.cv * self.cv)
        return rng.lognormal(math.log(self.mean) - 0.5 * sigma2, math.sqrt(sigma2), n)


@dataclass(frozen=True)
class Uniform(Distribution):
    """Uniform on [low, high] [s]."""

    low: float
    high: float

    def __post_init__(self):
        if not (math.isfinite(self.low) and math.isfinite(self.high) and 0 <= self.low <= self.high):
            raise ConfigurationError(f"Uniform: need 0 <= low <= high, got low = {self.low!r}, high = {self.high!r}")

    @property
    def mean(self) -> float:
        return 0.5 * (self.low + self.high)

    def draw(self, rng, n):
        return rng.uniform(self.low, self.high, n)


@dataclass(frozen=True)
class Weibull(Distribution):
    """Weibull with *shape* k [-] and *scale* lambda [s]."""

    shape: float
    scale: float

    def __post_init__(self):
        _positive("Weibull", shape=self.shape, scale=self.scale)

    @property
    def mean(self) -> float:
        return self.scale * math.gamma(1.0 + 1.0 / self.shape)

    def draw(self, rng, n):
        return self.scale * rng.weibull(self.shape, n)


def as_distribution(value, owner: str = "duration") -> Distribution:
    """*value* itself if it is a :class:`Distribution`, a :class:`Constant` for a plain number."""
    if isinstance(value, Distribution):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not (math.isfinite(value) and value > 0):
            raise ConfigurationError(f"{owner} = {value!r} must be a finite time > 0 [s] or a Distribution")
        return Constant(float(value))
    raise ConfigurationError(f"{owner} = {value!r} is neither a number [s] nor a Distribution "
                             f"(Exponential, Normal, LogNormal, Uniform, Weibull, Constant)")


class Sampler:
    """Values of *distribution* drawn in blocks from *rng*; call it for the next value.

    Parameters
    ----------
    distribution : Distribution
    rng : numpy.random.Generator
        The stream of this random source.
    block : int
        Values drawn per refill.
    """

    __slots__ = ("distribution", "rng", "block", "_values", "_index")

    def __init__(self, distribution: Distribution, rng: np.random.Generator, block: int = 1024):
        self.distribution = distribution
        self.rng = rng
        self.block = int(block)
        self._values: list = []
        self._index = 0

    def __call__(self) -> float:
        i = self._index
        if i >= len(self._values):
            self._values = self.distribution.draw(self.rng, self.block).tolist()
            i = 0
        self._index = i + 1
        return self._values[i]

    # ------------------------------------------------------------ state as data
    def state(self) -> dict:
        """Generator state and the drawn, unused values (plain data)."""
        return {"rng": self.rng.bit_generator.state, "pending": list(self._values[self._index:])}

    def set_state(self, state: dict) -> None:
        """Continue exactly where :meth:`state` was taken."""
        self.rng.bit_generator.state = state["rng"]
        self._values = list(state["pending"])
        self._index = 0
