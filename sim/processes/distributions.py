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

from statistics import NormalDist

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
    """Base class: ``draw(rng, n)`` returns *n* non-negative values; ``mean`` is the expectation.

    A distribution used as a time to failure (:class:`~sim.processes.failures.FailureMode`) also gives its
    cumulative hazard ``H(t) = -ln P(T > t)`` [-] and the inverse of it; every distribution of this module does.
    """

    mean: float

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError

    def cumulative_hazard(self, t: float) -> float:
        """``H(t) = -ln P(T > t)`` [-] at the time *t* [s] (``math.inf`` once the life is surely over)."""
        raise NotImplementedError(f"{type(self).__name__} gives no cumulative hazard; implement "
                                  f"cumulative_hazard and inverse_cumulative_hazard to use it as a time to failure")

    def inverse_cumulative_hazard(self, h: float) -> float:
        """The time [s] at which the cumulative hazard reaches *h* [-] (``math.inf`` for ``h = inf``)."""
        raise NotImplementedError(f"{type(self).__name__} gives no inverse cumulative hazard; implement "
                                  f"cumulative_hazard and inverse_cumulative_hazard to use it as a time to failure")


_SQRT2 = math.sqrt(2.0)
_STANDARD_NORMAL = NormalDist()


def _normal_upper_tail(z: float) -> float:
    """P(Z > z) for a standard normal Z, accurate far in the tail (erfc, not 1 - cdf)."""
    return 0.5 * math.erfc(z / _SQRT2)


def _normal_hazard(z: float) -> float:
    """-ln P(Z > z)."""
    tail = _normal_upper_tail(z)
    return -math.log(tail) if tail > 0 else math.inf


def _normal_upper_quantile(h: float) -> float:
    """z with P(Z > z) = exp(-h), for h > 0 (finite)."""
    return _STANDARD_NORMAL.inv_cdf(-math.expm1(-h)) if h < 1.0 else -_STANDARD_NORMAL.inv_cdf(math.exp(-h))


def _ends(h: float):
    """``math.inf`` for an infinite *h*, ``0.0`` for ``h <= 0``, else None (h is finite and > 0)."""
    if h == math.inf:
        return math.inf
    if not h > 0:
        return 0.0
    return None


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

    def cumulative_hazard(self, t):
        return 0.0 if t < self.value else math.inf

    def inverse_cumulative_hazard(self, h):
        end = _ends(h)
        return float(self.value) if end is None else end


@dataclass(frozen=True)
class Exponential(Distribution):
    """Exponential with the given mean [s]."""

    mean: float

    def __post_init__(self):
        _positive("Exponential", mean=self.mean)

    def draw(self, rng, n):
        return rng.exponential(self.mean, n)

    def cumulative_hazard(self, t):
        return max(t, 0.0) / self.mean

    def inverse_cumulative_hazard(self, h):
        return h * self.mean if h > 0 else 0.0


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

    def cumulative_hazard(self, t):  # of max(X, 0): X ~ N(mean, sd), an atom at 0
        if self.sd == 0:
            return 0.0 if t < self.mean else math.inf
        return 0.0 if t < 0 else _normal_hazard((t - self.mean) / self.sd)

    def inverse_cumulative_hazard(self, h):
        end = _ends(h)
        if end is not None:
            return end
        if self.sd == 0:
            return float(self.mean)
        return max(self.mean + self.sd * _normal_upper_quantile(h), 0.0)


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

    def _log_parameters(self) -> tuple[float, float]:
        sigma2 = math.log1p(self.cv * self.cv)
        return math.log(self.mean) - 0.5 * sigma2, math.sqrt(sigma2)

    def cumulative_hazard(self, t):
        if self.cv == 0:
            return 0.0 if t < self.mean else math.inf
        if t <= 0:
            return 0.0
        mu, sigma = self._log_parameters()
        return _normal_hazard((math.log(t) - mu) / sigma)

    def inverse_cumulative_hazard(self, h):
        end = _ends(h)
        if end is not None:
            return end
        if self.cv == 0:
            return float(self.mean)
        mu, sigma = self._log_parameters()
        return math.exp(mu + sigma * _normal_upper_quantile(h))


@dataclass(frozen=True)
class Uniform(Distribution):
    """Uniform between *low* and *high* [s]."""

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

    def cumulative_hazard(self, t):
        if t < self.low:
            return 0.0
        if t >= self.high:
            return math.inf
        return -math.log((self.high - t) / (self.high - self.low))

    def inverse_cumulative_hazard(self, h):
        end = _ends(h)
        if end is not None:
            return end if end == math.inf else float(self.low)
        return self.high - (self.high - self.low) * math.exp(-h)


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

    def cumulative_hazard(self, t):
        return (max(t, 0.0) / self.scale) ** self.shape

    def inverse_cumulative_hazard(self, h):
        return self.scale * max(h, 0.0) ** (1.0 / self.shape)


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
