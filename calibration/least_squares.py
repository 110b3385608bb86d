"""Batch weighted nonlinear least squares with covariance and confidence intervals."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import optimize, stats

from calibration.base import BaseCalibrator, check_is_fitted
from calibration.data import CalibrationData
from calibration.record import CalibrationRecord
from sim.exceptions import CalibrationError, IdentifiabilityWarning, ModelError
from sim.physics.integrators import RK4

__all__ = ["LeastSquaresCalibrator"]


class LeastSquaresCalibrator(BaseCalibrator):
    """Fit model parameters (and optionally initial states) to measured outputs.

    Residuals are weighted per channel by the channel's noise standard deviation
    (given, or estimated from the residuals in a second pass).  The problem is
    solved by ``scipy.optimize.least_squares`` (trust-region reflective, with
    bounds from the model spec); the Jacobian is computed by central
    differences in *one* fleet kernel call (the perturbed parameter sets are
    fleet members).  The covariance is ``s^2 (J^T J)^-1`` at the optimum and the
    intervals use Student's t with ``n - p`` degrees of freedom.

    Parameters
    ----------
    parameters : sequence of str
        Model parameters to estimate.
    initial_states : sequence of str
        States whose value at the window start is estimated as a nuisance
        parameter (others start from the first measurement or the given ``x0``).
    noise_std : dict or None
        channel → measurement noise standard deviation [SI]; estimated if None.
    absolute_sigma : bool
        Use the given noise levels as absolute (no rescaling of the covariance).
    loss : str
        ``least_squares`` loss (``linear``, ``soft_l1``, ``huber`` ...).
    confidence : float
        Level of the intervals.
    max_step : float
        Integrator step [s].
    rel_step : float
        Relative finite-difference step for the Jacobian.
    max_nfev : int
        Budget of residual evaluations.
    correct_autocorrelation : bool
        Inflate the covariance by ``(1 + rho) / (1 - rho)`` where ``rho`` > 0 is
        the lag-1 autocorrelation of the residuals.  Time-series residuals are
        rarely independent (input sampling, unmodelled dynamics); without this
        correction the intervals are too narrow.  No effect on white residuals.
    """

    def __init__(self, parameters=("thermal_resistance_housing_ambient", "heat_capacity_housing"), *,
                 initial_states=("housing_temperature",), noise_std=None, absolute_sigma=False, loss="linear",
                 confidence=0.95, max_step=1.0, rel_step=1e-5, max_nfev=200, correct_autocorrelation=True):
        self.parameters = parameters
        self.initial_states = initial_states
        self.noise_std = noise_std
        self.absolute_sigma = absolute_sigma
        self.loss = loss
        self.confidence = confidence
        self.max_step = max_step
        self.rel_step = rel_step
        self.max_nfev = max_nfev
        self.correct_autocorrelation = correct_autocorrelation

    # ------------------------------------------------------------------ fit
    def fit(self, model, data: CalibrationData, *, params=None, x0=None) -> "LeastSquaresCalibrator":
        """Estimate the parameters from *data*.

        Parameters
        ----------
        model : sim.physics.Model
        data : CalibrationData
        params : dict, optional
            Prior values of all parameters (spec defaults otherwise); fitted ones start here.
        x0 : dict, optional
            States at the window start; measured outputs that are states fill the rest.
        """
        spec = model.spec
        if not 0 < self.confidence < 1:
            raise CalibrationError(f"confidence must lie in (0, 1), got {self.confidence}")
        if tuple(data.input_names) != spec.names("inputs"):
            raise CalibrationError(f"data inputs {data.input_names} do not match model inputs {spec.names('inputs')}")
        names = list(self.parameters)
        states = list(self.initial_states)
        if not names:
            raise CalibrationError("name at least one parameter to estimate")
        p_idx = [spec.index("params", n) for n in names]
        s_idx = [spec.index("states", n) for n in states]
        out_idx = [spec.index("outputs", n) for n in data.output_names]
        base_p = spec.vector("params", params)
        base_x = self._initial_state(spec, data, x0)
        theta0 = np.concatenate([base_p[p_idx], base_x[s_idx]])
        lo = np.array([spec.params[i].bounds[0] for i in p_idx] + [spec.states[i].bounds[0] for i in s_idx])
        hi = np.array([spec.params[i].bounds[1] for i in p_idx] + [spec.states[i].bounds[1] for i in s_idx])
        theta0 = np.clip(theta0, lo, hi)
        n_theta = theta0.size
        mask = np.isfinite(data.outputs)
        n_obs = int(mask.sum())
        if n_obs <= n_theta:
            raise CalibrationError(
                f"too little data: {n_obs} accepted measurements of {list(data.output_names)} for {n_theta} "
                f"unknowns ({names + states}); use a longer window (calibration.window_h) or fewer parameters")
        integrator = RK4(max_step=self.max_step)

        def unpack(thetas):
            m = thetas.shape[0]
            p = np.tile(base_p, (m, 1))
            x = np.tile(base_x, (m, 1))
            p[:, p_idx] = thetas[:, :len(p_idx)]
            x[:, s_idx] = thetas[:, len(p_idx):]
            return x, p

        def simulate(thetas):
            x, p = unpack(thetas)
            try:
                y = model.simulate(x, p, data.t, data.inputs, integrator=integrator)
            except ModelError as err:
                raise CalibrationError(
                    f"the model failed during the fit at {dict(zip(names + states, thetas[0]))}: {err}") from err
            return y[:, :, out_idx]

        sigma = self._sigma(data, None)

        def residuals_of(y, sig):
            r = (y - data.outputs[None]) / sig[None, None, :]
            return r[:, mask]

        def fun(theta):
            r = residuals_of(simulate(theta[None]), sigma)[0]
            if not np.all(np.isfinite(r)):
                raise CalibrationError(f"non-finite residuals at {dict(zip(names + states, theta))}")
            return r

        def jac(theta):
            h = self.rel_step * np.maximum(np.abs(theta), 1e-8)
            h = np.minimum(h, np.maximum((hi - lo) / 4, 1e-12))
            thetas = np.tile(theta, (2 * n_theta, 1))
            for i in range(n_theta):
                thetas[2 * i, i] = min(theta[i] + h[i], hi[i])
                thetas[2 * i + 1, i] = max(theta[i] - h[i], lo[i])
            r = residuals_of(simulate(thetas), sigma)
            steps = thetas[0::2, range(n_theta)].diagonal() - thetas[1::2, range(n_theta)].diagonal()
            return ((r[0::2] - r[1::2]) / steps[:, None]).T

        passes = 1 if (self.noise_std is not None or len(data.output_names) == 1) else 2
        for _ in range(passes):
            result = optimize.least_squares(fun, theta0, jac=jac, bounds=(lo, hi), x_scale="jac", loss=self.loss,
                                            method="trf", max_nfev=self.max_nfev)
            theta0 = result.x
            if passes == 2:
                resid = (simulate(result.x[None])[0] - data.outputs)
                sigma = np.array([np.sqrt(np.nanmean(resid[:, j] ** 2)) for j in range(resid.shape[1])])
                sigma = np.where(sigma > 0, sigma, 1.0)
        self._store(model, data, result, names, states, unpack, simulate, sigma, mask, n_obs, jac)
        return self

    # -------------------------------------------------------------- helpers
    def _sigma(self, data, _):
        if self.noise_std is None:
            return np.ones(len(data.output_names))
        missing = [c for c in data.output_names if c not in self.noise_std]
        if missing:
            raise CalibrationError(f"noise_std lacks the channels {missing}; give one value per measured output")
        sig = np.array([float(self.noise_std[c]) for c in data.output_names])
        if not np.all(sig > 0):
            raise CalibrationError(f"noise_std must be > 0 for every channel, got {self.noise_std}")
        return sig

    @staticmethod
    def _initial_state(spec, data, x0):
        x = spec.vector("states", x0)
        for j, name in enumerate(data.output_names):
            if name in spec.names("states") and (x0 is None or name not in x0):
                col = data.outputs[:, j]
                finite = np.flatnonzero(np.isfinite(col))
                if finite.size:
                    x[spec.index("states", name)] = col[finite[0]]
        return x

    def _store(self, model, data, result, names, states, unpack, simulate, sigma, mask, n_obs, jac):
        spec = model.spec
        theta = result.x
        n_theta = theta.size
        dof = n_obs - n_theta
        y = simulate(theta[None])[0]
        resid = y - data.outputs
        r_w = (resid / sigma[None, :])[mask]
        J = jac(theta)
        s2 = 1.0 if (self.absolute_sigma and self.noise_std is not None) else float(r_w @ r_w) / dof
        _, sv, vt = np.linalg.svd(J, full_matrices=False)
        threshold = np.finfo(float).eps * max(J.shape) * sv[0]
        if sv[-1] <= threshold:
            warnings.warn(f"the information matrix is singular: the data cannot determine {names + states} "
                          f"jointly; fix some of them or add data that excites them", IdentifiabilityWarning,
                          stacklevel=3)
            cov = np.full((n_theta, n_theta), np.inf)
        else:
            cov = (vt.T / sv ** 2) @ vt * s2
        rho = _lag1_autocorrelation(resid / sigma[None, :])
        inflation = (1 + rho) / (1 - rho) if (self.correct_autocorrelation and 0 < rho < 1) else 1.0
        cov = cov * inflation
        stderr = np.sqrt(np.diag(cov))
        tq = stats.t.ppf(0.5 + self.confidence / 2, dof)
        all_names = names + states
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = cov / np.outer(stderr, stderr)
        for i in range(n_theta):
            for j in range(i + 1, n_theta):
                if abs(corr[i, j]) > 0.95:
                    warnings.warn(f"{all_names[i]} and {all_names[j]} are strongly correlated (rho = {corr[i, j]:.3f}); "
                                  f"their individual values are poorly determined", IdentifiabilityWarning, stacklevel=3)
        at_bound = [all_names[i] for i in np.flatnonzero(result.active_mask)]
        if at_bound:
            warnings.warn(f"the estimates of {at_bound} stopped at their bounds; the intervals are not reliable - "
                          f"widen the bounds or check the model", IdentifiabilityWarning, stacklevel=3)
        if sv.size and sv[0] / max(sv[-1], 1e-300) > 1e8:
            warnings.warn(f"the Jacobian is ill-conditioned (condition number {sv[0] / sv[-1]:.2e})",
                          IdentifiabilityWarning, stacklevel=3)
        x_fit, p_fit = unpack(theta[None])
        final = self._final_state(model, data, x_fit, p_fit)
        self.theta_names_ = all_names
        self.params_ = dict(zip(names, theta[:len(names)].tolist()))
        self.model_params_ = spec.as_dict("params", p_fit[0])
        self.initial_state_ = spec.as_dict("states", x_fit[0])
        self.final_state_ = spec.as_dict("states", final)
        self.covariance_ = pd.DataFrame(cov, index=all_names, columns=all_names)
        self.correlation_ = pd.DataFrame(corr, index=all_names, columns=all_names)
        self.stderr_ = dict(zip(all_names, stderr.tolist()))
        self.intervals_ = {n: (float(v - tq * s), float(v + tq * s)) for n, v, s in zip(all_names, theta, stderr)}
        self.noise_std_ = dict(zip(data.output_names, (sigma * math.sqrt(s2)).tolist()))
        self.fitted_ = pd.DataFrame(y, columns=list(data.output_names), index=data.t)
        self.residuals_ = pd.DataFrame(resid, columns=list(data.output_names), index=data.t)
        self.metrics_ = {}
        for j, name in enumerate(data.output_names):
            ok = mask[:, j]
            res = resid[ok, j]
            meas = data.outputs[ok, j]
            ss_tot = float(((meas - meas.mean()) ** 2).sum())
            self.metrics_[name] = {"rmse": float(np.sqrt(np.mean(res ** 2))),
                                   "r2": float(1 - (res ** 2).sum() / ss_tot) if ss_tot > 0 else math.nan,
                                   "n": int(ok.sum()), "noise_std": self.noise_std_[name]}
        self.n_obs_, self.dof_ = n_obs, dof
        self.autocorrelation_, self.variance_inflation_ = rho, inflation
        self.cost_, self.nfev_, self.success_, self.message_ = float(result.cost), int(result.nfev), \
            bool(result.success), str(result.message)
        self.record_ = self._record(spec, data, names, cov[:len(names), :len(names)])

    def _final_state(self, model, data, x_fit, p_fit):
        # states at the window end: the twin continues from here
        from sim.physics.fleet import Fleet

        fleet = Fleet(model, states=x_fit, params=p_fit, integrator=RK4(max_step=self.max_step))
        for j in range(data.t.size - 1):
            fleet.inputs[0] = data.inputs[j]
            fleet.advance(float(data.t[j + 1]))
        return fleet.states[0].copy()

    def _record(self, spec, data, names, cov) -> CalibrationRecord:
        return CalibrationRecord(
            model=spec.name, model_version=spec.version,
            parameters={n: {"value": self.params_[n], "unit": spec.var("params", n).unit, "stderr": self.stderr_[n],
                            "ci_low": self.intervals_[n][0], "ci_high": self.intervals_[n][1]} for n in names},
            fixed_parameters={k: v for k, v in self.model_params_.items() if k not in names},
            covariance=np.asarray(cov).tolist(), parameter_names=list(names), confidence=float(self.confidence),
            metrics=self.metrics_,
            window={"start": data.start.isoformat(), "end": data.end.isoformat(),
                    "channels": list(data.input_names) + list(data.output_names), "n_samples": int(data.t.size),
                    "content_hash": data.content_hash, "source_hash": data.source_hash,
                    "inputs_carried_forward": int(data.n_filled)},
            initial_state=self.initial_state_, final_state=self.final_state_,
            method=repr(self))

    def partial_fit(self, model, window: CalibrationData, *, x0=None) -> "LeastSquaresCalibrator":
        """Re-estimate on a new *window*, warm-started from the last estimate.

        The previous estimates and intervals are kept in ``history_`` (one entry
        per window, with the window's start, end and content hash), so parameter
        tracks with their intervals can be plotted over time.
        """
        history = list(getattr(self, "history_", []))
        prior = dict(self.model_params_) if hasattr(self, "model_params_") else None
        self.fit(model, window, params=prior, x0=x0)
        history.append({"start": window.start, "end": window.end, "content_hash": window.content_hash,
                        **{k: v for k, v in self.params_.items()},
                        **{f"{k}.ci_low": lo for k, (lo, hi) in self.intervals_.items() if k in self.params_},
                        **{f"{k}.ci_high": hi for k, (lo, hi) in self.intervals_.items() if k in self.params_}})
        self.history_ = history
        return self

    # --------------------------------------------------------------- use
    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw *n* parameter vectors (fitted parameters only) from the Gaussian posterior approximation."""
        check_is_fitted(self)
        names = list(self.parameters)
        mean = np.array([self.params_[k] for k in names])
        cov = self.covariance_.loc[names, names].to_numpy()
        return rng.multivariate_normal(mean, cov, size=n, method="cholesky")


def _lag1_autocorrelation(resid: np.ndarray) -> float:
    """Pooled lag-1 autocorrelation over channels, using consecutive finite pairs only."""
    num = den = 0.0
    for j in range(resid.shape[1]):
        r = resid[:, j]
        ok = np.isfinite(r)
        if ok.sum() < 3:
            continue
        r = np.where(ok, r - r[ok].mean(), np.nan)
        pair = ok[1:] & ok[:-1]
        num += float(np.sum(r[1:][pair] * r[:-1][pair]))
        den += float(np.sum(r[ok] ** 2))
    return num / den if den > 0 else 0.0
