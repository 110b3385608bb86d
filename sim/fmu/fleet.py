"""N assets of one FMU model as a fleet on the co-simulation clock: the :class:`sim.physics.Fleet` interface.

:class:`FmuFleet` keeps what :class:`sim.physics.Fleet` keeps - ``states[n, nx]``, ``params[n, np]``,
``inputs[n, nu]``, ``time``, ``events`` and ``active`` - as plain arrays, and advances an asset by a run of one
reused FMU instance from those arrays (:meth:`sim.fmu.FmuModel.run_member`: reset, the named states' start values,
the parameters and held inputs, initialize, communication steps of at most ``max_step``, the states read back).
So what :class:`sim.clock.PhysicsComponent` does to a fleet works unchanged: ``set_state`` writes the array the
next advance starts from, ``snapshot``/``restore`` are exact array copies that pickle (no FMU state handle), and a
state event is located by running the last communication step again from its start states over shorter spans
(bisection on the watched output to ``event_tolerance``) - no ``get/setFMUstate`` needed.

The condition is the one the calibrators and the live filter have: the states an :class:`~sim.fmu.FmuModel`
names are the FMU's whole dynamic state.  Each advance costs an FMU initialization per asset, so the fleet suits
a few FMU assets on a clock whose events come every few communication steps, not hundreds of assets.
"""

from __future__ import annotations

import math

import numpy as np

from sim.exceptions import ConfigurationError, InvalidTimeError, ModelError
from sim.physics.fleet import EventHit, FleetArrays, FleetSnapshot

__all__ = ["FmuFleet"]


class FmuFleet(FleetArrays):
    """*n* assets of one :class:`sim.fmu.FmuModel`, with state events, on the :class:`sim.physics.Fleet` interface.

    Parameters
    ----------
    model : FmuModel
        The FMU model (its ``states`` name the FMU's states).
    n : int
        Number of assets.
    states, params, inputs : dict or array, optional
        Initial values (name -> value for all assets, or ``[n, width]`` arrays); default the FMU's start values.
    events : sequence of StateEvent
        Threshold crossings of model outputs watched during :meth:`advance`; all armed initially.
    max_step : float
        Longest communication step [s]; events are looked for at these points and located between them.
    event_tolerance : float
        Width of the time interval a located event lies in [s].
    time : float
        Initial time [s].
    """

    def __init__(self, model, *, n: int = 1, states=None, params=None, inputs=None, events=(),
                 max_step: float = 1.0, event_tolerance: float = 1e-6, time: float = 0.0):
        if n < 1:
            raise ConfigurationError(f"a fleet needs at least one asset, got n = {n}")
        if not (max_step > 0 and math.isfinite(max_step)) or not event_tolerance > 0:
            raise ConfigurationError(f"max_step = {max_step!r} s and event_tolerance = {event_tolerance!r} s must be "
                                     f"finite and positive, e.g. 1.0 and 1e-6")
        self.model = model
        self.spec = model.spec
        self.states, self.params, self.inputs = (self._array(kind, given, n) for kind, given in
                                                 (("states", states), ("params", params), ("inputs", inputs)))
        self.spec.check_bounds(self.params)
        self.spec.check_finite("states", self.states, time=time)
        self.spec.check_inputs(self.inputs, time=time)
        self.events = tuple(events)
        names = [e.name for e in self.events]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"event names must be unique, got {names}")
        self._ev_out = [self.spec.index("outputs", e.output) for e in self.events]
        self.active = np.ones((n, len(self.events)), dtype=np.bool_)
        self.max_step = float(max_step)
        self.event_tolerance = float(event_tolerance)
        self.time = float(time)
        self._y = None  # outputs at self.time, with the arrays they were computed from

    def _array(self, kind, given, n):
        width = len(getattr(self.spec, kind))
        if given is None or isinstance(given, dict):
            return np.tile(self.spec.vector(kind, given), (n, 1)).astype(np.float64)
        arr = np.asarray(given, dtype=np.float64)
        try:
            return np.ascontiguousarray(np.broadcast_to(arr, (n, width)), dtype=np.float64).copy()
        except ValueError:
            raise ConfigurationError(f"{self.spec.name}: {kind} must have shape ({n}, {width}) (order "
                                     f"{list(self.spec.names(kind))}), got {arr.shape}") from None

    def outputs(self) -> np.ndarray:
        """Outputs ``y[n, ny]`` at the current time (an FMU initialization per asset where anything changed)."""
        key = (self.time, self.states.tobytes(), self.params.tobytes(), self.inputs.tobytes())
        if self._y is None or self._y[0] != key:
            y = np.array([self.model.run_member(self.states[a], self.params[a], self.time, self.time,
                                                self.inputs[a])[1] for a in range(self.n)])
            self._y = (key, y.reshape(self.n, self.spec.ny))
        return self._y[1].copy()

    def output(self, asset: int, name: str) -> float:
        """Output *name* of *asset* at the current time."""
        return float(self.outputs()[asset, self.spec.index("outputs", name)])

    # ---------------------------------------------------------------- advance
    def advance(self, t_end: float) -> EventHit | None:
        """Advance every asset to *t_end* [s], stopping at the first armed state event.

        Returns the :class:`~sim.physics.EventHit` (the fleet then stands at the event time, within
        ``event_tolerance`` after the crossing) or ``None`` when *t_end* was reached.
        """
        t_end = float(t_end)
        if not math.isfinite(t_end) or not t_end >= self.time:
            raise InvalidTimeError(f"cannot advance the {self.spec.name} fleet from {self.time} s to t_end = "
                                   f"{t_end} s: the end must be finite and not before now; restore a snapshot to go "
                                   f"back")
        self.spec.check_inputs(self.inputs, time=self.time)
        while self.time < t_end:
            t0, t1 = self.time, min(t_end, self.time + self.max_step)
            y0 = self.outputs()
            x1 = np.empty_like(self.states)
            y1 = np.empty_like(y0)
            for a in range(self.n):
                x1[a], y1[a] = self.model.run_member(self.states[a], self.params[a], t0, t1, self.inputs[a])
            hit = self._first_crossing(y0, y1)
            if hit is None:
                self._stand(t1, x1, y1)
                continue
            return self._locate(hit, t0, t1)
        return None

    def _crossed(self, j, before, after) -> bool:
        ev = self.events[j]
        lo, hi = before - ev.level, after - ev.level
        return (ev.direction >= 0 and lo < 0 <= hi) or (ev.direction <= 0 and lo > 0 >= hi)

    def _first_crossing(self, y0, y1):
        for a in range(self.n):
            for j in range(len(self.events)):
                if self.active[a, j] and self._crossed(j, y0[a, self._ev_out[j]], y1[a, self._ev_out[j]]):
                    return a, j
        return None

    def _locate(self, hit, t0, t1) -> EventHit:
        """Bisect ``[t0, t1]`` for the earliest crossing of any armed event; the fleet then stands just after it."""
        x0, y0 = self.states.copy(), self.outputs()
        lo, hi = t0, t1
        while hi - lo > self.event_tolerance:
            mid = 0.5 * (lo + hi)
            y = np.array([self.model.run_member(x0[a], self.params[a], t0, mid, self.inputs[a])[1]
                          for a in range(self.n)])
            found = self._first_crossing(y0, y)
            if found is None:
                lo = mid
            else:
                hi, hit = mid, found
        x = np.empty_like(self.states)
        y = np.empty((self.n, self.spec.ny))
        for a in range(self.n):
            x[a], y[a] = self.model.run_member(x0[a], self.params[a], t0, hi, self.inputs[a])
        self._stand(hi, x, y)
        return EventHit(time=hi, asset=hit[0], event=self.events[hit[1]])

    def _stand(self, time, states, outputs) -> None:
        if not np.isfinite(states).all():
            a = int(np.argmax(~np.isfinite(states).all(axis=1)))
            raise ModelError(f"{self.spec.name}: asset {a} reached non-finite states {states[a].tolist()} at "
                             f"t = {time} s; check its parameters {self.params[a].tolist()} and inputs "
                             f"{self.inputs[a].tolist()}")
        self.time = float(time)
        self.states[...] = states
        self._y = ((self.time, self.states.tobytes(), self.params.tobytes(), self.inputs.tobytes()), outputs.copy())

    # --------------------------------------------------------- snapshot/restore
    def restore(self, snap: FleetSnapshot) -> None:
        super().restore(snap)
        self._y = None  # the cached outputs belong to the state before
