"""The KPIs of a running line, from the time-weighted records of its stations, crew and buffers.

Definitions of the station KPIs are in :mod:`sim.kpi`; the catalogue of every KPI (unit, display unit,
direction) is :data:`sim.kpi.KPIS`.
"""

from __future__ import annotations

from sim.kpi import safe_ratio

__all__ = ["line_kpis"]


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
        "jams": sum(k["jams"] for k in per.values()),
        "crew_utilisation": safe_ratio(twin.crew.busy.value(), twin.crew.size),
    }
    for name, k in per.items():
        out.update({f"{name}.{key}": value for key, value in k.items()})
    return out
