"""Batch weighted nonlinear least squares with covariance and confidence intervals.

The objective and its batched evaluation live in :mod:`calibration.objective`, the
optional global stage in :mod:`calibration.global_search` and the profile
likelihood in :mod:`calibration.profile`; this module orchestrates them and turns
the optimum into learned values (intervals, correlation, metrics, a record).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import optimize, stats

from calibration.base import BaseCalibrator, ConvergenceWarning, check_is_fitted
from calibration.data import CalibrationData
from calibration.evidence import MisspecificationWarning, misspecification_evidence
from calibration.global_search import differential_evolution_start, search_box, sobol_candidates
from calibration.objective import StackedObjective, WeightedObjective, robust_noise_std
from calibration.profile import ProfileLikelihood, profile_likelihood
from calibration.record import CalibrationRecord
from sim.exceptions import CalibrationError, ConfigurationError, DataQualityWarning, IdentifiabilityWarning

__all__ = ["LeastSquaresCalibrator"]

_GLOBAL_STAGES = (None, "multistart", "de")
_SCREEN = 32  # multi-start: Sobol candidates screened per local fit (one fleet call; cheap next to a local fit)


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
    x_scale : "jac", "start", array or dict
        Parameter scaling of the local solver: ``"jac"`` (adaptive, from the
        Jacobian's column norms), ``"start"`` (the magnitudes of the starting
        values), an array, or name → typical magnitude (unnamed unknowns use
        ``|start|``).
    global_search : None, "multistart" or "de"
        Global stage before the local fit, for multimodal problems.
        ``"multistart"`` screens ``32 n_starts`` scrambled-Sobol points of the
        search box in one fleet call and runs the local fit from the start and the
        best ``n_starts - 1`` of them; ``"de"`` runs a vectorized differential
        evolution (one fleet call per generation) and polishes its best point
        locally.  The lowest cost wins; ``search_`` reports what was tried.
    n_starts : int
        Local fits of the multi-start stage.
    search_bounds : dict or None
        name → (low, high) box of the global stage [SI]; default: the spec bounds
        cut to a factor of 10 around the start (searched in log scale where the
        box spans more than a factor of 20).
    global_maxiter : int
        Generations of the differential evolution.
    random_state : int or None
        Seed of the global stage.
    misspecification_rms_ratio : float
        The fit warns that the model cannot explain the data
        (:class:`calibration.MisspecificationWarning`) when a channel's residual RMS exceeds
        this many times its noise level: the declared ``noise_std``, else an estimate from the
        measurements alone (second differences, :func:`calibration.evidence.difference_noise_std`).
    whiteness_alpha, whiteness_min_autocorrelation : float
        ... or when the Ljung-Box test rejects white residuals at level ``whiteness_alpha`` and
        the lag-1 autocorrelation exceeds ``whiteness_min_autocorrelation`` in size.  The evidence
        is in ``misspecification_`` and on the record; the intervals of such a fit are marked
        unreliable (``intervals_reliable_``, ``CalibrationRecord.intervals_reliable``).

    Notes
    -----
    Data with gaps (:attr:`CalibrationData.segment_starts`, from ``CalibrationData.from_frame``'s
    ``max_gap``) are fitted as several windows with shared parameters, each with its own initial
    states, as a sequence of windows is; ``fitted_`` and ``residuals_`` keep the data's own time
    index, and the record lists the windows and the gaps.  A window between gaps with fewer than
    ``5 (len(initial_states) + 1)`` accepted measurements cannot inform its own initial states and
    is left out (with a :class:`~sim.exceptions.DataQualityWarning`; listed in the record).

    Failures are never hidden: a model that fails (non-finite state) or gives
    non-finite outputs during the local fit raises :class:`CalibrationError`
    naming the parameter values and the reason (no penalty value is substituted);
    in the global stage such candidates get an infinite cost and are counted in
    ``search_``.  A fit that stops before convergence warns
    (:class:`calibration.ConvergenceWarning`) and sets ``success_ = False``.
    """

    def __init__(self, parameters=("thermal_resistance_housing_ambient", "heat_capacity_housing"), *,
                 initial_states=("housing_temperature",), noise_std=None, absolute_sigma=False, loss="linear",
                 confidence=0.95, max_step=1.0, rel_step=1e-5, max_nfev=200, correct_autocorrelation=True,
                 x_scale="jac", global_search=None, n_starts=8, search_bounds=None, global_maxiter=60,
                 random_state=0, misspecification_rms_ratio=2.0, whiteness_alpha=1e-3,
                 whiteness_min_autocorrelation=0.2):
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
        self.x_scale = x_scale
        self.global_search = global_search
        self.n_starts = n_starts
        self.search_bounds = search_bounds
        self.global_maxiter = global_maxiter
        self.random_state = random_state
        self.misspecification_rms_ratio = misspecification_rms_ratio
        self.whiteness_alpha = whiteness_alpha
        self.whiteness_min_autocorrelation = whiteness_min_autocorrelation

    # ------------------------------------------------------------------ fit
    def fit(self, model, data, *, params=None, x0=None) -> "LeastSquaresCalibrator":
        """Estimate the parameters from *data*.

        Parameters
        ----------
        model : sim.physics.Model
        data : CalibrationData or sequence of CalibrationData
            One window, or several windows (experiments) fitted at once: the
            parameters are shared, every window gets its own estimated initial
            states (named ``<state>@<window>``); ``fitted_`` and ``residuals_``
            are then indexed by (window, t).
        params : dict, optional
            Prior values of all parameters (spec defaults otherwise); fitted ones start here.
        x0 : dict or sequence of dict, optional
            States at the window start (one dict per window, or one for all);
            measured outputs that are states fill the rest.
        """
        return self._fit_window(model, data, params=params, x0=x0, sigma0=None)

    def _objective(self, model, data, params, x0):
        spec = model.spec
        names, states = list(self.parameters), list(self.initial_states)
        whole = None
        if isinstance(data, CalibrationData):
            self._validate(data, spec)
            if data.n_windows > 1:  # gaps: fit the windows between them as separate experiments
                whole, data = data, self._gap_windows(data)
                data = data[0] if len(data) == 1 else data
            if isinstance(data, CalibrationData):
                obj = WeightedObjective(model, data, names, states, spec.vector("params", params),
                                        self._initial_state(spec, data, x0), max_step=self.max_step)
                obj.whole = whole
                return data, obj
        windows = list(data)
        if not windows or not all(isinstance(w, CalibrationData) for w in windows):
            raise CalibrationError(f"data must be a CalibrationData window or a non-empty sequence of them, got "
                                   f"{type(data).__name__}; build windows with CalibrationData.from_frame")
        if whole is None and any(w.n_windows > 1 for w in windows):  # a window with gaps is several experiments
            windows = [piece for w in windows for piece in (self._gap_windows(w) if w.n_windows > 1 else [w])]
        for w in windows:
            self._validate(w, spec)
            if w.output_names != windows[0].output_names:
                raise CalibrationError(f"every window must measure the same outputs: {list(w.output_names)} vs "
                                       f"{list(windows[0].output_names)}")
        x0s = list(x0) if isinstance(x0, (list, tuple)) else [x0] * len(windows)
        if len(x0s) != len(windows):
            raise CalibrationError(f"x0 gives {len(x0s)} initial states for {len(windows)} windows; give one dict "
                                   f"per window or one for all")
        obj = StackedObjective(model, windows, names, states, spec.vector("params", params),
                               [self._initial_state(spec, w, x) for w, x in zip(windows, x0s)],
                               max_step=self.max_step)
        obj.whole = whole
        return obj.data, obj

    def _gap_windows(self, data):
        """The windows between the gaps of *data* that hold enough data to fit their own initial states."""
        need = 5 * (len(list(self.initial_states)) + 1)
        windows = data.split()
        keep = [w for w in windows if w.n_observations >= need]
        left = [w for w in windows if w.n_observations < need]
        if not keep:
            raise CalibrationError(
                f"the gaps split the data ({data.start} .. {data.end}) into {len(windows)} windows, none with the "
                f"{need} accepted measurements a window needs to fit its own initial states "
                f"{list(self.initial_states)}; widen the window, raise max_gap (now {data.max_gap:g} s) or fill "
                f"the telemetry")
        if left:
            warnings.warn(f"{len(left)} of the {len(windows)} windows between gaps hold fewer than {need} accepted "
                          f"measurements and are left out of the fit: "
                          f"{[(str(w.start), str(w.end)) for w in left]}", DataQualityWarning, stacklevel=4)
        return keep

    def _fit_window(self, model, data, *, params, x0, sigma0):
        data, obj = self._objective(model, data, params, x0)
        self._check_data(obj, data)
        if self.noise_std is not None:
            obj.sigma = self._sigma(data)
        elif sigma0 is not None:  # warm start: weights from the last window's noise estimate
            obj.sigma = sigma0
        else:
            obj.sigma = robust_noise_std(data.outputs)
        passes = 1 if (self.noise_std is not None or sigma0 is not None or len(data.output_names) == 1) else 2
        theta0 = obj.theta0
        obj.residuals(theta0)  # fail here, with the reason, if the model cannot run at the start
        search = None
        for k in range(passes):
            if k == 0 and self.global_search is not None:
                result, search = self._global_stage(obj, theta0)
            else:
                result = self._local(obj, result.x if k else theta0)
            if k < passes - 1:
                resid = obj.simulate(result.x)[0] - data.outputs
                count = obj.mask.sum(axis=0)
                ss = np.where(obj.mask, resid, 0.0) ** 2
                sigma = np.sqrt(ss.sum(axis=0) / np.maximum(count, 1))
                obj.sigma = np.where((sigma > 0) & (count > 0), sigma, 1.0)
        if not result.success or result.status == 0:
            warnings.warn(f"the least-squares fit of {obj.theta_names} did not converge ({result.message}, "
                          f"{result.nfev} evaluations); the estimates and intervals are not reliable - raise "
                          f"max_nfev (now {self.max_nfev}) or start closer", ConvergenceWarning, stacklevel=2)
        self._store(obj, data, result, search)
        return self

    def _validate(self, data, spec):
        if not 0 < self.confidence < 1:
            raise CalibrationError(f"confidence must lie in (0, 1), got {self.confidence}")
        if tuple(data.input_names) != spec.names("inputs"):
            raise CalibrationError(f"data inputs {data.input_names} do not match model inputs {spec.names('inputs')}")
        if not list(self.parameters):
            raise CalibrationError("name at least one parameter to estimate")
        if self.global_search not in _GLOBAL_STAGES:
            raise ConfigurationError(f"global_search = {self.global_search!r}: choose one of {list(_GLOBAL_STAGES)}")

    @staticmethod
    def _check_data(obj, data):
        names = obj.theta_names
        span = f"{len(data.t)} rows from {data.start} to {data.end}"
        if obj.n_obs == 0:
            raise CalibrationError(
                f"the window holds no accepted measurement of {list(data.output_names)} ({span}): every value was "
                f"quarantined; skip this window or widen it, and see the telemetry quality report for the reason")
        empty = [c for j, c in enumerate(data.output_names) if not obj.mask[:, j].any()]
        if empty:
            warnings.warn(f"the channels {empty} hold no accepted value in the window ({span}): every value was "
                          f"quarantined, so they do not inform the fit", DataQualityWarning, stacklevel=3)
        if obj.n_obs <= obj.n_theta:
            raise CalibrationError(
                f"too little data: {obj.n_obs} accepted measurements of {list(data.output_names)} for {obj.n_theta} "
                f"unknowns ({names}); use a longer window (calibration.window_h) or fewer parameters")

    def _local(self, obj, theta0):
        x_scale = self.x_scale
        if isinstance(x_scale, str) and x_scale == "start":
            x_scale = {}
        if isinstance(x_scale, dict):
            x_scale = np.array([float(x_scale.get(n, abs(v) if v != 0 else 1.0))
                                for n, v in zip(obj.theta_names, theta0)])
        return optimize.least_squares(lambda th: obj.residuals(th)[0], theta0,
                                      jac=lambda th: obj.jacobian(th, self.rel_step), bounds=(obj.lo, obj.hi),
                                      x_scale=x_scale, loss=self.loss, method="trf", max_nfev=self.max_nfev)

    def _global_stage(self, obj, theta0):
        """Multi-start or differential evolution, then the local fit from the best point(s)."""
        rng = np.random.default_rng(self.random_state)
        box = search_box(obj.theta_names, theta0, obj.lo, obj.hi, len(self.parameters), self.search_bounds)
        n0 = obj.n_evaluations
        if self.global_search == "de":
            best, info = differential_evolution_start(obj, box, theta0, maxiter=self.global_maxiter, rng=rng)
            starts = [best]
        else:
            if self.n_starts < 1:
                raise ConfigurationError(f"n_starts = {self.n_starts} must be >= 1")
            cand = sobol_candidates(box, theta0, _SCREEN * self.n_starts, rng)
            costs = obj.costs(cand)  # screen many candidates in one fleet call
            order = [k for k in np.argsort(costs) if np.isfinite(costs[k])][:self.n_starts - 1]
            starts = [theta0] + [cand[k] for k in order]
            info = {"n_screened": int(cand.shape[0])}
        results, failures = [], []
        for start in starts:
            try:
                results.append(self._local(obj, start))
            except CalibrationError as err:  # a start that runs into a failing region is dropped, not penalized
                failures.append(str(err))
        if not results:
            raise CalibrationError(f"every local fit of the global stage failed; the first reason: {failures[0]}")
        costs = np.array([r.cost for r in results])
        best = results[int(np.argmin(costs))]
        c_min = float(costs.min())
        info.update(method=self.global_search, n_local=len(starts), local_costs=costs.tolist(),
                    n_failed_local=len(failures), n_failed_evaluations=int(obj.n_failed),
                    n_evaluations=int(obj.n_evaluations - n0),
                    n_at_best=int(np.sum(costs <= c_min + 1e-6 * max(1.0, abs(c_min)))))
        return best, info

    # -------------------------------------------------------------- helpers
    def _sigma(self, data):
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

    def _store(self, obj, data, result, search):
        spec = obj.spec
        names, all_names = obj.names, obj.theta_names
        theta = result.x
        n_theta, n_obs, mask, sigma = theta.size, obj.n_obs, obj.mask, obj.sigma
        dof = n_obs - n_theta
        y = obj.simulate(theta)[0]
        resid = y - data.outputs
        r_w = (resid / sigma[None, :])[mask]
        # the solver's Jacobian at the solution is ours (central differences) unless a robust loss rescaled it
        J = result.jac if self.loss == "linear" else obj.jacobian(theta, self.rel_step)
        s2 = 1.0 if (self.absolute_sigma and self.noise_std is not None) else float(r_w @ r_w) / dof
        _, sv, vt = np.linalg.svd(J, full_matrices=False)
        threshold = np.finfo(float).eps * max(J.shape) * sv[0]
        if sv[-1] <= threshold:
            warnings.warn(f"the information matrix is singular: the data cannot determine {all_names} "
                          f"jointly; fix some of them or add data that excites them", IdentifiabilityWarning,
                          stacklevel=3)
            cov = np.full((n_theta, n_theta), np.inf)
        else:
            cov = (vt.T / sv ** 2) @ vt * s2
        whole = getattr(obj, "whole", None)
        segments = _segments(data)
        rho = _lag1_autocorrelation(resid / sigma[None, :], segments)
        inflation = (1 + rho) / (1 - rho) if (self.correct_autocorrelation and 0 < rho < 1) else 1.0
        cov = cov * inflation
        stderr = np.sqrt(np.diag(cov))
        tq = stats.t.ppf(0.5 + self.confidence / 2, dof)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = cov / np.outer(stderr, stderr)
        for i in range(n_theta):
            for j in range(i + 1, n_theta):
                if abs(corr[i, j]) > 0.95:
                    warnings.warn(f"{all_names[i]} and {all_names[j]} are strongly correlated (rho = {corr[i, j]:.3f}); "
                                  f"their individual values are poorly determined", IdentifiabilityWarning, stacklevel=3)
        evidence = misspecification_evidence(
            resid, data.outputs, data.output_names, segments=segments,
            noise_std=dict(self.noise_std) if self.noise_std is not None else None,
            rms_ratio=self.misspecification_rms_ratio, whiteness_alpha=self.whiteness_alpha,
            min_autocorrelation=self.whiteness_min_autocorrelation)
        # an unconverged fit's residuals are not the model's best: they say nothing about the model (it warns anyway)
        evidence["conclusive"] = bool(result.success and result.status != 0)
        if evidence["misspecified"] and evidence["conclusive"]:
            warnings.warn("the model cannot explain the data, so its estimates are the best a wrong model can do and "
                          "their intervals are not reliable: " + "; ".join(evidence["reasons"]) + ". Check the model "
                          "for a missing physical effect, the inputs for gaps or lags, and the declared noise level",
                          MisspecificationWarning, stacklevel=3)
        at_bound = [all_names[i] for i in np.flatnonzero(result.active_mask)]
        if at_bound:
            warnings.warn(f"the estimates of {at_bound} stopped at their bounds; the intervals are not reliable - "
                          f"widen the bounds or check the model", IdentifiabilityWarning, stacklevel=3)
        if sv.size and sv[0] / max(sv[-1], 1e-300) > 1e8:
            warnings.warn(f"the Jacobian is ill-conditioned (condition number {sv[0] / sv[-1]:.2e})",
                          IdentifiabilityWarning, stacklevel=3)
        x_fit, p_fit = obj.unpack(theta)
        self.theta_names_ = all_names
        self.params_ = dict(zip(names, theta[:len(names)].tolist()))
        self.model_params_ = spec.as_dict("params", p_fit[0])
        self.initial_state_ = spec.as_dict("states", x_fit[0])
        self.final_state_ = spec.as_dict("states", obj.final_state(theta))
        self.covariance_ = pd.DataFrame(cov, index=all_names, columns=all_names)
        self.correlation_ = pd.DataFrame(corr, index=all_names, columns=all_names)
        self.stderr_ = dict(zip(all_names, stderr.tolist()))
        self.intervals_ = {n: (float(v - tq * s), float(v + tq * s)) for n, v, s in zip(all_names, theta, stderr)}
        self.noise_std_ = dict(zip(data.output_names, (sigma * math.sqrt(s2)).tolist()))
        if whole is not None:  # the windows between gaps, back on the data's own time axis
            parts = data.windows if not isinstance(data, CalibrationData) else (data,)
            index = pd.Index(np.concatenate([(w.start - whole.start).total_seconds() + w.t for w in parts]),
                             name="t")
        elif isinstance(data, CalibrationData):
            index = pd.Index(data.t, name="t")
        else:
            index = pd.MultiIndex.from_arrays([data.window, data.t], names=["window", "t"])
        self.fitted_ = pd.DataFrame(y, columns=list(data.output_names), index=index, copy=False)
        self.residuals_ = pd.DataFrame(resid, columns=list(data.output_names), index=index, copy=False)
        self.metrics_ = {}
        for j, name in enumerate(data.output_names):
            ok = mask[:, j]
            res, meas = resid[ok, j], data.outputs[ok, j]
            ss_tot = float(((meas - meas.mean()) ** 2).sum()) if ok.any() else 0.0
            self.metrics_[name] = {"rmse": float(np.sqrt(np.mean(res ** 2))) if ok.any() else math.nan,
                                   "r2": float(1 - (res ** 2).sum() / ss_tot) if ss_tot > 0 else math.nan,
                                   "n": int(ok.sum()), "noise_std": self.noise_std_[name]}
        self.n_obs_, self.dof_ = n_obs, dof
        self.autocorrelation_, self.variance_inflation_ = rho, inflation
        self.cost_, self.nfev_, self.success_, self.message_ = float(result.cost), int(result.nfev), \
            bool(result.success and result.status != 0), str(result.message)
        self.search_ = search
        self.misspecification_ = evidence
        self.intervals_reliable_ = bool(not evidence["misspecified"] and not at_bound and self.success_
                                        and np.all(np.isfinite(stderr)))
        self.record_ = self._record(spec, data, names, cov[:len(names), :len(names)], whole=whole,
                                    window_states=self._window_states(obj, theta))
        self._fit = (obj, theta.copy(), s2 * inflation)  # what profile() needs; not a learned value

    @staticmethod
    def _window_states(obj, theta):
        """Fitted initial states of every window (several windows only)."""
        if not isinstance(obj, StackedObjective):
            return None
        return [obj.spec.as_dict("states", part.unpack(np.asarray(theta)[cols])[0][0])
                for part, cols in zip(obj.parts, obj._cols)]

    def _record(self, spec, data, names, cov, *, whole=None, window_states=None) -> CalibrationRecord:
        source = data if whole is None else whole
        parts = [] if (isinstance(data, CalibrationData) and whole is None) else \
            (list(data.windows) if not isinstance(data, CalibrationData) else [data])
        windows = [{"start": w.start.isoformat(), "end": w.end.isoformat(), "n_samples": int(w.t.size),
                    "content_hash": w.content_hash,
                    **({} if window_states is None else {"initial_state": window_states[k]})}
                   for k, w in enumerate(parts)]
        gaps = {}
        if whole is not None:
            gaps = {"split_at_gaps": True, "max_gap_s": float(whole.max_gap), "gaps": [dict(g) for g in whole.gaps],
                    "windows_left_out": whole.n_windows - len(parts)}
        return CalibrationRecord(
            model=spec.name, model_version=spec.version,
            parameters={n: {"value": self.params_[n], "unit": spec.var("params", n).unit, "stderr": self.stderr_[n],
                            "ci_low": self.intervals_[n][0], "ci_high": self.intervals_[n][1]} for n in names},
            fixed_parameters={k: v for k, v in self.model_params_.items() if k not in names},
            covariance=np.asarray(cov).tolist(), parameter_names=list(names), confidence=float(self.confidence),
            metrics=self.metrics_,
            window={"start": source.start.isoformat(), "end": source.end.isoformat(),
                    "channels": list(source.input_names) + list(source.output_names),
                    "n_samples": int(source.t.size), "content_hash": source.content_hash,
                    "source_hash": source.source_hash, "inputs_carried_forward": int(source.n_filled),
                    **({"windows": windows} if windows else {}), **gaps},
            initial_state=self.initial_state_, final_state=self.final_state_,
            method=repr(self), bounds={n: [float(b) for b in spec.var("params", n).bounds] for n in names},
            max_step=float(self.max_step), misspecification=_json_ready(self.misspecification_),
            intervals_reliable=self.intervals_reliable_)

    def partial_fit(self, model, window: CalibrationData, *, x0=None) -> "LeastSquaresCalibrator":
        """Re-estimate on a new *window*, warm-started from the last estimate.

        The start is the last window's parameters and the channel weights its noise
        estimate, so one local pass suffices (the noise scale is re-estimated from the
        new residuals).

        The previous estimates and intervals are kept in ``history_`` (one entry
        per window, with the window's start, end and content hash), so parameter
        tracks with their intervals can be plotted over time.
        """
        history = list(getattr(self, "history_", []))
        prior = dict(self.model_params_) if hasattr(self, "model_params_") else None
        sigma0 = None
        if hasattr(self, "noise_std_") and list(self.noise_std_) == list(window.output_names):
            sigma0 = np.array([v if (math.isfinite(v) and v > 0) else 1.0 for v in self.noise_std_.values()])
        self._fit_window(model, window, params=prior, x0=x0, sigma0=sigma0)
        history.append(self._track_row(window))
        self.history_ = history
        return self

    def _track_row(self, window) -> dict:
        """One entry of ``history_``: the window and the estimates with their intervals."""
        return {"start": window.start, "end": window.end, "content_hash": window.content_hash,
                "success": self.success_, **self.params_,
                **{f"{k}.ci_low": lo for k, (lo, hi) in self.intervals_.items() if k in self.params_},
                **{f"{k}.ci_high": hi for k, (lo, hi) in self.intervals_.items() if k in self.params_}}

    def __getstate__(self):
        # the objective holds the model's compiled kernels (modules cannot be pickled) and the data
        return {k: v for k, v in self.__dict__.items() if k != "_fit"}

    # --------------------------------------------------------------- use
    def profile(self, name: str, *, n_points: int = 21, span: float = 3.0) -> ProfileLikelihood:
        """Profile likelihood of the fitted parameter (or initial state) *name*.

        The other unknowns are re-fitted at ``n_points`` values over the estimate ± *span*
        standard errors (extended until the likelihood ratio crosses the
        ``confidence`` threshold); returns the cost and likelihood-ratio curve and the
        profile-based interval next to the Wald interval (see :mod:`calibration.profile`).
        """
        check_is_fitted(self)
        if not hasattr(self, "_fit"):
            raise CalibrationError("profile() needs the fit's data and model in memory, which are not pickled; "
                                   "fit this calibrator again before profiling")
        obj, theta, scale = self._fit
        return profile_likelihood(obj, theta, name=name, stderr=self.stderr_.get(name, math.nan), scale=scale,
                                  dof=self.dof_, confidence=self.confidence, n_points=n_points, span=span,
                                  rel_step=self.rel_step, max_nfev=self.max_nfev)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw *n* parameter vectors (fitted parameters only) from the Gaussian posterior approximation."""
        check_is_fitted(self)
        names = list(self.parameters)
        mean = np.array([self.params_[k] for k in names])
        cov = self.covariance_.loc[names, names].to_numpy()
        return rng.multivariate_normal(mean, cov, size=n, method="cholesky")


def _lag1_autocorrelation(resid: np.ndarray, segments=None) -> float:
    """Pooled lag-1 autocorrelation over channels, using consecutive finite pairs within one window only."""
    num = den = 0.0
    cut = np.zeros(resid.shape[0], dtype=bool)  # True at the first row of every window after the first
    for i0, _ in (segments or [])[1:]:
        cut[i0] = True
    for j in range(resid.shape[1]):
        r = resid[:, j]
        ok = np.isfinite(r)
        if ok.sum() < 3:
            continue
        r = np.where(ok, r - r[ok].mean(), np.nan)
        pair = ok[1:] & ok[:-1] & ~cut[1:]
        num += float(np.sum(r[1:][pair] * r[:-1][pair]))
        den += float(np.sum(r[ok] ** 2))
    return num / den if den > 0 else 0.0


def _segments(data) -> list[tuple[int, int]]:
    """Row ranges of the windows of *data* (one window, or stacked windows)."""
    if isinstance(data, CalibrationData):
        return [(0, data.t.size)]
    edges = [0, *(np.flatnonzero(np.diff(data.window)) + 1).tolist(), data.t.size]
    return list(zip(edges[:-1], edges[1:]))


def _json_ready(value):
    """*value* with numpy scalars as Python numbers and NaN as None (strict JSON for the record)."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
