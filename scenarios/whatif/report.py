"""Compare what-if actions: Student-t intervals, paired differences, a recommendation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.exceptions import ConfigurationError
from sim.kpi import kpi_info, rank
from sim.replications import t_interval

__all__ = ["REPORT_KPIS", "summarize", "variance_components", "Recommendation", "recommend", "summary_markdown", "report_markdown"]

#: The KPIs a what-if summarizes by default, in the order of the report (units and directions: sim.kpi.KPIS).
REPORT_KPIS = ("throughput", "oee", "availability", "performance", "unplanned_downtime", "trips", "failures",
               "maintenance_cost", "crew_cost", "energy_per_unit", "max_winding_temperature", "insulation_ageing",
               "loss_of_life", "trip_cost", "ageing_cost", "motor_risk_cost", "stockouts",
               "maintenance_outside_windows")


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
    return pd.DataFrame(rows)


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
        parts.append(f"{kpi} {_num(shown, 3, sign=True)} ± {_fmt_half(shown_half, shown)}{unit} "
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


def _num(value: float, digits: int = 4, sign: bool = False) -> str:
    """A number for display: thousands separated and no exponent from 1000 on, else *digits* significant."""
    if not np.isfinite(value):
        return "nan"
    plus = "+" if sign else ""
    if abs(value) >= 1000:
        return f"{value:{plus},.0f}"
    return f"{value:{plus}.{digits}g}"


def _fmt_half(half: float, value: float) -> str:
    """Half-width for display: 0 when it is rounding noise of a deterministic result."""
    if abs(half) <= 1e-9 * max(abs(value), 1e-300):
        return "0"
    return _num(half, 2)


def summary_markdown(summary: pd.DataFrame, *, baseline: str, confidence: float = 0.95) -> str:
    """The results table as Markdown, in display units; with a second-order Monte Carlo (``sd_param`` known)
    two more columns separate parameter uncertainty from run-to-run variability (standard deviations)."""
    level = f"{confidence:.0%}"
    split = "sd_param" in summary and summary["sd_param"].notna().any()
    extra = " sd parameters | sd run-to-run |" if split else ""
    lines = [f"| action | KPI | unit | mean ± {level} half-width | difference vs {baseline} ± half-width |{extra}",
             "|---|---|---|---|---|" + ("---|---|" if split else "")]
    for _, r in summary.iterrows():
        info = kpi_info(r["kpi"])
        m = info.to_display(r["mean"])
        h, d, dh = (info.to_display(r[c], difference=True) for c in ("half_width", "diff", "diff_half_width"))
        diff = "—" if r["action"] == baseline else f"{_num(d, sign=True)} ± {_fmt_half(dh, d)}"
        more = ""
        if split:
            sp, sr = (info.to_display(r[c], difference=True) for c in ("sd_param", "sd_run"))
            more = f" {_num(sp, 2)} | {_num(sr, 2)} |"
        lines.append(f"| {r['action']} | {r['kpi']} | {info.display_unit.label} | {_num(m)} ± {_fmt_half(h, m)} "
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


def report_markdown(run_name: str, rec: Recommendation, summary: pd.DataFrame, result, record, *, baseline: str,
                    confidence: float = 0.95, ambient=None, motor_stations=("filler",),
                    decision: str | None = None) -> str:
    """The main job's report: recommendation, decision record, KPI table, what-if set-up, warm-up diagnostic,
    calibration.

    *result* is a :class:`~scenarios.whatif.WhatIfResult`, *record* a calibration record, *decision* the
    decision record as text (:func:`scenarios.whatif.decision.decision_text`).
    """
    import json

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
    table = summary_markdown(summary, baseline=baseline, confidence=confidence)
    decided = f"## Decision record\n\n```\n{decision}\n```\n\n" if decision else ""
    return (f"# Twinbench report: {run_name}\n\n## Recommendation\n\n{rec.text}\n\n{decided}"
            f"## KPIs of the line\n\n{table}\n\n"
            f"Throughput counts good bottles leaving the line; OEE, availability are measured at the bottleneck "
            f"(the filler); costs in currency units per run; max_winding_temperature is the calibrated motor's "
            f"peak, insulation_ageing its equivalent hours at the insulation class temperature (10 K rule); "
            f"with several seeds per posterior draw the intervals are over the draws' means and the last two "
            f"columns split the spread into parameter uncertainty and run-to-run variability.\n\n"
            f"## What-if set-up\n\n{setup}{mser}\n\n| action | description | changes |\n|---|---|---|\n{actions}\n\n"
            f"## Calibration\n\n```json\n{json.dumps(record.parameters, indent=2)}\n```\n\n"
            f"Data window {record.window['start']} .. {record.window['end']} "
            f"(content hash {record.window['content_hash'][:12]}), record id {record.record_id}.\n")
