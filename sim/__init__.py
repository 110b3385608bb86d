"""Twinbench engine: physics fleets, SimPy processes, co-simulation clock, telemetry, KPIs.

A plain library: no Hydra, no MLflow, no file paths chosen for the user.
"""

from sim.clock import CoSimulation, PhysicsComponent
from sim.exceptions import (CalibrationError, ChannelMapError, ConfigurationError, ModelError, NonFiniteStateError,
                            TelemetryError, TelemetryFileError, TwinbenchError, UnitConversionError)
from sim.kpi import StateRecorder
from sim.replications import Comparison, Interval, ReplicationPlan, compare, paired_difference, replicate, t_interval
from sim.snapshot import TwinSnapshot
from sim.streams import RandomStreams
from sim.twin import AmbientCycle, LineSpec, LineTwin, MotorPhysics

__version__ = "0.1.0"

__all__ = [
    "AmbientCycle",
    "CalibrationError",
    "ChannelMapError",
    "CoSimulation",
    "Comparison",
    "ConfigurationError",
    "Interval",
    "LineSpec",
    "LineTwin",
    "ModelError",
    "MotorPhysics",
    "NonFiniteStateError",
    "PhysicsComponent",
    "RandomStreams",
    "ReplicationPlan",
    "StateRecorder",
    "TelemetryError",
    "TelemetryFileError",
    "TwinSnapshot",
    "TwinbenchError",
    "UnitConversionError",
    "compare",
    "paired_difference",
    "replicate",
    "t_interval",
]
