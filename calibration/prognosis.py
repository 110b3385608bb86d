"""Remaining useful life with intervals: times of event from calibrated physics, per failure mode.

The vocabulary is progpy's: a *threshold* (a :class:`~sim.physics.StateEvent` on a
model output, one per failure mode), its *event state* (health 1 -> 0) and the
*time of event* (when the threshold is met).  :func:`predict_rul` answers "when
will this asset fail, and how sure are we":

1. **parameters** - *n_samples* draws from the calibration posterior
   (:meth:`CalibrationRecord.sample`, Gaussian, clipped to the bounds; fixed
   parameters from :meth:`CalibrationRecord.params`), or given samples;
2. **process noise** - each parameter draw is run with *n_noise* independent
   noise streams (second-order sampling: epistemic x aleatory);
3. all ``n_samples * n_noise`` members run as one fleet through the parallel
   kernel of :func:`sim.physics.prognostics.time_of_event` up to the *horizon*
   (members not failed by then are censored, ``inf``).

The result, :class:`RemainingLife`, gives the median, intervals at any level,
``P(failure before t)`` and the censored fraction, for the system (first
threshold met) or one failure mode.  A sequence of them over time is a RUL track
(:func:`plot_rul`); :meth:`RemainingLife.rul` is what the maintenance policy
:class:`sim.processes.maintenance.RulPredictive` reads.

Same *seed* -> same numbers, whatever the number of threads.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from calibration.record import CalibrationRecord
from sim.exceptions import CalibrationError, ConfigurationError
from sim.physics.fleet import StateEvent
from sim.physics.model import Model
from sim.physics.prognostics import EventTimes, time_of_event

__all__ = ["RemainingLife", "predict_rul", "plot_rul", "order_interval"]


def order_interval(samples, level: float) -> tuple[float, float]:
    """Central interval of *level* from the order statistics of *samples* (``inf`` allowed: censored).

    The lower end is the ``floor(n (1 - level) / 2)``-th smallest sample, the upper
    end the ``ceil(n (1 + level) / 2)``-th: both round outwards, so the interval
    covers at least *level* of the samples.  An upper end among the censored
    samples is ``inf`` ("later than the horizon").
    """
    if not 0.0 < level < 1.0:
        raise ConfigurationError(f"level = {level!r} must lie strictly between 0 and 1 (e.g. 0.9 for a 90 % interval)")
    x = np.sort(np.asarray(samples, dtype=float).ravel())
    n = x.size
    if n == 0:
        raise CalibrationError("no samples to take an interval of; predict with n_samples >= 1")
    lo = int(math.floor(n * (1.0 - level) / 2.0 + 1e-9))  # the 1e-9: 100 * (1 - 0.8) / 2 is 9.999... in floats
    hi = int(math.ceil(n * (1.0 + level) / 2.0 - 1e-9)) - 1
    return float(x[min(lo, n - 1)]), float(x[min(max(hi, 0), n - 1)])


@dataclass(frozen=True)
class RemainingLife:
    """Distribution of the remaining useful life of one asset, per failure mode.

    Attributes
    ----------
    samples : ndarray (n, m)
        Time of event of each sample for each threshold, counted from the
        prediction time [unit]; ``inf`` where censored (not met by the horizon).
    events : tuple of str
        Names of the thresholds (failure modes), in column order.
    horizon : float
        How far the prediction looked [unit].
    time : float
        When the prediction was made (asset age or clock) [unit]; the x axis of a track.
    unit : str
        Time unit of all the numbers (``s`` for physics models, ``cycle`` for C-MAPSS).
    n_noise : int
        Noise streams per parameter draw (rows ``i * n_noise ... (i + 1) * n_noise - 1``
        share parameter draw *i*).
    """

    samples: np.ndarray
    events: tuple
    horizon: float
    time: float = 0.0
    unit: str = "s"
    n_noise: int = 1

    def __post_init__(self):
        samples = np.asarray(self.samples, dtype=float)
        if samples.ndim == 1:
            samples = samples[:, None]
        if samples.ndim != 2 or samples.shape[1] != len(self.events) or samples.shape[0] < 1:
            raise ConfigurationError(f"samples must have shape (n >= 1, {len(self.events)}) for events "
                                     f"{list(self.events)}, got {np.shape(self.samples)}")
        if np.any(np.isnan(samples)) or np.any(samples < 0):
            raise CalibrationError("RUL samples must be >= 0 or inf (censored); got NaN or negative values")
        object.__setattr__(self, "samples", samples)

    # ------------------------------------------------------------ per mode / system
    def rul(self, event: str | None = None) -> np.ndarray:
        """``[n]`` RUL samples of failure mode *event*, or of the system (first threshold met) when None."""
        if event is None:
            return self.samples.min(axis=1)
        try:
            return self.samples[:, list(self.events).index(event)]
        except ValueError:
            raise ConfigurationError(f"no failure mode {event!r}; known: {list(self.events)}") from None

    def median(self, event: str | None = None) -> float:
        """Median RUL [unit] (``inf`` when more than half the samples are censored)."""
        x = np.sort(self.rul(event))
        n = x.size
        return float(x[(n - 1) // 2]) if n % 2 else float(0.5 * (x[n // 2 - 1] + x[n // 2]))

    def mean(self, event: str | None = None) -> float:
        """Mean RUL [unit] (``inf`` if any sample is censored)."""
        return float(np.mean(self.rul(event)))

    def quantile(self, q: float, event: str | None = None) -> float:
        """The *q* quantile of the RUL [unit] (lower order statistic; ``inf`` inside the censored tail)."""
        if not 0.0 <= q <= 1.0:
            raise ConfigurationError(f"q = {q!r} must lie in [0, 1]")
        x = np.sort(self.rul(event))
        return float(x[min(int(math.floor(q * x.size)), x.size - 1)])

    def interval(self, level: float = 0.9, event: str | None = None) -> tuple[float, float]:
        """Central interval ``(low, high)`` [unit] holding at least *level* of the samples (:func:`order_interval`)."""
        return order_interval(self.rul(event), level)

    def p_failure(self, within: float | None = None, event: str | None = None) -> float:
        """P(failure within *within* [unit] of the prediction time); default the horizon."""
        within = self.horizon if within is None else float(within)
        return float(np.mean(self.rul(event) <= within))

    def censored_fraction(self, event: str | None = None) -> float:
        """Fraction of samples not failed by the horizon."""
        return float(np.mean(~np.isfinite(self.rul(event))))

    def summary(self, level: float = 0.9) -> dict:
        """Median, interval, P(failure before the horizon) and censored fraction, for the system and each mode."""
        out = {}
        for name in (None, *self.events):
            lo, hi = self.interval(level, name)
            out["system" if name is None else name] = {
                "median": self.median(name), "low": lo, "high": hi, "level": level,
                "p_failure_before_horizon": self.p_failure(None, name),
                "censored_fraction": self.censored_fraction(name)}
        return out


def _parameter_samples(model: Model, source, n: int, rng: np.random.Generator) -> np.ndarray:
    """``[n, np]`` parameter rows from a record, a mapping or an array of samples."""
    spec = model.spec
    if isinstance(source, CalibrationRecord):
        if source.model != spec.name:
            raise CalibrationError(f"the record calibrates model {source.model!r}, not {spec.name!r}; pass the "
                                   f"record of this model")
        base = spec.vector("params", {k: v for k, v in source.params().items() if k in spec.names("params")})
        rows = np.tile(base, (n, 1))
        if source.names:
            draws = source.sample(n, rng)
            for j, name in enumerate(source.names):
                rows[:, spec.index("params", name)] = draws[:, j]
        return rows
    if source is None or isinstance(source, dict):
        values = source or {}
        rows = np.tile(spec.vector("params", {k: v for k, v in values.items() if np.ndim(v) == 0}), (n, 1))
        for name, v in values.items():
            if np.ndim(v) == 1:
                v = np.asarray(v, dtype=float)
                rows[:, spec.index("params", name)] = v if v.size == n else v[rng.integers(0, v.size, n)]
        return rows
    arr = np.atleast_2d(np.asarray(source, dtype=float))
    if arr.shape[1] != spec.np:
        raise CalibrationError(f"{spec.name}: parameter samples must have shape (k, {spec.np}) in the order "
                               f"{spec.names('params')}, got {np.shape(source)}")
    return arr if arr.shape[0] == n else arr[rng.integers(0, arr.shape[0], n)]


def predict_rul(model: Model, record_or_samples, state=None, *, threshold, horizon: float, n_samples: int = 100,
                seed=0, n_noise: int = 1, inputs=None, process_noise=None, max_step: float = 1.0,
                time: float = 0.0) -> RemainingLife:
    """Remaining useful life of one asset: parameter draws x noise streams, run to the thresholds in one call.

    Parameters
    ----------
    model : Model
        The physics model.
    record_or_samples : CalibrationRecord, array (k, np), mapping or None
        Posterior of the parameters: a record (drawn with :meth:`CalibrationRecord.sample`),
        parameter rows (resampled to *n_samples* if k differs), a mapping of
        name -> value or array of draws, or None for the spec defaults.
    state : mapping, array (nx,) or (n_samples, nx), or None
        States now [SI], one for all samples or one per parameter draw (e.g. filter particles); default the
        record's ``final_state``.
    threshold : StateEvent or sequence of StateEvent
        Failure thresholds, one per failure mode.
    horizon : float
        How far to look [s]; later failures are censored.
    n_samples : int
        Parameter draws.
    seed : int
        Seeds the parameter draws and the noise streams.
    n_noise : int
        Noise streams per parameter draw (second-order sampling).
    inputs : mapping or array (nu,), optional
        Future operating inputs, held constant [SI].
    process_noise : mapping or array (nx,), optional
        Noise intensity per state [unit/sqrt(s)].
    max_step : float
        RK4 step [s].
    time : float
        Time stamp of the prediction (asset age or clock) [s], kept on the result.

    Returns
    -------
    RemainingLife
    """
    for key, value, low in (("n_samples", n_samples, 1), ("n_noise", n_noise, 1)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ConfigurationError(f"{key} = {value!r} must be a whole number >= {low}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ConfigurationError(f"seed = {seed!r} must be a whole number >= 0")
    events = (threshold,) if isinstance(threshold, StateEvent) else tuple(threshold)
    param_seq, noise_seq = np.random.SeedSequence(int(seed)).spawn(2)
    rng = np.random.default_rng(param_seq)
    params = _parameter_samples(model, record_or_samples, int(n_samples), rng)
    if state is None:
        if not isinstance(record_or_samples, CalibrationRecord):
            raise ConfigurationError("state is None: pass the states now, or a CalibrationRecord (its final_state)")
        state = dict(record_or_samples.final_state)
    members = np.repeat(params, int(n_noise), axis=0)
    if not isinstance(state, dict) and np.ndim(state) == 2 and np.shape(state)[0] == n_samples and n_samples > 1:
        state = np.repeat(np.asarray(state, dtype=float), int(n_noise), axis=0)  # one state per draw
    result: EventTimes = time_of_event(model, state, members, events, horizon=float(horizon), inputs=inputs,
                                       max_step=max_step, process_noise=process_noise, seed=noise_seq)
    return RemainingLife(samples=result.times, events=tuple(e.name for e in events), horizon=float(horizon),
                         time=float(time), unit="s", n_noise=int(n_noise))


def plot_rul(track, *, truth=None, level: float = 0.9, event: str | None = None, ax=None, title=None,
             alpha_bounds: float | None = None):
    """RUL over time: the median and the *level* interval of each prediction, against the truth.

    Censored samples (no failure within the horizon) are drawn at the horizon, a dotted line.

    Parameters
    ----------
    track : sequence of RemainingLife
        Predictions, each stamped with its ``time``.
    truth : float, optional
        The true end of life (same time axis); the true RUL ``truth - time`` is drawn.
    level : float
        Interval level.
    event : str, optional
        Failure mode (default: the system, first threshold met).
    ax : matplotlib Axes, optional
    alpha_bounds : float, optional
        Draw the alpha-lambda cone ``(1 +- alpha) * true RUL`` (needs *truth*).

    Returns
    -------
    matplotlib.figure.Figure
    """
    track = list(track)
    if not track or not all(isinstance(r, RemainingLife) for r in track):
        raise ConfigurationError("track must be a non-empty sequence of RemainingLife predictions")
    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8.0, 4.0))
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    times = np.array([r.time for r in track])
    med = np.array([r.median(event) for r in track])
    bands = np.array([r.interval(level, event) for r in track])
    top = max(r.horizon for r in track)
    ax.plot(times, np.minimum(med, top), lw=1.5, label="median")
    ax.fill_between(times, np.minimum(bands[:, 0], top), np.minimum(bands[:, 1], top), alpha=0.3,
                    label=f"{level:.0%} interval")
    ax.axhline(top, color="0.5", lw=0.8, ls=":", label="horizon (censored beyond)")
    if truth is not None:
        true_rul = float(truth) - times
        ax.plot(times, true_rul, "k--", lw=1.0, label="true RUL")
        if alpha_bounds:
            ax.fill_between(times, (1 - alpha_bounds) * true_rul, (1 + alpha_bounds) * true_rul, color="k",
                            alpha=0.08, label=f"±{alpha_bounds:.0%} of true RUL")
    unit = track[0].unit
    ax.set_xlabel(f"time [{unit}]")
    ax.set_ylabel(f"remaining useful life [{unit}]")
    ax.set_title(title or f"RUL of {event or 'the system'}")
    ax.legend(loc="upper right")
    return fig
