"""Parameter tracks: estimates with their intervals over time (matplotlib imported on use)."""

from __future__ import annotations

import pandas as pd

from sim.exceptions import ConfigurationError

__all__ = ["plot_parameter_tracks"]


def plot_parameter_tracks(track, parameters=None, *, truth=None, ax=None, title=None):
    """One panel per parameter: the estimate over time and its interval band.

    Parameters
    ----------
    track : list of dict or pandas.DataFrame
        ``LeastSquaresCalibrator.history_`` (one row per window, plotted at the
        window end) or ``JointUKF.track_`` (one row per sample, column ``time``;
        with an ``asset`` column one line per asset).  Columns ``name``,
        ``name.ci_low`` and ``name.ci_high`` per parameter [SI].
    parameters : sequence of str, optional
        Parameters to plot (default: every one with interval columns).
    truth : dict, optional
        name → true or reference value, drawn as a dashed horizontal line.
    ax : matplotlib Axes or sequence of Axes, optional
        Where to draw (one per parameter); a new figure otherwise.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    frame = pd.DataFrame(track)
    if frame.empty:
        raise ConfigurationError("the track is empty: call fit/partial_fit before plotting parameter tracks")
    time = "time" if "time" in frame.columns else "end" if "end" in frame.columns else None
    if time is None:
        raise ConfigurationError(f"the track has no 'time' (filter) or 'end' (windows) column: {list(frame.columns)}")
    if parameters is None:
        parameters = [c[:-len(".ci_low")] for c in frame.columns if c.endswith(".ci_low")]
    missing = [p for p in parameters if not {p, f"{p}.ci_low", f"{p}.ci_high"} <= set(frame.columns)]
    if missing or not parameters:
        raise ConfigurationError(f"the track lacks estimate/interval columns for {missing or 'any parameter'}; "
                                 f"it has {list(frame.columns)}")
    if ax is None:
        fig, axes = plt.subplots(len(parameters), 1, sharex=True, squeeze=False,
                                 figsize=(8.0, 2.4 * len(parameters)))
        axes = list(axes[:, 0])
    else:
        axes = list(ax) if hasattr(ax, "__len__") else [ax]
        fig = axes[0].figure
    if len(axes) != len(parameters):
        raise ConfigurationError(f"got {len(axes)} axes for {len(parameters)} parameters; pass one axes per parameter")
    groups = frame.groupby("asset") if "asset" in frame.columns else [(None, frame)]
    for name, axis in zip(parameters, axes):
        for asset, part in groups:
            label = "estimate" if asset is None else f"asset {asset}"
            (line,) = axis.plot(part[time], part[name], lw=1.2, marker="o" if time == "end" else None, label=label)
            axis.fill_between(part[time], part[f"{name}.ci_low"], part[f"{name}.ci_high"], color=line.get_color(),
                              alpha=0.25, lw=0)
        if truth and name in truth:
            axis.axhline(truth[name], color="k", ls="--", lw=1.0, label="truth")
        axis.set_ylabel(name)
        axis.grid(True, alpha=0.3)
    axes[0].legend(loc="best", fontsize="small")
    axes[-1].set_xlabel("window end" if time == "end" else "time")
    if title:
        axes[0].set_title(title)
    return fig
