"""FMU components: vendor models (FMI 2.0 / 3.0, Co-Simulation and Model Exchange) as twin components.

fmpy is the binding; the workbench owns the master.  Read an FMU (:func:`read_fmu`: every broken case raises its
own error of :mod:`sim.fmu.errors`), run it as an :class:`FmuComponent` (instance reused with reset, parameters
checked before the run, snapshots through ``get/setFMUstate`` or replay), connect several in an
:class:`FmuMaster` (Jacobi or Gauss-Seidel, algebraic loops reported, on a SimPy clock with located crossings),
calibrate its parameters with :class:`FmuModel` (what :class:`calibration.LeastSquaresCalibrator` needs of a
model), and run untrusted FMUs out of process with a wall-clock limit (:func:`run_isolated`).
See ``docs/fmu.md``.
"""

from sim.fmu.component import FmuComponent, FmuSnapshot
from sim.fmu.description import FmuDescription, FmuVariable, catalogue, read_fmu
from sim.fmu.errors import (AlgebraicLoopError, BinaryMissingError, FmuCrashedError, FmuError, FmuStepError,
                            FmuTimeoutError, FmuValidationWarning, FmuVariableError, InstantiationError,
                            MacroStepError, ModelDescriptionMissingError, NotAnFmuError, PlatformError,
                            SchemaInvalidError, UnsupportedInterfaceError)
from sim.fmu.config import component_from_config, master_from_config, model_from_config
from sim.fmu.master import Connection, FmuMaster, MasterResult
from sim.fmu.model import FmuModel, FmuRunError
from sim.fmu.runner import run_isolated, simulate_isolated

__all__ = [
    "AlgebraicLoopError",
    "BinaryMissingError",
    "Connection",
    "FmuComponent",
    "FmuCrashedError",
    "FmuDescription",
    "FmuError",
    "FmuMaster",
    "FmuModel",
    "FmuRunError",
    "FmuSnapshot",
    "FmuStepError",
    "FmuTimeoutError",
    "FmuValidationWarning",
    "FmuVariable",
    "FmuVariableError",
    "InstantiationError",
    "MacroStepError",
    "MasterResult",
    "ModelDescriptionMissingError",
    "NotAnFmuError",
    "PlatformError",
    "SchemaInvalidError",
    "UnsupportedInterfaceError",
    "catalogue",
    "component_from_config",
    "master_from_config",
    "model_from_config",
    "read_fmu",
    "run_isolated",
    "simulate_isolated",
]
