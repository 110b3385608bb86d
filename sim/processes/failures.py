r"""Failure modes: lives on operating time (any distribution), optionally driven by physics state.

A failure mode has a baseline life distribution on *operating age* a (running
time since the last renewal): any :class:`~sim.processes.distributions.Distribution`
that gives its cumulative hazard H_0(a) = -ln P(life > a) and the inverse
(all of the library's do), e.g. a Weibull

.. math:: h_0(a) = \frac{k}{\lambda} \left(\frac{a}{\lambda}\right)^{k-1}, \qquad
          H_0(a) = (a / \lambda)^k

written ``FailureMode("bearing", Weibull(k, lambda))`` - the arguments in
:class:`Weibull`'s own order.  The older keywords ``scale=lambda, shape=k``
still build the same Weibull mode.

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
from dataclasses import dataclass

from sim.exceptions import ConfigurationError, SimulationError
from sim.processes.distributions import Distribution, Exponential, Weibull, as_distribution

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


@dataclass(frozen=True, init=False)
class FailureMode:
    """One way a machine fails, and how it is repaired.

    ``FailureMode(name, life, *, repair_time=..., link=..., ...)``; the life may also be given the older way,
    as the keywords ``scale`` and ``shape`` of a Weibull.

    Parameters
    ----------
    name : str
        Name of the mode (``bearing``); also part of its random stream's name.
    life : Distribution
        Time to failure at the reference condition [s of operating time], e.g. ``Weibull(shape, scale)``,
        ``Exponential(mean)``, ``LogNormal(mean, cv)``, ``Normal``, ``Uniform``, ``Constant``.
    scale, shape : float, keyword only
        Instead of *life*: ``Weibull(shape, scale)`` with scale lambda [s of operating time] and shape k [-]
        (default 1, a constant hazard).  Given as keywords, so the old and new argument orders cannot mix up.
    repair_time : Distribution or float
        Crew time to repair [s] (default ``Exponential(1800.0)``).
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
    life: Distribution
    repair_time: Distribution
    link: ExponentialLink | PowerLink | None
    spare_part: str | None
    part_cost: float
    as_good_as_new: bool

    def __init__(self, name: str, life: Distribution | None = None, *args, scale: float | None = None,
                 shape: float | None = None, repair_time=None, link=None, spare_part=None, part_cost: float = 0.0,
                 as_good_as_new: bool = True):
        if args or (life is not None and not isinstance(life, Distribution)):
            given = ", ".join(repr(v) for v in ((life,) + args))
            raise ConfigurationError(
                f"failure mode {name!r}: got the positional arguments ({given}); the life is a distribution in its "
                f"own argument order, e.g. FailureMode({name!r}, Weibull(shape, scale)), or the keywords "
                f"FailureMode({name!r}, scale=..., shape=...) - positional numbers are refused because the old "
                f"order (scale, shape) is the reverse of Weibull(shape, scale)")
        if life is None:
            if scale is None:
                raise ConfigurationError(f"failure mode {name!r}: give its life, e.g. FailureMode({name!r}, "
                                         f"Weibull(shape=1.5, scale=3.6e6)), or scale= [s of operating time]")
            shape = 1.0 if shape is None else shape
            for key, value in (("scale", scale), ("shape", shape)):
                if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value)
                                                   and value > 0):
                    raise ConfigurationError(f"failure mode {name!r}: {key} = {value!r} must be a finite number > 0 "
                                             f"({'[s] of operating time' if key == 'scale' else '[-]'})")
            life = Weibull(float(shape), float(scale))
        elif scale is not None or shape is not None:
            raise ConfigurationError(f"failure mode {name!r}: give the life either as a distribution ({life!r}) "
                                     f"or as scale/shape, not both")
        if type(life).cumulative_hazard is Distribution.cumulative_hazard or \
                type(life).inverse_cumulative_hazard is Distribution.inverse_cumulative_hazard:
            raise ConfigurationError(f"failure mode {name!r}: the life {life!r} gives no cumulative hazard; "
                                     f"implement cumulative_hazard and inverse_cumulative_hazard on "
                                     f"{type(life).__name__} or use one of the library's distributions")
        repair_time = Exponential(1800.0) if repair_time is None else repair_time
        for key, value in (("name", name), ("life", life), ("link", link), ("spare_part", spare_part),
                           ("as_good_as_new", as_good_as_new)):
            object.__setattr__(self, key, value)
        object.__setattr__(self, "repair_time", as_distribution(repair_time, f"{name}.repair_time"))
        object.__setattr__(self, "part_cost", part_cost)
        if not (math.isfinite(self.part_cost) and self.part_cost >= 0):
            raise ConfigurationError(f"failure mode {self.name!r}: part_cost = {self.part_cost!r} must be >= 0")
        if self.link is not None and not self.link.max_multiplier > 0:
            raise ConfigurationError(f"failure mode {self.name!r}: the link's multiplier at its maximum must be > 0")

    @property
    def scale(self) -> float:
        """Weibull scale lambda [s of operating time] of a Weibull (or exponential: its mean) life."""
        return self._weibull()[1]

    @property
    def shape(self) -> float:
        """Weibull shape k [-] of a Weibull (or exponential: 1) life."""
        return self._weibull()[0]

    def _weibull(self) -> tuple[float, float]:
        if isinstance(self.life, Weibull):
            return self.life.shape, self.life.scale
        if isinstance(self.life, Exponential):
            return 1.0, self.life.mean
        raise ConfigurationError(f"failure mode {self.name!r}: its life {self.life!r} is not a Weibull; read "
                                 f"mode.life instead of scale/shape")

    @property
    def bound(self) -> float:
        """m_max, the dominating hazard multiplier (1 without a link)."""
        return 1.0 if self.link is None else self.link.max_multiplier

    def next_candidate(self, age: float, e: float) -> float:
        """Age [s] of the next candidate after *age*, for a unit exponential draw *e*: H_0^-1(H_0(age) + e / m_max)."""
        life = self.life
        if type(life) is Weibull:  # the closed form, as before (same numbers)
            h = (age / life.scale) ** life.shape + e / self.bound
            return life.scale * h ** (1.0 / life.shape)
        return life.inverse_cumulative_hazard(life.cumulative_hazard(age) + e / self.bound)


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
