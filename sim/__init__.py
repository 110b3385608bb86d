"""Twinbench engine: physics fleets, SimPy processes, co-simulation clock, telemetry, KPIs.

A plain library: no Hydra, no MLflow, no file paths chosen for the user.

The names below are imported on first use (PEP 562), so that ``from sim.physics import ...``
does not pay for SimPy, pandas and the process library: importing a model and stepping a
fleet stays well under a second with a warm numba cache.
"""

from importlib import import_module

from sim.exceptions import (CalibrationError, ChannelMapError, ConfigurationError, ModelError, NonFiniteStateError,
                            TelemetryError, TelemetryFileError, TwinbenchError, UnitConversionError)

__version__ = "0.1.0"

_LAZY = {
    "CoSimulation": "sim.clock", "PhysicsComponent": "sim.clock",
    "StateRecorder": "sim.kpi",
    "Comparison": "sim.replications", "Interval": "sim.replications", "ReplicationPlan": "sim.replications",
    "compare": "sim.replications", "paired_difference": "sim.replications", "replicate": "sim.replications",
    "t_interval": "sim.replications",
    "TwinSnapshot": "sim.line.snapshot",
    "RandomStreams": "sim.streams",
    "AmbientCycle": "sim.line", "LineSpec": "sim.line", "LineTwin": "sim.line", "MotorPhysics": "sim.line",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


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
