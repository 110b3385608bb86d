"""State as data: a snapshot of a line twin, and how it is taken from and put back into the parts.

SimPy processes are generators and cannot be pickled.  So nothing in a
snapshot refers to SimPy: it holds the clock, the buffer contents, per
station what it is doing (a jam until t, a repair with its phase and work
left, maintenance with work left, tripped or not), its failure clocks and
usage, the spare-part stocks with their orders in transit, the physics fleets
(:class:`~sim.physics.fleet.FleetSnapshot`, plain arrays) and the random
stream states.  Restoring means building a fresh twin at the snapshot's time
from the same spec, writing these values into the new parts, and starting
the processes, which resume the activities in progress (see
:mod:`sim.processes.flowprocs`).

Two ways to restore (``exact``):

* ``exact=True`` continues exactly - the random streams and the drawn but
  unused values are restored, so restore-then-run equals run-on (tested);
* ``exact=False`` forks a what-if with new streams (one per replication, CRN
  across actions): the activities in progress keep their work left, remaining
  lives are re-sampled conditionally on the age reached (exact for the
  Weibull/thinning clocks; a clock of age 0 keeps the life its fresh station
  drew, which is such a sample; the next jam is the interval the fresh station
  drew, counted from the usage reached, exact for exponential jam intervals);
  parameters come from the fork's spec (a what-if changes speeds, crew,
  buffers, policy, physics parameters), state from the snapshot.  So a fork of
  a snapshot taken before the twin ran reproduces a fresh twin with the same
  streams exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.exceptions import ConfigurationError
from sim.processes.crew import Job

__all__ = ["StationState", "TwinSnapshot", "capture_station", "apply_station", "check_signature"]


@dataclass(frozen=True)
class StationState:
    """What a flow station is doing and how worn it is.

    Attributes
    ----------
    name : str
    speed : float
        Speed factor [-].
    usage, renewed_at : float
        Equivalent full-rate running time, in total and at the last renewal [s].
    jam_due : float
        Usage at the next jam [s].
    jam_end : float or None
        End of the jam in progress [s].
    tripped : bool
        Waiting for the motor to cool to the reset temperature.
    repair : dict or None
        ``{"mode": index, "phase": "part" | "crew", "remaining": s, "at_work": bool}``.
    maintenance : dict or None
        ``{"remaining": s, "cost": currency, "reason": str, "at_work": bool}``.
    clocks : tuple of dict
        Failure clock states (origin, candidate, generator state).
    samplers : dict
        Sampler states (generator state and drawn, unused values).
    """

    name: str
    speed: float
    usage: float
    renewed_at: float
    jam_due: float
    jam_end: float | None
    tripped: bool
    repair: dict | None
    maintenance: dict | None
    clocks: tuple
    samplers: dict


@dataclass(frozen=True)
class TwinSnapshot:
    """A whole line twin at one instant, as plain data (picklable)."""

    time: float
    signature: dict
    levels: tuple
    stations: tuple
    spares: dict
    physics: dict
    streams: dict = field(default_factory=dict)
    seed: int = 0
    replication: int = 0


def capture_station(station) -> StationState:
    """The state of *station* now."""
    now = station.env.now
    repair = None
    if station.repair is not None:
        rep = station.repair
        repair = {"mode": rep["mode"], "phase": rep["phase"], "remaining": rep["job"].remaining_at(now),
                  "at_work": rep["job"].started is not None}
    maintenance = None
    if station.maintenance is not None:
        m = station.maintenance
        maintenance = {"remaining": m["job"].remaining_at(now), "cost": m["cost"], "reason": m["reason"],
                       "at_work": m["job"].started is not None}
    return StationState(
        name=station.name, speed=station.speed, usage=station.usage, renewed_at=station.renewed_at,
        jam_due=station.jam_due, jam_end=station.jam_end, tripped=station.tripped, repair=repair,
        maintenance=maintenance, clocks=tuple(c.state() for c in station.clocks),
        samplers={k: s.state() for k, s in station.samplers.items()})


def apply_station(station, state: StationState, *, exact: bool) -> None:
    """Write *state* into a freshly built *station* before its processes start."""
    if state.name != station.name:
        raise ConfigurationError(f"snapshot station {state.name!r} does not match station {station.name!r}")
    if exact:  # a fork takes the speed of its (what-if) spec; a continuation keeps any runtime change
        station.speed = state.speed
        station.available_rate = station.nominal_rate
    station.line.usage[station.index] = state.usage
    station.renewed_at = state.renewed_at
    station.jam_end = state.jam_end
    station.tripped = state.tripped
    if len(state.clocks) != len(station.clocks):
        raise ConfigurationError(f"station {station.name!r}: snapshot has {len(state.clocks)} failure modes, the "
                                 f"plant {len(station.clocks)}; restore into a plant with the same failure modes")
    for clock, cs in zip(station.clocks, state.clocks):
        if exact:
            clock.set_state(cs)
        else:  # the life drawn when the fork's station was built is one at age 0: redraw only for an older clock
            clock.origin = float(cs["origin"])
            if state.usage > clock.origin:
                clock.candidate = clock.mode.next_candidate(state.usage - clock.origin, clock.rng.exponential())
    if exact:
        station.jam_due = state.jam_due
        for key, sampler in station.samplers.items():
            if key in state.samplers:
                sampler.set_state(state.samplers[key])
    elif "jam_interval" in station.samplers:  # the interval drawn at build, counted from the usage reached
        station.jam_due = state.usage + station.jam_due
    if state.repair is not None:
        station.repair = {"mode": state.repair["mode"], "phase": state.repair["phase"],
                          "job": Job(state.repair["remaining"]), "at_work": state.repair.get("at_work", False)}
    if state.maintenance is not None:
        m = state.maintenance
        station.maintenance = {"job": Job(m["remaining"]), "cost": m["cost"], "reason": m["reason"],
                               "done": station.env.event(), "at_work": m.get("at_work", False)}


def check_signature(expected: dict, found: dict) -> None:
    """Raise if a snapshot taken from one plant (*found*) is restored into another (*expected*)."""
    for key in expected:
        if expected[key] != found.get(key):
            raise ConfigurationError(
                f"snapshot does not fit this plant: its {key} are {found.get(key)!r}, the plant's are "
                f"{expected[key]!r}; restore a snapshot into the plant (same stations, buffers and physics) it was "
                f"taken from, and change parameters (speeds, crew, buffer sizes, policy) with a what-if instead")
