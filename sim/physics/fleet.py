"""Fleets: N assets of one model held as arrays and advanced in one kernel call."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.exceptions import ConfigurationError, InvalidTimeError
from sim.physics.integrators import RK4
from sim.physics.model import Model, raise_for_status, warn_if_stiff

__all__ = ["StateEvent", "EventHit", "FleetSnapshot", "FleetArrays", "Fleet"]


@dataclass(frozen=True)
class StateEvent:
    """A threshold crossing on a model output, e.g. winding temperature >= trip limit.

    Parameters
    ----------
    name : str
        Event name used in reports (``overtemperature_trip``).
    output : str
        Name of the model output that is watched.
    level : float
        Threshold [unit of the output].
    direction : int
        +1 fires on rising crossings, -1 on falling ones, 0 on both.
    """

    name: str
    output: str
    level: float
    direction: int = 1

    def __post_init__(self):
        if self.direction not in (-1, 0, 1):
            raise ConfigurationError(f"event {self.name!r}: direction must be -1, 0 or +1, got {self.direction!r}")
        if not math.isfinite(self.level):
            raise ConfigurationError(f"event {self.name!r}: level must be finite, got {self.level!r}")


@dataclass(frozen=True)
class EventHit:
    """A located state event: which asset, which event, when [s]."""

    time: float
    asset: int
    event: StateEvent


@dataclass(frozen=True)
class FleetSnapshot:
    """Copy of a fleet's state, enough to restore it exactly."""

    model: str
    time: float
    states: np.ndarray
    params: np.ndarray
    inputs: np.ndarray
    active: np.ndarray


class FleetArrays:
    """What every fleet of assets on state arrays shares (:class:`Fleet`, :class:`sim.fmu.fleet.FmuFleet`):
    ``states[n, nx]``, ``params[n, np]``, ``inputs[n, nu]``, ``active[n, n_events]``, ``events``, ``spec`` and
    ``time``; event arming, checked inputs, snapshot and restore."""

    @property
    def n(self) -> int:
        return self.states.shape[0]

    # ----------------------------------------------------------------- access
    def event_index(self, name: str) -> int:
        for j, e in enumerate(self.events):
            if e.name == name:
                return j
        raise ConfigurationError(f"fleet of {self.spec.name} has no event {name!r}; known: {[e.name for e in self.events]}")

    def arm(self, asset: int, event: str, armed: bool = True) -> None:
        """Arm (or disarm) *event* for *asset*."""
        self.active[asset, self.event_index(event)] = armed

    def set_input(self, asset: int, name: str, value: float) -> None:
        """Set input *name* of *asset* [its unit]; it must be finite and inside its bounds in the spec."""
        i = self.spec.index("inputs", name)
        row = self.inputs[asset:asset + 1].copy()
        row[0, i] = float(value)
        self.spec.check_inputs(row, time=self.time, first_asset=asset % self.n)
        self.inputs[asset, i] = row[0, i]

    # --------------------------------------------------------- snapshot/restore
    def snapshot(self) -> FleetSnapshot:
        return FleetSnapshot(self.spec.name, self.time, self.states.copy(), self.params.copy(), self.inputs.copy(),
                             self.active.copy())

    def restore(self, snap: FleetSnapshot) -> None:
        if snap.model != self.spec.name or snap.states.shape != self.states.shape:
            raise ConfigurationError(
                f"snapshot of model {snap.model!r} with {snap.states.shape[0]} assets cannot be restored into a "
                f"fleet of {self.spec.name!r} with {self.n} assets; restore it into the fleet it came from")
        self.time = snap.time
        self.states[...] = snap.states
        self.params[...] = snap.params
        self.inputs[...] = snap.inputs
        self.active[...] = snap.active


class Fleet(FleetArrays):
    """N assets of one model: ``states[n, nx]``, ``params[n, np]``, ``inputs[n, nu]``.

    Parameters
    ----------
    model : Model
        The physics model.
    states, params, inputs : arrays or name→value mappings
        Initial values (defaults from the spec where omitted).
    n : int
        Number of assets (taken from the arrays where given).
    events : sequence of StateEvent
        State events watched during :meth:`advance`; all armed initially.
    integrator : RK4
        Numerical method (strategy object).
    time : float
        Initial time [s].
    """

    def __init__(self, model: Model, *, n: int | None = None, states=None, params=None, inputs=None,
                 events=(), integrator: RK4 | None = None, time: float = 0.0):
        if n is None:
            n = next((np.atleast_2d(a).shape[0] for a in (states, params, inputs)
                      if a is not None and not isinstance(a, dict)), 1)
        if n < 1:
            raise ConfigurationError(f"a fleet needs at least one asset, got n = {n}")
        self.model = model
        self.spec = model.spec
        self.integrator = integrator or RK4()
        self._options = self.integrator.options()
        self.states, self.params, self.inputs = model.fleet_arrays(n, states=states, params=params, inputs=inputs)
        self.spec.check_bounds(self.params)
        self.spec.check_finite("states", self.states, time=time)
        self.spec.check_inputs(self.inputs, time=time)
        self.events = tuple(events)
        names = [e.name for e in self.events]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"event names must be unique, got {names}")
        self._ev_out = np.array([self.spec.index("outputs", e.output) for e in self.events], dtype=np.int64)
        self._ev_level = np.array([e.level for e in self.events], dtype=np.float64)
        self._ev_dir = np.array([e.direction for e in self.events], dtype=np.int64)
        self.active = np.ones((n, len(self.events)), dtype=np.bool_)
        self.time = float(time)
        self._status = np.full(4, -1, dtype=np.int64)
        self._report = np.full(4, np.nan)
        self._warned_stiff = False
        self._kernels = model.kernels(self.integrator)

    def outputs(self) -> np.ndarray:
        """Outputs ``y[n, ny]`` at the current time."""
        out = self.model.output
        return np.array([out(tuple(self.states[a]), tuple(self.params[a]), tuple(self.inputs[a]))
                         for a in range(self.n)], dtype=np.float64).reshape(self.n, self.spec.ny)

    def output(self, asset: int, name: str) -> float:
        """Output *name* of *asset* at the current time."""
        y = self.model.output(tuple(self.states[asset]), tuple(self.params[asset]), tuple(self.inputs[asset]))
        return float(y[self.spec.index("outputs", name)])

    # ---------------------------------------------------------------- advance
    def advance(self, t_end: float) -> EventHit | None:
        """Advance every asset to *t_end* [s], stopping at the first armed state event.

        Returns the :class:`EventHit` (the fleet then stands at the event time)
        or ``None`` when *t_end* was reached.
        """
        t_end = float(t_end)
        if not math.isfinite(t_end):
            raise InvalidTimeError(
                f"cannot advance the {self.spec.name} fleet to t_end = {t_end} s: the end time must be a finite time "
                f"[s] at or after the current time {self.time} s; pass e.g. fleet.time + 3600.0")
        if not t_end >= self.time:
            raise InvalidTimeError(
                f"cannot advance the {self.spec.name} fleet backwards: t_end = {t_end} s < current time "
                f"{self.time} s; restore a snapshot to go back")
        if t_end == self.time:
            return None
        self.spec.check_inputs(self.inputs, time=self.time)  # they may have been written into the array
        t = self._kernels.advance(self.states, self.params, self.inputs, self.time, t_end, self._options,
                                  self._ev_out, self._ev_level, self._ev_dir, self.active, self._status, self._report)
        code, a, j = (int(v) for v in self._status[:3])
        if code >= 2:
            raise_for_status(self.spec, self._status, self._report, params=self.params, integrator=self.integrator,
                             end=t_end)
        if self._status[3] >= 0 and not self._warned_stiff:
            self._warned_stiff = True
            warn_if_stiff(self.spec, self._status, self.integrator)
        self.time = float(t)
        if code == 1:
            return EventHit(time=self.time, asset=a, event=self.events[j])
        return None

