"""Continuous half of the engine: model specs, numba kernels, integrators and fleets."""

from sim.physics.fleet import EventHit, Fleet, FleetSnapshot, StateEvent
from sim.physics.integrators import RK4
from sim.physics.model import Model
from sim.physics.motor_thermal import MOTOR_THERMAL, MOTOR_THERMAL_SPEC
from sim.physics.spec import ModelSpec, Var

__all__ = [
    "EventHit",
    "Fleet",
    "FleetSnapshot",
    "MOTOR_THERMAL",
    "MOTOR_THERMAL_SPEC",
    "Model",
    "ModelSpec",
    "RK4",
    "StateEvent",
    "Var",
]
