"""The KPIs of a running line, from the time-weighted records of its stations, crew and buffers.

Definitions of the station KPIs are in :mod:`sim.kpi`; the catalogue of every KPI (unit, display unit,
direction) is :data:`sim.kpi.KPIS`.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Mapping

import numpy as np

from sim.exceptions import ConfigurationError
from sim.kpi import safe_ratio

__all__ = ["line_kpis", "INSULATION_CLASSES", "HALVING_INTERVAL", "ageing_factor", "insulation_ageing",
           "InsulationAgeing"]

#: Thermal classes of electrical insulation (IEC 60085) and their rated temperature [K]: the hot-spot
#: temperature at which the insulation reaches its rated life.
INSULATION_CLASSES: Mapping[str, float] = MappingProxyType({
    "A": 378.15, "E": 393.15, "B": 403.15, "F": 428.15, "H": 453.15})

HALVING_INTERVAL = 10.0
"""The 10 K rule (Montsinger; Arrhenius over the usual range): insulation life halves for every this many
kelvin above the class temperature [K]."""


def line_kpis(twin) -> dict[str, float]:
    """Line KPIs and ``<station>.<kpi>`` per station (definitions in :mod:`sim.kpi`).

    Line output is the last station's output less every station's scrap share.  The line's
    OEE, availability, performance and quality are measured at its bottleneck (the station
    with the lowest rated rate x max_speed): OEE = good output / (bottleneck ideal rate x
    planned time), availability = the bottleneck's availability, quality = good / output of
    the last station, performance = OEE / (availability x quality), so OEE = A x P x Q holds.
    Lead time = WIP / throughput (Little's law: flow material has no identity).  Crew cost =
    crew size x labour rate x time on shift: what the crew costs whether busy or not (the
    labour at work is also in maintenance cost; do not add the two).
    """
    per = {st.name: st.kpis() for st in twin.stations}
    last = twin.stations[-1]
    observed = last.recorder.observed
    output = per[last.name]["output"]
    good = output
    for s in twin.spec.stations:  # scrap leaves the line where it is made
        good *= 1.0 - s.scrap_fraction
    ideal = [s.rate * s.max_speed for s in twin.spec.stations]
    bottleneck = twin.spec.stations[ideal.index(min(ideal))].name
    planned = observed - last.recorder.durations()["off_shift"]
    energy = sum(twin.line.energy_now(i) for i in range(len(twin.stations)))
    wip = twin.line.wip()
    throughput = safe_ratio(good, observed)
    oee = safe_ratio(good, min(ideal) * planned)
    availability = per[bottleneck]["availability"]
    quality = safe_ratio(good, output)
    out = {
        "throughput": throughput,
        "output": good,
        "oee": oee,
        "availability": availability,
        "performance": safe_ratio(oee, availability * quality),
        "quality": quality,
        "wip": wip,
        "lead_time": safe_ratio(wip, throughput),
        "energy_per_unit": safe_ratio(energy, good),
        "maintenance_cost": sum(k["maintenance_cost"] for k in per.values()),
        "crew_cost": twin.crew.size * twin.crew.labour_rate * planned,
        "unplanned_downtime": sum(k["unplanned_downtime"] for k in per.values()),
        "failures": sum(k["failures"] for k in per.values()),
        "trips": sum(k["trips"] for k in per.values()),
        "stockouts": float(sum(sp.stockouts for sp in twin.spares.values())),
        "jams": sum(k["jams"] for k in per.values()),
        "crew_utilisation": safe_ratio(twin.crew.busy.value(), twin.crew.size),
    }
    for name, k in per.items():
        out.update({f"{name}.{key}": value for key, value in k.items()})
    return out


# ------------------------------------------------------------------------------ insulation ageing
def _reference(insulation_class: str | None, reference_temperature: float | None) -> float:
    if reference_temperature is not None:
        value = float(reference_temperature)
        if not (math.isfinite(value) and value > 0):
            raise ConfigurationError(f"reference_temperature = {reference_temperature!r} must be a finite "
                                     f"temperature > 0 K")
        return value
    if insulation_class not in INSULATION_CLASSES:
        raise ConfigurationError(f"insulation class {insulation_class!r} is unknown; use one of "
                                 f"{list(INSULATION_CLASSES)} (IEC 60085) or give reference_temperature [K]")
    return INSULATION_CLASSES[insulation_class]


def ageing_factor(winding_temperature, reference_temperature: float, halving_interval: float = HALVING_INTERVAL):
    """Relative ageing rate of insulation at *winding_temperature* [K]: ``2 ** ((T - T_ref) / halving_interval)``
    [-] (1 at the class temperature *reference_temperature* [K], 2 at 10 K above, 0.5 at 10 K below)."""
    return np.exp2((np.asarray(winding_temperature, dtype=float) - reference_temperature) / halving_interval)


def insulation_ageing(time, winding_temperature, *, insulation_class: str | None = "B",
                      reference_temperature: float | None = None, halving_interval: float = HALVING_INTERVAL
                      ) -> float:
    """Insulation ageing over a winding-temperature record: equivalent time at the class temperature [s].

    The trapezoidal integral of :func:`ageing_factor` over *time* [s] (increasing) of
    *winding_temperature* [K]; *reference_temperature* [K] overrides the class's
    (:data:`INSULATION_CLASSES`).  A motor held at the class temperature ages one second per second.
    """
    t = np.asarray(time, dtype=float)
    temp = np.asarray(winding_temperature, dtype=float)
    if t.shape != temp.shape or t.ndim != 1:
        raise ConfigurationError(f"time {t.shape} and winding_temperature {temp.shape} must be 1-d arrays of one "
                                 f"length")
    if t.size and np.any(np.diff(t) < 0):
        raise ConfigurationError("time must be non-decreasing [s]; sort the record first")
    if t.size < 2:
        return 0.0
    rate = ageing_factor(temp, _reference(insulation_class, reference_temperature), halving_interval)
    return float(np.sum(0.5 * (rate[1:] + rate[:-1]) * np.diff(t)))


class InsulationAgeing:
    """Streaming :func:`insulation_ageing` of one winding: add ``(time, temperature)`` samples; O(1) memory.

    Parameters
    ----------
    insulation_class : str
        Thermal class (:data:`INSULATION_CLASSES`), ignored when *reference_temperature* is given.
    reference_temperature : float, optional
        Class temperature [K].
    halving_interval : float
        Life halves every this many kelvin [K].
    """

    __slots__ = ("reference_temperature", "halving_interval", "_t", "_rate", "_area", "peak")

    def __init__(self, insulation_class: str | None = "B", *, reference_temperature: float | None = None,
                 halving_interval: float = HALVING_INTERVAL):
        if not (math.isfinite(halving_interval) and halving_interval > 0):
            raise ConfigurationError(f"halving_interval = {halving_interval!r} must be a finite number of kelvin > 0")
        self.reference_temperature = _reference(insulation_class, reference_temperature)
        self.halving_interval = float(halving_interval)
        self.reset()

    def reset(self) -> None:
        """Forget the past (warm-up deletion); the next sample starts a new record."""
        self._t = self._rate = None
        self._area = 0.0
        self.peak = -math.inf

    def add(self, time: float, winding_temperature: float) -> None:
        """Record the winding at *winding_temperature* [K] at *time* [s] (not before the last sample)."""
        rate = 2.0 ** ((winding_temperature - self.reference_temperature) / self.halving_interval)
        if self._t is not None:
            if time < self._t:
                raise ConfigurationError(f"sample at {time} s is before the last one ({self._t} s)")
            self._area += 0.5 * (rate + self._rate) * (time - self._t)
        self._t, self._rate = time, rate
        if winding_temperature > self.peak:
            self.peak = winding_temperature

    def value(self) -> float:
        """Equivalent time at the class temperature since the start or the last reset [s]."""
        return self._area
