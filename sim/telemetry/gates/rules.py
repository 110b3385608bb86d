"""Per-channel data-quality rules: stuck-sensor and spike detection settings.

Both rules are small frozen dataclasses that validate themselves, so a rule that
exists can be used.  Their thresholds are in the channel's *source* unit, as on a
datasheet; :mod:`sim.telemetry.gates.pipeline` converts them to SI once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sim.exceptions import ChannelMapError

__all__ = ["StuckRule", "SpikeRule", "finite_number", "rule_from"]


def finite_number(value: Any, what: str, *, low: float | None = None, strict: bool = False,
                  fix: str = "") -> float:
    """*value* as a finite float ``>= low`` (``> low`` when *strict*), else a ChannelMapError."""
    if isinstance(value, bool):
        number = math.nan
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
    ok = math.isfinite(number) and (low is None or (number > low if strict else number >= low))
    if not ok:
        rule = "a finite number" + ("" if low is None else f" {'>' if strict else '>='} {low:g}")
        raise ChannelMapError(f"{what} {value!r} must be {rule}; fix: {fix or 'correct it in the channel map'}")
    return number


def _count(value: Any, what: str, low: int, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ChannelMapError(f"{what} {value!r} must be an integer >= {low}; fix: {fix}")
    return int(value)


@dataclass(frozen=True)
class StuckRule:
    """A sensor is stuck when it repeats one value for more than *samples* samples.

    Attributes
    ----------
    samples : int
        Longest run of (nearly) equal consecutive values that is still plausible, >= 2;
        every further value of the run is quarantined as ``stuck``.
    tolerance : float
        Values within *tolerance* of the run's first value count as equal [source unit].
    """

    samples: int
    tolerance: float = 0.0

    def __post_init__(self) -> None:
        fix = "e.g. stuck: {samples: 30, tolerance: 0.0}"
        object.__setattr__(self, "samples", _count(self.samples, "stuck.samples", 2, fix))
        object.__setattr__(self, "tolerance", finite_number(self.tolerance, "stuck.tolerance", low=0.0, fix=fix))


@dataclass(frozen=True)
class SpikeRule:
    """Hampel filter that respects steps and ramps: a value is a spike when it jumps away from both the recent
    level and the value before it.

    With ``tol = max(threshold * 1.4826 * MAD, min_deviation)`` over the *window* previous values that passed
    the value gates (a trailing window: live data needs no look-ahead), a value is quarantined as ``spike`` when
    ``|x - median| > tol`` and ``|x - previous value| > tol``.  So a ramp (a winding heating up: each value
    close to the one before) is never a spike, an isolated outlier is, and a genuine step (a load switched on)
    loses only its first value: the next one continues from it.  Without look-ahead that first value cannot be
    told from a spike; a signal whose steps must all be kept (a switched motor current, a valve position)
    should have no spike rule, or a *min_deviation* above its largest genuine step
    (``docs/historian-exports.md`` lists safe settings per signal type).

    Attributes
    ----------
    window : int
        Number of previous values the median and MAD are taken over, >= 3.
    threshold : float
        Robust z-score above which a value is a spike, > 0 (3 to 5 is usual).
    min_deviation : float
        Deviations up to this size are never spikes, which keeps quantized or constant
        signals (MAD = 0) from flagging every change [source unit].
    """

    window: int = 11
    threshold: float = 5.0
    min_deviation: float = 0.0

    def __post_init__(self) -> None:
        fix = "e.g. spike: {window: 11, threshold: 5, min_deviation: 0.5}"
        object.__setattr__(self, "window", _count(self.window, "spike.window", 3, fix))
        object.__setattr__(self, "threshold",
                           finite_number(self.threshold, "spike.threshold", low=0.0, strict=True, fix=fix))
        object.__setattr__(self, "min_deviation",
                           finite_number(self.min_deviation, "spike.min_deviation", low=0.0, fix=fix))


def rule_from(cls: type, spec: Any, where: str) -> Any:
    """Build *cls* (StuckRule or SpikeRule) from a YAML mapping, None or an instance."""
    if spec is None or isinstance(spec, cls):
        return spec
    name = "stuck" if cls is StuckRule else "spike"
    allowed = ("samples", "tolerance") if cls is StuckRule else ("window", "threshold", "min_deviation")
    if not isinstance(spec, Mapping):
        raise ChannelMapError(f"{where}: {name} {spec!r} must be a mapping; fix: give {list(allowed)}")
    unknown = [k for k in spec if k not in allowed]
    if unknown:
        raise ChannelMapError(f"{where}: unknown {name} key(s) {unknown}; fix: use only {list(allowed)}")
    try:
        return cls(**dict(spec))
    except TypeError as err:
        raise ChannelMapError(f"{where}: {name} {dict(spec)!r} is incomplete ({err}); fix: give {list(allowed)}"
                              ) from err
    except ChannelMapError as err:
        raise ChannelMapError(f"{where}: {err}") from err
