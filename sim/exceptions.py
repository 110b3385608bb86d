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
    "DivergenceError",
    "StiffnessError",
    "StepBudgetError",
    "ParameterBoundsError",
    "InputBoundsError",
    "InvalidTimeError",
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
    """A model error that names the asset, variable, value and time where it happened.

    The attributes (``fields``, in this order) are also kept in ``args``: SimPy
    re-raises a process's exception as ``type(exc)(*exc.args)``, which would
    otherwise lose them.
    """

    fields = {"asset": -1, "variable": "", "value": float("nan"), "time": float("nan")}

    def __init__(self, message: str, *values, **named):
        unknown = set(named) - set(self.fields)
        if unknown or len(values) > len(self.fields):
            raise TypeError(f"{type(self).__name__} takes the attributes {list(self.fields)}, got {sorted(unknown)} "
                            f"and {len(values)} positional values")
        attributes = dict(self.fields)
        attributes.update(zip(self.fields, values))
        attributes.update(named)
        super().__init__(message, *attributes.values())
        self.__dict__.update(attributes)

    def __str__(self) -> str:
        return str(self.args[0])


class NonFiniteStateError(_LocatedModelError, FloatingPointError):
    """A state, parameter or input became NaN or infinite.

    The attributes name the culprit so that callers can report or recover.
    """


class DivergenceError(NonFiniteStateError):
    """A state became non-finite during integration (the solution diverged).

    *value* is the offending value (inf, -inf or NaN) the state took at *time*;
    *last_finite_value* and *last_finite_time* are where the state was last finite.
    """

    fields = {**NonFiniteStateError.fields, "last_finite_value": float("nan"), "last_finite_time": float("nan")}


class StiffnessError(_LocatedModelError):
    """The integrator cannot make progress: the problem is stiff or the solution blows up.

    *variable* names the state with the largest contribution to the error
    estimate of the last step tried, *value* its value at *time*.
    """


class StepBudgetError(_LocatedModelError):
    """An integrator would need more steps than its step budget (*max_steps*) allows in one call.

    For an adaptive integrator *variable* names the state that limits the step.
    """

    fields = {**_LocatedModelError.fields, "max_steps": 0}


class ParameterBoundsError(_LocatedModelError, ValueError):
    """A model parameter lies outside the bounds declared in the model spec (*bounds*: the closed interval)."""

    fields = {**_LocatedModelError.fields, "bounds": (float("-inf"), float("inf"))}


class InputBoundsError(_LocatedModelError, ValueError):
    """A model input lies outside the bounds declared in the model spec (*bounds*: the closed interval)."""

    fields = {**_LocatedModelError.fields, "bounds": (float("-inf"), float("inf"))}


class InvalidTimeError(ConfigurationError):
    """A time handed to a model is not usable: an end time or sample time that is not finite or goes backwards."""


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
