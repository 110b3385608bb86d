"""Fork the what-if from the calibrated twin: the line "now", with the monitored motor's calibrated state.

The calibration ends with the monitored motor's states at the window end
(:attr:`calibration.CalibrationRecord.final_state`: winding and housing
temperatures).  :func:`calibrated_snapshot` builds the line, writes those
states into the motors of the monitored stations and takes a
:class:`~sim.line.TwinSnapshot`; every action's replications start from it with
``LineTwin.restore(spec_of_action, snapshot, streams=...)`` (a fork: the
action's speeds, buffers, crew, policy and motor parameters, the snapshot's
state, new random streams per replication, common across actions).

Rules, stated once:

* **The line clock** counts seconds from Monday 00:00 UTC of the week the
  window ends in (:func:`line_time`): the shift calendar counts weekdays from
  Monday, and the ambient cycle (:func:`scenarios.reference.plant.ambient_cycle`)
  is a time of day in UTC.  The fork starts at the window end on that clock.
* **What the telemetry does not observe starts empty**: buffers, failures,
  repairs and spare-part orders are not in the motor's telemetry, so the line's
  discrete state is that of a freshly built line.  A fresh line holds no
  time-stamped activity, so its snapshot is moved to the fork time by setting
  its clocks (the twin's and its physics fleets'); any other snapshot is refused.
* **Signatures**: a what-if action changes parameters (speeds, buffer sizes,
  crew, policy, motor parameters), never structure, and
  :meth:`sim.line.LineSpec.signature` compares structure only (stations,
  buffers, failure modes, spare parts, physics parts, motor model), so every
  action's spec restores the one snapshot; a change of structure is refused by
  the signature check, naming the difference.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from sim.exceptions import ConfigurationError
from sim.line import LineSpec, LineTwin
from sim.line.snapshot import TwinSnapshot
from sim.streams import RandomStreams

__all__ = ["WEEK", "line_time", "calibrated_snapshot"]

WEEK = 7 * 86400.0
"""Length of the shift calendar's period [s]."""


def line_time(stamp) -> float:
    """The line clock at *stamp* [s]: seconds since Monday 00:00 UTC of its week."""
    stamp = pd.Timestamp(stamp)
    stamp = stamp.tz_convert("UTC") if stamp.tzinfo is not None else stamp.tz_localize("UTC")
    monday = stamp.normalize() - pd.Timedelta(days=stamp.weekday())
    return (stamp - monday).total_seconds()


def calibrated_snapshot(spec: LineSpec, *, states: dict, stations, time: float = 0.0,
                        streams: RandomStreams | None = None) -> TwinSnapshot:
    """The line of *spec*, freshly built, with *states* in the motors of *stations*, as a snapshot at *time*.

    Parameters
    ----------
    spec : LineSpec
        The line as it is (the baseline action), with the calibrated motor parameters.
    states : dict
        Motor states, name → value [SI] (e.g. ``record.final_state``); states not named keep the
        motors' initial values.
    stations : sequence of str
        The monitored stations whose motors get *states*.
    time : float
        Line clock of the snapshot [s] (:func:`line_time` of the window end).
    streams : RandomStreams, optional
        Streams of the fresh line (replication 0 of seed 0 by default); a fork draws its own.
    """
    if spec.motors is None:
        raise ConfigurationError("the line has no motor physics to put the calibrated motor state into; build the "
                                 "line with LineSpec(motors=MotorPhysics(...))")
    if not (np.isfinite(time) and time >= 0):
        raise ConfigurationError(f"fork time = {time!r} must be a finite line time >= 0 [s]")
    names = [s.name for s in spec.stations]
    unknown = sorted(set(stations) - set(names))
    if unknown:
        raise ConfigurationError(f"unknown station(s) {unknown} for the calibrated motor state; stations are {names}")
    model = spec.motors.model.spec
    bad = sorted(set(states) - set(model.names("states")))
    if bad:
        raise ConfigurationError(f"calibrated state(s) {bad} are not states of {model.name} "
                                 f"{list(model.names('states'))}")
    twin = LineTwin(spec, streams=streams if streams is not None else RandomStreams(0, 0))
    fleet = twin.motors.fleet
    for name in stations:
        i = names.index(name)
        fleet.states[i] = model.vector("states", {**model.as_dict("states", fleet.states[i]), **states})
    model.check_finite("states", fleet.states)
    snap = twin.snapshot()
    if any(sp.get("pipeline") for sp in snap.spares.values()):  # pragma: no cover - no line orders at build
        raise ConfigurationError("the fresh line has spare-part orders in transit; it cannot be moved in time")
    physics = {k: dataclasses.replace(v, time=float(time)) for k, v in snap.physics.items()}
    return dataclasses.replace(snap, time=float(time), physics=physics)
