"""Global stages before the local least squares: Sobol multi-start and differential evolution.

Both search a *box* in scaled coordinates ``v`` in ``[0, 1]^d``: a parameter whose
box spans more than a factor of 20 on one side of zero is searched in log scale,
others linearly, so that parameters of very different magnitudes (a flow
coefficient of 1e-4 next to a head of 40 m) get the same resolution.  The box is
``search_bounds`` where given, else the spec bounds cut to a factor of 10 around
the start.  Initial states are estimated in the local stage only (they start at
their measured values), unless ``search_bounds`` names them.

Candidates are evaluated a batch at a time through one fleet kernel call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.stats import qmc

from sim.exceptions import CalibrationError, ConfigurationError

__all__ = ["SearchBox", "search_box", "sobol_candidates", "differential_evolution_start"]

_LOG_RATIO = 20.0  # boxes spanning more than this ratio are searched in log scale
_FACTOR = 10.0  # default box: start / 10 .. start * 10, within the spec bounds


@dataclass(frozen=True)
class SearchBox:
    """Which components of theta are searched, in which range (``lo < hi``) and scale."""

    index: np.ndarray  # positions in theta that are searched
    lo: np.ndarray
    hi: np.ndarray
    log: np.ndarray  # search uniformly in log |value| (lo and hi then have the same sign)

    def _ends(self):
        sign = np.where(self.log, np.sign(self.lo), 1.0)
        a = np.where(self.log, np.log(np.abs(np.where(self.log, self.lo, 1.0))), self.lo)
        b = np.where(self.log, np.log(np.abs(np.where(self.log, self.hi, 1.0))), self.hi)
        return sign, a, b

    def to_theta(self, v: np.ndarray, theta0: np.ndarray) -> np.ndarray:
        """Map scaled points ``v[m, d]`` in the unit cube to full parameter vectors ``[m, n_theta]``."""
        v = np.atleast_2d(v)
        sign, a, b = self._ends()
        vals = a + v * (b - a)
        vals = np.where(self.log, sign * np.exp(np.where(self.log, vals, 0.0)), vals)
        out = np.tile(theta0, (v.shape[0], 1))
        out[:, self.index] = np.clip(vals, self.lo, self.hi)
        return out

    def to_unit(self, theta: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_theta` for one vector (clipped to the cube)."""
        sign, a, b = self._ends()
        x = np.clip(theta[self.index], self.lo, self.hi)
        xs = np.where(self.log, np.log(np.abs(np.where(self.log, x, 1.0))), x)
        return np.clip((xs - a) / (b - a), 0.0, 1.0)


def search_box(theta_names, theta0, lo, hi, n_params: int, search_bounds) -> SearchBox:
    """The box of the global stage; raises ConfigurationError where none can be chosen."""
    given = dict(search_bounds or {})
    unknown = sorted(set(given) - set(theta_names))
    if unknown:
        raise ConfigurationError(f"search_bounds names {unknown}, which are not estimated; estimated: {theta_names}")
    index, blo, bhi = [], [], []
    for i, name in enumerate(theta_names):
        if name in given:
            a, b = (float(v) for v in given[name])
            if not (lo[i] <= a < b <= hi[i]):
                raise ConfigurationError(f"search_bounds[{name!r}] = ({a}, {b}) must satisfy {lo[i]} <= low < high <= "
                                         f"{hi[i]} (the spec bounds)")
        elif i < n_params:
            v = theta0[i]
            if v == 0.0:
                if math.isfinite(lo[i]) and math.isfinite(hi[i]) and hi[i] - lo[i] <= 1e6:
                    a, b = lo[i], hi[i]
                else:
                    raise ConfigurationError(
                        f"the global search needs a finite box for {name!r}: its start is 0 and its bounds are "
                        f"({lo[i]}, {hi[i]}); pass search_bounds={{{name!r}: (low, high)}}")
            else:
                a, b = sorted((v / _FACTOR, v * _FACTOR))
                a, b = max(a, lo[i]), min(b, hi[i])
        else:
            continue  # initial states: local stage only
        index.append(i)
        blo.append(a)
        bhi.append(b)
    if not index:
        raise ConfigurationError("the global search has nothing to search: name a parameter in `parameters`")
    blo, bhi = np.array(blo, float), np.array(bhi, float)
    same_sign = (blo > 0) | (bhi < 0)
    near = np.where(same_sign, np.minimum(np.abs(blo), np.abs(bhi)), 1.0)
    far = np.where(same_sign, np.maximum(np.abs(blo), np.abs(bhi)), 1.0)
    log = same_sign & (far > _LOG_RATIO * near)
    return SearchBox(np.array(index, dtype=int), blo, bhi, log)


def sobol_candidates(box: SearchBox, theta0, n: int, rng) -> np.ndarray:
    """*n* scrambled-Sobol points of the box as full theta vectors."""
    d = box.index.size
    m = max(1, int(math.ceil(math.log2(max(n, 2)))))
    v = qmc.Sobol(d, scramble=True, seed=rng).random_base2(m)[:n]
    return box.to_theta(v, theta0)


def differential_evolution_start(objective, box: SearchBox, theta0, *, maxiter: int, rng) -> tuple[np.ndarray, dict]:
    """Best point of a vectorized differential evolution (each generation one fleet call)."""

    def energies(v):  # v: (d, S) in scipy's vectorized convention
        return objective.costs(box.to_theta(v.T, theta0))

    start = box.to_unit(theta0)
    result = optimize.differential_evolution(
        energies, [(0.0, 1.0)] * box.index.size, maxiter=maxiter, popsize=15, init="sobol", x0=start, seed=rng,
        polish=False, vectorized=True, updating="deferred", tol=1e-8)
    best = box.to_theta(result.x, theta0)[0]
    if not np.isfinite(result.fun):
        raise CalibrationError(
            f"the global stage found no parameter set where the model runs: all {objective.n_evaluations} evaluated "
            f"candidates failed ({objective.n_failed} failures); check the model, the data and search_bounds")
    return best, {"nit": int(result.nit), "best_cost": float(result.fun)}
