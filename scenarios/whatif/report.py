"""Compare what-if actions: Student-t intervals, paired differences, a recommendation, and the report.

The report (:func:`report_markdown`) tells the story: the recommendation with its figure, whether the
replications suffice for the differences it claims (:func:`precision_notes`, :func:`replications_needed`), the
KPI table rounded to meaningful digits (:func:`round_interval`), what the horizon does to the numbers
(:func:`horizon_notes`), the set-up and the calibration.  Its HTML twin: :mod:`scenarios.whatif.html`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scenarios.whatif.constraints import with_binomial
from sim.exceptions import ConfigurationError
from sim.kpi import kpi_info, rank
from sim.replications import t_interval

__all__ = ["REPORT_KPIS", "HORIZON_TOTALS", "FIGURES", "summarize", "variance_components", "Recommendation",
           "recommend", "format_significant", "round_interval", "format_interval", "replications_needed",
           "precision_notes", "horizon_notes", "figures_in", "summary_markdown", "report_markdown"]

#: The KPIs a what-if summarizes by default, in the order of the report (units and directions: sim.kpi.KPIS).
REPORT_KPIS = ("throughput", "oee", "availability", "performance", "unplanned_downtime", "trips", "failures",
               "maintenance_cost", "crew_cost", "energy_per_unit", "max_winding_temperature", "insulation_ageing",
               "loss_of_life", "trip_cost", "ageing_cost", "motor_risk_cost", "stockouts",
               "maintenance_outside_windows", "failure_probability")


def _t_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    iv = t_interval(values, confidence)
    return iv.mean, iv.half_width


def _draw_interval(values: np.ndarray, draws: np.ndarray | None, confidence: float) -> tuple[float, float]:
    """Mean and half-width: Student-t over the draw means when each posterior draw ran several seeds (the draw
    means are independent; the replications of one draw are not), over the replications otherwise."""
    if draws is None:
        return _t_interval(values, confidence)
    means = pd.Series(values).groupby(draws).mean().to_numpy(dtype=float)
    return _t_interval(means, confidence)


def variance_components(values: np.ndarray, draws: np.ndarray) -> tuple[float, float]:
    """Standard deviations of parameter uncertainty and of run-to-run variability [unit of *values*].

    One-way random effects (ANOVA) over a second-order Monte Carlo: replication values *values* grouped by
    their posterior draw *draws* (``n_i`` seeds each, ``N`` in all, ``D`` draws):
    ``MS_between = sum n_i (m_i - m)^2 / (D - 1)``, ``MS_within = sum (x - m_i)^2 / (N - D)``,
    ``n0 = (N - sum n_i^2 / N) / (D - 1)``; ``sd_param = sqrt(max(0, (MS_between - MS_within) / n0))``,
    ``sd_run = sqrt(MS_within)``.  NaN when no draw ran two seeds (the two are then not separable).
    """
    frame = pd.DataFrame({"x": np.asarray(values, dtype=float), "d": np.asarray(draws)}).dropna()
    groups = frame.groupby("d")["x"]
    n = groups.size().to_numpy(dtype=float)
    total, d = n.sum(), n.size
    if d < 2 or total - d < 1:
        return math.nan, math.nan
    means = groups.mean().to_numpy(dtype=float)
    grand = float(frame["x"].mean())
    between = float(np.sum(n * (means - grand) ** 2)) / (d - 1)
    within = float(((frame["x"] - groups.transform("mean")) ** 2).sum()) / (total - d)
    n0 = (total - float(np.sum(n ** 2)) / total) / (d - 1)
    return math.sqrt(max(0.0, (between - within) / n0)), math.sqrt(max(within, 0.0))


def summarize(kpis: pd.DataFrame, *, baseline: str, confidence: float = 0.95, kpi_names=None) -> pd.DataFrame:
    """Mean and t-interval of every KPI per action, and the paired difference to *baseline*.

    *kpis* has one row per (action, replication).  Differences pair the
    replications of an action with the same replications of the baseline
    (common random numbers).  Values are in SI units.  With a ``draw`` column (second-order Monte
    Carlo: several seeds per posterior draw) the intervals are over the draw means and the summary
    separates parameter uncertainty (``sd_param``) from run-to-run variability (``sd_run``);
    ``p_low``/``p_high`` are the empirical quantiles of the replications at the interval's level.
    """
    if baseline not in set(kpis["action"]):
        raise ConfigurationError(f"baseline action {baseline!r} is not among the actions "
                                 f"{sorted(set(kpis['action']))}; set whatif.baseline to one of them")
    kpi_names = list(kpi_names or [k for k in REPORT_KPIS if k in kpis.columns])
    missing = sorted(set(kpi_names) - set(kpis.columns))
    if missing:
        raise ConfigurationError(f"unknown KPI(s) {missing}; the replications report {sorted(kpis.columns)}")
    base = kpis[kpis["action"] == baseline].set_index("replication")
    nested = "draw" in kpis.columns and kpis.groupby(["action", "draw"]).size().max() > 1
    alpha = (1.0 - confidence) / 2.0
    rows = []
    for action, group in kpis.groupby("action", sort=False):
        group = group.set_index("replication")
        draws = group["draw"].to_numpy() if nested else None
        for kpi in kpi_names:
            values = group[kpi].to_numpy(dtype=float)
            mean, half = _draw_interval(values, draws, confidence)
            diff_series = (group[kpi] - base[kpi])
            diff = diff_series.dropna().to_numpy(dtype=float)
            if action == baseline:
                dmean, dhalf = 0.0, 0.0
            else:
                ddraws = group.loc[diff_series.dropna().index, "draw"].to_numpy() if nested else None
                dmean, dhalf = _draw_interval(diff, ddraws, confidence)
            sd_param, sd_run = variance_components(values, draws) if nested else (math.nan, math.nan)
            finite = values[np.isfinite(values)]
            p_low, p_high = (np.quantile(finite, [alpha, 1.0 - alpha]) if finite.size else (math.nan, math.nan))
            rows.append({"action": action, "kpi": kpi, "n": int(group[kpi].notna().sum()), "mean": mean,
                         "half_width": half, "low": mean - half, "high": mean + half, "diff": dmean,
                         "diff_half_width": dhalf, "diff_low": dmean - dhalf, "diff_high": dmean + dhalf,
                         "p_low": float(p_low), "p_high": float(p_high), "sd_param": sd_param, "sd_run": sd_run})
    # P(failure before the horizon): a share of replications, with its Wilson interval (and Newcombe's paired
    # difference) instead of a t-interval
    return with_binomial(pd.DataFrame(rows), kpis, baseline=baseline, confidence=confidence)


@dataclass(frozen=True)
class Recommendation:
    """The recommended action and the text that explains it (gain, trade-offs, the other actions)."""

    action: str
    text: str


def _effects(rows: pd.DataFrame, base: pd.Series) -> list:
    """Every KPI whose paired interval excludes zero, as text with its relative change."""
    parts = []
    for kpi, row in rows.iterrows():
        half, diff = row["diff_half_width"], row["diff"]
        if not np.isfinite(half) or abs(diff) <= 1e-9 * max(abs(base.get(kpi, 0.0)), 1e-12):
            continue  # identical in every replication (common random numbers), or no interval
        if not (row["diff_low"] > 0 or row["diff_high"] < 0):
            continue
        info = kpi_info(kpi)
        shown, shown_half = info.to_display(diff, difference=True), info.to_display(half, difference=True)
        unit = "" if info.display_unit.label == "-" else f" {info.display_unit.label}"
        rel = f", {diff / base[kpi]:+.1%}" if base.get(kpi) and info.ratio_scale else ""
        parts.append(f"{kpi} {format_interval(shown, shown_half, sign=True)}{unit} "
                     f"({'better' if info.sign * diff > 0 else 'worse'}{rel})")
    return parts


def recommend(summary: pd.DataFrame, *, objective: str, baseline: str, confidence: float = 0.95,
              min_gain: float = 0.0, kpis: pd.DataFrame | None = None) -> Recommendation:
    """Recommend the action whose paired gain in *objective* over the baseline is significant and largest.

    A gain counts when its paired interval lies entirely on the good side of zero and its mean
    is at least *min_gain* (a fraction of the baseline's mean, e.g. 0.005 = 0.5 %): with common
    random numbers even a negligible change can be statistically significant.  The text names
    the gain with its interval and every trade-off (another KPI that changes significantly), so
    the planner sees what the action costs.  With *kpis* (one row per action and replication)
    the text also pairs the recommended action with the runner-up, so a close second with
    fewer drawbacks is visible.
    """
    if objective not in set(summary["kpi"]):
        raise ConfigurationError(f"objective KPI {objective!r} unknown; choose one of {sorted(set(summary['kpi']))}")
    if not 0 <= min_gain < 1:
        raise ConfigurationError(f"min_gain = {min_gain!r} must be a fraction in [0, 1) of the baseline's mean")
    sign = kpi_info(objective).sign
    base = summary[summary["action"] == baseline].set_index("kpi")["mean"]
    threshold = min_gain * abs(base[objective])
    obj = summary[(summary["kpi"] == objective) & (summary["action"] != baseline)]
    significant = obj[(obj["diff_low"] * sign > 0) & (obj["diff_high"] * sign > 0)]
    good = significant[significant["diff"] * sign >= threshold]
    best = baseline if good.empty else rank(good, objective, column="diff")["action"].iloc[0]
    level = f"{confidence:.0%}"
    effects = {}
    for action in [a for a in summary["action"].unique() if a != baseline]:
        parts = _effects(summary[summary["action"] == action].set_index("kpi"), base)
        effects[action] = "; ".join(parts) if parts else "no significant change in any KPI"
    small = [a for a in significant["action"] if a not in set(good["action"])]
    if best == baseline:
        why = (f"no action improves {objective} by a significant {min_gain:.1%} or more" if min_gain > 0 else
               f"no action improves {objective} significantly")
        lines = [f"Keep '{baseline}': {why} ({level} paired intervals)."]
    else:
        lines = [f"Recommend '{best}' over '{baseline}' ({level} paired intervals): {effects[best]}."]
        others = good[good["action"] != best]
        if kpis is not None and not others.empty:
            second = rank(others, objective, column="diff")["action"].iloc[0]
            pair = summarize(kpis[kpis["action"].isin([best, second])], baseline=second, confidence=confidence,
                             kpi_names=list(dict.fromkeys(summary["kpi"])))
            base2 = pair[pair["action"] == second].set_index("kpi")["mean"]
            parts = _effects(pair[pair["action"] == best].set_index("kpi"), base2)
            lines.append(f"Against the runner-up '{second}' (paired): "
                         f"{'; '.join(parts) if parts else 'no significant difference in any KPI'}.")
    for a, e in effects.items():
        if a == best:
            continue
        note = f" (gain below the {min_gain:.1%} that counts)" if a in small else ""
        lines.append(f"'{a}' (not recommended{note}): {e}.")
    return Recommendation(best, "\n".join(lines))


def format_significant(value: float, digits: int = 4, *, sign: bool = False) -> str:
    """*value* to *digits* significant digits, as a person reads it: no exponent, thousands separated.

    From 1000 on the integer part is shown whole (``17,303``, not ``17,300``), below it the value is rounded to
    *digits* significant digits with trailing zeros dropped (``160`` for 157.4 at 2 digits, ``0.0035``).  Only
    magnitudes below 1e-6 (or non-finite values) fall back to the exponent form.

    Parameters
    ----------
    value : float
        The number, in its display unit.
    digits : int
        Significant digits kept below 1000 (>= 1).
    sign : bool
        Show ``+`` for positive values (a difference).
    """
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise ConfigurationError(f"digits = {digits!r} must be an integer >= 1 (significant digits to show)")
    value = float(value)
    if not math.isfinite(value):
        return "nan" if math.isnan(value) else f"{'+' if sign and value > 0 else ''}{value}"
    plus = "+" if sign else ""
    if value == 0:
        return f"{plus}0"
    if abs(value) >= 1000:
        return _no_negative_zero(f"{value:{plus},.0f}")
    if abs(value) < 1e-6:
        return f"{value:{plus}.{digits}g}"
    decimals = digits - 1 - math.floor(math.log10(abs(value)))
    rounded = round(value, decimals)
    text = f"{rounded:{plus},.{max(decimals, 0)}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return _no_negative_zero(text)


def _no_negative_zero(text: str) -> str:
    """"-0" or "-0.00" (a tiny negative value rounded away) reads as a sign that means nothing: drop it."""
    if text.startswith("-") and not any(c in "123456789" for c in text):
        return text[1:]
    return text


#: Decimal places above which :func:`round_interval` writes both numbers with a shared power of ten.
_MAX_DECIMALS = 9


def round_interval(value: float, half_width: float, *, digits: int = 2, sign: bool = False) -> tuple[str, str]:
    """*value* and its interval *half_width* as text, each rounded to what the interval makes meaningful.

    The half-width keeps *digits* significant digits; the value is rounded to the same decimal place (never
    to tens or more: ``16,144 ± 120``, ``14,647 ± 91``, ``0.8010 ± 0.0035``), so a value is never shown with
    more decimals than its half-width.  A zero half-width (a deterministic result, or one within 1e-9 of the
    value: rounding noise) is shown as ``0`` with the value to 4 significant digits; a non-finite one as
    ``nan``.  Below 1e-9 both are written with a shared power of ten: ``1,230e-12 ± 45e-12``.

    Parameters
    ----------
    value : float
        Mean or difference, in its display unit.
    half_width : float
        Half-width of its interval, same unit (>= 0).
    digits : int
        Significant digits of the half-width (>= 1).
    sign : bool
        Show ``+`` for a positive value (a difference).

    Returns
    -------
    tuple of str
        ``(value, half_width)``.
    """
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise ConfigurationError(f"digits = {digits!r} must be an integer >= 1 (significant digits of the "
                                 f"half-width)")
    value, half = float(value), float(half_width)
    if not math.isfinite(value):
        return format_significant(value, sign=sign), (format_significant(half, digits) if math.isfinite(half)
                                                      else "nan")
    if not math.isfinite(half):
        return format_significant(value, sign=sign), "nan"
    half = abs(half)
    if half == 0 or half <= 1e-9 * abs(value):
        return format_significant(value, sign=sign), "0"
    exponent = math.floor(math.log10(half))
    decimals = digits - 1 - exponent
    rounded = round(half, decimals)
    if rounded >= 10.0 ** (exponent + 1):  # 99.6 -> 100: one digit more in front, one decimal less
        decimals -= 1
        rounded = round(half, decimals)
    plus = "+" if sign else ""
    if decimals > _MAX_DECIMALS:
        power = 3 * math.floor(exponent / 3)
        scale = 10.0 ** -power
        shown = max(decimals + power, 0)
        return (_no_negative_zero(f"{value * scale:{plus},.{shown}f}") + f"e{power}",
                f"{rounded * scale:,.{shown}f}e{power}")
    shown = max(decimals, 0)
    return _no_negative_zero(f"{value:{plus},.{shown}f}"), f"{rounded:,.{shown}f}"


def format_interval(value: float, half_width: float, *, digits: int = 2, sign: bool = False) -> str:
    """``"value ± half-width"`` rounded by :func:`round_interval` (``"14,647 ± 91"``, ``"+857 ± 87"``)."""
    shown, half = round_interval(value, half_width, digits=digits, sign=sign)
    return f"{shown} ± {half}"


def _num(value: float, digits: int = 4, sign: bool = False) -> str:
    """A number for display (:func:`format_significant`); kept under this name for the decision text."""
    return format_significant(value, digits, sign=sign)


def _fmt_half(half: float, value: float) -> str:
    """Half-width for display: 0 when it is rounding noise of a deterministic result, else 2 significant digits."""
    if not np.isfinite(half):
        return "nan"
    if abs(half) <= 1e-9 * max(abs(value), 1e-300):
        return "0"
    return format_significant(half, 2)


def _unit_label(info, currency: str | None) -> str:
    label = info.display_unit.label
    return currency if currency and label == "currency" else label


def _mean_text(row, info) -> str:
    """A mean with its interval: ``± half-width`` for a t-interval, ``[low, high]`` for an asymmetric one
    (a Wilson interval of a share)."""
    mean = info.to_display(row["mean"])
    kind = row.get("interval") if hasattr(row, "get") else None
    if isinstance(kind, str) and kind != "t" and np.isfinite(row.get("low", np.nan)):
        low, high = info.to_display(row["low"]), info.to_display(row["high"])
        half = max(abs(mean - low), abs(high - mean))
        shown, _ = round_interval(mean, half)
        lo, _ = round_interval(low, half)
        hi, _ = round_interval(high, half)
        return f"{shown} [{lo}, {hi}]"
    return format_interval(mean, info.to_display(row["half_width"], difference=True))


def summary_markdown(summary: pd.DataFrame, *, baseline: str, confidence: float = 0.95,
                     currency: str | None = None) -> str:
    """The results table as Markdown, in display units, rounded to meaningful digits (:func:`round_interval`);
    with a second-order Monte Carlo (``sd_param`` known) two more columns separate parameter uncertainty from
    run-to-run variability (standard deviations, 2 significant digits).  *currency* names the money unit
    (``EUR``) where the catalogue says ``currency``."""
    level = f"{confidence:.0%}"
    split = "sd_param" in summary and summary["sd_param"].notna().any()
    extra = " sd parameters | sd run-to-run |" if split else ""
    lines = [f"| action | KPI | unit | mean ± {level} half-width | difference vs {baseline} ± half-width |{extra}",
             "|---|---|---|---|---|" + ("---|---|" if split else "")]
    for _, r in summary.iterrows():
        info = kpi_info(r["kpi"])
        d, dh = (info.to_display(r[c], difference=True) for c in ("diff", "diff_half_width"))
        diff = "—" if r["action"] == baseline else format_interval(d, dh, sign=True)
        more = ""
        if split:
            sp, sr = (info.to_display(r[c], difference=True) for c in ("sd_param", "sd_run"))
            more = f" {format_significant(sp, 2)} | {format_significant(sr, 2)} |"
        lines.append(f"| {r['action']} | {r['kpi']} | {_unit_label(info, currency)} | {_mean_text(r, info)} "
                     f"| {diff} |{more}")
    return "\n".join(lines)


def _changes_text(changes: dict) -> str:
    if not changes:
        return "—"
    parts = []
    for key, value in changes.items():
        if isinstance(value, dict):
            parts += [f"{key}.{k} = {v}" for k, v in value.items()]
        else:
            parts.append(f"{key} = {value}")
    return ", ".join(parts)


# ----------------------------------------------------------------------------- replications and precision
def replications_needed(n: int, half_width: float, target: float, *, confidence: float | None = None) -> int:
    """Replications that bring an interval's *half_width* from *n* replications down to *target*.

    The half-width shrinks as ``1/sqrt(n)``: ``n_needed = ceil(n * (half_width / target)^2)``.  With
    *confidence* the Student-t quantile shrinks too (``t(n-1) s / sqrt(n)``, with the standard deviation ``s``
    the interval implies), and the answer is the smallest ``m >= 2`` with ``t(m-1) s / sqrt(m) <= target``:
    never more than the plain scaling when ``m >= n``, much less when *n* is small (t = 12.7 at n = 2).

    Parameters
    ----------
    n : int
        Replications (or independent units, e.g. posterior draws) behind *half_width* (>= 2).
    half_width : float
        The interval's half-width now (>= 0, finite).
    target : float
        The half-width wanted (> 0, finite), same unit.
    confidence : float, optional
        The interval's level in (0, 1); None: the plain ``1/sqrt(n)`` scaling.

    Returns
    -------
    int
        At least 2 (an interval needs two values); *n* or fewer when the target is already met.
    """
    from scipy.stats import t as student_t

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ConfigurationError(f"n = {n!r} must be an integer >= 2 (the replications behind the interval)")
    if not (math.isfinite(half_width) and half_width >= 0):
        raise ConfigurationError(f"half_width = {half_width!r} must be finite and >= 0")
    if not (math.isfinite(target) and target > 0):
        raise ConfigurationError(f"target = {target!r} must be a finite half-width > 0 (the difference to resolve)")
    plain = max(2, math.ceil(n * (half_width / target) ** 2 - 1e-9))
    if confidence is None:
        return plain
    if not 0 < confidence < 1:
        raise ConfigurationError(f"confidence = {confidence!r} must lie in (0, 1), e.g. 0.95")
    q = 0.5 + confidence / 2
    sd = half_width * math.sqrt(n) / student_t.ppf(q, n - 1)
    if sd == 0:
        return 2

    def half(m: int) -> float:
        return student_t.ppf(q, m - 1) * sd / math.sqrt(m)

    target = target * (1 + 1e-9)  # a target equal to the half-width now (but for rounding) needs nothing more
    low, high = 2, 2
    while half(high) > target:  # doubling, then bisection: the half-width falls monotonically with m
        low, high = high, high * 2
    while low < high:
        mid = (low + high) // 2
        if half(mid) <= target:
            high = mid
        else:
            low = mid + 1
    return high


def _units(kpis: pd.DataFrame | None, action: str, kpi: str) -> tuple[int, int]:
    """Independent units behind an action's interval and the replications each stands for: the posterior draws
    (seeds per draw) in a second-order Monte Carlo, else the replications (1)."""
    if kpis is None or kpi not in kpis:
        return 0, 1
    rows = kpis[kpis["action"] == action]
    n = int(rows[kpi].notna().sum())
    if "draw" in kpis and len(kpis) and kpis.groupby(["action", "draw"]).size().max() > 1:
        draws = int(rows.loc[rows[kpi].notna(), "draw"].nunique())
        return draws, math.ceil(n / max(draws, 1))
    return n, 1


def _claims(rec, baseline: str) -> list:
    """(role, action) of the differences the recommendation rests on: the recommended action, the runner-up and
    the action with the highest expected value when it is not the one chosen."""
    out = []
    choice = getattr(rec, "action", None)
    if choice is not None and choice != baseline:
        out.append(("recommended", choice))
    candidates = [a for a in getattr(rec, "candidates", ()) if a not in (choice, baseline)]
    if candidates:
        out.append(("runner-up", candidates[0]))
    best = getattr(rec, "best_value", None)
    if best is not None and best not in (choice, baseline) and best not in candidates[:1]:
        out.append(("highest expected value", best))
    return out


def precision_notes(summary: pd.DataFrame, kpis: pd.DataFrame | None, rec, *, objective: str, baseline: str,
                    min_gain: float = 0.0, confidence: float = 0.95) -> list:
    """Warnings, in words, where the replications are too few for the differences the recommendation claims.

    For the recommended action, the runner-up and the action with the highest expected value (see *rec*, a
    :class:`~scenarios.whatif.decision.Decision` or :class:`Recommendation`), on *objective* against *baseline*:

    * a difference significant only marginally (half-width above half the difference), or not significant:
      the replications that would narrow the half-width to half the difference (to zero's side: the
      difference itself) (:func:`replications_needed`, t quantile included);
    * a half-width larger than the *min_gain* the decision uses (a fraction of the baseline's mean): the
      replications that would bring it below;
    * fewer than 10 replications (or posterior draws) behind the t-intervals.

    Returns a list of sentences (Markdown), empty when there is nothing to warn about.
    """
    if objective not in set(summary["kpi"]):
        return []
    info = kpi_info(objective)
    unit = "" if info.display_unit.label == "-" else f" {info.display_unit.label}"
    level = f"{confidence:.0%}"
    obj = summary[summary["kpi"] == objective].set_index("action")
    base_mean = float(obj.at[baseline, "mean"]) if baseline in obj.index else math.nan
    threshold = min_gain * abs(base_mean) if min_gain and math.isfinite(base_mean) else 0.0
    notes = []
    for role, action in _claims(rec, baseline):
        if action not in obj.index:
            continue
        d, hw = float(obj.at[action, "diff"]), float(obj.at[action, "diff_half_width"])
        n, per = _units(kpis, action, objective)
        if not (math.isfinite(d) and math.isfinite(hw)) or hw <= 1e-9 * max(abs(d), 1e-300) or n < 2:
            continue  # identical in every replication, or no interval
        shown = format_interval(info.to_display(d, difference=True), info.to_display(hw, difference=True),
                                sign=True)
        what = f"The {role} '{action}' changes {objective} by {shown}{unit} against '{baseline}' ({level} paired)"
        reps = f"now {n * per}" + (f": {n} posterior draws × {per} seeds" if per > 1 else "")
        significant = d - hw > 0 or d + hw < 0
        if significant and hw > abs(d) / 2:
            need = replications_needed(n, hw, abs(d) / 2, confidence=confidence) * per
            notes.append(f"{what}: significant, but only marginally - the interval's near end lies closer to "
                         f"zero than half the difference.  About {need} replications ({reps}) would narrow the "
                         f"half-width to half the difference and resolve a difference of this size clearly.")
        elif not significant and d != 0:
            need = replications_needed(n, hw, abs(d), confidence=confidence) * per
            notes.append(f"{what}: not significant.  If a difference of this size is real, about {need} "
                         f"replications ({reps}) would be needed to tell it from zero.")
        if threshold > 0 and hw > threshold:
            need = replications_needed(n, hw, threshold, confidence=confidence) * per
            # 3 digits: the two are close when it matters, and 2 would show them equal
            thr = format_significant(info.to_display(threshold, difference=True), 3)
            notes.append(f"The half-width of '{action}' ({format_significant(info.to_display(hw, difference=True), 3)}"
                         f"{unit}) is larger than the min_gain the decision uses ({min_gain:.1%} of '{baseline}', "
                         f"{thr}{unit}): it cannot tell a gain of that size from none.  About {need} replications "
                         f"({reps}) would bring it below.")
    n, per = _units(kpis, baseline, objective)
    if 2 <= n < 10:
        from scipy.stats import t as student_t

        t = float(student_t.ppf(0.5 + confidence / 2, n - 1))
        z = float(student_t.ppf(0.5 + confidence / 2, 10 ** 6))
        units = (f"{n} posterior draws ({per} seeds each; the intervals are over the draws' means)" if per > 1
                 else f"{n} replications")
        notes.append(f"The {level} t-intervals rest on few replications: {units}.  The t quantile for {n - 1} "
                     f"degree(s) of freedom is {t:.3g} (against {z:.3g} for many), so the intervals are wide and "
                     f"their own width is uncertain; use 10 or more for a decision that matters.")
    return notes


# ----------------------------------------------------------------------------- horizon effects
#: KPIs that add up over the horizon (counts, costs, durations): a longer horizon gives more of them.
HORIZON_TOTALS = ("output", "trips", "failures", "jams", "maintenances", "stockouts", "maintenance_cost",
                  "crew_cost", "trip_cost", "ageing_cost", "motor_risk_cost", "unplanned_downtime",
                  "maintenance_time", "insulation_ageing", "loss_of_life", "maintenance_outside_windows")

HOUR = 3600.0
WEEK = 168 * HOUR


def _h(seconds: float) -> str:
    return f"{format_significant(seconds / HOUR, 4)} h"


def _policies(spec) -> dict:
    """Station (or "every station") -> maintenance policy of a line spec (None: none)."""
    policy = getattr(spec, "policy", None)
    return dict(policy) if isinstance(policy, dict) else {"every station": policy}


def _due(policy, span: float) -> list:
    """Times [s] a time-based *policy* falls due within *span* [s] of a unit that never stops and never fails
    (operating time = clock time); [] for other policies."""
    interval = getattr(policy, "interval", None)
    if getattr(policy, "name", "") != "time_based" or not interval:
        return []
    return [k * interval for k in range(1, int(span // interval) + 1)]


def _policy_text(policy) -> str:
    name = getattr(policy, "name", None)
    if policy is None or name == "run_to_failure":
        return "no planned maintenance (repair on failure only)"
    if name == "time_based":
        return f"time-based maintenance every {_h(policy.interval)} of {policy.basis} time"
    if name == "condition_based":
        if policy.event:
            return f"condition-based maintenance on the physics event {policy.event!r}"
        return (f"condition-based maintenance when {policy.output} >= {format_significant(policy.threshold)} at an "
                f"inspection every {_h(policy.inspection_interval)}")
    return f"{name} maintenance"


def _maintenances(kpis: pd.DataFrame, action: str) -> np.ndarray:
    """Planned maintenances per replication of *action* (summed over stations)."""
    rows = kpis[kpis["action"] == action]
    cols = (["maintenances"] if "maintenances" in rows else
            [c for c in rows.columns if str(c).endswith(".maintenances")])
    return rows[cols].sum(axis=1).to_numpy(dtype=float) if cols else np.array([])


def horizon_notes(result, summary: pd.DataFrame | None = None, *, baseline: str, objective: str | None = None) -> list:
    """What the horizon does to the numbers, in plain words, derived from *result* (a
    :class:`~scenarios.whatif.WhatIfResult`): its plan (horizon, warm-up), the actions' maintenance policies
    and failure modes (``result.specs``) and the maintenances and failures counted per replication.

    * the warm-up's share of the simulated time, and that it is deleted;
    * which KPIs are totals over the horizon (not per week), with the factor to a week;
    * for each maintenance policy: whether its maintenance falls due within the horizon, and what was counted;
    * differences between actions that exist because the horizon ends before a due maintenance;
    * failures: rare within the horizon, fewer than the long-run rate while the units are young (wear-out);
    * a horizon shorter than a day against the daily ambient cycle.

    Returns a list of sentences (Markdown).
    """
    plan = result.plan
    horizon, warmup = float(plan.run_length), float(plan.warmup)
    span = horizon + warmup
    kpis = result.kpis
    notes = []
    if warmup > 0:
        notes.append(f"The KPIs are measured over the {_h(horizon)} horizon ({format_significant(horizon / 86400, 3)} "
                     f"days) that follows a {_h(warmup)} warm-up; the warm-up, {warmup / span:.0%} of the "
                     f"{_h(span)} simulated, is deleted, so the start (empty buffers, the forked motor settling) "
                     f"does not count - but the units keep the age they reached in it.")
    else:
        notes.append(f"The KPIs are measured over the {_h(horizon)} horizon from the start, without a warm-up: "
                     f"they include the line filling its empty buffers.")
    kpi_names = list(dict.fromkeys(summary["kpi"])) if summary is not None else list(kpis.columns)
    totals = [k for k in HORIZON_TOTALS if k in kpi_names]
    if totals:
        text = (f"Counts, costs and durations ({', '.join(totals)}) are totals over the {_h(horizon)} horizon, "
                f"not per week; rates and ratios (throughput, OEE, availability, peak temperature) are taken "
                f"over it.")
        if abs(horizon - WEEK) > 1e-6 and "failures" in kpis:
            base = kpis.loc[kpis["action"] == baseline, "failures"].mean()
            text += (f"  Per week, multiply by 168 h / {_h(horizon)} = {format_significant(WEEK / horizon, 3)}: "
                     f"'{baseline}' has {format_significant(base, 2)} failures per {_h(horizon)}, "
                     f"{format_significant(base * WEEK / horizon, 2)} per week.")
        if objective in totals:
            text += f"  The objective, {objective}, is such a total: it grows with the horizon."
        notes.append(text)
    # maintenance: when each action's policy falls due, against the horizon
    due_in = {}
    groups: dict = {}
    for action, spec in result.specs.items():
        texts = []
        count = 0
        for station, policy in _policies(spec).items():
            due = [t for t in _due(policy, span) if t > warmup]
            count = max(count, len(due))
            where = "" if station == "every station" else f" ({station})"
            text = _policy_text(policy) + where
            if getattr(policy, "name", "") == "time_based":
                first = policy.interval
                if first > span:
                    text += (f": it never falls due within the {_h(span)} simulated (the first would be at "
                             f"{_h(first)} of {policy.basis} time, after the horizon ends), so neither its cost and "
                             f"downtime nor the wear it removes are in the KPIs")
                elif not due:
                    text += f": it falls due only in the warm-up (at {_h(first)}), which is deleted"
                else:
                    last = due[-1]
                    times = "once" if len(due) == 1 else f"{len(due)} times"
                    if policy.basis == "operating":  # the clock bounds the operating time
                        text += (f": it can fall due up to {times} per unit within the horizon, the first at "
                                 f"{_h(due[0] - warmup)} into it at the soonest (operating time runs slower than the "
                                 f"clock while a station is starved, blocked or down, and a repair restarts the "
                                 f"count); the horizon ends {_h(span - last)} after the last one, so the following "
                                 f"cycle is cut")
                    else:
                        text += (f": it falls due {times} within the horizon, the first at {_h(due[0] - warmup)} "
                                 f"into it; the horizon ends {_h(span - last)} after the last one, so the "
                                 f"following cycle is cut")
            texts.append(text)
        done = _maintenances(kpis, action)
        if done.size:
            texts.append(f"counted: {format_significant(done.mean(), 2)} planned maintenance(s) per replication "
                         f"(all stations together), in {int((done > 0).sum())} of {done.size} replications")
        due_in[action] = count
        groups.setdefault("; ".join(texts), []).append(action)
    for text, actions in groups.items():
        names = ", ".join(f"'{a}'" for a in actions)
        notes.append(f"{names}: {text}.")
    base_policies = _policies(result.specs[baseline]) if baseline in result.specs else {}
    for action, spec in result.specs.items():
        if action == baseline or baseline not in due_in or _policies(spec) == base_policies:
            continue
        a, b = due_in[action], due_in[baseline]
        if a == b == 0:
            intervals = [p.interval for p in (*_policies(spec).values(), *base_policies.values())
                         if getattr(p, "name", "") == "time_based"]
            longer = f" longer than {_h(min(intervals))} plus the warm-up" if intervals else " longer"
            notes.append(f"'{action}' and '{baseline}' differ in maintenance policy, but neither has a planned "
                         f"maintenance due within the horizon: the difference cannot show in these KPIs beyond "
                         f"chance; a horizon{longer} would show it.")
            continue
        if a == b:
            continue
        fewer = baseline if b < a else action
        timed = [pol for pol in _policies(result.specs[fewer]).values() if getattr(pol, "name", "") == "time_based"]
        if timed:
            interval = min(pol.interval for pol in timed)
            following = (int(span // interval) + 1) * interval
            why = (f"the horizon ends before the next maintenance of '{fewer}' is due (at {_h(following)} of "
                   f"operating time, {_h(following - span)} after the horizon ends): a longer horizon would charge "
                   f"it that maintenance, and the wear until then")
        else:
            why = (f"'{fewer}' has no planned maintenance: the wear it leaves shows only as failures, and those after "
                   f"the horizon are not counted")
        notes.append(f"'{action}' against '{baseline}': {a} against {b} planned maintenance(s) per unit can fall "
                     f"due within the horizon.  Part of their difference in maintenance cost, maintenance time, "
                     f"downtime and failures exists because {why}.")
    # failures: rare events, and young units fail less (wear-out)
    spec = result.specs.get(baseline)
    modes = [(st.name, m) for st in getattr(spec, "stations", ()) for m in getattr(st, "failure_modes", ())]
    if modes and "failures" in kpis:
        counts = kpis.loc[kpis["action"] == baseline, "failures"].to_numpy(dtype=float)
        lives = [float(m.life.mean) for _, m in modes]
        expected = sum(horizon / life for life in lives)
        rare = "Failures are rare within" if counts.mean() < 1 else "Failures within"
        text = (f"{rare} {_h(horizon)}: '{baseline}' has {format_significant(counts.mean(), 2)} "
                f"per replication ({int(counts.sum())} in {counts.size} replications); at the long-run rates of its "
                f"{len(modes)} failure modes (mean lives {format_significant(min(lives) / HOUR, 3)} to "
                f"{format_significant(max(lives) / HOUR, 3)} h at their reference condition) about "
                f"{format_significant(expected, 2)} would be expected.")
        wearout = [f"{s}.{m.name}" for s, m in modes if getattr(m.life, "shape", 1.0) > 1.0]
        if wearout:
            text += (f"  The twin's units start as new, and wear-out modes ({', '.join(wearout)}: Weibull shape > 1) "
                     f"fail less often while young, so a horizon shorter than their lives sees fewer failures "
                     f"than the long run.")
        if counts.sum() < 10:
            text += ("  Failure KPIs (failures, unplanned_downtime, maintenance_cost) therefore rest on few events: "
                     "their intervals are wide and their differences rarely significant.")
        notes.append(text)
    if summary is not None and "failure_probability" in kpi_names:
        notes.append(f"failure_probability is the share of replications with a failure within these "
                     f"{_h(horizon)}: it grows with the horizon by definition; it is not a rate.")
    if horizon < 86400 and getattr(spec, "ambient", None) is not None:
        notes.append(f"The horizon ({_h(horizon)}) is shorter than the daily ambient cycle: whether it includes "
                     f"the afternoon peak decides the peak winding temperature, the trips and the ageing.")
    return notes


# ----------------------------------------------------------------------------- the report
#: The figures a report embeds when its folder has them, with their captions, in the order of the story.
FIGURES = {"whatif.png": "The actions' KPIs with their intervals, and the calibrated motor in the line",
           "whatif_differences.png": "Paired differences to the baseline",
           "calibration.png": "The calibrated motor twin against the telemetry",
           "data_quality.png": "Telemetry quality: what the gates kept and quarantined"}


def figures_in(folder) -> tuple:
    """The names of :data:`FIGURES` that exist in *folder*, for :func:`report_markdown`'s *figures*."""
    from pathlib import Path

    folder = Path(folder)
    return tuple(name for name in FIGURES if (folder / name).is_file())


def _figure(name: str, figures) -> str:
    return f"![{FIGURES.get(name, name)}]({name})\n\n" if name in figures else ""


def _bullets(lines) -> str:
    return "\n".join(f"- {line}" for line in lines)


def _paragraphs(text: str) -> str:
    """The recommendation's text: its first line (the verdict) as a paragraph, the others as a list - line breaks
    inside a Markdown paragraph would run them together."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return text
    return f"{lines[0]}\n\n{_bullets(lines[1:])}"


def report_markdown(run_name: str, rec: Recommendation, summary: pd.DataFrame, result, record, *, baseline: str,
                    confidence: float = 0.95, ambient=None, motor_stations=("filler",),
                    decision: str | None = None, objective: str | None = None, min_gain: float | None = None,
                    figures=(), currency: str | None = None) -> str:
    """The main job's report, as a story: the recommendation and its figure, how sure it is (replications),
    the decision record, the KPI table and the differences, the horizon's effects, the what-if set-up with the
    warm-up diagnostic, the calibration and the telemetry's quality.

    Parameters
    ----------
    run_name : str
    rec : Recommendation
        Or a :class:`~scenarios.whatif.decision.Decision` (its objective, min_gain, runner-up and highest
        expected value then feed the warnings on too few replications).
    summary : DataFrame
        :func:`summarize` of the replications [SI].
    result : WhatIfResult
    record : CalibrationRecord
    baseline : str
    confidence : float
    ambient : AmbientCycle, optional
        The ambient cycle fitted to the telemetry (None: the line's own).
    motor_stations : sequence of str
    decision : str, optional
        The decision record as text (:func:`scenarios.whatif.decision.decision_text`).
    objective, min_gain : optional
        The decision's objective KPI and min_gain; default: *rec*'s (a Decision), else no replication warnings
        beyond the "few replications" one.
    figures : sequence of str
        File names of :data:`FIGURES` in the report's folder (:func:`figures_in`), embedded as relative links
        where the story needs them; others are left out.
    currency : str, optional
        The money unit (``EUR``) shown where the catalogue says ``currency``.
    """
    import json

    objective = objective or getattr(rec, "objective", None)
    min_gain = float(min_gain if min_gain is not None else getattr(rec, "min_gain", 0.0) or 0.0)
    figures = tuple(figures)
    plan = result.plan
    actions = "\n".join(f"| {a.name} | {a.description} | {_changes_text(a.changes)} |" for a in result.actions)
    amb = (f"a daily cycle fitted to the last 24 h of telemetry: {ambient.mean - 273.15:.1f} ± "
           f"{ambient.amplitude:.1f} °C, peak at {ambient.peak_time / 3600:.1f} h UTC" if ambient is not None
           else "the line's own daily cycle")
    setup = (f"{plan.replications} replications × {plan.run_length / 3600:g} h observed after a "
             f"{plan.warmup / 3600:g} h warm-up that is deleted; "
             f"{'common random numbers across actions (paired differences)' if plan.crn else 'independent streams'}"
             f"; seed {plan.seed}.  The calibrated motor parameters (a posterior draw per replication when "
             f"sampled) drive the motor of {', '.join(motor_stations)}; the other motors keep their nameplate "
             f"values.  Ambient temperature: {amb}.")
    mser = ""
    if not result.mser.empty:
        m = result.mser
        mser = (f"\n\nWarm-up diagnostic (MSER-5 on throughput over {plan.mser_interval / 3600:g} h intervals, "
                f"reported, not applied): it would truncate a median {m['truncation_h'].median():g} h (at most "
                f"{m['truncation_h'].max():g} h) from the start of a replication, against the {plan.warmup / 3600:g} h "
                f"deleted; reliable in {int(m['reliable'].sum())} of {len(m)} runs.  Suggestions shorter than the "
                f"deleted warm-up mean it is long enough.")
    table = summary_markdown(summary, baseline=baseline, confidence=confidence, currency=currency)
    precision = (precision_notes(summary, result.kpis, rec, objective=objective, baseline=baseline,
                                 min_gain=min_gain, confidence=confidence) if objective else [])
    precise = f"## Enough replications?\n\n{_bullets(precision)}\n\n" if precision else ""
    horizon = horizon_notes(result, summary, baseline=baseline, objective=objective)
    decided = f"## Decision record\n\n```\n{decision}\n```\n\n" if decision else ""
    money = currency or "currency units"
    quality = (f"## Telemetry quality\n\n{_figure('data_quality.png', figures)}" if "data_quality.png" in figures
               else "")
    return (f"# Twinbench report: {run_name}\n\n## Recommendation\n\n{_paragraphs(rec.text)}\n\n"
            f"{_figure('whatif.png', figures)}{precise}{decided}"
            f"## KPIs of the line\n\n{table}\n\n"
            f"Throughput counts good bottles leaving the line; OEE, availability are measured at the bottleneck "
            f"(the filler); costs in {money} per run; max_winding_temperature is the calibrated motor's "
            f"peak, insulation_ageing its equivalent hours at the insulation class temperature (10 K rule); "
            f"with several seeds per posterior draw the intervals are over the draws' means and the last two "
            f"columns split the spread into parameter uncertainty and run-to-run variability.  Half-widths are "
            f"rounded to 2 significant digits and each mean to the same decimal place.\n\n"
            f"{_figure('whatif_differences.png', figures)}"
            f"## Horizon\n\n{_bullets(horizon)}\n\n"
            f"## What-if set-up\n\n{setup}{mser}\n\n| action | description | changes |\n|---|---|---|\n{actions}\n\n"
            f"## Calibration\n\n{_figure('calibration.png', figures)}"
            f"```json\n{json.dumps(record.parameters, indent=2)}\n```\n\n"
            f"Data window {record.window['start']} .. {record.window['end']} "
            f"(content hash {record.window['content_hash'][:12]}), record id {record.record_id}.\n"
            + (f"\n{quality.rstrip()}\n" if quality else ""))
