"""One hierarchy of specific errors for the whole engine.

Every message states the offending value, the rule it broke and how to fix it
(see STYLE rule 10).  Catch :class:`TwinbenchError` to handle all of them.
"""

from __future__ import annotations

__all__ = [
    "TwinbenchError",
    "ConfigurationError",
    "TelemetryError",
    "TelemetryFileError",
    "ChannelMapError",
    "UnitConversionError",
    "ModelError",
    "NonFiniteStateError",
    "StiffnessError",
    "ParameterBoundsError",
    "SimulationError",
    "ClockStalledError",
    "CalibrationError",
    "IdentifiabilityWarning",
    "StiffnessWarning",
    "DataQualityWarning",
]


class TwinbenchError(Exception):
    """Base class of every error raised by Twinbench."""


class ConfigurationError(TwinbenchError, ValueError):
    """An argument or setting has an invalid value (negative time, unknown name ...)."""


class TelemetryError(TwinbenchError):
    """Telemetry could not be read or mapped onto the twin."""


class TelemetryFileError(TelemetryError):
    """A telemetry file is missing, empty, unreadable or laid out differently than configured."""


class ChannelMapError(TelemetryError):
    """The channel map does not fit the data: unknown or missing column, bad range ..."""


class UnitConversionError(ChannelMapError):
    """A unit is unknown or cannot be converted to the SI unit of its twin variable."""


class ModelError(TwinbenchError):
    """A physics model received or produced invalid values."""


class _LocatedModelError(ModelError):
    """A model error that names the asset, variable, value and time where it happened."""

    def __init__(self, message: str, *, asset: int = -1, variable: str = "", value: float = float("nan"),
                 time: float = float("nan")):
        super().__init__(message)
        self.asset = asset
        self.variable = variable
        self.value = value
        self.time = time


class NonFiniteStateError(_LocatedModelError, FloatingPointError):
    """A state, parameter or input became NaN or infinite.

    The attributes name the culprit so that callers can report or recover.
    """


class StiffnessError(_LocatedModelError):
    """The integrator cannot make progress: the problem is stiff or the solution blows up."""


class ParameterBoundsError(ModelError, ValueError):
    """A model parameter lies outside the bounds declared in the model spec."""


class SimulationError(TwinbenchError):
    """The discrete-event / co-simulation layer was used inconsistently."""


class ClockStalledError(SimulationError):
    """Simulation time stopped advancing: the co-simulation clock woke many times at one instant.

    *time* is the stuck time [s], *wakes* the number of wake-ups there without
    progress and *events* names the state events involved (``component[asset].event``).
    """

    def __init__(self, message: str, time: float = float("nan"), wakes: int = 0, events: tuple = ()):
        # all in args: SimPy re-raises a process's exception as type(exc)(*exc.args)
        super().__init__(message, time, wakes, tuple(events))
        self.time = time
        self.wakes = wakes
        self.events = tuple(events)

    def __str__(self) -> str:
        return str(self.args[0])


class CalibrationError(TwinbenchError):
    """A calibration cannot be carried out (too little data, failed model, non-finite residuals)."""


class IdentifiabilityWarning(UserWarning):
    """Calibrated parameters are poorly determined (strong correlation, at bounds, singular information)."""


class StiffnessWarning(UserWarning):
    """An explicit integrator's step is limited by stability: the model is stiff there."""


class DataQualityWarning(UserWarning):
    """A large share of telemetry was quarantined; results may rest on little data."""
