"""One hierarchy of FMU errors: each broken-FMU case has its own type, every message names the file and the fix.

Broken FMUs make fmpy raise a zoo of types (``zipfile.BadZipFile``, ``KeyError``, ``ValidationError``, bare
``Exception("Cannot find shared library ...")``, ``Exception("Failed to instantiate model")``); the loaders of
this package translate each into one of the classes below.  Catch :class:`FmuError` for all of them, or
:class:`sim.exceptions.TwinbenchError` for every error of the workbench.
"""

from __future__ import annotations

from sim.exceptions import ConfigurationError, SimulationError, TwinbenchError

__all__ = [
    "FmuError",
    "NotAnFmuError",
    "ModelDescriptionMissingError",
    "SchemaInvalidError",
    "PlatformError",
    "BinaryMissingError",
    "InstantiationError",
    "UnsupportedInterfaceError",
    "FmuVariableError",
    "MacroStepError",
    "AlgebraicLoopError",
    "FmuStepError",
    "FmuTimeoutError",
    "FmuCrashedError",
    "FmuValidationWarning",
]


class FmuError(TwinbenchError):
    """Base class of the FMU errors; *path* is the FMU file (or extracted folder) concerned ("" if none)."""

    def __init__(self, message: str, path: str = ""):
        # all in args: SimPy re-raises a process's exception as type(exc)(*exc.args), pickling does the same
        super().__init__(message, str(path))
        self.path = str(path)

    def __str__(self) -> str:
        return str(self.args[0])


class NotAnFmuError(FmuError):
    """The file does not exist, or is neither a ZIP archive nor an extracted FMU folder."""


class ModelDescriptionMissingError(FmuError):
    """The archive holds no ``modelDescription.xml`` at its root."""


class SchemaInvalidError(FmuError):
    """``modelDescription.xml`` is not well-formed or breaks the FMI schema (or, with ``strict``, the rules
    ``fmpy.validation.validate_fmu`` checks)."""


class PlatformError(FmuError):
    """The FMU has no binary for this platform; *platforms* lists the platforms it has."""

    def __init__(self, message: str, path: str = "", platforms: tuple = ()):
        TwinbenchError.__init__(self, message, str(path), tuple(platforms))
        self.path = str(path)
        self.platforms = tuple(platforms)


class BinaryMissingError(FmuError):
    """The FMU declares an interface whose shared library is missing for this platform, or holds no binary at all."""


class InstantiationError(FmuError):
    """The FMU's ``instantiate`` failed (most often a GUID / instantiation token that does not match the binary)."""


class UnsupportedInterfaceError(FmuError):
    """The FMU does not offer what was asked: an interface (CS / ME), an FMI version, or FMU state handling."""


class FmuVariableError(FmuError, ConfigurationError):
    """A variable name, type, causality or value (outside ``[min, max]``) does not fit the FMU's description."""


class MacroStepError(FmuError, ConfigurationError):
    """The communication step does not fit an FMU (not a multiple of its fixed internal step, variable steps
    refused)."""


class AlgebraicLoopError(FmuError, ConfigurationError):
    """The connections close a loop through direct feedthrough; *cycle* lists its variables (``component.var``)."""

    def __init__(self, message: str, path: str = "", cycle: tuple = ()):
        TwinbenchError.__init__(self, message, str(path), tuple(cycle))
        self.path = str(path)
        self.cycle = tuple(cycle)


class FmuStepError(FmuError, SimulationError):
    """An FMU call during the run failed (``doStep`` returned error / discard, the ME integrator failed ...)."""


class FmuTimeoutError(FmuError):
    """An out-of-process FMU run did not finish within its wall-clock limit; the worker was killed."""


class FmuCrashedError(FmuError):
    """The worker process of an out-of-process FMU run died (segfault, abort) before returning a result."""


class FmuValidationWarning(UserWarning):
    """``fmpy.validation.validate_fmu`` found problems in a model description that loads nonetheless."""
