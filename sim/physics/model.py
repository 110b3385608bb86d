"""A physics model: a :class:`ModelSpec` plus two numba kernels.

Writing a model means writing

* ``rhs(x, p, u, dxdt)`` - the time derivative of the states [unit/s], and
* ``output(x, p, u, y)`` - the outputs,

as ``@njit(cache=True)`` functions at module level over 1-D float64 arrays in
the order of the spec, and a :class:`ModelSpec`.  ``Model(spec, rhs, output)``
then provides fleet simulation with any integrator (see
:mod:`sim.physics.integrators`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.exceptions import ConfigurationError, ModelError, NonFiniteStateError
from sim.physics.integrators import RK4
from sim.physics.spec import ModelSpec

__all__ = ["Model"]


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
        key = integrator.name
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
                arr = np.array(np.broadcast_to(np.asarray(given, dtype=np.float64), (n, width)))
            out.append(np.ascontiguousarray(arr, dtype=np.float64))
        return tuple(out)

    def simulate(self, x0, params, t, u, *, integrator=None) -> np.ndarray:
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
            Inputs, held constant from ``t[j]`` to ``t[j+1]`` (zero-order hold),
            shared by all assets.
        """
        integrator = integrator or RK4()
        spec = self.spec
        x0 = _as_2d(x0, spec.nx, "x0 (initial states)")
        params = _as_2d(params, spec.np, "params")
        if params.shape[0] != x0.shape[0]:
            raise ConfigurationError(
                f"{spec.name}: params has {params.shape[0]} assets but x0 has {x0.shape[0]}; give one row per asset")
        t = np.ascontiguousarray(t, dtype=np.float64)
        u = np.ascontiguousarray(u, dtype=np.float64)
        if t.ndim != 1 or t.size < 1:
            raise ConfigurationError(f"{spec.name}: sample times must be a non-empty 1-D array, got shape {t.shape}")
        if u.shape != (t.size, spec.nu):
            raise ConfigurationError(
                f"{spec.name}: inputs must have shape (k, nu) = ({t.size}, {spec.nu}) in the order "
                f"{spec.names('inputs')}, got {u.shape}")
        if t.size > 1 and not np.all(np.diff(t) > 0):
            j = int(np.argmin(np.diff(t) > 0))
            raise ConfigurationError(
                f"{spec.name}: sample times must increase strictly; t[{j + 1}] = {t[j + 1]} s <= t[{j}] = {t[j]} s")
        spec.check_finite("states", x0, time=float(t[0]))
        spec.check_bounds(params)
        if not np.all(np.isfinite(u)):
            j, i = map(int, np.argwhere(~np.isfinite(u))[0])
            raise NonFiniteStateError(
                f"{spec.name}: input {spec.inputs[i].name!r} is {u[j, i]} at t = {t[j]} s; fill or quarantine "
                f"non-finite inputs before simulating", variable=spec.inputs[i].name, value=float(u[j, i]),
                time=float(t[j]))
        y = np.empty((x0.shape[0], t.size, spec.ny))
        status = np.zeros(3, dtype=np.int64)
        k = self.kernels(integrator).simulate(x0, params, t, u, integrator.max_step, y, status)
        if status[0] == 2:
            a, i = int(status[1]), int(status[2])
            raise NonFiniteStateError(
                f"{spec.name}: state {spec.states[i].name!r} of asset {a} diverged to a non-finite value by "
                f"t = {t[k]} s; the parameters {spec.as_dict('params', params[a])} make the model unstable "
                f"or the step ({integrator.max_step} s) is too long", asset=a, variable=spec.states[i].name,
                value=math.nan, time=float(t[k]))
        return y


def _as_2d(array, width: int, what: str) -> np.ndarray:
    arr = np.asarray(array, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != width:
        raise ModelError(f"{what} must have shape (n_assets, {width}), got {np.shape(array)}")
    return np.ascontiguousarray(arr)
