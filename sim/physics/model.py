"""A physics model: a :class:`ModelSpec` plus two numba kernels.

Writing a model means writing, as ``@njit(cache=True)`` functions at module
level,

* ``rhs(x, p, u) -> dx/dt`` - the time derivatives of the states [unit/s], and
* ``output(x, p, u) -> y`` - the outputs,

where ``x``, ``p`` and ``u`` are states, parameters and inputs of *one* asset
in the order of the spec (indexable like arrays; tuples at run time) and both
functions return tuples.  ``Model(spec, rhs, output)`` then simulates fleets,
Monte Carlo samples and filter sigma points with any integrator of
:mod:`sim.physics.integrators`::

    @njit(cache=True)
    def tank_rhs(x, p, u):
        return ((u[0] - p[0] * math.sqrt(max(x[0], 0.0))) / p[1],)

    @njit(cache=True)
    def tank_output(x, p, u):
        return (x[0],)

    TANK = Model(TANK_SPEC, tank_rhs, tank_output)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from sim.exceptions import (ConfigurationError, DivergenceError, InvalidTimeError, ModelError, StepBudgetError,
                            StiffnessError)
from sim.physics.integrators import RK4
from sim.physics.spec import ModelSpec

__all__ = ["Model", "raise_for_status", "warn_if_stiff"]

_INPUT_MODES = {"zoh": 0, "linear": 1}


@dataclass(frozen=True, eq=False)
class Model:
    """A physics model ready to simulate fleets.

    Parameters
    ----------
    spec : ModelSpec
        Names, units, defaults and bounds.
    rhs, output : numba dispatchers
        Kernels as described in the module docstring.
    """

    spec: ModelSpec
    rhs: object
    output: object
    _kernels: dict = field(default_factory=dict, init=False, repr=False)

    def kernels(self, integrator=None):
        """Compiled kernels of *integrator* (default :class:`RK4`) for this model."""
        integrator = integrator or RK4()
        key = integrator.kernel_key()
        if key not in self._kernels:
            self._kernels[key] = integrator.kernels(self)
        return self._kernels[key]

    # ------------------------------------------------------------------ helpers
    def fleet_arrays(self, n: int, *, states=None, params=None, inputs=None):
        """Arrays ``(x[n, nx], p[n, np], u[n, nu])`` from defaults and optional overrides.

        Each override may be a name → value mapping (same for all assets) or an
        array broadcastable to the fleet shape.
        """
        out = []
        for kind, given in (("states", states), ("params", params), ("inputs", inputs)):
            width = len(getattr(self.spec, kind))
            if given is None or isinstance(given, dict):
                arr = np.tile(self.spec.vector(kind, given), (n, 1))
            else:
                given = np.asarray(given, dtype=np.float64)
                try:
                    arr = np.array(np.broadcast_to(given, (n, width)))
                except ValueError:
                    raise ModelError(
                        f"{self.spec.name}: {kind} must have shape ({n}, {width}) (order {self.spec.names(kind)}), "
                        f"got {given.shape}") from None
            out.append(np.ascontiguousarray(arr, dtype=np.float64))
        return tuple(out)

    def simulate(self, x0, params, t, u, *, integrator=None, inputs: str = "zoh") -> np.ndarray:
        """Outputs ``y[n, k, ny]`` of every asset on the sample grid *t* [s].

        Parameters
        ----------
        x0 : array (n, nx)
            Initial states at ``t[0]``.
        params : array (n, np)
            Parameters per asset.
        t : array (k,)
            Strictly increasing sample times [s].
        u : array (k, nu)
            Inputs at the sample times, shared by all assets.
        inputs : {"zoh", "linear"}
            Held constant from ``t[j]`` to ``t[j+1]`` or linearly interpolated,
            inside the kernel.
        """
        integrator = integrator or RK4()
        spec = self.spec
        if inputs not in _INPUT_MODES:
            raise ConfigurationError(f"inputs = {inputs!r}: choose one of {sorted(_INPUT_MODES)}")
        x0 = _as_2d(x0, spec.nx, f"{spec.name}: x0 (initial states {spec.names('states')})")
        params = _as_2d(params, spec.np, f"{spec.name}: params ({spec.names('params')})")
        if params.shape[0] != x0.shape[0]:
            if params.shape[0] == 1:
                params = np.ascontiguousarray(np.repeat(params, x0.shape[0], axis=0))
            elif x0.shape[0] == 1:
                x0 = np.ascontiguousarray(np.repeat(x0, params.shape[0], axis=0))
            else:
                raise ModelError(f"{spec.name}: params has {params.shape[0]} assets but x0 has {x0.shape[0]}; "
                                 f"give one row per asset (or one row for all)")
        t = np.ascontiguousarray(t, dtype=np.float64)
        u = np.ascontiguousarray(u, dtype=np.float64)
        if t.ndim != 1 or t.size < 1:
            raise ModelError(f"{spec.name}: sample times must be a non-empty 1-D array, got shape {t.shape}")
        if u.shape != (t.size, spec.nu):
            raise ModelError(
                f"{spec.name}: inputs must have shape (k, nu) = ({t.size}, {spec.nu}) in the order "
                f"{spec.names('inputs')}, got {u.shape}")
        if not np.all(np.isfinite(t)):
            j = int(np.argmin(np.isfinite(t)))
            raise InvalidTimeError(f"{spec.name}: sample time t[{j}] = {t[j]} s is not finite; every sample time "
                                   f"must be a finite time [s] - drop or fix that sample")
        if t.size > 1 and not np.all(np.diff(t) > 0):
            j = int(np.argmin(np.diff(t) > 0))
            raise InvalidTimeError(
                f"{spec.name}: sample times must increase strictly; t[{j + 1}] = {t[j + 1]} s <= t[{j}] = {t[j]} s")
        spec.check_finite("states", x0, time=float(t[0]))
        spec.check_bounds(params)
        spec.check_inputs(u, times=t)
        y = np.empty((x0.shape[0], t.size, spec.ny))
        status = np.full(4, -1, dtype=np.int64)
        report = np.full(4, np.nan)
        k = self.kernels(integrator).simulate(x0, params, t, u, _INPUT_MODES[inputs], integrator.options(), y,
                                              status, report)
        if status[0] != 0:
            raise_for_status(spec, status, report, params=params, integrator=integrator,
                             end=float(t[min(k, t.size - 1)]))
        warn_if_stiff(spec, status, integrator)
        return y


def raise_for_status(spec: ModelSpec, status, report, *, params, integrator, end: float = math.nan) -> None:
    """Turn a failed kernel's ``status`` and ``report`` (see :mod:`sim.physics.integrators.base`) into its error.

    *end* is the time [s] the call was to reach (for the step-budget message).
    """
    code, a, i = (int(v) for v in status[:3])
    value, time = float(report[0]), float(report[1])
    variable = spec.states[i].name if 0 <= i < spec.nx else ""
    unit = f" {spec.states[i].unit}" if variable and spec.states[i].unit != "1" else ""
    who = f"asset {a}" if a >= 0 else "the fleet"
    if code == 2:
        last_value, last_time = float(report[2]), float(report[3])
        raise DivergenceError(
            f"{spec.name}: state {variable!r} of {who} diverged: it became {value} at t = {time} s, after "
            f"{last_value}{unit} at t = {last_time} s (its last finite value). Its parameters "
            f"{spec.as_dict('params', params[a])} make the model unstable there, or the integrator "
            f"({integrator.describe()}) is too coarse - shorten the step or use an adaptive/stiff method",
            asset=a, variable=variable, value=value, time=time, last_finite_value=last_value,
            last_finite_time=last_time)
    if code == 4:
        culprit = (f"state {variable!r} ({value}{unit}) has the largest share of the error estimate"
                   if variable else "no step was tried")
        raise StiffnessError(
            f"{spec.name}: the step size of {integrator.describe()} collapsed to {float(report[2]):.3g} s for {who} "
            f"at t = {time} s; {culprit}. The solution may blow up there, or the problem is stiff - check the "
            f"parameters {spec.as_dict('params', params[a])} or use SolveIVP(method='BDF')",
            asset=a, variable=variable, value=value, time=time)
    if code == 5:
        budget = integrator.max_steps
        if a < 0:  # lock-step: the call stopped before stepping
            needed = float(report[2])
            span = f"from t = {time} s to {end} s" if math.isfinite(end) else f"from t = {time} s"
            longer = replace(integrator, max_step=float(f"{integrator.max_step * needed / budget:.3g}"))
            raise_it = (f", or raise the budget, e.g. {replace(integrator, max_steps=int(2 * needed))!r}"
                        if needed <= 1e11 else " (that many steps would not finish: raising the budget is no fix)")
            message = (f"{integrator.describe()} would take {needed:.6g} steps {span}, more than its step budget "
                       f"max_steps = {budget} per call; lengthen the step, e.g. {longer!r}{raise_it}")
        else:
            culprit = f"; state {variable!r} ({value}{unit}) limits the step" if variable else ""
            message = (f"{integrator.describe()} ran out of its step budget max_steps = {budget} for {who} at "
                       f"t = {time} s{culprit}. If the problem is stiff use SolveIVP(method='BDF'); otherwise "
                       f"raise the budget, e.g. {replace(integrator, max_steps=2 * budget)!r}")
        raise StepBudgetError(f"{spec.name}: {message}", asset=a, variable=variable, value=value, time=time,
                              max_steps=budget)
    raise ModelError(f"{spec.name}: the kernel returned the unknown status {list(status)}")  # pragma: no cover


def warn_if_stiff(spec: ModelSpec, status, integrator) -> None:
    """Warn once when the kernel flagged stiffness (``status[3]`` = first stiff asset)."""
    if len(status) > 3 and status[3] >= 0:
        import warnings

        from sim.exceptions import StiffnessWarning

        warnings.warn(f"{spec.name}: asset {int(status[3])} looks stiff for {integrator.describe()}: its step is "
                      f"limited by stability, not accuracy, so the explicit method is slow here; "
                      f"SolveIVP(method='BDF') or a fixed-step RK4 below the stability limit may be faster",
                      StiffnessWarning, stacklevel=3)


def _as_2d(array, width: int, what: str) -> np.ndarray:
    arr = np.asarray(array, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != width:
        raise ModelError(f"{what} must have shape (n_assets, {width}), got {np.shape(array)}")
    return np.ascontiguousarray(arr)
