"""The reference bottling line: depalletizer -> filler -> capper -> packer, with buffers.

Composed from engine parts (:mod:`sim.line`, :mod:`sim.processes`).  Every
station has a motor with the two-node thermal model (one fleet of four, one
kernel call for all) and over-temperature protection; the filler's motor
winding drives a failure mode (hazard doubling every 10 K above 100 degC).
Physics models are parameters: :func:`reference_line_spec` takes the motor
model and any further :class:`~sim.line.PhysicsPart`; ``pump=True`` adds the
filler's centrifugal pump (``sim.physics.PUMP``) whose bearing vibration
drives a filler failure mode.

Figures (bottles per second, seconds, currency units) describe a mid-size
18,000 bottles/h line; they are plausible, not calibrated.  The filler's
motor is the one the bundled telemetry measures (``M1``: about 30 A at speed
1, protection tripping at 120 degC and resetting at 100 degC), so the main job
can give it the calibrated thermal parameters.
"""

from __future__ import annotations

import dataclasses

from sim.physics import MOTOR_THERMAL, PUMP, RK4, Fleet, Model
from sim.processes import (Exponential, ExponentialLink, FailureMode, FlowBufferParams, FlowStationParams, LogNormal,
                           MotorLoad, PowerLink, ShiftCalendar, TimeBased)
from sim.streams import RandomStreams
from sim.line import AmbientCycle, LineSpec, LineTwin, MotorPhysics, PhysicsPart, SpareSpec

__all__ = ["reference_line_spec", "build_reference_line", "change_line", "filler_pump_part", "FILLER_BEARING"]

HOUR = 3600.0
TRIP = 393.15  # winding trip level [K] (120 degC), as on the monitored filler motor
RESET = 373.15  # restart allowed below [K] (100 degC)


def _stations() -> tuple:
    motor = MotorLoad(current_no_load=10.0, current_full_load=30.0)
    return (
        FlowStationParams(
            name="depalletizer", rate=6.0, max_speed=1.1, motor=motor,
            jam_interval=Exponential(2.0 * HOUR), jam_duration=Exponential(60.0),
            failure_modes=(FailureMode("drive", scale=300 * HOUR, shape=1.3, repair_time=LogNormal(1.5 * HOUR, 0.6)),)),
        FlowStationParams(
            name="filler", rate=5.0, max_speed=1.2, motor=MotorLoad(current_no_load=10.0, current_full_load=30.0),
            jam_interval=Exponential(1.0 * HOUR), jam_duration=Exponential(90.0), scrap_fraction=0.005,
            failure_modes=(
                FailureMode("winding", scale=4000 * HOUR, shape=1.0, repair_time=LogNormal(4 * HOUR, 0.5),
                            link=ExponentialLink("winding_temperature", reference=373.15, doubling=10.0, maximum=TRIP)),
                FailureMode("valve", scale=500 * HOUR, shape=1.5, repair_time=LogNormal(2 * HOUR, 0.5),
                            spare_part="valve_kit", part_cost=400.0),
            ),
            repair_priority=0),
        FlowStationParams(
            name="capper", rate=5.5, max_speed=1.2, motor=motor,
            jam_interval=Exponential(1.5 * HOUR), jam_duration=Exponential(45.0), scrap_fraction=0.002,
            failure_modes=(FailureMode("head", scale=400 * HOUR, shape=1.2, repair_time=LogNormal(1 * HOUR, 0.6)),)),
        FlowStationParams(
            name="packer", rate=5.8, max_speed=1.1, motor=motor,
            jam_interval=Exponential(1.0 * HOUR), jam_duration=Exponential(120.0),
            failure_modes=(FailureMode("gripper", scale=250 * HOUR, shape=1.0, repair_time=LogNormal(1 * HOUR, 0.8)),)),
    )


FILLER_BEARING = FailureMode(
    "pump_bearing", scale=3000 * HOUR, shape=1.0, repair_time=LogNormal(3 * HOUR, 0.5),
    link=PowerLink("vibration_rms", reference=2.5e-3, exponent=2.0, maximum=1.3e-2))
"""Filler failure mode driven by the pump's bearing vibration (with :func:`filler_pump_part`)."""


def filler_pump_part(*, max_step: float = 1.0, static_head: float = 10.0) -> PhysicsPart:
    """The filler's centrifugal pump (``sim.physics.PUMP``) as a physics part of the line.

    The pump recirculates product while the filler is up (jams and starving do not stop it): shaft
    speed = reference speed x the filler's speed factor against *static_head* [m].  While the filler
    stands still the pump is off and a check valve holds the column (static head 0, so the pipe does
    not drain backwards through the stopped impeller, which the model does not cover).  Its outputs
    (vibration RMS, flow, pressure ...) can drive the filler's failure modes (:data:`FILLER_BEARING`),
    and the filler's ``renewal_states`` may reset its wear states.
    """
    reference = PUMP.spec.vector("params", None)[PUMP.spec.index("params", "reference_speed")]

    def build(start: float) -> Fleet:
        return Fleet(PUMP, n=1, integrator=RK4(max_step=max_step), time=start,
                     inputs={"shaft_speed": reference, "static_head": static_head})

    def couple(twin, pump) -> None:
        filler = twin.station("filler")
        last = [None]

        def follow(station):
            running = not station.stops
            key = (running, station.speed)
            if key != last[0]:
                last[0] = key
                pump.set_input(0, "shaft_speed", reference * station.speed if running else 0.0)
                pump.set_input(0, "static_head", static_head if running else 0.0)

        filler.listeners.append(follow)
        follow(filler)

    return PhysicsPart("filler_pump", build=build, stations=(1,), couple=couple)


def reference_line_spec(*, motor_model: Model = MOTOR_THERMAL, parts: tuple = (), crew_size: int = 2,
                        policy=None, calendar: ShiftCalendar | None = None, pump: bool = False) -> LineSpec:
    """The reference line as a :class:`~sim.line.LineSpec`.

    Parameters
    ----------
    motor_model : Model
        Thermal model of every station motor.
    parts : tuple of PhysicsPart
        Further physics (the filler pump).
    crew_size : int
        Maintenance technicians.
    policy : MaintenancePolicy, optional
        Default: time-based, every 160 h of running, 1.5 h, 150 per job.
    calendar : ShiftCalendar, optional
        Default: six days a week round the clock, Sunday off.
    pump : bool
        Add the filler's pump (:func:`filler_pump_part`) with its bearing failure mode; maintenance of the
        filler then renews the pump's bearing.
    """
    stations = _stations()
    if pump:
        filler = stations[1]
        filler = dataclasses.replace(filler, failure_modes=filler.failure_modes + (FILLER_BEARING,),
                                     renewal_states={"bearing_wear": 0.0})
        stations = (stations[0], filler) + stations[2:]
        parts = (filler_pump_part(),) + tuple(parts)
    return LineSpec(
        stations=stations,
        buffers=(FlowBufferParams("depal_filler", 1500.0), FlowBufferParams("filler_capper", 800.0),
                 FlowBufferParams("capper_packer", 2000.0)),
        crew_size=crew_size,
        labour_rate=60.0 / HOUR,
        policy=policy if policy is not None else TimeBased(interval=160 * HOUR, duration=1.5 * HOUR, cost=150.0),
        spares=(SpareSpec("valve_kit", initial=2, reorder_point=1, order_quantity=2, lead_time=5 * 24 * HOUR,
                          unit_cost=400.0),),
        calendar=calendar if calendar is not None else ShiftCalendar.daily(0.0, 24 * HOUR, days=range(6)),
        motors=MotorPhysics(model=motor_model, trip_temperature=TRIP, reset_temperature=RESET),
        ambient=AmbientCycle(mean=298.15, amplitude=4.0),
        parts=tuple(parts),
    )


def build_reference_line(streams: RandomStreams, spec: LineSpec | None = None) -> LineTwin:
    """A runnable twin of the reference line (or of *spec*) for one replication."""
    return LineTwin(spec if spec is not None else reference_line_spec(), streams=streams)


def change_line(spec: LineSpec, *, speed: dict | None = None, buffer_scale: float | None = None, **fields) -> LineSpec:
    """A what-if copy of *spec*: station speeds by name, buffers scaled, or LineSpec fields replaced."""
    if speed:
        known = {s.name for s in spec.stations}
        unknown = set(speed) - known
        if unknown:
            from sim.exceptions import ConfigurationError
            raise ConfigurationError(f"unknown station(s) {sorted(unknown)}; stations are {sorted(known)}")
        stations = tuple(dataclasses.replace(s, speed=speed[s.name]) if s.name in speed else s for s in spec.stations)
        spec = dataclasses.replace(spec, stations=stations)
    if buffer_scale is not None:
        spec = dataclasses.replace(spec, buffers=tuple(dataclasses.replace(b, capacity=b.capacity * buffer_scale)
                                                       for b in spec.buffers))
    return dataclasses.replace(spec, **fields) if fields else spec
