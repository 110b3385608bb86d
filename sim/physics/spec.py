"""Model specifications: names, SI units, defaults, bounds and one-line docs.

A :class:`ModelSpec` is the contract between a numba kernel (which only sees
arrays) and everything else (calibration, telemetry channel maps, reports),
which refer to variables by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.exceptions import ConfigurationError, NonFiniteStateError, ParameterBoundsError

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

    def __post_init__(self):
        lookup = {}
        for kind in ("states", "inputs", "outputs", "params"):
            vars_ = getattr(self, kind)
            idx = _index(vars_)
            if len(idx) != len(vars_):
                raise ConfigurationError(f"model {self.name!r}: duplicate names among {kind}")
            lookup[kind] = idx
        object.__setattr__(self, "_lookup", lookup)

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
    def check_finite(self, kind: str, array: np.ndarray, *, time: float = math.nan) -> None:
        """Raise :class:`NonFiniteStateError` naming asset, variable, value and time."""
        bad = ~np.isfinite(array)
        if bad.any():
            asset, var = map(int, np.argwhere(bad)[0])
            value = float(array[asset, var])
            name = getattr(self, kind)[var].name
            raise NonFiniteStateError(
                f"{self.name}: {kind[:-1]} {name!r} of asset {asset} is {value} at t = {time} s; "
                f"every {kind[:-1]} must be finite - check the initial values, inputs and parameters "
                f"of that asset", asset=asset, variable=name, value=value, time=time)

    def check_bounds(self, params: np.ndarray) -> None:
        """Raise :class:`ParameterBoundsError` for the first parameter outside its bounds."""
        self.check_finite("params", params)
        lo = np.array([v.bounds[0] for v in self.params])
        hi = np.array([v.bounds[1] for v in self.params])
        bad = (params < lo) | (params > hi)
        if bad.any():
            asset, j = map(int, np.argwhere(bad)[0])
            v = self.params[j]
            raise ParameterBoundsError(
                f"{self.name}: parameter {v.name!r} of asset {asset} is {params[asset, j]!r} {v.unit}, "
                f"outside its bounds [{v.bounds[0]}, {v.bounds[1]}] {v.unit}; pass a value inside the bounds")
