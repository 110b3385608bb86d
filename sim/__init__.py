"""Twinbench engine: physics fleets, SimPy processes, co-simulation clock, telemetry, KPIs.

A plain library: no Hydra, no MLflow, no file paths chosen for the user.
"""

from sim.clock import CoSimulation, PhysicsComponent
from sim.exceptions import (CalibrationError, ChannelMapError, ConfigurationError, ModelError, NonFiniteStateError,
                            TelemetryError, TelemetryFileError, TwinbenchError, UnitConversionError)
from sim.kpi import StateRecorder
from sim.streams import RandomStreams

__version__ = "0.1.0"

__all__ = [
    "CalibrationError",
    "ChannelMapError",
    "CoSimulation",
    "ConfigurationError",
    "ModelError",
    "NonFiniteStateError",
    "PhysicsComponent",
    "RandomStreams",
    "StateRecorder",
    "TelemetryError",
    "TelemetryFileError",
    "TwinbenchError",
    "UnitConversionError",
]
