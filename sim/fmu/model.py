"""An FMU seen as a :class:`sim.physics.Model` by the calibrators: a spec, ``simulate`` and the final state.

What :class:`calibration.LeastSquaresCalibrator` uses of a model (read from ``calibration/objective.py`` and
``calibration/window.py``):

* ``model.spec`` - a :class:`~sim.physics.ModelSpec` (names, units, defaults, bounds of parameters, states,
  inputs and outputs);
* ``model.simulate(x0[m, nx], params[m, np], t[k], u[k, nu], integrator=RK4(max_step))`` -> ``y[m, k, ny]``,
  raising a :class:`~sim.exceptions.ModelError` that names the failed member (``asset``) so the global stage can
  drop it;
* ``model.kernels(estimator)`` -> an object whose ``final_state(x, p, t, u, max_step, status)`` writes the states
  at ``t[-1]`` into ``x`` (what :func:`calibration.simulate_window` asks of ``calibration._kernels``).

:class:`FmuModel` offers exactly these.  Each member (a parameter set of the fit: Jacobian columns, multi-start
candidates) is one run of the same instance: reset, parameters and start values set, initialize, then the samples
stepped with the inputs held (zero-order hold, as the numba models), ``ceil(dt / max_step)`` equal communication
steps per sample interval.  The "states" of an FMU model are the variables whose start values the fit may
estimate (initial states): name them in ``states``.
"""

from __future__ import annotations

import math

import numpy as np

from sim.exceptions import ModelError
from sim.fmu.component import FmuComponent
from sim.fmu.description import FmuDescription, read_fmu
from sim.fmu.errors import FmuError, FmuVariableError
from sim.physics.spec import ModelSpec, Var

__all__ = ["FmuModel", "FmuRunError"]


class FmuRunError(ModelError):
    """An FMU run of one member failed; *asset* is the member, as the calibrators expect of a ModelError."""

    def __init__(self, message: str, asset: int = -1):
        super().__init__(message, asset)
        self.asset = asset

    def __str__(self) -> str:
        return str(self.args[0])


class FmuModel:
    """A Co-Simulation (or Model Exchange) FMU with a :class:`ModelSpec`, for calibration and sweeps.

    Parameters
    ----------
    fmu : str, Path or FmuDescription
    inputs : sequence of str or None
        FMU real inputs fed from the data, in this order (default: all real inputs).
    outputs : sequence of str or None
        FMU real outputs to compare (default: all real outputs).
    parameters : sequence of str or None
        FMU real parameters the spec exposes (default: all real parameters that may be set).
    states : sequence of str
        Variables whose start values are initial states (estimable with ``initial_states``).
    bounds : dict, optional
        name -> (low, high) overriding the FMU's ``min``/``max`` of a parameter or state [its unit].
    interface : str or None
        As :class:`FmuComponent`.
    """

    def __init__(self, fmu, *, inputs=None, outputs=None, parameters=None, states=(), bounds=None,
                 interface: str | None = None):
        self.description: FmuDescription = fmu if isinstance(fmu, FmuDescription) else read_fmu(fmu)
        d = self.description
        self.interface = interface
        bounds = dict(bounds or {})
        real = [v for v in d.variables if v.is_real]
        self.input_names = tuple(inputs) if inputs is not None else \
            tuple(v.name for v in real if v.causality == "input")
        self.output_names = tuple(outputs) if outputs is not None else \
            tuple(v.name for v in real if v.causality == "output")
        self.param_names = tuple(parameters) if parameters is not None else \
            tuple(v.name for v in real if v.causality == "parameter" and v.settable_before_init())
        self.state_names = tuple(states)
        for kind, names, causality in (("input", self.input_names, "input"), ("output", self.output_names, "output"),
                                       ("parameter", self.param_names, "parameter")):
            for name in names:
                var = d.variable(name)
                if var.causality != causality or not var.is_real:
                    raise FmuVariableError(f"{d.model_name}: {name!r} is a {var.kind} of type {var.type}, not a real "
                                           f"{kind}", d.path)
        for name in self.state_names:
            if not d.variable(name).settable_before_init():
                raise FmuVariableError(f"{d.model_name}: the start value of {name!r} cannot be set (initial "
                                       f"{d.variable(name).initial}); name states whose initial is exact or approx",
                                       d.path)
        unknown = set(bounds) - set(self.param_names) - set(self.state_names)
        if unknown:
            raise FmuVariableError(f"bounds for {sorted(unknown)}, which are neither parameters "
                                   f"{list(self.param_names)} nor states {list(self.state_names)}", d.path)

        def var(name):
            v = d.variable(name)
            lo, hi = bounds.get(name, (v.min, v.max))
            start = v.start if isinstance(v.start, float) and math.isfinite(v.start) else math.nan
            if not (math.isnan(start) or lo <= start <= hi):
                start = math.nan
            return Var(name, v.unit or "1", v.description or v.kind, start, (float(lo), float(hi)))

        self.spec = ModelSpec(
            name=f"fmu:{d.model_name}", version=d.sha256[:12], doc=f"FMU {d.path} (FMI {d.fmi_version})",
            states=tuple(var(n) for n in self.state_names), inputs=tuple(var(n) for n in self.input_names),
            outputs=tuple(var(n) for n in self.output_names), params=tuple(var(n) for n in self.param_names))
        self._component = None

    # ------------------------------------------------------------------ use
    @property
    def component(self) -> FmuComponent:
        """The one instance every run reuses (created on first use, also after unpickling)."""
        if self._component is None:
            self._component = FmuComponent(self.description, interface=self.interface)
        return self._component

    def simulate(self, x0, params, t, u, *, integrator=None, inputs: str = "zoh") -> np.ndarray:
        """Outputs ``y[m, k, ny]`` of the members (rows of *x0* / *params*) on the sample grid *t* [s].

        Parameters as :meth:`sim.physics.Model.simulate`; ``integrator.max_step`` (default: each sample interval
        in one step) bounds the communication step [s].  Only zero-order-hold inputs.
        """
        if inputs != "zoh":
            raise ModelError(f"{self.spec.name}: inputs = {inputs!r}; an FMU takes its inputs held over each "
                             f"communication step - use 'zoh'")
        x0, params, t, u = self._arrays(x0, params, t, u)
        y = np.empty((params.shape[0], t.size, self.spec.ny))
        max_step = _max_step(integrator)
        for a in range(params.shape[0]):
            self._run(a, x0[a], params[a], t, u, max_step, y[a])
        return y

    def final_states(self, x0, params, t, u, max_step: float = math.inf) -> np.ndarray:
        """States ``[m, nx]`` at ``t[-1]`` of each member (the run :meth:`simulate` makes)."""
        x0, params, t, u = self._arrays(x0, params, t, u)
        out = np.empty((params.shape[0], self.spec.nx))
        y = np.empty((t.size, self.spec.ny))
        for a in range(params.shape[0]):
            self._run(a, x0[a], params[a], t, u, max_step, y)
            out[a] = [float(self.component.get(n)) for n in self.state_names]
        return out

    def run_member(self, x, p, t0: float, t1: float, u, max_step: float = math.inf):
        """One run from states *x* [nx] with parameters *p* [np] and inputs *u* [nu] held from *t0* to *t1* [s].

        Returns ``(states[nx], outputs[ny])`` at *t1* (at *t0* = *t1*: the initialization's outputs).  What a
        fleet of FMU assets advances by (:class:`sim.fmu.fleet.FmuFleet`).
        """
        x = np.asarray(x, dtype=np.float64).reshape(self.spec.nx)
        p = np.asarray(p, dtype=np.float64).reshape(1, self.spec.np)
        u = np.asarray(u, dtype=np.float64).reshape(self.spec.nu)
        t = np.array([t0]) if t1 == t0 else np.array([t0, t1], dtype=np.float64)
        y = np.empty((t.size, self.spec.ny))
        self._run(0, x, p[0], t, np.tile(u, (t.size, 1)), float(max_step), y)
        states = np.array([float(self.component.get(n)) for n in self.state_names])
        return states, y[-1].copy()

    def lineage(self) -> dict:
        """Run parameters identifying the FMU (see :meth:`sim.fmu.FmuDescription.lineage`)."""
        return self.description.lineage()

    def kernels(self, integrator=None):
        """What ``calibration._kernels.estimator_kernels`` returns for a numba model: here ``final_state`` only."""
        return _FmuKernels(self)

    def close(self) -> None:
        """Free the instance (a later run loads it again)."""
        if self._component is not None:
            self._component.close()
            self._component = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_component"] = None  # a loaded FMU stays in its process; workers load their own
        return state

    def __repr__(self) -> str:
        return f"FmuModel({self.description.path!r}, params={list(self.param_names)})"

    # ------------------------------------------------------------ internals
    def _arrays(self, x0, params, t, u):
        spec = self.spec
        params = np.atleast_2d(np.asarray(params, dtype=np.float64))
        x0 = np.atleast_2d(np.asarray(x0, dtype=np.float64)).reshape(-1, spec.nx) if spec.nx else \
            np.zeros((params.shape[0], 0))
        if x0.shape[0] == 1 and params.shape[0] > 1:
            x0 = np.repeat(x0, params.shape[0], axis=0)
        if params.shape[0] == 1 and x0.shape[0] > 1:
            params = np.repeat(params, x0.shape[0], axis=0)
        if params.shape[1] != spec.np:
            raise ModelError(f"{spec.name}: params must have {spec.np} columns {list(spec.names('params'))}, got "
                             f"shape {params.shape}")
        t = np.asarray(t, dtype=np.float64)
        u = np.asarray(u, dtype=np.float64).reshape(t.size, spec.nu)
        if t.size > 1 and not np.all(np.diff(t) > 0):
            raise ModelError(f"{spec.name}: sample times must increase strictly")
        spec.check_bounds(params)
        return x0, params, t, u

    def _run(self, member, x, p, t, u, max_step, y) -> None:
        comp = self.component
        # inputs given by the data are start values too (FMUs take inputs set before initialization)
        starts = dict(zip(self.state_names, x.tolist()))
        if self.input_names:
            starts.update(zip(self.input_names, u[0].tolist()))
        try:
            comp.initialize(float(t[0]), parameters=dict(zip(self.param_names, p.tolist())), start_values=starts)
            cols = [comp.output_names.index(n) for n in self.output_names]
            order = [comp.input_names.index(n) for n in self.input_names]
            held = comp.inputs
            y[0] = comp.outputs()[cols]
            for j in range(t.size - 1):
                held[order] = u[j]
                comp.set_inputs(held)
                dt = t[j + 1] - t[j]
                n = max(1, math.ceil(dt / max_step - 1e-9)) if math.isfinite(max_step) else 1
                h = dt / n
                for s in range(n):
                    comp.step(t[j] + s * h, h)
                y[j + 1] = comp.outputs()[cols]
        except FmuError as err:
            raise FmuRunError(f"{self.spec.name}: member {member} with parameters "
                              f"{dict(zip(self.param_names, p.tolist()))} failed: {err}", member) from err
        if not np.all(np.isfinite(y)):
            j = int(np.argmax(~np.all(np.isfinite(y), axis=-1)))
            raise FmuRunError(f"{self.spec.name}: member {member} gave non-finite outputs at t = {t[j]} s with "
                              f"parameters {dict(zip(self.param_names, p.tolist()))}; keep the parameters where the "
                              f"model is defined (bounds=...)", member)


class _FmuKernels:
    """``final_state`` with the kernel template's signature (see ``calibration/_kernels.py``)."""

    def __init__(self, model: FmuModel):
        self.model = model

    def final_state(self, x, p, t, u, max_step, status):
        status[0], status[1], status[2] = 0, -1, -1
        x[...] = self.model.final_states(x, p, t, u, float(max_step))
        return t.shape[0]

    def observe(self, *args):
        raise ModelError(f"{self.model.spec.name}: an FMU has no compiled output function; evaluate it with "
                         f"FmuModel.simulate (one sample) instead")

    def ukf_run(self, *args):
        raise ModelError(f"{self.model.spec.name}: calibration.JointUKF runs compiled kernels, which an FMU has not; "
                         f"filter it with scenarios.live.fmu_tracking.FmuJointUKF (same parameters, sigma points "
                         f"run by the FMU) or calibrate it with LeastSquaresCalibrator")

    ukf_track = ukf_run


def _max_step(integrator) -> float:
    step = getattr(integrator, "max_step", None)
    return float(step) if step is not None and step > 0 else math.inf
