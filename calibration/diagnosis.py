r"""Diagnosis: which of several competing hypotheses explains a window of telemetry best.

A :class:`Hypothesis` is a model variant plus the parameters (and initial
states) to fit, e.g. "strainer fouling" = the pump model with its fouling rate
free.  :class:`Diagnosis` fits every hypothesis to the *same* observations with
the least-squares calibrator and ranks them by evidence
(:mod:`calibration.evidence`): the Gaussian log-likelihood at the estimated
noise levels, AIC, AICc and BIC with every fitted parameter, initial state and
noise variance counted, Akaike and BIC weights ``w_i = exp(-Delta_i / 2) /
sum_l exp(-Delta_l / 2)``, and the Ljung-Box test of residual whiteness (a
correct hypothesis leaves white residuals, a wrong one leaves the unexplained
effect in them).  Hypotheses that cannot be fitted stay in the ranking with
their error.

Margins are read on the Kass-Raftery scale (Delta-BIC approximates ``2 ln B``;
Burnham and Anderson 2002 read Delta-AIC alike): below 2 not worth more than a
bare mention, 2-6 positive, 6-10 strong, above 10 very strong.  BIC is the
default criterion because it is consistent: with enough data it picks the true
hypothesis among nested ones, and the simplest when nothing happened, whereas
AIC adds an unneeded parameter about 16 % of the time.

The fit weights each channel by its noise level, which the calibrator
estimates in a second pass - a fixed point of the profile likelihood.  With a
robust loss (``soft_l1``, ``huber``) the Gaussian likelihood is only an
approximation.

The estimates' intervals (:attr:`DiagnosisResult.intervals`, by default) are
:func:`robust_intervals`: a fit's own interval assumes white residuals and
exact fixed parameters, and a twin's diagnosis has neither - its residuals are
autocorrelated and the parameters it holds fixed are calibrated values with
their own uncertainty.  The sandwich (Newey-West, prewhitened) covariance
handles the first, the delta method propagates the second (``nuisance`` of
:meth:`Diagnosis.fit`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from calibration.base import BaseCalibrator, check_is_fitted
from calibration.data import CalibrationData
from calibration.evidence import evidence_strength, fit_evidence, fitted_observations_hash, ljung_box, \
    observations_hash
from calibration.least_squares import LeastSquaresCalibrator
from calibration.objective import WeightedObjective
from sim.exceptions import CalibrationError, ConfigurationError

__all__ = ["Diagnosis", "DiagnosisResult", "Hypothesis", "RobustIntervals", "ljung_box", "robust_intervals"]

CRITERIA = ("bic", "aic", "aicc")

#: Columns of :attr:`DiagnosisResult.ranking`, in order.
RANKING_COLUMNS = ("rank", "status", "n_parameters", "n_noise", "k", "n_obs", "log_likelihood", "aic", "delta_aic",
                   "akaike_weight", "aicc", "bic", "delta_bic", "bic_weight", "ljung_box_q", "ljung_box_df",
                   "ljung_box_p", "white", "estimates", "warnings", "error")


@dataclass(frozen=True)
class Hypothesis:
    """One candidate explanation: a model variant and what to fit.

    Parameters
    ----------
    name : str
        Short name used in the ranking (``"strainer_fouling"``).
    model : sim.physics.Model
        The model variant (it may carry extra parameters for the effect).
    parameters : sequence of str
        Model parameters fitted under this hypothesis (at least one).
    initial_states : sequence of str
        States whose value at the window start is fitted as a nuisance parameter.
    params : mapping, optional
        Values of the other (fixed) parameters [SI]; spec defaults otherwise.
        Fitted parameters start from here.
    x0 : mapping, optional
        States at the window start [SI]; measured outputs that are states fill the rest.
    description : str
        One line in plain language for the explanation.
    """

    name: str
    model: object
    parameters: Sequence[str]
    initial_states: Sequence[str] = ()
    params: Mapping[str, float] | None = None
    x0: Mapping[str, float] | None = None
    description: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigurationError(f"hypothesis name {self.name!r} must be a non-empty string")
        spec = getattr(self.model, "spec", None)
        if spec is None:
            raise ConfigurationError(
                f"hypothesis {self.name!r}: model {self.model!r} is not a sim.physics.Model (it has no spec); "
                f"pass a Model built from a ModelSpec and kernels")
        for attr in ("parameters", "initial_states"):
            value = getattr(self, attr)
            if isinstance(value, str):
                raise ConfigurationError(f"hypothesis {self.name!r}: {attr} = {value!r} must be a sequence of names, "
                                         f"not one string; write [{value!r}]")
            object.__setattr__(self, attr, tuple(value))
        if not self.parameters:
            raise ConfigurationError(
                f"hypothesis {self.name!r} fits no parameter; name at least one (a baseline fits the nuisance "
                f"parameters that every hypothesis shares)")
        for name in self.parameters:
            spec.index("params", name)
        for name in self.initial_states:
            spec.index("states", name)
        for name in (self.params or {}):
            spec.index("params", name)
        for name in (self.x0 or {}):
            spec.index("states", name)

    @property
    def n_unknowns(self) -> int:
        """Fitted parameters plus fitted initial states."""
        return len(self.parameters) + len(self.initial_states)


@dataclass(frozen=True)
class DiagnosisResult:
    """The ranking of the hypotheses and the evidence behind it.

    Attributes
    ----------
    ranking : pandas.DataFrame
        One row per hypothesis (index: name), best first; hypotheses that failed
        to fit come last with ``status == "failed"`` and their ``error``.  Columns:
        ``rank`` (1 = best; NA if failed), ``status``, ``n_parameters`` (fitted
        parameters + initial states), ``n_noise`` (estimated noise variances),
        ``k`` (all counted parameters), ``n_obs`` (finite measurements),
        ``log_likelihood``, ``aic``, ``delta_aic``, ``akaike_weight``, ``aicc``,
        ``bic``, ``delta_bic``, ``bic_weight``, ``ljung_box_q``, ``ljung_box_df``,
        ``ljung_box_p`` (whiteness over all channels), ``white`` (p > alpha),
        ``estimates`` (fitted parameter -> value), ``warnings`` (identifiability
        warnings of the fit), ``error``.
    whiteness : pandas.DataFrame
        Ljung-Box per hypothesis and channel: columns ``hypothesis``, ``channel``,
        ``n``, ``lags``, ``q``, ``p``, ``noise_std`` (estimated, SI).
    best : str
        Name of the winning hypothesis.
    runner_up : str or None
        Name of the second-best fitted hypothesis.
    criterion : str
        ``"bic"``, ``"aic"`` or ``"aicc"``: what the ranking sorts by.
    margin : float
        Criterion of the runner-up minus the winner's (inf without a runner-up).
    strength : str
        The margin in words (``"very strong"``, ``"strong"``, ``"positive"``, ``"weak"``).
    explanation : str
        Plain-language summary.
    fits : dict
        Hypothesis name -> fitted :class:`~calibration.LeastSquaresCalibrator`
        (fitted, residuals, intervals) for the hypotheses that could be fitted.
    errors : dict
        Hypothesis name -> error text for those that could not.
    observations_hash : str
        sha256 of the sample times, channel names and measured values all
        hypotheses were fitted to.
    intervals : dict
        Hypothesis name -> :class:`RobustIntervals` of its fit (autocorrelation-robust, with the fixed
        parameters' uncertainty propagated; see :func:`robust_intervals`); empty with ``intervals="fit"``.
    """

    ranking: pd.DataFrame
    whiteness: pd.DataFrame
    best: str
    runner_up: str | None
    criterion: str
    margin: float
    strength: str
    explanation: str
    fits: dict = field(repr=False)
    errors: dict
    observations_hash: str
    intervals: dict = field(default_factory=dict, repr=False)

    def estimates(self, name: str | None = None) -> dict:
        """``parameter -> [value, low, high]`` [SI] of hypothesis *name* (default: the best): the robust
        intervals where computed, else the fit's own."""
        name = self.best if name is None else name
        if name in self.intervals:
            return self.intervals[name].as_lists()
        cal = self.fits[name]
        return {n: [float(v), float(cal.intervals_[n][0]), float(cal.intervals_[n][1])] for n, v in cal.params_.items()}

    def __str__(self) -> str:
        return self.explanation

    def to_dict(self) -> dict:
        """JSON-friendly summary (for a tracker's ``log_dict`` or a report)."""
        table = self.ranking.drop(columns=["estimates"]).astype(object).where(self.ranking.notna(), None)
        return {"best": self.best, "runner_up": self.runner_up, "criterion": self.criterion,
                "margin": self.margin, "strength": self.strength, "explanation": self.explanation,
                "observations_hash": self.observations_hash,
                "intervals": {name: self.estimates(name) for name in self.fits},
                "ranking": {name: {**row, "estimates": dict(self.ranking.at[name, "estimates"] or {})}
                            for name, row in table.to_dict(orient="index").items()}}


class Diagnosis(BaseCalibrator):
    """Fit competing hypotheses to the same window and rank them by evidence.

    Parameters
    ----------
    criterion : {"bic", "aic", "aicc"}
        What the ranking sorts by (all three are reported).
    alpha : float
        Significance level of the Ljung-Box whiteness test.
    lags : int or None
        Ljung-Box lags ``h``; None: ``min(10, n_j // 5)`` per channel.
    calibrator : LeastSquaresCalibrator or None
        Template whose settings (loss, noise_std, max_step ...) every fit uses;
        ``parameters`` and ``initial_states`` come from each hypothesis.
    intervals : {"robust", "fit"}
        The estimates' intervals in the result and the explanation: ``"robust"`` (default) widens each fit's
        own for autocorrelated residuals (Newey-West) and for the uncertainty of the parameters it held fixed
        (``nuisance`` of :meth:`fit`), see :func:`robust_intervals`; ``"fit"``: the fits' own, which assume
        white residuals and exact fixed parameters.

    Attributes
    ----------
    result_ : DiagnosisResult
        The whole outcome: ranking, whiteness tests, best and runner-up, margin, explanation.
    ranking_ : pandas.DataFrame
        One row per hypothesis, best first (``result_.ranking``).
    best_ : str
        Name of the best-ranked hypothesis.
    explanation_ : str
        The ranking in words, for a report.
    fits_ : dict
        Hypothesis name -> its fitted :class:`LeastSquaresCalibrator`.
    """

    def __init__(self, *, criterion="bic", alpha=0.05, lags=None, calibrator=None, intervals="robust"):
        self.criterion = criterion
        self.alpha = alpha
        self.lags = lags
        self.calibrator = calibrator
        self.intervals = intervals

    # ------------------------------------------------------------------ fit
    def fit(self, hypotheses, data, *, outputs=None, nuisance=None) -> "Diagnosis":
        """Fit every hypothesis to *data* and rank them.

        Parameters
        ----------
        hypotheses : sequence of Hypothesis
            At least two, with distinct names.
        data : CalibrationData or pandas.DataFrame or mapping
            One window for all hypotheses; or a wide SI frame (UTC index, one
            column per variable) cut for each hypothesis's model with
            :meth:`CalibrationData.from_frame` (then give *outputs*); or a
            mapping hypothesis name -> CalibrationData.  Every hypothesis must
            see the same measurements (times, channels, values), or the
            likelihoods are not comparable.
        outputs : sequence of str
            Measured channels when *data* is a frame.
        nuisance : pandas.DataFrame or mapping, optional
            Uncertainty of the fixed parameters the hypotheses share (the twin's calibrated values): a covariance
            [SI^2] or name -> standard deviation [SI]; propagated into every fit's intervals (see
            :func:`robust_intervals`).  Parameters a hypothesis fits are left out for it.
        """
        self._check_settings()
        hypotheses = _check_hypotheses(hypotheses)
        windows, errors = self._windows(hypotheses, data, outputs)
        template = self.calibrator if self.calibrator is not None else LeastSquaresCalibrator()
        if not isinstance(template, LeastSquaresCalibrator):
            raise ConfigurationError(f"calibrator must be a LeastSquaresCalibrator (a template of settings), got "
                                     f"{type(template).__name__}")
        fits, caught = {}, {}
        for h in hypotheses:
            if h.name in errors:
                continue
            settings = {**template.get_params(), "parameters": h.parameters, "initial_states": h.initial_states}
            cal = type(template)(**settings)
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                try:
                    cal.fit(h.model, windows[h.name], params=h.params, x0=h.x0)
                except Exception as err:  # noqa: BLE001 - any failure is reported in the ranking, not raised
                    errors[h.name] = f"{type(err).__name__}: {err}"
                    continue
            fits[h.name] = cal
            caught[h.name] = [str(w.message) for w in seen]
        robust = {}
        if self.intervals == "robust":
            models = {h.name: h.model for h in hypotheses}
            robust = {name: _robust_or_fallback(cal, models[name], windows[name], nuisance)
                      for name, cal in fits.items()}
        key = next(iter({observations_hash(w) for w in windows.values()}), "")
        descriptions = {h.name: h.description for h in hypotheses}
        units = {h.name: {n: h.model.spec.var("params", n).unit for n in h.parameters} for h in hypotheses}
        order = [h.name for h in hypotheses]
        return self._finish(fits, errors, caught, key, descriptions, units, order, robust)

    def compare(self, fits: Mapping[str, LeastSquaresCalibrator], *, errors: Mapping[str, str] | None = None,
                descriptions: Mapping[str, str] | None = None) -> "Diagnosis":
        """Rank calibrators that were already fitted, one per hypothesis, to the same window.

        Parameters
        ----------
        fits : mapping
            Hypothesis name -> fitted :class:`LeastSquaresCalibrator`.
        errors : mapping, optional
            Hypothesis name -> error text of hypotheses that could not be fitted.
        descriptions : mapping, optional
            Hypothesis name -> one-line description.
        """
        self._check_settings()
        errors = dict(errors or {})
        if len(fits) + len(errors) < 2:
            raise ConfigurationError(
                f"a diagnosis compares competing hypotheses; got {len(fits) + len(errors)} "
                f"({sorted(fits) + sorted(errors)}) - add at least one alternative, e.g. a baseline without the effect")
        keys = {}
        for name, cal in fits.items():
            check_is_fitted(cal, "residuals_")
            keys[name] = fitted_observations_hash(cal)
        if len(set(keys.values())) > 1:
            groups = {}
            for name, k in keys.items():
                groups.setdefault(k, []).append(name)
            raise CalibrationError(
                f"the hypotheses were fitted to different data ({len(groups)} different sets of measurements: "
                f"{list(groups.values())}); AIC, BIC and their weights compare likelihoods of the same observations "
                f"only - refit all of them on one window (Diagnosis.fit does)")
        units = {n: {p: cal.record_.parameters.get(p, {}).get("unit", "") for p in cal.params_}
                 for n, cal in fits.items() if hasattr(cal, "record_")}
        key = next(iter(keys.values()), "")
        order = list(fits) + [n for n in errors if n not in fits]
        # no model or data here: the robust intervals are the residuals' effective-sample-size correction
        robust = {name: _robust_or_fallback(cal, None, None, None) for name, cal in fits.items()} \
            if self.intervals == "robust" else {}
        return self._finish(dict(fits), errors, {}, key, dict(descriptions or {}), units, order, robust)

    # -------------------------------------------------------------- helpers
    def _check_settings(self):
        if self.criterion not in CRITERIA:
            raise ConfigurationError(f"criterion = {self.criterion!r}: choose one of {list(CRITERIA)}")
        if not 0 < self.alpha < 1:
            raise ConfigurationError(f"alpha = {self.alpha} must lie in (0, 1), e.g. 0.05")
        if self.lags is not None and (int(self.lags) != self.lags or self.lags < 1):
            raise ConfigurationError(f"lags = {self.lags} must be a positive integer or None (automatic)")
        if self.intervals not in ("robust", "fit"):
            raise ConfigurationError(f"intervals = {self.intervals!r}: choose 'robust' (autocorrelation and fixed "
                                     f"parameters accounted for) or 'fit' (the fits' own)")

    def _windows(self, hypotheses, data, outputs):
        windows, errors = {}, {}
        if isinstance(data, CalibrationData):
            windows = {h.name: data for h in hypotheses}
        elif isinstance(data, pd.DataFrame):
            if outputs is None:
                raise ConfigurationError("data is a frame: name the measured channels with outputs=[...]")
            for h in hypotheses:
                try:
                    windows[h.name] = CalibrationData.from_frame(data, h.model.spec, outputs=outputs)
                except Exception as err:  # noqa: BLE001 - reported in the ranking
                    errors[h.name] = f"{type(err).__name__}: {err}"
        elif isinstance(data, Mapping):
            missing = [h.name for h in hypotheses if h.name not in data]
            if missing:
                raise ConfigurationError(f"data has no window for the hypotheses {missing}; give one per hypothesis "
                                         f"(keys {[h.name for h in hypotheses]})")
            windows = {h.name: data[h.name] for h in hypotheses}
        else:
            raise ConfigurationError(f"data is a {type(data).__name__}; pass a CalibrationData, a wide SI DataFrame "
                                     f"or a mapping hypothesis name -> CalibrationData")
        keys = {name: observations_hash(w) for name, w in windows.items()}
        if len(set(keys.values())) > 1:
            groups = {}
            for name, k in keys.items():
                groups.setdefault(k, []).append(name)
            detail = "; ".join(f"{names}: {windows[names[0]].t.size} samples of {list(windows[names[0]].output_names)} "
                               f"from {windows[names[0]].start}" for names in groups.values())
            raise CalibrationError(
                f"the hypotheses would be fitted to different data ({detail}); AIC, BIC and their weights compare "
                f"likelihoods of the same observations only - measure the same channels over the same window for "
                f"every hypothesis (with a frame: cut it so that every model has all its inputs from the first row)")
        if not windows and errors:
            raise CalibrationError("no hypothesis could be given its data: " + "; ".join(
                f"{n}: {e}" for n, e in errors.items()))
        return windows, errors

    def _finish(self, fits, errors, caught, key, descriptions, units, order, robust=None) -> "Diagnosis":
        if not fits:
            raise CalibrationError("no hypothesis could be fitted, so none can be ranked: " + "; ".join(
                f"{n}: {e}" for n, e in errors.items()) + " - fix the models or the data window and try again")
        rows, white_rows = {}, []
        for name in order:
            if name in fits:
                ev, per_channel = fit_evidence(fits[name], self.lags)
                rows[name] = {**ev, "status": "ok", "warnings": "; ".join(caught.get(name, [])), "error": "",
                              "estimates": dict(fits[name].params_)}
                white_rows += [{"hypothesis": name, **r} for r in per_channel]
            else:
                rows[name] = {"status": "failed", "error": errors[name], "warnings": "", "estimates": None}
        table = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=list(RANKING_COLUMNS))
        ok = table["status"] == "ok"
        for crit, weight in (("aic", "akaike_weight"), ("bic", "bic_weight"), ("aicc", None)):
            delta = table.loc[ok, crit] - table.loc[ok, crit].min()
            if crit != "aicc":
                table.loc[ok, f"delta_{crit}"] = delta
                w = np.exp(-0.5 * delta.to_numpy(dtype=float))
                table.loc[ok, weight] = w / w.sum()
        table["white"] = pd.array([bool(p > self.alpha) if s else pd.NA
                                   for p, s in zip(table["ljung_box_p"], ok)], dtype="boolean")
        ranked = table[ok].sort_values(self.criterion, kind="stable")
        table = pd.concat([ranked, table[~ok]])
        table["rank"] = pd.array(list(range(1, len(ranked) + 1)) + [pd.NA] * int((~ok).sum()), dtype="Int64")
        for col in ("n_parameters", "n_noise", "k", "n_obs", "ljung_box_df"):
            table[col] = pd.array(table[col], dtype="Int64")
        table.index.name = "hypothesis"
        best = str(ranked.index[0])
        runner = str(ranked.index[1]) if len(ranked) > 1 else None
        margin = float(ranked[self.criterion].iloc[1] - ranked[self.criterion].iloc[0]) if runner else math.inf
        strength = evidence_strength(margin)
        whiteness = pd.DataFrame(white_rows, columns=["hypothesis", "channel", "n", "lags", "q", "p", "noise_std"])
        robust = dict(robust or {})
        text = _explain(table, best, runner, self.criterion, margin, strength, descriptions, units, fits, errors,
                        self.alpha, robust)
        self.result_ = DiagnosisResult(ranking=table, whiteness=whiteness, best=best, runner_up=runner,
                                       criterion=self.criterion, margin=margin, strength=strength, explanation=text,
                                       fits=dict(fits), errors=dict(errors), observations_hash=key,
                                       intervals=robust)
        self.ranking_ = table
        self.best_ = best
        self.explanation_ = text
        self.fits_ = dict(fits)
        return self


def _check_hypotheses(hypotheses) -> list[Hypothesis]:
    if isinstance(hypotheses, Hypothesis):
        hypotheses = [hypotheses]
    hypotheses = list(hypotheses)
    if not hypotheses:
        raise ConfigurationError("the list of hypotheses is empty; a diagnosis compares at least two competing "
                                 "hypotheses, e.g. a baseline and one effect")
    bad = [h for h in hypotheses if not isinstance(h, Hypothesis)]
    if bad:
        raise ConfigurationError(f"every hypothesis must be a calibration.Hypothesis, got {type(bad[0]).__name__} "
                                 f"({bad[0]!r}); wrap it as Hypothesis(name, model, parameters)")
    if len(hypotheses) < 2:
        raise ConfigurationError(f"a diagnosis compares competing hypotheses; only {hypotheses[0].name!r} was given - "
                                 f"add at least one alternative, e.g. a baseline without the effect")
    names = [h.name for h in hypotheses]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise ConfigurationError(f"hypothesis names {dups} appear more than once; give every hypothesis its own name")
    return hypotheses


# -------------------------------------------------------------------- explanation
def _fmt_estimates(name, fits, units, robust=None) -> str:
    cal = fits[name]
    intervals = robust[name].intervals if robust and name in robust else cal.intervals_
    parts = []
    for p, v in cal.params_.items():
        lo, hi = intervals[p]
        unit = units.get(name, {}).get(p, "")
        parts.append(f"{p} = {v:.4g} {unit} ({cal.confidence:.0%} CI {lo:.4g} .. {hi:.4g})".replace("  ", " "))
    return "; ".join(parts)


def _explain(table, best, runner, criterion, margin, strength, descriptions, units, fits, errors, alpha,
             robust=None) -> str:
    crit = criterion.upper()
    row = table.loc[best]
    desc = descriptions.get(best) or ""
    lines = [f"Best explanation: {best}" + (f" - {desc}." if desc else ".")]
    if runner is None:
        lines.append("It is the only hypothesis that could be fitted, so there is no evidence against alternatives.")
    else:
        weight = row["bic_weight"] if criterion == "bic" else row["akaike_weight"]
        wname = "BIC weight" if criterion == "bic" else "Akaike weight"
        lines.append(f"Its {crit} is lower than that of the runner-up, {runner}, by {margin:.1f}: {strength} evidence "
                     f"({wname} {weight:.3f}).")
        if strength == "weak":
            lines.append(f"The data cannot tell {best} and {runner} apart; use a longer window or more channels "
                         f"before acting on this diagnosis.")
    lines.append(f"Estimates under {best}: {_fmt_estimates(best, fits, units, robust)}.")
    p = row["ljung_box_p"]
    if bool(row["white"]):
        lines.append(f"Its residuals look white (Ljung-Box p = {p:.2g}): nothing systematic is left unexplained.")
    else:
        lines.append(f"Its residuals are not white (Ljung-Box p = {p:.2g} < {alpha}): part of the signal is still "
                     f"unexplained - an effect no hypothesis covers, or a model error; treat the ranking with care.")
    if "bounds" in (row["warnings"] or ""):
        lines.append(f"Note: {row['warnings']}")
    others = [n for n in table.index if n != best and table.at[n, "status"] == "ok"]
    if others:
        lines.append("Others, by " + crit + ": " + ", ".join(
            f"{n} (+{table.at[n, criterion] - row[criterion]:.1f}"
            f"{', white residuals' if bool(table.at[n, 'white']) else ''})" for n in others) + ".")
    for n, err in errors.items():
        lines.append(f"Could not be fitted: {n} - {err}")
    return "\n".join(lines)


# -------------------------------------------------------------------- honest intervals
@dataclass(frozen=True)
class RobustIntervals:
    """Intervals of a least-squares fit that account for autocorrelated residuals and for the uncertainty of the
    parameters the fit held fixed (see :func:`robust_intervals`).

    Attributes
    ----------
    estimates : dict
        Fitted unknown (parameters, then initial states) -> value [SI].
    parameters : tuple of str
        The unknowns that are model parameters (the rest are initial states).
    stderr : dict
        Unknown -> standard error [SI]: ``sqrt`` of the diagonal of *covariance*.
    intervals : dict
        Unknown -> ``(low, high)`` at *confidence* [SI].
    covariance : pandas.DataFrame
        ``hac + nuisance``, over the fitted unknowns [SI^2].
    hac : pandas.DataFrame
        The sandwich (Newey-West) covariance alone [SI^2].
    nuisance : pandas.DataFrame
        What the fixed parameters' uncertainty adds, ``D Sigma D^T`` [SI^2].
    nuisance_names : tuple of str
        The fixed parameters propagated.
    lags : int
        Newey-West bandwidth: autocovariance lags of the scores (Bartlett weights ``1 - l / (lags + 1)``).
    critical_value : float
        Multiplier of the standard error: the fixed-b critical value of the Bartlett kernel at this
        bandwidth (Kiefer and Vogelsang 2005) for 95 %, Student's t otherwise.
    inflation : dict
        Unknown -> variance over the fit's own (iid, AR(1)-corrected) variance.
    method : str
        ``"hac"`` (scores from the model's Jacobian) or ``"effective_n"`` (residuals only: the fit's covariance
        scaled by the residuals' long-run variance ratio).
    confidence : float
        Level of the intervals.
    """

    estimates: dict
    parameters: tuple
    stderr: dict
    intervals: dict
    covariance: pd.DataFrame = field(repr=False)
    hac: pd.DataFrame = field(repr=False)
    nuisance: pd.DataFrame = field(repr=False)
    nuisance_names: tuple
    lags: int
    critical_value: float
    inflation: dict
    method: str
    confidence: float

    def as_lists(self) -> dict:
        """``name -> [value, low, high]`` of the fitted model parameters (not the initial states)."""
        return {n: [float(v), float(self.intervals[n][0]), float(self.intervals[n][1])]
                for n, v in self.estimates.items() if n in self.parameters}


def robust_intervals(cal, model=None, data=None, *, nuisance=None, lags: int | None = None) -> RobustIntervals:
    r"""Honest intervals of a fitted :class:`~calibration.LeastSquaresCalibrator`.

    A least-squares fit's own intervals, ``s^2 (J^T J)^{-1}``, hold when its residuals are independent and every
    parameter it did not fit is exactly right.  A twin's fits break both: the residuals of a physical model on
    telemetry are autocorrelated (unmodelled dynamics, inputs sampled once a minute), and the fixed parameters
    are calibrated values with their own uncertainty.  Two textbook corrections:

    * **Sandwich (HAC) covariance** (Newey and West 1987): with ``J`` the weighted Jacobian and ``g_t`` the score
      of time step ``t`` (``J^T r`` over the channels measured then),
      ``V = (J^T J)^{-1} S (J^T J)^{-1} n / (n - p)``, ``S = Gamma_0 + sum_{l=1..L} (1 - l / (L + 1))
      (Gamma_l + Gamma_l^T)``, ``Gamma_l = sum_t g_t g_{t-l}^T``.  The bandwidth ``L`` is Andrews' (1991) AR(1)
      plug-in for the Bartlett kernel, ``1.1447 (alpha n)^{1/3}``.  As a HAC estimate of a long-run variance is
      itself noisy with few effective samples, the interval uses the fixed-b critical value of the Bartlett
      kernel, ``1.96 + 2.9694 b + 0.4160 b^2 - 0.5324 b^3`` with ``b = (L + 1) / n`` (Kiefer and Vogelsang 2005;
      95 % only, Student's t at other levels).
    * **Propagated nuisance uncertainty** (delta method): a fixed parameter ``phi`` with covariance ``Sigma`` moves
      the optimum by ``D dphi``, ``D = -(J^T J)^{-1} J^T J_phi`` (first order, the fit re-optimized), so
      ``D Sigma D^T`` adds to ``V``.

    Without *model* and *data* (or with data split at gaps) the Jacobian is not rebuilt: the fit's covariance,
    less its AR(1) correction, is scaled by the pooled residuals' long-run variance ratio ``1 + 2 sum_l w_l
    rho_l`` (an effective sample size ``n / ratio``), and *nuisance* is not propagated.

    Parameters
    ----------
    cal : LeastSquaresCalibrator
        Fitted (one window).
    model : sim.physics.Model, optional
        The model it was fitted with.
    data : CalibrationData, optional
        The window it was fitted to.
    nuisance : pandas.DataFrame or mapping, optional
        Uncertainty of the parameters the fit held fixed: a covariance (index and columns: parameter names)
        [SI^2], or name -> standard deviation [SI].  Names the fit estimated, or the model lacks, are ignored.
    lags : int, optional
        Newey-West bandwidth; default: Andrews' plug-in.

    Returns
    -------
    RobustIntervals
    """
    check_is_fitted(cal, "residuals_")
    names = list(cal.params_)
    unknowns = list(cal.theta_names_)
    estimates = {n: float(cal.params_[n]) if n in cal.params_ else float(cal.initial_state_.get(n, math.nan))
                 for n in unknowns}
    own = cal.covariance_.loc[unknowns, unknowns].to_numpy(dtype=float)
    sigma_nuisance = _nuisance_covariance(nuisance)
    if lags is not None and (int(lags) != lags or lags < 0):
        raise ConfigurationError(f"lags = {lags!r} must be an integer >= 0 (Newey-West bandwidth) or None "
                                 f"(Andrews' plug-in)")
    single = isinstance(data, CalibrationData) and data.n_windows == 1 and model is not None \
        and all(n in estimates and math.isfinite(estimates[n]) for n in unknowns)
    if single:
        hac, extra, used, bandwidth, n_rows = _sandwich(cal, model, data, unknowns, estimates, sigma_nuisance, lags)
        method = "hac"
    else:
        resid = cal.residuals_.to_numpy(dtype=float) / np.array(
            [v if (math.isfinite(v) and v > 0) else 1.0 for v in cal.noise_std_.values()])[None, :]
        ratio, bandwidth = _long_run_ratio(resid, lags)
        hac = own / max(float(getattr(cal, "variance_inflation_", 1.0)), 1e-12) * max(ratio, 1.0)
        extra, used, n_rows, method = np.zeros_like(own), (), resid.shape[0], "effective_n"
    cov = hac + extra
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    confidence = float(cal.confidence)
    b = (bandwidth + 1) / max(n_rows, 1)
    if abs(confidence - 0.95) < 1e-9 and bandwidth > 0:
        crit = 1.96 + 2.9694 * b + 0.4160 * b ** 2 - 0.5324 * b ** 3
    else:
        crit = float(stats.t.ppf(0.5 + confidence / 2, max(int(cal.dof_), 1)))
    frame = pd.DataFrame(cov, index=unknowns, columns=unknowns)
    with np.errstate(divide="ignore", invalid="ignore"):
        inflation = dict(zip(unknowns, (np.diag(cov) / np.diag(own)).tolist()))
    return RobustIntervals(
        estimates=estimates, parameters=tuple(names), stderr=dict(zip(unknowns, se.tolist())),
        intervals={n: (float(estimates[n] - crit * s), float(estimates[n] + crit * s)) for n, s in zip(unknowns, se)},
        covariance=frame, hac=pd.DataFrame(hac, index=unknowns, columns=unknowns),
        nuisance=pd.DataFrame(extra, index=unknowns, columns=unknowns), nuisance_names=tuple(used),
        lags=int(bandwidth), critical_value=float(crit), inflation=inflation, method=method, confidence=confidence)


def _robust_or_fallback(cal, model, data, nuisance) -> RobustIntervals:
    """:func:`robust_intervals`; when the Jacobian cannot be rebuilt (the model fails at a perturbed point), the
    residual-only correction (a fit that was made can always be judged by its residuals)."""
    try:
        return robust_intervals(cal, model, data, nuisance=nuisance)
    except CalibrationError:
        return robust_intervals(cal)


def _nuisance_covariance(nuisance) -> pd.DataFrame | None:
    if nuisance is None:
        return None
    if isinstance(nuisance, pd.DataFrame):
        cov = nuisance.astype(float)
        if list(cov.index) != list(cov.columns):
            raise ConfigurationError(f"nuisance covariance: index {list(cov.index)} and columns {list(cov.columns)} "
                                     f"must name the same parameters in the same order")
    elif isinstance(nuisance, Mapping):
        std = {str(k): float(v) for k, v in nuisance.items()}
        cov = pd.DataFrame(np.diag(np.square(list(std.values()))), index=list(std), columns=list(std))
    else:
        raise ConfigurationError(f"nuisance is a {type(nuisance).__name__}; give a covariance DataFrame (names as "
                                 f"index and columns) [SI^2] or a mapping name -> standard deviation [SI]")
    values = cov.to_numpy()
    if not (np.all(np.isfinite(values)) and np.allclose(values, values.T, rtol=1e-6, atol=0)
            and np.all(np.diag(values) >= 0)):
        raise ConfigurationError(f"nuisance covariance {cov.to_dict()} must be finite and symmetric with variances "
                                 f">= 0; pass the calibration's covariance (CalibrationRecord.covariance) or "
                                 f"standard deviations")
    return cov


def _sandwich(cal, model, data, unknowns, estimates, sigma_nuisance, lags):
    """HAC covariance of the unknowns and the nuisance term, from the Jacobian rebuilt at the optimum."""
    spec = model.spec
    params = [n for n in unknowns if n in cal.params_]
    states = [n for n in unknowns if n not in cal.params_]
    fixed = [] if sigma_nuisance is None else [n for n in sigma_nuisance.index
                                               if n in spec.names("params") and n not in params]
    obj = WeightedObjective(model, data, params + fixed, states, spec.vector("params", cal.model_params_),
                            spec.vector("states", cal.initial_state_), max_step=cal.max_step)
    sigma = np.array([cal.noise_std_.get(c, 1.0) for c in data.output_names], dtype=float)
    obj.sigma = np.where(np.isfinite(sigma) & (sigma > 0), sigma, 1.0)
    theta = np.array([estimates[n] for n in params] + [cal.model_params_[n] for n in fixed]
                     + [estimates[n] for n in states])
    p = len(params)
    cols = list(range(p)) + list(range(p + len(fixed), theta.size))  # the fitted unknowns, in `unknowns` order
    jac = obj.jacobian(theta, cal.rel_step)
    r = obj.residuals(theta)[0]
    J, J_phi = jac[:, cols], jac[:, p:p + len(fixed)]
    rows = np.nonzero(obj.mask)[0]
    scores = np.zeros((obj.mask.shape[0], len(cols)))
    np.add.at(scores, rows, J * r[:, None])
    bread = np.linalg.pinv(J.T @ J)
    meat, bandwidth = _long_run_covariance(scores, lags)
    n_obs = r.size
    hac = bread @ meat @ bread * n_obs / max(n_obs - len(cols), 1)
    extra = np.zeros_like(hac)
    if fixed:
        D = -bread @ (J.T @ J_phi)
        extra = D @ sigma_nuisance.loc[fixed, fixed].to_numpy(dtype=float) @ D.T
    return hac, extra, tuple(fixed), bandwidth, scores.shape[0]


def _long_run_covariance(scores: np.ndarray, lags) -> tuple[np.ndarray, int]:
    """Long-run covariance ``sum_l Gamma_l`` of the score series (rows: time), prewhitened by a VAR(1) (Andrews
    and Monahan 1992), Bartlett-weighted on what is left, recoloured: ``(I - A)^{-1} S_e (I - A)^{-T}``."""
    g = np.asarray(scores, dtype=float)
    prev, nxt = g[:-1], g[1:]
    A = np.linalg.lstsq(prev, nxt, rcond=None)[0].T  # g_t = A g_{t-1} + e_t
    radius = float(np.max(np.abs(np.linalg.eigvals(A)))) if A.size else 0.0
    if radius > 0.97:  # a near unit root makes (I - A)^{-1} explode: shrink it (Andrews and Monahan's rule)
        A = A * (0.97 / radius)
    e = nxt - prev @ A.T
    bandwidth = _andrews_bandwidth(e) if lags is None else int(lags)
    bandwidth = int(min(bandwidth, max(e.shape[0] - 1, 0)))
    meat = e.T @ e
    for lag in range(1, bandwidth + 1):
        gamma = e[lag:].T @ e[:-lag]
        meat += (1.0 - lag / (bandwidth + 1.0)) * (gamma + gamma.T)
    meat *= g.shape[0] / max(e.shape[0], 1)
    recolour = np.linalg.inv(np.eye(A.shape[0]) - A)
    return recolour @ meat @ recolour.T, bandwidth


def _andrews_bandwidth(series: np.ndarray) -> int:
    """Andrews' (1991) AR(1) plug-in bandwidth of the Bartlett kernel for the columns of *series* (each scaled
    to unit variance first, so that no column dominates by its unit)."""
    x = np.asarray(series, dtype=float)
    n = x.shape[0]
    num = den = 0.0
    for col in x.T:
        s = col.std()
        if not s > 0:
            continue
        col = col / s
        prev, nxt = col[:-1], col[1:]
        rho = float(np.clip((prev @ nxt) / max(prev @ prev, 1e-300), -0.97, 0.97))
        var = float(np.mean((nxt - rho * prev) ** 2))
        num += 4 * rho ** 2 * var ** 2 / ((1 - rho) ** 6 * (1 + rho) ** 2)
        den += var ** 2 / (1 - rho) ** 4
    if den <= 0:
        return 0
    return int(math.ceil(1.1447 * (num / den * n) ** (1 / 3)))


def _long_run_ratio(resid: np.ndarray, lags) -> tuple[float, int]:
    """Long-run over marginal variance of the (standardized) residuals pooled over channels, Bartlett weights:
    ``1 + 2 sum_l (1 - l / (L + 1)) rho_l``, and the bandwidth ``L``."""
    x = np.where(np.isfinite(resid), resid - np.nanmean(resid, axis=0), 0.0)
    bandwidth = _andrews_bandwidth(x) if lags is None else int(lags)
    bandwidth = int(min(bandwidth, max(x.shape[0] - 1, 0)))
    den = float(np.sum(x * x))
    if den <= 0:
        return 1.0, bandwidth
    ratio = 1.0 + 2.0 * sum((1.0 - lag / (bandwidth + 1.0)) * float(np.sum(x[lag:] * x[:-lag])) / den
                            for lag in range(1, bandwidth + 1))
    return float(ratio), bandwidth
