"""Figures of the main job, written as PNG files (matplotlib, no screen needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from scenarios.report import KPI_INFO, _display  # noqa: E402

__all__ = ["plot_calibration", "plot_whatif"]


def plot_calibration(prior, calibrated, record, path) -> Path:
    """Measured vs predicted winding temperature before/after calibration, and residuals."""
    fig, axes = plt.subplots(2, 1, figsize=(11, 7), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
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
    plt.close(fig)
    return Path(path)


def plot_whatif(summary, traces, *, trip_temperature: float, baseline: str, path) -> Path:
    """KPI means with confidence intervals per action, and winding temperature of replication 0."""
    kpis = [k for k in ("throughput", "unplanned_downtime", "trips", "energy_per_unit") if k in set(summary["kpi"])]
    actions = list(dict.fromkeys(summary["action"]))
    fig = plt.figure(figsize=(12, 7))
    grid = fig.add_gridspec(2, len(kpis))
    for i, kpi in enumerate(kpis):
        ax = fig.add_subplot(grid[0, i])
        rows = summary[summary["kpi"] == kpi].set_index("action").loc[actions]
        scale = KPI_INFO[kpi][1] or 1.0
        means = [_display(kpi, m) for m in rows["mean"]]
        ax.bar(range(len(actions)), means, yerr=np.nan_to_num(rows["half_width"].to_numpy() * scale), capsize=4,
               color=["0.6" if a == baseline else "tab:blue" for a in actions])
        ax.set_xticks(range(len(actions)), actions, rotation=15, fontsize=8)
        ax.set_title(f"{kpi} [{KPI_INFO[kpi][0]}]", fontsize=9)
    ax = fig.add_subplot(grid[1, :])
    for action, trace in traces.items():
        if trace is not None:
            ax.plot(trace["t"] / 3600.0, trace["winding_temperature"] - 273.15, lw=0.8, label=action)
    ax.axhline(trip_temperature - 273.15, color="tab:red", ls="--", lw=0.8, label="trip limit")
    ax.set_xlabel("hours from now")
    ax.set_ylabel("winding temperature [°C]")
    ax.set_title("Forecast of the calibrated twin (replication 0)", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
