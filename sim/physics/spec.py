"""Model specifications: names, SI units, defaults, bounds and one-line docs.

A :class:`ModelSpec` is the contract between a numba kernel (which only sees
arrays) and everything else (calibration, telemetry channel maps, reports),
which refer to variables by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from sim.exceptions import ConfigurationError, InputBoundsError, NonFiniteStateError, ParameterBoundsError

__all__ = ["Var", "ModelSpec"]


@dataclass(frozen=True)
class Var:
    """One named model variable.

    Parameters
    ----------
    name : str
        Full quantity name in snake_case (``winding_temperature``).
    unit : str
        SI unit as written in the nomenclature (``K``, ``W``, ``J/K``).
    doc : str
        One-line description.
    default : float
        Default value [unit]; NaN where no sensible default exists.
    bounds : tuple of float
        Admissible closed interval [unit].
    symbol : str
        Short mathematical symbol used in equations and the README (``T_w``).
    """

    name: str
    unit: str
    doc: str
    default: float = math.nan
    bounds: tuple[float, float] = (-math.inf, math.inf)
    symbol: str = ""

    def __post_init__(self):
        lo, hi = self.bounds
        if not lo < hi:
            raise ConfigurationError(f"variable {self.name!r}: bounds {self.bounds} must satisfy lower < upper")
        if not math.isnan(self.default) and not lo <= self.default <= hi:
            raise ConfigurationError(
                f"variable {self.name!r}: default {self.default} lies outside its bounds {self.bounds}")


def _index(vars_: tuple[Var, ...]) -> dict[str, int]:
    return {v.name: i for i, v in enumerate(vars_)}


@dataclass(frozen=True)
class ModelSpec:
    """States, inputs, outputs and parameters of a physics model, in kernel order."""

    name: str
    version: str
    doc: str
    states: tuple[Var, ...]
    inputs: tuple[Var, ...]
    outputs: tuple[Var, ...]
    params: tuple[Var, ...]
    _lookup: dict = field(init=False, repr=False, compare=False)
    _bounds: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        lookup = {}
        for kind in ("states", "inputs", "outputs", "params"):
            vars_ = getattr(self, kind)
            idx = _index(vars_)
            if len(idx) != len(vars_):
                raise ConfigurationError(f"model {self.name!r}: duplicate names among {kind}")
            lookup[kind] = idx
        object.__setattr__(self, "_lookup", lookup)
        object.__setattr__(self, "_bounds", {kind: (np.array([v.bounds[0] for v in getattr(self, kind)], dtype=float),
                                                     np.array([v.bounds[1] for v in getattr(self, kind)], dtype=float))
                                              for kind in ("states", "inputs", "outputs", "params")})

    # ------------------------------------------------------------------ names
    @property
    def nx(self) -> int:
        return len(self.states)

    @property
    def nu(self) -> int:
        return len(self.inputs)

    @property
    def ny(self) -> int:
        return len(self.outputs)

    @property
    def np(self) -> int:
        return len(self.params)

    def index(self, kind: str, name: str) -> int:
        """Position of variable *name* among ``states``/``inputs``/``outputs``/``params``."""
        try:
            return self._lookup[kind][name]
        except KeyError:
            known = ", ".join(self._lookup[kind]) if kind in self._lookup else ""
            raise ConfigurationError(
                f"model {self.name!r} has no {kind[:-1]} named {name!r}; known {kind}: {known}") from None

    def names(self, kind: str) -> tuple[str, ...]:
        return tuple(v.name for v in getattr(self, kind))

    def var(self, kind: str, name: str) -> Var:
        return getattr(self, kind)[self.index(kind, name)]

    # ------------------------------------------------------------- vectors
    def vector(self, kind: str, values: dict[str, float] | None = None) -> np.ndarray:
        """Defaults of *kind* overridden by *values* (a name → value mapping)."""
        vars_ = getattr(self, kind)
        out = np.array([v.default for v in vars_], dtype=np.float64)
        for name, value in (values or {}).items():
            out[self.index(kind, name)] = float(value)
        return out

    def as_dict(self, kind: str, vector) -> dict[str, float]:
        return {v.name: float(x) for v, x in zip(getattr(self, kind), np.asarray(vector, dtype=float))}

    # ----------------------------------------------------------- validation
    def bounds(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of the variables of *kind* [their units], as arrays in spec order."""
        return self._bounds[kind]

    def check_finite(self, kind: str, array: np.ndarray, *, time: float = math.nan) -> None:
        """Raise :class:`NonFiniteStateError` naming asset, variable, value and time."""
        bad = ~np.isfinite(array)
        if bad.any():
            asset, var = map(int, np.argwhere(bad)[0])
            value = float(array[asset, var])
            name = getattr(self, kind)[var].name
            raise NonFiniteStateError(
                f"{self.name}: {kind[:-1]} {name!r} of asset {asset} is {value} at t = {time} s; every {kind[:-1]} "
                f"must be finite - {_FINITE_FIX[kind]}", asset=asset, variable=name, value=value, time=time)

    def check_bounds(self, params: np.ndarray) -> None:
        """Raise :class:`ParameterBoundsError` for the first parameter outside its bounds."""
        self.check_finite("params", params)
        asset, j = _first_outside(params, *self._bounds["params"])
        if asset >= 0:
            v, value = self.params[j], float(params[asset, j])
            raise ParameterBoundsError(
                f"{self.name}: parameter {v.name!r} of asset {asset} is {value} {v.unit}, outside its bounds "
                f"[{v.bounds[0]}, {v.bounds[1]}] {v.unit}; pass a value inside the bounds",
                asset=asset, variable=v.name, value=value, bounds=v.bounds)

    def check_inputs(self, inputs: np.ndarray, *, time: float = math.nan, times=None, first_asset: int = 0) -> None:
        """Raise for the first input that is not finite or lies outside its bounds.

        *inputs* is ``[n_assets, nu]`` at *time* [s] (row ``r`` is asset
        ``first_asset + r``), or ``[k, nu]`` on the sample grid *times* [s] shared
        by all assets (then the error names no asset).
        """
        lo, hi = self._bounds["inputs"]
        if _all_within(inputs, lo, hi):  # NaN compares false: one test for both rules
            return
        finite = np.isfinite(inputs)
        row, i = map(int, np.argwhere(~finite)[0]) if not finite.all() else _first_outside(inputs, lo, hi)
        v, value = self.inputs[i], float(inputs[row, i])
        asset, when = (first_asset + row, time) if times is None else (-1, float(times[row]))
        where = f"{self.name}: input {v.name!r}" + (f" of asset {asset}" if asset >= 0 else "") + \
            f" is {value} {v.unit} at t = {when} s"
        if not math.isfinite(value):
            raise NonFiniteStateError(f"{where}; every input must be finite - {_FINITE_FIX['inputs']}",
                                      asset=asset, variable=v.name, value=value, time=when)
        raise InputBoundsError(
            f"{where}, outside its bounds [{v.bounds[0]}, {v.bounds[1]}] {v.unit}; feed the model only values inside "
            f"the bounds of its spec (check the unit and the channel map of the telemetry, or clip or quarantine such "
            f"values first)", asset=asset, variable=v.name, value=value, time=when, bounds=v.bounds)


_FINITE_FIX = {
    "states": "check the initial values of that asset",
    "params": "check the parameters of that asset",
    "inputs": "fill or quarantine non-finite inputs before they reach the model",
}


@njit(cache=True)
def _all_within(array, lo, hi):
    """Whether every ``array[i, j]`` lies in ``[lo[j], hi[j]]`` (False for NaN).

    Compiled because fleets check their inputs on every advance: 1-2 us a call
    where the numpy expression costs about 10 us.
    """
    n, m = array.shape
    for i in range(n):
        for j in range(m):
            if not lo[j] <= array[i, j] <= hi[j]:
                return False
    return True


def _first_outside(array: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[int, int]:
    """``(row, column)`` of the first element outside ``[lo, hi]``, ``(-1, -1)`` if none."""
    bad = (array < lo) | (array > hi)
    if not bad.any():
        return -1, -1
    row, column = map(int, np.argwhere(bad)[0])
    return row, column
