"""Continuous half of the engine: model specs, numba kernels, integrators and fleets."""

from sim.physics.fleet import EventHit, Fleet, FleetSnapshot, StateEvent
from sim.physics.integrators import RK4, DormandPrince, Integrator, SolveIVP
from sim.physics.kernels import bind_kernels
from sim.physics.model import Model
from sim.physics.bearing import BEARING, BEARING_SPEC
from sim.physics.compressor import COMPRESSOR, COMPRESSOR_SPEC
from sim.physics.motor_thermal import MOTOR_THERMAL, MOTOR_THERMAL_LOSSES, MOTOR_THERMAL_LOSSES_SPEC, MOTOR_THERMAL_SPEC
from sim.physics.pump import PUMP, PUMP_SPEC
from sim.physics.tank import TANK, TANK_SPEC
from sim.physics.spec import ModelSpec, Var

#: The model library by name.
MODELS = {m.spec.name: m for m in (MOTOR_THERMAL, MOTOR_THERMAL_LOSSES, PUMP, BEARING, TANK, COMPRESSOR)}

__all__ = [
    "BEARING",
    "BEARING_SPEC",
    "COMPRESSOR",
    "COMPRESSOR_SPEC",
    "MODELS",
    "PUMP",
    "PUMP_SPEC",
    "TANK",
    "TANK_SPEC",
    "DormandPrince",
    "EventHit",
    "Fleet",
    "FleetSnapshot",
    "Integrator",
    "MOTOR_THERMAL",
    "MOTOR_THERMAL_LOSSES",
    "MOTOR_THERMAL_LOSSES_SPEC",
    "MOTOR_THERMAL_SPEC",
    "Model",
    "ModelSpec",
    "RK4",
    "SolveIVP",
    "StateEvent",
    "Var",
    "bind_kernels",
]
