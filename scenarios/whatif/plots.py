"""Figures of the main job, written as PNG files.

matplotlib's object API with the Agg canvas: no pyplot, no global backend switch (importing this module in a
notebook leaves its inline figures alone).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from scenarios.whatif.report import REPORT_KPIS
from sim.kpi import kpi_info

__all__ = ["plot_calibration", "plot_whatif", "whatif_figure", "plot_differences", "overlapping"]


def _figure(**kwargs) -> Figure:
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def _unit(info, currency: str) -> str:
    label = info.display_unit.label
    return currency if label == "currency" else label


def overlapping(traces) -> list[list[str]]:
    """Groups of actions whose traces are the same curve (common random numbers and no change that reaches the
    motor): drawn on top of each other, so the plot must say so."""
    groups: list[list[str]] = []
    keys = [a for a, t in traces.items() if t is not None and not t.empty]
    for action in keys:
        for group in groups:
            other = traces[group[0]]
            mine = traces[action]
            if other.shape == mine.shape and np.allclose(other.to_numpy(dtype=float), mine.to_numpy(dtype=float),
                                                         rtol=0.0, atol=1e-9, equal_nan=True):
                group.append(action)
                break
        else:
            groups.append([action])
    return [g for g in groups if len(g) > 1]

def plot_calibration(prior, calibrated, record, path) -> Path:
    """Measured vs predicted winding temperature before/after calibration, and residuals."""
    fig = _figure(figsize=(11, 7))
    axes = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    ax = axes[0]
    ax.plot(calibrated.index, calibrated["measured"] - 273.15, ".", ms=1.5, color="0.4", label="measured")
    ax.plot(prior.index, prior["predicted"] - 273.15, lw=1.0, color="tab:orange", label="twin, nameplate parameters")
    ax.plot(calibrated.index, calibrated["predicted"] - 273.15, lw=1.0, color="tab:blue", label="twin, calibrated")
    ax.set_ylabel("winding temperature [°C]")
    text = "\n".join(f"{k}: {v['value']:.4g} [{v['ci_low']:.4g}, {v['ci_high']:.4g}] {v['unit']}"
                     for k, v in record.parameters.items())
    ax.text(0.01, 0.02, f"{record.confidence:.0%} intervals\n{text}", transform=ax.transAxes, fontsize=8,
            va="bottom", bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "0.8"})
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Shadow replay of the telemetry through the motor twin")
    ax = axes[1]
    ax.plot(prior.index, prior["residual"], lw=0.6, color="tab:orange", label="nameplate")
    ax.plot(calibrated.index, calibrated["residual"], lw=0.6, color="tab:blue", label="calibrated")
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_ylabel("residual [K]")
    ax.set_xlabel("time [UTC]")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return Path(path)


def plot_whatif(summary, traces, *, trip_temperature: float, baseline: str, path, warmup: float = 0.0,
                recommended: str | None = None, currency: str = "currency") -> Path:
    """Write :func:`whatif_figure` to *path* (PNG)."""
    fig = whatif_figure(summary, traces, trip_temperature=trip_temperature, baseline=baseline, warmup=warmup,
                        recommended=recommended, currency=currency)
    fig.savefig(path, dpi=110)
    return Path(path)


def whatif_figure(summary, traces, *, trip_temperature: float, baseline: str, warmup: float = 0.0,
                  recommended: str | None = None, currency: str = "currency") -> Figure:
    """KPI means with confidence intervals per action, and the calibrated motor's winding temperature.

    *traces*: action -> DataFrame ``t`` [s] and ``<station>.winding_temperature`` [K] columns
    (replication 0); the warm-up [s] is shaded.  *recommended*: the decision's action, highlighted (green, ★);
    *currency*: the label of money KPIs.  An interval of a KPI that cannot be negative is drawn down to 0 at most
    (the Student-t interval is symmetric; the panel says when it was cut).  Actions whose motor traces coincide
    (common random numbers) are named in the legend.
    """
    kpis = [k for k in ("throughput", "oee", "unplanned_downtime", "trips", "maintenance_cost", "energy_per_unit")
            if k in set(summary["kpi"])]
    actions = list(dict.fromkeys(summary["action"]))
    fig = _figure(figsize=(14, 7.5))
    grid = fig.add_gridspec(2, len(kpis))
    colors = ["tab:green" if a == recommended else "0.6" if a == baseline else "tab:blue" for a in actions]
    names = [f"★ {a}" if a == recommended else a for a in actions]
    for i, kpi in enumerate(kpis):
        ax = fig.add_subplot(grid[0, i])
        rows = summary[summary["kpi"] == kpi].set_index("action").loc[actions]
        info = kpi_info(kpi)
        means = info.to_display(rows["mean"].to_numpy(dtype=float))
        half = np.nan_to_num(info.to_display(rows["half_width"].to_numpy(dtype=float), difference=True))
        low = half
        cut = False
        if info.ratio_scale and np.all(means >= 0):  # a count, cost, time or rate: never below zero
            low = np.minimum(half, means)
            cut = bool(np.any(low < half))
        ax.bar(range(len(actions)), means, yerr=np.vstack([low, half]), capsize=4, color=colors)
        ax.set_xticks(range(len(actions)), names, rotation=30, ha="right", fontsize=7)
        ax.set_title(f"{kpi} [{_unit(info, currency)}]" + ("\n(intervals cut at 0)" if cut else ""), fontsize=9)
    ax = fig.add_subplot(grid[1, :])
    for action, trace in traces.items():
        if trace is None or trace.empty:
            continue
        for col in [c for c in trace.columns if c != "t"]:
            label = action if trace.shape[1] == 2 else f"{action}: {col.split('.')[0]}"
            ax.plot(trace["t"] / 3600.0, trace[col] - 273.15, lw=0.8, label=label)
    if warmup > 0:
        ax.axvspan(0.0, warmup / 3600.0, color="0.9", label="warm-up (deleted)")
    ax.axhline(trip_temperature - 273.15, color="tab:red", ls="--", lw=0.8, label="trip limit")
    for group in overlapping(traces):
        ax.plot([], [], " ", label=f"{', '.join(group)}: one curve (same motor load, common random numbers)")
    ax.set_xlabel("hours from the start of the replication")
    ax.set_ylabel("winding temperature [°C]")
    ax.set_title("Calibrated motor in the line (replication 0, common random numbers)", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4, frameon=False)  # never on a curve
    fig.tight_layout()
    return fig


def plot_differences(summary, *, baseline: str, path, confidence: float = 0.95, currency: str = "currency") -> Path:
    """Paired difference of every action to *baseline*, per KPI, with its confidence interval."""
    kpis = [k for k in REPORT_KPIS if k in set(summary["kpi"])]
    actions = [a for a in dict.fromkeys(summary["action"]) if a != baseline]
    ncol = min(4, len(kpis))
    nrow = -(-len(kpis) // ncol)
    fig = _figure(figsize=(3.6 * ncol, 0.5 * len(actions) * nrow + 1.6 * nrow))
    axes = fig.subplots(nrow, ncol, squeeze=False)
    for ax, kpi in zip(axes.flat, kpis):
        rows = summary[summary["kpi"] == kpi].set_index("action").loc[actions]
        info = kpi_info(kpi)
        diff = info.to_display(rows["diff"].to_numpy(dtype=float), difference=True)
        half = np.nan_to_num(info.to_display(rows["diff_half_width"].to_numpy(dtype=float), difference=True))
        better = diff * info.sign > 0
        colors = ["tab:green" if b and abs(d) > h else "tab:red" if abs(d) > h else "0.5"
                  for b, d, h in zip(better, diff, half)]
        y = np.arange(len(actions))[::-1]
        for d, h, yy, c in zip(diff, half, y, colors):
            ax.errorbar(d, yy, xerr=h, fmt="o", ms=4, color=c, capsize=3)
        ax.axvline(0.0, color="k", lw=0.6)
        ax.set_yticks(y, actions, fontsize=7)
        ax.set_title(f"Δ {kpi} [{_unit(info, currency)}]", fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    for ax in list(axes.flat)[len(kpis):]:
        ax.axis("off")
    fig.suptitle(f"Difference to '{baseline}' ({confidence:.0%} paired intervals; green better, red worse, "
                 f"grey not significant)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return Path(path)
