"""Compare what-if actions: Student-t intervals, paired differences, a recommendation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from sim.exceptions import ConfigurationError

__all__ = ["KPI_INFO", "summarize", "Recommendation", "recommend", "summary_markdown"]

# KPI → (unit for display, scale from SI to display, +1 if more is better / -1 if less is better)
KPI_INFO = {
    "throughput": ("units/h", 3600.0, +1),
    "oee": ("-", 1.0, +1),
    "availability": ("-", 1.0, +1),
    "performance": ("-", 1.0, +1),
    "unplanned_downtime": ("h", 1 / 3600.0, -1),
    "trips": ("-", 1.0, -1),
    "failures": ("-", 1.0, -1),
    "energy_per_unit": ("Wh/unit", 1 / 3600.0, -1),
    "max_winding_temperature": ("degC", None, -1),
}


def _display(kpi: str, value: float) -> float:
    unit, scale, _ = KPI_INFO.get(kpi, ("", 1.0, +1))
    if scale is None:  # kelvin → degC
        return value - 273.15
    return value * scale


def _t_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    n = values.size
    if n < 2:
        return (float(values.mean()) if n else math.nan), math.nan
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * values.std(ddof=1) / math.sqrt(n)
    return float(values.mean()), float(half)


def summarize(kpis: pd.DataFrame, *, baseline: str, confidence: float = 0.95, kpi_names=None) -> pd.DataFrame:
    """Mean and t-interval of every KPI per action, and the paired difference to *baseline*.

    *kpis* has one row per (action, replication).  Differences pair the
    replications of an action with the same replications of the baseline
    (common random numbers).  Values are in SI units.
    """
    if baseline not in set(kpis["action"]):
        raise ConfigurationError(f"baseline action {baseline!r} is not among the actions "
                                 f"{sorted(set(kpis['action']))}; set whatif.baseline to one of them")
    kpi_names = list(kpi_names or [k for k in KPI_INFO if k in kpis.columns])
    base = kpis[kpis["action"] == baseline].set_index("replication")
    rows = []
    for action, group in kpis.groupby("action", sort=False):
        group = group.set_index("replication")
        for kpi in kpi_names:
            mean, half = _t_interval(group[kpi].to_numpy(dtype=float), confidence)
            diff = (group[kpi] - base[kpi]).dropna().to_numpy(dtype=float)
            dmean, dhalf = _t_interval(diff, confidence) if action != baseline else (0.0, 0.0)
            rows.append({"action": action, "kpi": kpi, "n": int(group[kpi].notna().sum()), "mean": mean,
                         "half_width": half, "low": mean - half, "high": mean + half, "diff": dmean,
                         "diff_half_width": dhalf, "diff_low": dmean - dhalf, "diff_high": dmean + dhalf})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Recommendation:
    action: str
    text: str


def recommend(summary: pd.DataFrame, *, objective: str, baseline: str, confidence: float = 0.95) -> Recommendation:
    """Recommend the action whose paired gain in *objective* over the baseline is significant and largest.

    The text names the gain with its interval and every trade-off (another KPI
    that changes significantly), so the planner sees what the action costs.
    """
    if objective not in set(summary["kpi"]):
        raise ConfigurationError(f"objective KPI {objective!r} unknown; choose one of {sorted(set(summary['kpi']))}")
    sign = KPI_INFO.get(objective, ("", 1.0, +1))[2]
    obj = summary[(summary["kpi"] == objective) & (summary["action"] != baseline)]
    good = obj[(obj["diff_low"] * sign > 0) & (obj["diff_high"] * sign > 0)]
    best = baseline if good.empty else good.loc[(good["diff"] * sign).idxmax(), "action"]
    level = f"{confidence:.0%}"
    effects = {}
    for action in [a for a in summary["action"].unique() if a != baseline]:
        parts = []
        for kpi, row in summary[summary["action"] == action].set_index("kpi").iterrows():
            significant = np.isfinite(row["diff_half_width"]) and (row["diff_low"] > 0 or row["diff_high"] < 0)
            if not significant:
                continue
            unit, scale, direction = KPI_INFO.get(kpi, ("", 1.0, +1))
            scale = 1.0 if scale is None else scale
            better = row["diff"] * direction > 0
            half = row["diff_half_width"] * scale
            unit = "" if unit == "-" else f" {unit}"
            parts.append(f"{kpi} {row['diff'] * scale:+.3g} ± {_fmt_half(half, row['diff'] * scale)}{unit} "
                         f"({'better' if better else 'worse'})")
        effects[action] = "; ".join(parts) if parts else "no significant change in any KPI"
    if best == baseline:
        lines = [f"Keep '{baseline}': no action improves {objective} significantly "
                 f"({level} paired intervals include zero or point the wrong way)."]
    else:
        lines = [f"Recommend '{best}' over '{baseline}' ({level} paired intervals): {effects[best]}."]
    lines += [f"'{a}' (not recommended): {e}." for a, e in effects.items() if a != best]
    return Recommendation(best, "\n".join(lines))


def _fmt_half(half: float, value: float) -> str:
    """Half-width for display: 0 when it is rounding noise of a deterministic result."""
    if abs(half) <= 1e-9 * max(abs(value), 1e-300):
        return "0"
    return f"{half:.2g}"


def summary_markdown(summary: pd.DataFrame, *, baseline: str, confidence: float = 0.95) -> str:
    """The results table as Markdown, in display units."""
    level = f"{confidence:.0%}"
    lines = [f"| action | KPI | unit | mean ± {level} half-width | difference vs {baseline} ± half-width |",
             "|---|---|---|---|---|"]
    for _, r in summary.iterrows():
        unit = KPI_INFO.get(r["kpi"], ("",))[0]
        scale = KPI_INFO.get(r["kpi"], ("", 1.0))[1]
        m = _display(r["kpi"], r["mean"])
        h = r["half_width"] * (1.0 if scale is None else scale)
        d = r["diff"] * (1.0 if scale is None else scale)
        dh = r["diff_half_width"] * (1.0 if scale is None else scale)
        diff = "—" if r["action"] == baseline else f"{d:+.4g} ± {_fmt_half(dh, d)}"
        lines.append(f"| {r['action']} | {r['kpi']} | {unit} | {m:.4g} ± {_fmt_half(h, m)} | {diff} |")
    return "\n".join(lines)
