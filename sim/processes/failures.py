r"""Failure modes: Weibull lives on operating time, optionally driven by physics state.

A failure mode has a baseline Weibull hazard on *operating age* a (running
time since the last renewal)

.. math:: h_0(a) = \frac{k}{\lambda} \left(\frac{a}{\lambda}\right)^{k-1}, \qquad
          H_0(a) = (a / \lambda)^k

and, when a :class:`ExponentialLink` or :class:`PowerLink` is given, a
multiplier m(y) of a physics output y read through
``PhysicsComponent.output`` (proportional hazards, h = m(y) h_0(a); for a
Weibull this is the scale modulated as lambda m^(-1/k)).

**How the time to failure is sampled - thinning, exact and event-driven.**
y(t) is known only by integrating the physics, so the cumulative hazard cannot
be inverted in closed form.  Approximating y as constant between events would
make the result depend on when events happen (and on the sync horizon).
Instead each link declares the largest value the output can take while the
machine operates (``maximum``, e.g. the trip temperature), hence a bound
m_max.  Candidate failure ages are drawn from the dominating hazard
m_max h_0(a) by inverting its cumulative hazard,
``a' = H_0^{-1}(H_0(a) + E / m_max)`` with E ~ Exp(1); at each candidate the
machine reads y from the physics at that exact instant and fails with
probability m(y) / m_max, otherwise the next candidate is drawn from a'
(Lewis-Shedler thinning on the age axis).  The result is exact for any
trajectory y(t), costs one event per candidate (about m_max / mean m per
failure), and an output above the declared maximum is reported as an error
rather than silently biasing the hazard.  Without a link there is no
thinning: the candidate is the failure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sim.exceptions import ConfigurationError, SimulationError
from sim.processes.distributions import Distribution, Exponential, as_distribution

__all__ = ["ExponentialLink", "PowerLink", "FailureMode", "FailureClock", "check_spare_parts"]


@dataclass(frozen=True)
class ExponentialLink:
    """Hazard multiplier ``2 ** ((y - reference) / doubling)`` (Arrhenius-like "10 K rule").

    Parameters
    ----------
    output : str
        Physics output read at candidate times (``winding_temperature``).
    reference : float
        Output value at which the multiplier is 1 [unit of the output].
    doubling : float
        Increase of the output that doubles the hazard [unit of the output].
    maximum : float
        Largest value the output takes while the machine operates [unit of the output].
    """

    output: str
    reference: float
    doubling: float
    maximum: float

    def __post_init__(self):
        if not (math.isfinite(self.doubling) and self.doubling > 0):
            raise ConfigurationError(f"ExponentialLink({self.output!r}): doubling = {self.doubling!r} must be > 0")
        if not (math.isfinite(self.reference) and math.isfinite(self.maximum)):
            raise ConfigurationError(f"ExponentialLink({self.output!r}): reference and maximum must be finite")

    def multiplier(self, value: float) -> float:
        return 2.0 ** ((value - self.reference) / self.doubling)

    @property
    def max_multiplier(self) -> float:
        return self.multiplier(self.maximum)


@dataclass(frozen=True)
class PowerLink:
    """Hazard multiplier ``(y / reference) ** exponent`` (e.g. vibration RMS, load).

    Parameters
    ----------
    output : str
        Physics output read at candidate times (``vibration_rms``).
    reference : float
        Output value at which the multiplier is 1 (> 0) [unit of the output].
    exponent : float
        Power-law exponent [-] (> 0).
    maximum : float
        Largest value the output takes while the machine operates [unit of the output].
    """

    output: str
    reference: float
    exponent: float
    maximum: float

    def __post_init__(self):
        for key in ("reference", "exponent", "maximum"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value > 0):
                raise ConfigurationError(f"PowerLink({self.output!r}): {key} = {value!r} must be finite and > 0")

    def multiplier(self, value: float) -> float:
        return (max(value, 0.0) / self.reference) ** self.exponent

    @property
    def max_multiplier(self) -> float:
        return self.multiplier(self.maximum)


def check_spare_parts(owner: str, modes, spares) -> None:
    """Every failure mode of *owner* (e.g. ``"station 'filler'"``) that needs a spare part finds it in *spares*."""
    for mode in modes:
        if mode.spare_part is not None and mode.spare_part not in spares:
            raise ConfigurationError(f"{owner}: failure mode {mode.name!r} needs spare part {mode.spare_part!r} "
                                     f"but only {sorted(spares)} are stocked")


@dataclass(frozen=True)
class FailureMode:
    """One way a machine fails, and how it is repaired.

    Parameters
    ----------
    name : str
        Name of the mode (``bearing``); also part of its random stream's name.
    scale : float
        Weibull scale lambda at the reference condition [s of operating time].
    shape : float
        Weibull shape k [-]; 1 is a constant hazard (exponential life), > 1 wear-out.
    repair_time : Distribution or float
        Crew time to repair [s].
    link : ExponentialLink or PowerLink, optional
        Physics output that modulates the hazard.
    spare_part : str, optional
        Name of the spare-part stock a repair takes one unit from.
    part_cost : float
        Cost of the part used [currency].
    as_good_as_new : bool
        Repair renews the age (True) or leaves it (minimal repair, "as bad as old").
    """

    name: str
    scale: float
    shape: float = 1.0
    repair_time: Distribution = field(default_factory=lambda: Exponential(1800.0))
    link: ExponentialLink | PowerLink | None = None
    spare_part: str | None = None
    part_cost: float = 0.0
    as_good_as_new: bool = True

    def __post_init__(self):
        for key in ("scale", "shape"):
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigurationError(f"failure mode {self.name!r}: {key} = {value!r} must be a finite number "
                                         f"> 0 ({'[s] of operating time' if key == 'scale' else '[-]'})")
        object.__setattr__(self, "repair_time", as_distribution(self.repair_time, f"{self.name}.repair_time"))
        if not (math.isfinite(self.part_cost) and self.part_cost >= 0):
            raise ConfigurationError(f"failure mode {self.name!r}: part_cost = {self.part_cost!r} must be >= 0")
        if self.link is not None and not self.link.max_multiplier > 0:
            raise ConfigurationError(f"failure mode {self.name!r}: the link's multiplier at its maximum must be > 0")

    @property
    def bound(self) -> float:
        """m_max, the dominating hazard multiplier (1 without a link)."""
        return 1.0 if self.link is None else self.link.max_multiplier

    def next_candidate(self, age: float, e: float) -> float:
        """Age [s] of the next candidate after *age*, for a unit exponential draw *e*."""
        h = (age / self.scale) ** self.shape + e / self.bound
        return self.scale * h ** (1.0 / self.shape)


class FailureClock:
    """Runtime state of one failure mode on one machine.

    Ages are measured on the machine's *usage* clock (total operating time
    [s]); the mode's own age is ``usage - origin``, where ``origin`` is the
    usage at its last renewal.  ``due`` is the usage at the next candidate.

    Parameters
    ----------
    mode : FailureMode
    rng : numpy.random.Generator
        The mode's own stream (draws: Exp(1) per candidate, U(0,1) per thinning test).
    read : callable, optional
        ``read(output_name) -> value`` at the current time; needed with a link.
    owner : str
        Machine name, for messages.
    usage : float
        Usage [s] at which the first life starts.
    """

    __slots__ = ("mode", "rng", "read", "owner", "origin", "candidate", "candidates", "rejected")

    def __init__(self, mode: FailureMode, rng, *, read=None, owner: str = "", usage: float = 0.0):
        if mode.link is not None and read is None:
            raise ConfigurationError(f"{owner}: failure mode {mode.name!r} is driven by {mode.link.output!r} but "
                                     f"the machine has no physics component to read it from; attach one")
        self.mode = mode
        self.rng = rng
        self.read = read
        self.owner = owner
        self.candidates = 0
        self.rejected = 0
        self.origin = float(usage)
        self.candidate = mode.next_candidate(0.0, rng.exponential())

    @property
    def due(self) -> float:
        """Usage [s] at the next candidate."""
        return self.origin + self.candidate

    def renew(self, usage: float) -> None:
        """As good as new at usage *usage* [s] (repair or maintenance)."""
        self.origin = float(usage)
        self.candidate = self.mode.next_candidate(0.0, self.rng.exponential())

    def after_repair(self, usage: float) -> None:
        """Renew, or keep the age for a minimal repair (``as_good_as_new=False``)."""
        if self.mode.as_good_as_new:
            self.renew(usage)
        else:
            self.candidate = self.mode.next_candidate(usage - self.origin, self.rng.exponential())

    def check(self) -> bool:
        """At the candidate: True if the machine fails now; otherwise the next candidate is drawn."""
        self.candidates += 1
        link = self.mode.link
        if link is None:
            return True
        value = self.read(link.output)
        if value > link.maximum:
            raise SimulationError(
                f"{self.owner}: {link.output} = {value:.6g} exceeds the maximum {link.maximum:.6g} declared for "
                f"failure mode {self.mode.name!r}; the thinning bound would be wrong - raise the link's maximum "
                f"to the highest value the output can reach while the machine runs")
        if self.rng.random() * self.mode.bound <= link.multiplier(value):
            return True
        self.rejected += 1
        self.candidate = self.mode.next_candidate(self.candidate, self.rng.exponential())
        return False

    def state(self) -> dict:
        """Plain-data state (for snapshots)."""
        return {"origin": self.origin, "candidate": self.candidate, "rng": self.rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        self.origin = float(state["origin"])
        self.candidate = float(state["candidate"])
        self.rng.bit_generator.state = state["rng"]
