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
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from calibration.base import BaseCalibrator, check_is_fitted
from calibration.data import CalibrationData
from calibration.evidence import evidence_strength, fit_evidence, fitted_observations_hash, ljung_box, \
    observations_hash
from calibration.least_squares import LeastSquaresCalibrator
from sim.exceptions import CalibrationError, ConfigurationError

__all__ = ["Diagnosis", "DiagnosisResult", "Hypothesis", "ljung_box"]

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

    def __str__(self) -> str:
        return self.explanation

    def to_dict(self) -> dict:
        """JSON-friendly summary (for a tracker's ``log_dict`` or a report)."""
        table = self.ranking.drop(columns=["estimates"]).astype(object).where(self.ranking.notna(), None)
        return {"best": self.best, "runner_up": self.runner_up, "criterion": self.criterion,
                "margin": self.margin, "strength": self.strength, "explanation": self.explanation,
                "observations_hash": self.observations_hash,
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

    def __init__(self, *, criterion="bic", alpha=0.05, lags=None, calibrator=None):
        self.criterion = criterion
        self.alpha = alpha
        self.lags = lags
        self.calibrator = calibrator

    # ------------------------------------------------------------------ fit
    def fit(self, hypotheses, data, *, outputs=None) -> "Diagnosis":
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
        key = next(iter({observations_hash(w) for w in windows.values()}), "")
        descriptions = {h.name: h.description for h in hypotheses}
        units = {h.name: {n: h.model.spec.var("params", n).unit for n in h.parameters} for h in hypotheses}
        order = [h.name for h in hypotheses]
        return self._finish(fits, errors, caught, key, descriptions, units, order)

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
        return self._finish(dict(fits), errors, {}, key, dict(descriptions or {}), units, order)

    # -------------------------------------------------------------- helpers
    def _check_settings(self):
        if self.criterion not in CRITERIA:
            raise ConfigurationError(f"criterion = {self.criterion!r}: choose one of {list(CRITERIA)}")
        if not 0 < self.alpha < 1:
            raise ConfigurationError(f"alpha = {self.alpha} must lie in (0, 1), e.g. 0.05")
        if self.lags is not None and (int(self.lags) != self.lags or self.lags < 1):
            raise ConfigurationError(f"lags = {self.lags} must be a positive integer or None (automatic)")

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

    def _finish(self, fits, errors, caught, key, descriptions, units, order) -> "Diagnosis":
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
        text = _explain(table, best, runner, self.criterion, margin, strength, descriptions, units, fits, errors,
                        self.alpha)
        self.result_ = DiagnosisResult(ranking=table, whiteness=whiteness, best=best, runner_up=runner,
                                       criterion=self.criterion, margin=margin, strength=strength, explanation=text,
                                       fits=dict(fits), errors=dict(errors), observations_hash=key)
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
def _fmt_estimates(name, fits, units) -> str:
    cal = fits[name]
    parts = []
    for p, v in cal.params_.items():
        lo, hi = cal.intervals_[p]
        unit = units.get(name, {}).get(p, "")
        parts.append(f"{p} = {v:.4g} {unit} ({cal.confidence:.0%} CI {lo:.4g} .. {hi:.4g})".replace("  ", " "))
    return "; ".join(parts)


def _explain(table, best, runner, criterion, margin, strength, descriptions, units, fits, errors, alpha) -> str:
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
    lines.append(f"Estimates under {best}: {_fmt_estimates(best, fits, units)}.")
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
