"""Profile likelihood of one parameter: the cost with the parameter fixed and the others re-fitted.

With the residual variance ``s^2`` (times the autocorrelation inflation the Wald
covariance uses) the likelihood-ratio statistic along the profile is::

    D(v) = 2 (C(v) - C_min) / (s^2 * inflation)           C = 0.5 * sum(r^2), r weighted

and the profile interval is ``{v : D(v) <= t^2_{n-p}(0.5 + confidence/2)}``.  For a
model linear in its parameters ``D(v) = ((v - v_hat) / stderr)^2`` exactly, so the
profile interval then equals the Wald interval; on a nonlinear model it follows
the cost surface and may be asymmetric (Venzon & Moolgavkar, "A method for
computing profile-likelihood-based confidence intervals", Appl. Stat. 37 (1988);
Bates & Watts, *Nonlinear Regression Analysis*, ch. 6).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from sim.exceptions import CalibrationError, ConfigurationError, IdentifiabilityWarning

__all__ = ["ProfileLikelihood", "profile_likelihood"]


@dataclass(frozen=True)
class ProfileLikelihood:
    """The profile of one parameter.

    Attributes
    ----------
    parameter : str
    estimate : float
        The fitted value [SI].
    values : ndarray
        Grid of fixed values, increasing [SI].
    cost : ndarray
        Weighted cost ``0.5 sum(r^2)`` with the others re-fitted.
    statistic : ndarray
        Likelihood-ratio statistic ``D`` (0 at the estimate).
    threshold : float
        ``D`` at the interval ends (``t^2`` quantile).
    interval : tuple of float
        Profile-likelihood interval; an end is ``nan`` where the profile stays below
        the threshold up to the parameter's bound (``open_ends`` names it).
    wald : tuple of float
        The Wald interval of the fit, for comparison.
    others : pandas.DataFrame
        The re-fitted other parameters along the profile (index ``values``).
    open_ends : tuple of str
        ``"lower"`` / ``"upper"`` where the data do not bound the parameter.
    """

    parameter: str
    estimate: float
    values: np.ndarray
    cost: np.ndarray
    statistic: np.ndarray
    threshold: float
    interval: tuple
    wald: tuple
    others: pd.DataFrame
    open_ends: tuple = ()

    @property
    def asymmetry(self) -> float:
        """(upper - estimate) / (estimate - lower): 1 for a symmetric interval."""
        lo, hi = self.interval
        return (hi - self.estimate) / (self.estimate - lo)


def profile_likelihood(objective, theta_hat, *, name, stderr, scale, dof, confidence, n_points=21, span=3.0,
                       rel_step=1e-5, max_nfev=100) -> ProfileLikelihood:
    """Profile of *name* over ``theta_hat ± span * stderr`` (extended until the threshold is crossed).

    *scale* is ``s^2 * inflation`` of the fit; *objective* is a
    :class:`calibration.objective.WeightedObjective` carrying the fit's weights.
    """
    names = objective.theta_names
    if name not in names:
        raise ConfigurationError(f"cannot profile {name!r}: it was not estimated; estimated: {names}")
    if n_points < 5:
        raise ConfigurationError(f"n_points = {n_points}: a profile needs at least 5 points")
    if not (math.isfinite(stderr) and stderr > 0):
        raise CalibrationError(f"cannot profile {name!r}: its standard error is {stderr}; the parameter is not "
                               f"identifiable from these data (see the identifiability warnings of the fit)")
    i = names.index(name)
    free = [k for k in range(len(names)) if k != i]
    lo, hi = objective.lo, objective.hi
    c_min = 0.5 * float(np.sum(objective.residuals(theta_hat)[0] ** 2))
    threshold = float(stats.t.ppf(0.5 + confidence / 2, dof) ** 2)
    half = n_points // 2
    step = span * stderr / half

    def refit(value, start):
        full = theta_hat.copy()
        full[i] = value
        if not free:
            return full, 0.5 * float(np.sum(objective.residuals(full)[0] ** 2))

        def fun(z):
            full[free] = z
            return objective.residuals(full)[0]

        def jac(z):
            full[free] = z
            return objective.jacobian(full, rel_step)[:, free]

        res = optimize.least_squares(fun, np.clip(start, lo[free], hi[free]), jac=jac, bounds=(lo[free], hi[free]),
                                     x_scale="jac", method="trf", max_nfev=max_nfev)
        full[free] = res.x
        return full.copy(), float(res.cost)

    points = {theta_hat[i]: (theta_hat.copy(), c_min)}
    open_ends = []
    crossing = {}
    for direction, bound, label in ((-1, lo[i], "lower"), (+1, hi[i], "upper")):
        prev = theta_hat.copy()
        prev_d = 0.0
        for k in range(1, 3 * half + 1):
            value = theta_hat[i] + direction * k * step
            at_bound = (value <= bound) if direction < 0 else (value >= bound)
            value = bound if at_bound else value
            prev, cost = refit(value, prev[free])
            points[value] = (prev, cost)
            d = 2.0 * (cost - c_min) / scale
            if d >= threshold and not crossing.get(label):
                # signed root of D is close to linear in the parameter: interpolate there
                r0, r1 = math.sqrt(max(prev_d, 0.0)), math.sqrt(d)
                v0 = theta_hat[i] + direction * (k - 1) * step
                crossing[label] = v0 + direction * step * (math.sqrt(threshold) - r0) / (r1 - r0) if r1 > r0 else value
            if at_bound or (crossing.get(label) and k >= half):
                break
            prev_d = d
        if label not in crossing:
            open_ends.append(label)
    if open_ends:
        warnings.warn(f"the profile of {name!r} stays below the {confidence:.0%} threshold up to its "
                      f"{' and '.join(open_ends)} bound/search limit: the data do not bound it there",
                      IdentifiabilityWarning, stacklevel=3)
    values = np.array(sorted(points))
    cost = np.array([points[v][1] for v in values])
    others = pd.DataFrame([points[v][0][free] for v in values], index=pd.Index(values, name=name),
                          columns=[names[k] for k in free])
    tq = math.sqrt(threshold)
    return ProfileLikelihood(
        parameter=name, estimate=float(theta_hat[i]), values=values, cost=cost,
        statistic=2.0 * (cost - c_min) / scale, threshold=threshold,
        interval=(float(crossing.get("lower", math.nan)), float(crossing.get("upper", math.nan))),
        wald=(float(theta_hat[i] - tq * stderr), float(theta_hat[i] + tq * stderr)), others=others,
        open_ends=tuple(open_ends))
