"""Maintenance policies as strategy objects, and a registry by name.

A policy decides *when* to maintain a unit; the unit (a
:class:`~sim.processes.machine.Machine` or a flow
:class:`~sim.processes.flowstation.FlowStation`) carries the work out with
its crew.  A unit offers:

* ``age`` - operating time since its last renewal [s];
* ``at_age(age)`` / ``renewal()`` - events when the age reaches *age* or at the next renewal;
* ``read(output)`` - a physics output of its asset now; ``physics`` / ``asset`` for state events;
* ``request_maintenance(order)`` - an event that succeeds when the job is done.

Policies: ``run_to_failure``; ``time_based`` (every *interval* of operating
age - age replacement, a repair restarts the count - or of calendar time -
block replacement); ``condition_based`` (a physics state event, e.g.
vibration above a limit, or periodic inspections of an output against a
threshold); ``predictive`` (a remaining-life estimate from any callable, e.g.
a prognosis model: maintain once it falls to the lead time); ``predictive_rul``
(:class:`RulPredictive`: a RUL *distribution*, maintain on the risk of failing
before the next window or on the interval's lower end; built in code, not by name).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable

import numpy as np

from sim.exceptions import ConfigurationError
from sim.processes.distributions import Distribution, Sampler, as_distribution
from sim.processes.machine import MaintenanceOrder

__all__ = ["MaintenancePolicy", "RunToFailure", "TimeBased", "ConditionBased", "Predictive", "RulPredictive",
           "MAINTENANCE_POLICIES", "make_policy", "start_policy"]


def _time(owner: str, key: str, value) -> None:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0):
        raise ConfigurationError(f"{owner}: {key} = {value!r} must be a finite time > 0 [s]")


class MaintenancePolicy:
    """Base class: ``run(env, unit, duration)`` is the policy's process (a generator)."""

    name = "policy"
    duration: Distribution | float = 3600.0
    cost: float = 0.0

    def _validate(self) -> None:
        object.__setattr__(self, "duration", as_distribution(self.duration, f"{self.name}.duration"))
        if not (math.isfinite(self.cost) and self.cost >= 0):
            raise ConfigurationError(f"{self.name}: cost = {self.cost!r} must be finite and >= 0 [currency]")

    def order(self, duration: Sampler) -> MaintenanceOrder:
        return MaintenanceOrder(duration=duration(), cost=self.cost, reason=self.name)

    def run(self, env, unit, duration: Sampler):
        raise NotImplementedError


@dataclass(frozen=True)
class RunToFailure(MaintenancePolicy):
    """No planned maintenance: repair when it fails."""

    name = "run_to_failure"
    duration: Distribution | float = 3600.0
    cost: float = 0.0

    def __post_init__(self):
        self._validate()

    def run(self, env, unit, duration):
        return
        yield  # pragma: no cover


@dataclass(frozen=True)
class TimeBased(MaintenancePolicy):
    """Maintain every *interval* [s] of operating age (``basis="operating"``) or calendar time."""

    name = "time_based"
    interval: float = 7 * 86400.0
    basis: str = "operating"
    duration: Distribution | float = 3600.0
    cost: float = 0.0

    def __post_init__(self):
        _time(self.name, "interval", self.interval)
        if self.basis not in ("operating", "calendar"):
            raise ConfigurationError(f"time_based: basis = {self.basis!r}; use 'operating' (age replacement) or "
                                     f"'calendar' (block replacement)")
        self._validate()

    def run(self, env, unit, duration):
        while True:
            if self.basis == "calendar":
                yield env.timeout(self.interval)
            else:
                due, renewed = unit.at_age(self.interval), unit.renewal()
                yield due | renewed
                if not due.triggered:
                    continue  # a repair renewed the unit: count again from zero
            yield unit.request_maintenance(self.order(duration))


@dataclass(frozen=True)
class ConditionBased(MaintenancePolicy):
    """Maintain when a condition is met: a physics state event, or an inspected output at a threshold.

    Give either *event* (name of a ``StateEvent`` of the unit's fleet, watched
    continuously by the physics) or *output*, *threshold* and
    *inspection_interval* [s] (periodic inspections: maintain if output >= threshold).
    """

    name = "condition_based"
    event: str | None = None
    output: str | None = None
    threshold: float | None = None
    inspection_interval: float | None = None
    duration: Distribution | float = 3600.0
    cost: float = 0.0

    def __post_init__(self):
        inspect = (self.output, self.threshold, self.inspection_interval)
        if (self.event is None) == all(v is None for v in inspect) or (self.event is None
                                                                          and any(v is None for v in inspect)):
            raise ConfigurationError("condition_based: give either event= (a physics state event) or all of "
                                     "output=, threshold= and inspection_interval= [s]")
        if self.inspection_interval is not None:
            _time(self.name, "inspection_interval", self.inspection_interval)
        self._validate()

    def run(self, env, unit, duration):
        if unit.physics is None:
            raise ConfigurationError(f"condition_based maintenance of {unit.name!r} needs a physics component")
        while True:
            if self.event is not None:
                yield unit.physics.wait_for(unit.asset, self.event)
            else:
                yield env.timeout(self.inspection_interval)
                if unit.read(self.output) < self.threshold:
                    continue
            yield unit.request_maintenance(self.order(duration))


@dataclass(frozen=True)
class Predictive(MaintenancePolicy):
    """Maintain when the estimated remaining life falls to *lead_time* [s].

    *remaining_life* is any callable ``remaining_life(unit) -> float`` [s]
    (a prognosis model reading ``unit.read(...)``, ``unit.age`` ...).  It is
    evaluated every *check_interval* [s], sooner when the estimate says so.
    """

    name = "predictive"
    remaining_life: Callable | None = None
    lead_time: float = 86400.0
    check_interval: float = 3600.0
    duration: Distribution | float = 3600.0
    cost: float = 0.0

    def __post_init__(self):
        if not callable(self.remaining_life):
            raise ConfigurationError(f"predictive: remaining_life = {self.remaining_life!r} must be a callable "
                                     f"unit -> remaining useful life [s] (e.g. a prognosis model)")
        _time(self.name, "lead_time", self.lead_time)
        _time(self.name, "check_interval", self.check_interval)
        self._validate()

    def run(self, env, unit, duration):
        while True:
            rul = float(self.remaining_life(unit))
            if not math.isfinite(rul) and not rul == math.inf:
                raise ConfigurationError(f"predictive: remaining_life returned {rul} for {unit.name!r}; it must "
                                         f"return a number of seconds (inf for 'no end in sight')")
            if rul <= self.lead_time:
                yield unit.request_maintenance(self.order(duration))
                continue
            yield env.timeout(min(self.check_interval, rul - self.lead_time))


@dataclass(frozen=True)
class RulPredictive(MaintenancePolicy):
    """Maintain on a remaining-useful-life *distribution*: when the risk of failing before the work could be
    done is too high, or the interval's lower end reaches the lead time.

    *estimate* is any callable ``estimate(unit)`` returning RUL samples [s] of the unit now (a 1-D array;
    ``inf`` for samples that do not fail within the prediction's horizon) or an object with a ``rul()``
    method that returns them, such as :class:`calibration.prognosis.RemainingLife` (what
    :func:`calibration.prognosis.predict_rul` returns).  It is called every *check_interval* [s]; with
    ``window = check_interval + lead_time`` the unit is sent to maintenance when

    * ``P(RUL <= window) > max_risk`` (waiting for the next check would risk a failure before the work), or
    * the lower end of the central *level* interval of the RUL is ``<= lead_time``.

    Otherwise the next check comes after *check_interval*, or sooner, when the lower end will reach the lead
    time.  Not registered in ``MAINTENANCE_POLICIES`` by name: it needs a prognosis model (code, not config).
    """

    name = "predictive_rul"
    estimate: Callable | None = None
    max_risk: float = 0.05
    lead_time: float = 86400.0
    level: float = 0.9
    check_interval: float = 3600.0
    duration: Distribution | float = 3600.0
    cost: float = 0.0

    def __post_init__(self):
        if not callable(self.estimate):
            raise ConfigurationError(f"predictive_rul: estimate = {self.estimate!r} must be a callable unit -> RUL "
                                     f"samples [s] (e.g. a function calling calibration.prognosis.predict_rul)")
        for key in ("max_risk", "level"):
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 < value < 1.0):
                raise ConfigurationError(f"predictive_rul: {key} = {value!r} must lie strictly between 0 and 1 "
                                         f"(a probability, e.g. 0.05)")
        _time(self.name, "lead_time", self.lead_time)
        _time(self.name, "check_interval", self.check_interval)
        self._validate()

    def samples(self, unit) -> np.ndarray:
        """The estimate's RUL samples for *unit* now [s], checked."""
        result = self.estimate(unit)
        rul = getattr(result, "rul", None)
        values = np.asarray(rul() if callable(rul) else result, dtype=float).ravel()
        if values.size == 0 or np.any(np.isnan(values)) or np.any(values < 0):
            raise ConfigurationError(f"predictive_rul: the estimate for {unit.name!r} returned {values.size} samples "
                                     f"with NaN or negative values; it must return RUL samples >= 0 [s] (inf for "
                                     f"'not within the horizon')")
        return values

    def decide(self, samples) -> tuple[bool, float]:
        """``(maintain now, lower end of the interval [s])`` for RUL *samples* [s]."""
        x = np.sort(np.asarray(samples, dtype=float))
        lower = float(x[min(int(math.floor(x.size * (1.0 - self.level) / 2.0 + 1e-9)), x.size - 1)])
        risk = float(np.mean(x <= self.check_interval + self.lead_time))
        return risk > self.max_risk or lower <= self.lead_time, lower

    def run(self, env, unit, duration):
        while True:
            now, lower = self.decide(self.samples(unit))
            if now:
                yield unit.request_maintenance(self.order(duration))
                continue
            yield env.timeout(min(self.check_interval, lower - self.lead_time))


MAINTENANCE_POLICIES = MappingProxyType({cls.name: cls for cls in (RunToFailure, TimeBased, ConditionBased,
                                                                   Predictive)})


def make_policy(name: str, **params) -> MaintenancePolicy:
    """The policy registered as *name*, built with *params*."""
    try:
        cls = MAINTENANCE_POLICIES[name]
    except KeyError:
        raise ConfigurationError(f"unknown maintenance policy {name!r}; known policies: "
                                 f"{', '.join(sorted(MAINTENANCE_POLICIES))}") from None
    try:
        return cls(**params)
    except TypeError as err:
        fields = [f for f in cls.__dataclass_fields__]
        raise ConfigurationError(f"maintenance policy {name!r}: {err}; its parameters are {fields}") from None


def start_policy(env, unit, policy: MaintenancePolicy, streams=None, *, sampler: Sampler | None = None):
    """Start *policy* on *unit*; maintenance durations come from *sampler* or stream ``<unit>.maintenance``."""
    if not isinstance(policy, MaintenancePolicy):
        raise ConfigurationError(f"{unit.name}: policy {policy!r} is not a MaintenancePolicy; build one with "
                                 f"make_policy(name, ...)")
    if sampler is None:
        sampler = Sampler(policy.duration, streams(f"{unit.name}.maintenance"))
    return env.process(policy.run(env, unit, sampler))
