"""Waiting for a threshold *crossing* rather than a threshold *met*: re-arming after the signal has left it.

:meth:`sim.clock.PhysicsComponent.wait_for` level-checks when it is armed: a
threshold that is already met succeeds at once (a motor asked to start while
its winding is above the trip limit trips at once).  That stays the rule.  A
process that wants the *next* crossing instead - count every over-temperature
episode once, re-trip only after a cool-down - waits for the signal to leave
the threshold first.  That needs a second state event on the same output in
the opposite direction, the *release*, at a level on the other side of the
threshold (a hysteresis band, as every trip relay has: trip at 155 degC,
reset below 145 degC)::

    events = (StateEvent("hot", "winding_temperature", 428.15, +1),
              StateEvent("cooled", "winding_temperature", 418.15, -1))

    def watchdog(env, motor):
        while True:
            hit = yield from wait_for_crossing(motor, 0, "hot", release="cooled")
            ...  # one alarm per episode, however long the motor stays hot

The release must lie strictly beyond the threshold: at equal levels the
located release leaves the signal on the threshold (within the event time
tolerance), and the threshold would count as met again at once.
"""

from __future__ import annotations

from sim.exceptions import ConfigurationError

__all__ = ["wait_for_crossing"]


def wait_for_crossing(physics, asset: int, event: str, *, release: str):
    """Generator: the :class:`~sim.physics.EventHit` of the next crossing of *event* by *asset*.

    Use it as ``hit = yield from wait_for_crossing(component, asset, "hot", release="cooled")``.

    Parameters
    ----------
    physics : sim.clock.PhysicsComponent
        The fleet on the co-simulation clock.
    asset : int
        Asset index in the fleet.
    event : str
        Name of the state event waited for (direction +1 or -1).
    release : str
        Name of the state event on the same output, in the opposite direction and strictly beyond *event*'s
        level, that marks the signal as having left the threshold.

    Notes
    -----
    If the threshold of *event* is met now, the generator first waits for
    *release*, then for *event*; otherwise it waits for *event* at once (the
    same as ``yield physics.wait_for(asset, event)``).
    """
    fleet = physics.fleet
    trip = fleet.events[fleet.event_index(event)]
    reset = fleet.events[fleet.event_index(release)]
    if trip.direction == 0:
        raise ConfigurationError(f"event {trip.name!r} has direction 0 (fires both ways), so 'met' has no side; "
                                 f"give it direction +1 (rising) or -1 (falling) to wait for its crossing")
    if reset.output != trip.output or reset.direction != -trip.direction:
        raise ConfigurationError(
            f"release {reset.name!r} must watch the same output as {trip.name!r} ({trip.output!r}) in the opposite "
            f"direction ({-trip.direction:+d}); it watches {reset.output!r} with direction {reset.direction:+d}")
    beyond = reset.level < trip.level if trip.direction > 0 else reset.level > trip.level
    if not beyond:
        side = "below" if trip.direction > 0 else "above"
        raise ConfigurationError(
            f"release {reset.name!r} at {reset.level} must lie strictly {side} the level {trip.level} of "
            f"{trip.name!r} (a hysteresis band); at an equal level the threshold counts as met again at once - "
            f"move the release level {side} it, e.g. by the sensor noise")
    value = physics.output(asset, trip.output)
    met = value >= trip.level if trip.direction > 0 else value <= trip.level
    if met:
        yield physics.wait_for(asset, release)
    hit = yield physics.wait_for(asset, event)
    return hit
