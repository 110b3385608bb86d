"""One FMU instance as a twin component: load once, initialize and reset many times, step, snapshot.

fmpy is the binding (``FMU2Slave``, ``FMU2Model``, ``FMU3Slave``, ``FMU3Model``); this class owns the
instance's life cycle, because fmpy's objects are single-use in one way that matters: ``freeInstance()`` also
unloads the shared library, so an fmpy object is never instantiated again after it (that segfaulted; FMPy #147).
Runs re-use one instance through ``reset`` + re-initialization (5-30 us) instead of loading it again.

The step path is kept thin: value references and ctypes buffers of the real inputs and outputs are built once,
and each step calls the FMI functions of the fmpy object directly (``fmi2DoStep``/``fmi3DoStep``,
``fmi2GetReal``/``fmi3GetFloat64``) without the per-call array building of fmpy's convenience methods.

Parameters are classified by the description: ``fixed`` parameters (and start values) are applied at
:meth:`FmuComponent.initialize` (after a reset), ``tunable`` ones may also change between steps
(:meth:`FmuComponent.set_parameter`).  Names, types and ``[min, max]`` are checked when the component is
created, before any run.

Model Exchange FMUs are integrated to each communication point by fmpy's CVode (BDF, state events located by its
root finder, time events honoured) in :mod:`sim.fmu.exchange`.
"""

from __future__ import annotations

import ctypes
import math
import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass

import numpy as np

from sim.fmu.description import FmuDescription, read_fmu
from sim.fmu.errors import (BinaryMissingError, FmuStepError, FmuVariableError, InstantiationError,
                            UnsupportedInterfaceError)

__all__ = ["FmuComponent", "FmuSnapshot"]


@dataclass(frozen=True)
class FmuSnapshot:
    """A component's state at ``time`` [s]: an FMU state handle, or the steps to replay from a fresh start.

    Attributes
    ----------
    component : str
        Name of the component it was taken from.
    time : float
        Simulation time [s].
    inputs : ndarray
        Real inputs at that time (in the component's input order).
    handle : object or None
        The FMU's ``FMUstate`` (``get/setFMUstate``); None where the FMU cannot save its state.
    replay : tuple
        Without a handle: the settings and the steps ``(t, h, inputs, tunables)`` since the last initialization.
    next_event : float
        Model Exchange: the next time event the FMU had announced [s] (inf if none).
    """

    component: str
    time: float
    inputs: np.ndarray
    handle: object = None
    replay: tuple = ()
    next_event: float = math.inf


class FmuComponent:
    """An FMU instance on the workbench's terms.

    Parameters
    ----------
    fmu : str, Path or FmuDescription
        The ``.fmu`` file (or extracted folder), or its description from :func:`sim.fmu.read_fmu`.
    name : str
        Component name in masters, reports and errors (default: the model name).
    interface : {"CoSimulation", "ModelExchange"} or None
        Interface to run; default Co-Simulation where offered.
    parameters : dict, optional
        name -> value of parameters (fixed or tunable) applied at every initialization [their units].
    start_values : dict, optional
        name -> start value of other variables settable before initialization (initial states, inputs).
    tolerance : float or None
        Relative tolerance handed to the FMU (and to CVode for Model Exchange); default the FMU's
        ``DefaultExperiment`` tolerance, else 1e-6.
    max_step : float
        Model Exchange: longest internal CVode step [s] (default: no limit beyond the communication step).
    """

    def __init__(self, fmu, *, name: str = "", interface: str | None = None, parameters=None, start_values=None,
                 tolerance: float | None = None, max_step: float = math.inf):
        self.description: FmuDescription = fmu if isinstance(fmu, FmuDescription) else read_fmu(fmu)
        d = self.description
        self.interface = d.interface(interface)
        self.name = name or d.model_name
        self.path = d.path
        self.parameters = self._checked(parameters, "parameter")
        self.start_values = self._checked(start_values, "start")
        default_tol = d.default_experiment.get("tolerance")
        self.tolerance = float(tolerance) if tolerance is not None else (default_tol or 1e-6)
        self.max_step = float(max_step)
        self.fmi3 = d.fmi_version.startswith("3")
        self.input_names = tuple(v.name for v in d.variables if v.causality == "input" and v.is_real)
        self.output_names = tuple(v.name for v in d.variables if v.causality == "output" and v.is_real)
        self.can_snapshot = bool(d.can_get_set_state[self.interface])
        self.time = math.nan
        self.event_times: list[float] = []
        self.n_steps = 0
        self._fmu = None
        self._unzipdir = None
        self._cleanup = None
        self._initialized = False
        self._settings = ({}, {}, 0.0)
        self._log: list = []
        self._me = None
        n_in, n_out = len(self.input_names), len(self.output_names)
        self._in_vr = (ctypes.c_uint32 * n_in)(*(d.variable(n).value_reference for n in self.input_names))
        self._out_vr = (ctypes.c_uint32 * n_out)(*(d.variable(n).value_reference for n in self.output_names))
        self._in_buf = (ctypes.c_double * n_in)(*(_as_float(d.variable(n).start) for n in self.input_names))
        self._out_buf = (ctypes.c_double * n_out)()
        self._in = np.ctypeslib.as_array(self._in_buf) if n_in else np.zeros(0)
        self._out = np.ctypeslib.as_array(self._out_buf) if n_out else np.zeros(0)
        self._flags = [ctypes.c_bool(), ctypes.c_bool(), ctypes.c_bool(), ctypes.c_double()]
        self._flag_refs = tuple(ctypes.byref(f) for f in self._flags)

    # ---------------------------------------------------------------- checks
    def _checked(self, values, what: str) -> dict:
        out = {}
        for key, value in dict(values or {}).items():
            var = self.description.variable(key)
            if what == "parameter" and var.causality != "parameter":
                raise FmuVariableError(f"{self.name}: {key!r} is a {var.kind}, not a parameter; pass it in "
                                       f"start_values (if settable) or as an input", self.path)
            if not var.settable_before_init():
                raise FmuVariableError(
                    f"{self.name}: {key!r} ({var.kind}, variability {var.variability}, initial {var.initial}) cannot "
                    f"be set by the user; settable are parameters, inputs and variables with initial exact/approx",
                    self.path)
            out[key] = var.check_value(value, self.path)
        return out

    # ------------------------------------------------------------- life cycle
    def _load(self) -> None:
        import fmpy
        from fmpy.fmi2 import FMU2Model, FMU2Slave
        from fmpy.fmi3 import FMU3Model, FMU3Slave

        d = self.description
        if os.path.isdir(d.path):
            self._unzipdir = d.path
        else:
            self._unzipdir = tempfile.mkdtemp(prefix=f"twinbench-fmu-{d.model_identifiers[self.interface]}-")
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._unzipdir, True)
            fmpy.extract(d.path, unzipdir=self._unzipdir)
        cls = {(False, "CoSimulation"): FMU2Slave, (False, "ModelExchange"): FMU2Model,
               (True, "CoSimulation"): FMU3Slave, (True, "ModelExchange"): FMU3Model}[(self.fmi3, self.interface)]
        try:
            self._fmu = cls(guid=d.guid, unzipDirectory=self._unzipdir,
                            modelIdentifier=d.model_identifiers[self.interface], instanceName=self.name)
        except AttributeError as err:  # a function of the standard is missing from the library
            raise BinaryMissingError(f"{d.path}: the shared library lacks an FMI function ({err}); the binary is "
                                     f"incomplete - re-export the FMU", d.path) from err
        except Exception as err:  # fmpy: "Cannot find shared library" / "Failed to load shared library"
            raise BinaryMissingError(f"{d.path}: {err}; the binary is missing or needs a library that is not "
                                     f"installed (check with ldd) - re-export the FMU for this platform",
                                     d.path) from err
        try:
            if self.fmi3 and self.interface == "CoSimulation":
                self._fmu.instantiate(logMessage=_quiet)
            elif self.fmi3:
                self._fmu.instantiate(logMessage=_quiet)
            else:
                self._fmu.instantiate()
        except Exception as err:
            self._fmu = None  # never instantiate an fmpy object twice
            token = "instantiation token" if self.fmi3 else "GUID"
            raise InstantiationError(
                f"{d.path}: instantiating {self.interface} failed ({err}). The usual cause is a {token} in "
                f"modelDescription.xml ({d.guid}) that does not match the binary's, or resources the FMU cannot "
                f"find; re-export the FMU so description and binary come from one build", d.path) from err
        fmu = self._fmu
        if self.fmi3:
            self._get_real, self._set_real = fmu.fmi3GetFloat64, fmu.fmi3SetFloat64
            self._n_arg = True
        else:
            self._get_real, self._set_real = fmu.fmi2GetReal, fmu.fmi2SetReal
            self._n_arg = False

    def initialize(self, start_time: float = 0.0, *, parameters=None, start_values=None,
                   stop_time: float | None = None) -> "FmuComponent":
        """(Re-)initialize at *start_time* [s]: reset the instance if it ran before, apply parameters and start
        values (the component's, overridden by the ones given here), and leave initialization mode.

        Returns self.
        """
        params = {**self.parameters, **self._checked(parameters, "parameter")}
        starts = {**self.start_values, **self._checked(start_values, "start")}
        if self._fmu is None:
            self._load()
        else:  # the instance ran before: reset it (instances are reused, never loaded twice)
            self._initialized = False
            self._call("reset", self._fmu.reset)
        fmu = self._fmu
        start_time = float(start_time)
        tol = self.tolerance
        if not self.fmi3:
            self._call("setupExperiment", lambda: fmu.setupExperiment(tolerance=tol, startTime=start_time,
                                                                      stopTime=stop_time))
        values = {**starts, **params}
        self._set_values(values)
        for i, name in enumerate(self.input_names):
            if name in values:
                self._in[i] = values[name]
        if self.fmi3:
            self._call("enterInitializationMode",
                       lambda: fmu.enterInitializationMode(tolerance=tol, startTime=start_time, stopTime=stop_time))
        else:
            self._call("enterInitializationMode", fmu.enterInitializationMode)
        if self._in.size:
            self._put_inputs()
        self._call("exitInitializationMode", fmu.exitInitializationMode)
        self.time = start_time
        self.event_times = []
        self.n_steps = 0
        self._log = []
        self._settings = (dict(params), dict(starts), start_time)
        if self.interface == "ModelExchange":
            from sim.fmu.exchange import ExchangeStepper

            self._me = ExchangeStepper(self, start_time)
        self._initialized = True
        return self

    def close(self) -> None:
        """Terminate and free the instance (this also unloads the library) and delete the extracted files."""
        fmu, self._fmu = self._fmu, None
        if fmu is not None:
            self._me = None
            try:
                if self._initialized:
                    fmu.terminate()
            except Exception:  # noqa: BLE001 - a failing terminate must not keep the instance alive
                pass
            fmu.freeInstance()
        self._initialized = False
        if self._cleanup is not None:
            self._cleanup()
            self._cleanup = None

    def __enter__(self) -> "FmuComponent":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self):
        raise TypeError(f"FmuComponent {self.name!r} holds a loaded FMU and cannot be pickled; send the FMU path and "
                        f"settings to the worker process and create the component there")

    # ----------------------------------------------------------------- values
    def set_inputs(self, values) -> None:
        """Set all real inputs (array in :attr:`input_names` order) from now on (held over the next steps)."""
        self._in[:] = values
        self._put_inputs()

    def set_input(self, name: str, value: float) -> None:
        """Set real input *name* from now on."""
        try:
            i = self.input_names.index(name)
        except ValueError:
            raise FmuVariableError(f"{self.name}: {name!r} is not a real input; inputs: {list(self.input_names)}",
                                   self.path) from None
        self._in[i] = float(value)
        self._put_inputs()

    def set_parameter(self, name: str, value) -> None:
        """Change a tunable parameter between steps; fixed ones need :meth:`initialize` (reset + re-init)."""
        var = self.description.variable(name)
        if var.causality != "parameter" or var.variability != "tunable":
            raise FmuVariableError(
                f"{self.name}: {name!r} is a {var.kind}; only tunable parameters change during a run - pass it to "
                f"initialize(parameters={{{name!r}: ...}}), which resets and re-initializes the instance", self.path)
        value = var.check_value(value, self.path)
        self._require_running()
        self._set_values({name: value})
        if not self.can_snapshot:
            self._log.append(("param", name, value))

    def outputs(self) -> np.ndarray:
        """Real outputs now, in :attr:`output_names` order (a view, overwritten by the next call)."""
        if self._out.size:
            if self._n_arg:
                self._get_real(self._fmu.component, self._out_vr, len(self._out_vr), self._out_buf, len(self._out_buf))
            else:
                self._get_real(self._fmu.component, self._out_vr, len(self._out_vr), self._out_buf)
        return self._out

    def get(self, name: str):
        """The current value of any variable *name* (any type)."""
        self._require_running()
        var = self.description.variable(name)
        return self._get_values([var])[0]

    @property
    def inputs(self) -> np.ndarray:
        """The real inputs held now (a copy)."""
        return self._in.copy()

    # ------------------------------------------------------------------ steps
    def step(self, time: float, step: float) -> None:
        """Advance from *time* to ``time + step`` [s] with the inputs held."""
        if self._me is not None:
            self._me.advance(time + step)
        elif self.fmi3:
            try:
                self._fmu.fmi3DoStep(self._fmu.component, time, step, True, *self._flag_refs)
            except Exception as err:
                raise self._step_error(err, time, step) from err
            if self._flags[1].value:
                raise FmuStepError(f"{self.name}: the FMU asked to terminate the simulation at t = "
                                   f"{self._flags[3].value} s (doStep from {time} s by {step} s)", self.path)
        else:
            try:
                self._fmu.fmi2DoStep(self._fmu.component, time, step, 1)
            except Exception as err:
                raise self._step_error(err, time, step) from err
        self.time = time + step
        self.n_steps += 1
        if not self.can_snapshot:
            self._log.append((time, step, self._in.copy()))

    def _step_error(self, err, time, step):
        if self._fmu is None or not self._initialized:
            return FmuStepError(f"{self.name}: step before initialize(); call initialize() first", self.path)
        return FmuStepError(f"{self.name}: doStep from t = {time} s by {step} s failed ({err}); the FMU rejected the "
                            f"step - check its inputs and parameters, or shorten the communication step", self.path)

    # --------------------------------------------------------------- snapshot
    def snapshot(self) -> FmuSnapshot:
        """The state now: ``getFMUstate`` where supported, else the replay log since initialization.

        For Model Exchange the integrator restarts here (as after an event), so the run continued from the
        snapshot and one continued from a restore are the same to the bit.
        """
        self._require_running()
        if self._me is not None:  # restart CVode here, as restore() does: both continuations then match exactly
            self._me.restart(self.time)
        if self.can_snapshot:
            getter = self._fmu.getFMUState if self.fmi3 else self._fmu.getFMUstate
            return FmuSnapshot(self.name, self.time, self._in.copy(), handle=self._call("getFMUstate", getter),
                               next_event=self._me.next_event if self._me is not None else math.inf)
        return FmuSnapshot(self.name, self.time, self._in.copy(), replay=(self._settings, tuple(self._log)))

    def restore(self, snapshot: FmuSnapshot) -> None:
        """Return to *snapshot*: ``setFMUstate``, or reset, re-initialize and replay its steps (a fresh run)."""
        if snapshot.component != self.name:
            raise FmuVariableError(f"snapshot of {snapshot.component!r} cannot restore component {self.name!r}",
                                   self.path)
        if snapshot.handle is not None:
            self._require_running()
            setter = self._fmu.setFMUState if self.fmi3 else self._fmu.setFMUstate
            self._call("setFMUstate", lambda: setter(snapshot.handle))
            self.time = snapshot.time
            self.set_inputs(snapshot.inputs)
            if self._me is not None:
                self._me.restart(snapshot.time, snapshot.next_event)
            return
        (params, starts, start_time), log = snapshot.replay
        self.initialize(start_time, parameters=params, start_values=starts)
        for entry in log:
            if entry[0] == "param":
                self.set_parameter(entry[1], entry[2])
            else:
                t, h, u = entry
                self.set_inputs(u)
                self.step(t, h)
        self.set_inputs(snapshot.inputs)

    def release(self, snapshot: FmuSnapshot) -> None:
        """Free the FMU state held by *snapshot* (it cannot be restored afterwards)."""
        if snapshot.handle is not None and self._fmu is not None:
            free = self._fmu.freeFMUState if self.fmi3 else self._fmu.freeFMUstate
            free(snapshot.handle)

    # -------------------------------------------------------------- internals
    def _require_running(self) -> None:
        if self._fmu is None or not self._initialized:
            raise FmuStepError(f"{self.name}: the instance is not initialized; call initialize() first", self.path)

    def _put_inputs(self) -> None:
        if self._fmu is None:
            return
        n = len(self._in_vr)
        try:
            if self._n_arg:
                self._set_real(self._fmu.component, self._in_vr, n, self._in_buf, n)
            else:
                self._set_real(self._fmu.component, self._in_vr, n, self._in_buf)
        except Exception as err:
            raise FmuStepError(f"{self.name}: setting the inputs {dict(zip(self.input_names, self._in.tolist()))} "
                               f"failed ({err}); check them against the FMU's documentation", self.path) from err

    def _set_values(self, values: dict) -> None:
        groups: dict[str, tuple[list, list]] = {}
        for name, value in values.items():
            var = self.description.variable(name)
            refs, vals = groups.setdefault(_accessor(var.type, self.fmi3), ([], []))
            refs.append(var.value_reference)
            vals.append(value)
        for method, (refs, vals) in groups.items():
            setter = getattr(self._fmu, "set" + method, None)
            if setter is None:
                raise UnsupportedInterfaceError(f"{self.name}: setting {method} variables is not supported", self.path)
            self._call(f"set{method}({refs})", lambda s=setter, r=refs, v=vals: s(r, v))

    def _get_values(self, variables) -> list:
        out = []
        for var in variables:
            getter = getattr(self._fmu, "get" + _accessor(var.type, self.fmi3))
            out.append(getter([var.value_reference])[0])
        return out

    def _call(self, what: str, function):
        try:
            return function()
        except Exception as err:
            raise FmuStepError(f"{self.name}: {what} failed ({err}); check the values set before it, or whether "
                               f"the FMU supports it", self.path) from err

    def __repr__(self) -> str:
        return (f"FmuComponent({self.name!r}, {self.interface}, FMI {self.description.fmi_version}, "
                f"t = {self.time} s)")


def _accessor(fmi_type: str, fmi3: bool) -> str:
    """The fmpy get/set method suffix of an FMI type (enumerations travel as integers)."""
    if fmi_type == "Enumeration":
        return "Int64" if fmi3 else "Integer"
    return fmi_type


def _as_float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _quiet(*args) -> None:
    """Log-message callback that drops the FMU's messages (errors surface as failed calls)."""
