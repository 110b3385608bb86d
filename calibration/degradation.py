r"""A health-index degradation model for run-to-failure fleets (C-MAPSS-like data), with fleet priors.

Data: one row per unit and cycle - unit id, cycle number, operating settings and
sensor readings, as in NASA's C-MAPSS turbofan sets.  :class:`HealthIndexRUL`
learns from units run to failure and predicts, for every cycle of a unit as its
cycles arrive, the remaining useful life with an interval:

1. **Operating regimes.** The settings are clustered (k-means, ``n_regimes``;
   one regime for FD001/FD003) and every sensor is normalized by the mean and
   standard deviation of its regime on the training units; sensors constant in
   every regime carry no information and are dropped.
2. **Bayesian update per unit (fleet priors).** Each normalized sensor is
   tracked by a bank of local-level Kalman filters (one per smoothing span):
   the level starts from the fleet prior - mean and between-unit variance of
   healthy units (their first ``healthy_cycles``) - and is updated cycle by
   cycle with the measurement noise estimated on the fleet.  The posterior means
   are causal: the estimate at cycle *t* uses cycles <= *t* only.  Early in a
   unit's life they lean on the prior; later on the unit's own readings
   (steady state: an exponential smoother of span *s*).
3. **Health index.** A ridge regression of the filtered levels and their
   squares (plus the unit's age) on the piecewise-linear health target
   ``min(RUL, cap) / cap`` (1 healthy ... 0 at failure); ``RUL = cap * HI``.
4. **Intervals.** Split-conformal by engine: out-of-fold predictions on the
   training units (``inner_folds`` folds of whole units) give residuals of
   ``min(RUL, cap)``, kept per cell of predicted RUL x age, every engine weighing
   the same (one prediction per engine, as in a test set); the interval at a level
   is the prediction plus that cell's residual quantiles.  The residuals are
   also the samples of the :class:`~calibration.prognosis.RemainingLife` a
   track returns (RUL at or above *cap* is censored there: "at least cap").

numpy and scipy only; same data and *seed* -> same numbers.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy.cluster.vq import kmeans2

from calibration.base import BaseCalibrator, check_is_fitted
from calibration.prognosis import RemainingLife, order_interval
from sim.exceptions import CalibrationError, ConfigurationError

__all__ = ["HealthIndexRUL", "phm08_score", "capped_rul", "read_cmapss"]

_RESIDUAL_SAMPLES = 400  # weighted residual quantiles kept per cell (the samples of an interval)


def capped_rul(units, cycles, cap: float = 125.0) -> np.ndarray:
    """Piecewise-linear target ``min(last cycle of the unit - cycle, cap)`` [cycle] of run-to-failure data."""
    units = np.asarray(units)
    cycles = np.asarray(cycles, dtype=float)
    last = {u: cycles[units == u].max() for u in np.unique(units)}
    return np.minimum(np.array([last[u] for u in units]) - cycles, cap)


def phm08_score(predicted, true) -> float:
    """PHM08 challenge score: sum of ``exp(-d/13) - 1`` (early, d < 0) and ``exp(d/10) - 1`` (late), d = pred - true."""
    d = np.asarray(predicted, dtype=float) - np.asarray(true, dtype=float)
    return float(np.sum(np.where(d < 0, np.exp(-d / 13.0) - 1.0, np.exp(d / 10.0) - 1.0)))


def read_cmapss(path) -> dict:
    """A C-MAPSS text file (``train_FD00x.txt``) as arrays ``units``, ``cycles``, ``settings`` (3), ``sensors`` (21)."""
    data = np.loadtxt(path)
    if data.ndim != 2 or data.shape[1] != 26:
        raise CalibrationError(f"{path}: expected 26 space-separated columns (unit, cycle, 3 settings, 21 sensors), "
                               f"got shape {data.shape}")
    return {"units": data[:, 0].astype(int), "cycles": data[:, 1], "settings": data[:, 2:5], "sensors": data[:, 5:]}


def _positive(owner, key, value, *, integer=False, low=0.0):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and value > low
    if integer:
        ok = ok and isinstance(value, numbers.Integral)
    if not ok:
        kind = "a whole number" if integer else "a finite number"
        raise ConfigurationError(f"{owner}: {key} = {value!r} must be {kind} > {low}")


class HealthIndexRUL(BaseCalibrator):
    """Remaining useful life of run-to-failure units from a learned health index (see the module docstring).

    Parameters
    ----------
    cap : float
        RUL above which a unit counts as healthy [cycle] (the piecewise-linear target's knee).
    spans : sequence of float
        Steady-state spans of the local-level filters [cycle].
    ridge : float
        Ridge penalty of the health-index regression (on features in normalized units).
    quadratic : bool
        Add the squares of the filtered levels (the sensors drift faster as damage grows).
    use_age : bool
        Add the unit's age (cycles so far) as a feature.
    n_regimes : int
        Number of operating regimes (k-means clusters of the settings).
    healthy_cycles : int
        First cycles of each training unit that define the fleet prior of a healthy unit.
    inner_folds : int
        Folds of whole units for the out-of-fold residuals of the intervals.
    n_bins : int
        Bins of predicted RUL (quantiles of the out-of-fold predictions) with their own residuals.
    n_age_bins : int
        Bins of age (quantiles of the training cycles): residuals are kept per cell of predicted RUL x age
        (early cycles of a unit are predicted better than later ones at the same predicted RUL).
    seed : int
        Seeds the fold split and the regime clustering.
    """

    def __init__(self, *, cap=125.0, spans=(3.0, 10.0, 30.0, 80.0), ridge=1.0, quadratic=True, use_age=True,
                 n_regimes=1, healthy_cycles=20, inner_folds=5, n_bins=8, n_age_bins=3, seed=0):
        self.cap = cap
        self.spans = spans
        self.ridge = ridge
        self.quadratic = quadratic
        self.use_age = use_age
        self.n_regimes = n_regimes
        self.healthy_cycles = healthy_cycles
        self.inner_folds = inner_folds
        self.n_bins = n_bins
        self.n_age_bins = n_age_bins
        self.seed = seed

    # ------------------------------------------------------------------ validation
    def _check_params(self):
        name = type(self).__name__
        _positive(name, "cap", self.cap)
        _positive(name, "ridge", self.ridge, low=-1e-300)
        spans = tuple(self.spans)
        if not spans or not all(isinstance(s, numbers.Real) and math.isfinite(s) and s >= 1 for s in spans):
            raise ConfigurationError(f"{name}: spans = {self.spans!r} must be one or more smoothing spans >= 1 "
                                     f"[cycle], e.g. (3, 10, 30, 80)")
        _positive(name, "n_regimes", self.n_regimes, integer=True)
        _positive(name, "healthy_cycles", self.healthy_cycles, integer=True)
        _positive(name, "inner_folds", self.inner_folds, integer=True, low=1)
        _positive(name, "n_bins", self.n_bins, integer=True)
        _positive(name, "n_age_bins", self.n_age_bins, integer=True)

    @staticmethod
    def _check_data(units, cycles, settings, sensors):
        units = np.asarray(units)
        cycles = np.asarray(cycles, dtype=float)
        settings = np.atleast_2d(np.asarray(settings, dtype=float))
        sensors = np.atleast_2d(np.asarray(sensors, dtype=float))
        n = units.shape[0]
        if units.ndim != 1 or cycles.shape != (n,) or settings.shape[0] != n or sensors.shape[0] != n:
            raise CalibrationError(f"units {units.shape}, cycles {cycles.shape}, settings {settings.shape} and "
                                   f"sensors {sensors.shape} must have one row per unit and cycle")
        for what, arr in (("cycles", cycles), ("settings", settings), ("sensors", sensors)):
            if not np.all(np.isfinite(arr)):
                row = int(np.argwhere(~np.isfinite(arr))[0][0])
                raise CalibrationError(f"{what} of row {row} (unit {units[row]}, cycle {cycles[row]}) is not "
                                       f"finite; drop or fill that row first")
        order = np.lexsort((cycles, units))
        if not np.array_equal(order, np.arange(n)):
            raise CalibrationError("rows must be sorted by unit, then by cycle (as in the C-MAPSS files); sort them "
                                   "with numpy.lexsort((cycles, units))")
        same = (units[1:] == units[:-1])
        if np.any(same & (np.diff(cycles) <= 0)):
            row = int(np.argmax(same & (np.diff(cycles) <= 0))) + 1
            raise CalibrationError(f"unit {units[row]} repeats cycle {cycles[row]}; each cycle must appear once")
        return units, cycles, settings, sensors

    # ------------------------------------------------------------------ pieces
    def _regime_of(self, settings):
        if self.regimes_.shape[0] == 1:
            return np.zeros(settings.shape[0], dtype=int)
        scaled = (settings - self.settings_mean_) / self.settings_std_
        return np.argmin(((scaled[:, None, :] - self.regimes_[None]) ** 2).sum(-1), axis=1)

    def _normalize(self, settings, sensors):
        r = self._regime_of(settings)
        return (sensors[:, self.kept_] - self.sensor_mean_[r]) / self.sensor_std_[r]

    def _filter(self, units, z):
        """Posterior means of the local-level filters, ``[rows, n_spans * n_sensors]``, cycle by cycle per unit."""
        starts = np.r_[0, np.flatnonzero(units[1:] != units[:-1]) + 1]
        lengths = np.diff(np.r_[starts, units.shape[0]])
        n_units, width = starts.size, z.shape[1]
        pos = np.arange(units.shape[0]) - np.repeat(starts, lengths)
        block = np.full((n_units, lengths.max(), width), np.nan)
        block[np.repeat(np.arange(n_units), lengths), pos] = z
        rows = (np.repeat(np.arange(n_units), lengths), pos)
        out = []
        for ratio in self.ratios_:
            # every unit starts from the same prior and observes every cycle, so the posterior variance and the
            # gain after k cycles are the same for all units: computed once per span, then one update per cycle
            q, r = ratio * self.noise_var_, self.noise_var_
            gains = np.empty((block.shape[1], width))
            p = self.prior_var_.copy()
            for k in range(block.shape[1]):
                pp = p + q
                gains[k] = pp / (pp + r)
                p = (1.0 - gains[k]) * pp
            x = np.broadcast_to(self.prior_mean_, (n_units, width)).copy()
            levels = np.empty_like(block)
            for k in range(block.shape[1]):  # cells past a unit's last cycle turn NaN and are never read
                x += gains[k] * (block[:, k] - x)
                levels[:, k] = x
            out.append(levels[rows])
        return np.hstack(out)

    def _features(self, units, cycles, settings, sensors):
        f = self._filter(units, self._normalize(settings, sensors))
        parts = [np.ones((f.shape[0], 1)), f]
        if self.quadratic:
            parts.append(f * f)
        if self.use_age:
            parts.append(cycles[:, None] / 100.0)
        return np.hstack(parts)

    def _solve(self, a, y):
        penalty = float(self.ridge) * np.eye(a.shape[1])
        penalty[0, 0] = 0.0  # no shrinkage of the intercept
        # einsum, not a.T @ a: a threaded BLAS on a loaded machine (parallel sweeps, test workers) took 2 s for
        # this Gram matrix where one thread needs 0.01 s; einsum's own loop stays within 0.1-0.4 s either way
        gram = np.einsum("ij,ik->jk", a, a)
        return np.linalg.solve(gram + penalty, np.einsum("ij,i->j", a, y))

    # ------------------------------------------------------------------ fit
    def _learn(self, units, cycles, settings, sensors) -> "HealthIndexRUL":
        """Regimes, normalization, fleet priors and health-index weights from *units* (checked data)."""
        ids = np.unique(units)
        # operating regimes on standardized settings
        self.settings_mean_ = settings.mean(axis=0)
        self.settings_std_ = np.where(settings.std(axis=0) > 0, settings.std(axis=0), 1.0)
        if self.n_regimes == 1:
            self.regimes_ = np.zeros((1, settings.shape[1]))
        else:
            scaled = (settings - self.settings_mean_) / self.settings_std_
            self.regimes_, _ = kmeans2(scaled, int(self.n_regimes), minit="++", seed=int(self.seed))
        regime = self._regime_of(settings)
        n_reg = self.regimes_.shape[0]
        mean = np.zeros((n_reg, sensors.shape[1]))
        std = np.ones((n_reg, sensors.shape[1]))
        for k in range(n_reg):
            rows = sensors[regime == k]
            if rows.shape[0] < 2:
                raise CalibrationError(f"operating regime {k} holds {rows.shape[0]} rows; lower n_regimes "
                                       f"(= {self.n_regimes})")
            mean[k], std[k] = rows.mean(axis=0), rows.std(axis=0)
        scale = np.maximum(np.abs(mean).max(axis=0), 1.0)
        self.kept_ = np.flatnonzero((std > 1e-6 * scale).all(axis=0))
        if self.kept_.size == 0:
            raise CalibrationError("every sensor is constant within its operating regime: nothing to learn from")
        self.sensor_mean_, self.sensor_std_ = mean[:, self.kept_], std[:, self.kept_]
        z = self._normalize(settings, sensors)
        # fleet priors: healthy level (first cycles of every unit), between-unit spread, measurement noise
        starts = np.r_[0, np.flatnonzero(units[1:] != units[:-1]) + 1]
        pos = np.arange(units.size) - np.repeat(starts, np.diff(np.r_[starts, units.size]))
        first = pos < int(self.healthy_cycles)
        unit_means = np.array([z[first & (units == u)].mean(axis=0) for u in ids])
        self.prior_mean_ = unit_means.mean(axis=0)
        self.prior_var_ = np.maximum(unit_means.var(axis=0), 1e-6)
        same = units[1:] == units[:-1]
        self.noise_var_ = np.maximum(np.var(np.diff(z, axis=0)[same], axis=0) / 2.0, 1e-6)
        alphas = np.array([2.0 / (float(s) + 1.0) for s in self.spans])
        self.ratios_ = alphas ** 2 / (1.0 - np.minimum(alphas, 0.999))  # q / r of a steady-state gain alpha
        # the health index
        a = self._features(units, cycles, settings, sensors)
        self.weights_ = self._solve(a, capped_rul(units, cycles, float(self.cap)) / float(self.cap))
        return self

    def fit(self, units, cycles, settings, sensors) -> "HealthIndexRUL":
        """Learn from units run to failure (each unit's last row is its failure cycle); returns ``self``.

        Parameters
        ----------
        units : array (n,)
            Unit id of each row.
        cycles : array (n,)
            Cycle number [cycle], increasing within a unit.
        settings : array (n, k)
            Operating settings.
        sensors : array (n, m)
            Sensor readings.
        """
        self._check_params()
        units, cycles, settings, sensors = self._check_data(units, cycles, settings, sensors)
        ids = np.unique(units)
        if ids.size < max(2 * self.inner_folds, 4):
            raise CalibrationError(f"{ids.size} training units are too few for inner_folds = {self.inner_folds}; "
                                   f"give at least {max(2 * self.inner_folds, 4)} run-to-failure units")
        self._learn(units, cycles, settings, sensors)
        # honest residuals: out-of-fold predictions of models refitted on the other training units (the whole
        # pipeline - normalization, priors, weights - so no held-out unit informs its own prediction)
        target = capped_rul(units, cycles, float(self.cap))
        rng = np.random.default_rng(int(self.seed))
        folds = np.array_split(rng.permutation(ids), int(self.inner_folds))
        oof = np.empty(units.size)
        for fold in folds:
            held = np.isin(units, fold)
            inner = type(self)(**self.get_params())._learn(units[~held], cycles[~held], settings[~held],
                                                            sensors[~held])
            oof[held] = float(self.cap) * np.clip(
                inner._features(units[held], cycles[held], settings[held], sensors[held]) @ inner.weights_, 0.0, 1.0)
        self.bin_edges_ = self._edges(oof, int(self.n_bins))
        self.age_edges_ = self._edges(cycles, int(self.n_age_bins))
        which = self._bin_of(oof, cycles)
        # every engine weighs the same (one prediction per engine, as in a test set), not every row: long-lived
        # engines would otherwise dominate; each cell keeps its weighted residual quantiles as equal-weight samples
        rows_of = dict(zip(*np.unique(units, return_counts=True)))
        weight = 1.0 / np.array([rows_of[k] for k in units], dtype=float)
        grid = (np.arange(_RESIDUAL_SAMPLES) + 0.5) / _RESIDUAL_SAMPLES
        self.residuals_ = []
        for b in range(self._n_cells()):
            cell = which == b
            if not cell.any():  # an empty cell (ties): fall back on every residual
                cell = np.ones_like(cell)
            r = target[cell] - oof[cell]
            order = np.argsort(r, kind="stable")
            cum = np.cumsum(weight[cell][order])
            pick = np.searchsorted(cum / cum[-1], grid, side="left")
            self.residuals_.append(r[order][np.minimum(pick, r.size - 1)])
        self.oof_rmse_ = float(np.sqrt(np.mean((oof - target) ** 2)))
        self.lives_ = np.array([cycles[units == u].max() for u in ids])
        self.n_units_ = int(ids.size)
        return self

    # ------------------------------------------------------------------ predict
    def health_index(self, units, cycles, settings, sensors) -> np.ndarray:
        """Health index of every row: 1 healthy ... 0 at the predicted failure [-]."""
        check_is_fitted(self, "weights_")
        units, cycles, settings, sensors = self._check_data(units, cycles, settings, sensors)
        if sensors.shape[1] <= self.kept_.max() or settings.shape[1] != self.regimes_.shape[1]:
            raise CalibrationError(f"the data has {settings.shape[1]} settings and {sensors.shape[1]} sensors; the "
                                   f"model was fitted on {self.regimes_.shape[1]} settings and sensors up to "
                                   f"column {self.kept_.max()}")
        return np.clip(self._features(units, cycles, settings, sensors) @ self.weights_, 0.0, 1.0)

    def predict(self, units, cycles, settings, sensors) -> np.ndarray:
        """Predicted ``min(RUL, cap)`` of every row [cycle], from the cycles up to that row only."""
        return float(self.cap) * self.health_index(units, cycles, settings, sensors)

    @staticmethod
    def _edges(values, n):
        edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, n + 1)))
        edges[0], edges[-1] = -np.inf, np.inf
        return edges

    def _n_cells(self):
        return (self.bin_edges_.size - 1) * (self.age_edges_.size - 1)

    def _bin_of(self, point, age):
        """Residual cell of each row: bin of the predicted RUL x bin of the age (Mondrian conformal)."""
        b = np.clip(np.searchsorted(self.bin_edges_, point, side="right") - 1, 0, self.bin_edges_.size - 2)
        g = np.clip(np.searchsorted(self.age_edges_, age, side="right") - 1, 0, self.age_edges_.size - 2)
        return g * (self.bin_edges_.size - 1) + b

    def _residuals_for(self, point, age):
        return [self.residuals_[k] for k in self._bin_of(point, age)]

    def predict_interval(self, units, cycles, settings, sensors, *, level: float = 0.9):
        """``(point, low, high)`` of ``min(RUL, cap)`` for every row [cycle]: conformal intervals of *level*."""
        point = self.predict(units, cycles, settings, sensors)
        spread = np.array([order_interval(r, level) for r in self.residuals_])  # p + r has the order of r
        b = self._bin_of(point, np.asarray(cycles, dtype=float))
        cap = float(self.cap)
        return point, np.clip(point + spread[b, 0], 0.0, cap), np.clip(point + spread[b, 1], 0.0, cap)

    def remaining_life(self, units, cycles, settings, sensors) -> list[RemainingLife]:
        """One :class:`RemainingLife` per row [cycle]: the prediction plus its bin's residuals, clipped at 0;
        RUL at or above *cap* is censored (``inf``: "at least cap cycles")."""
        point = self.predict(units, cycles, settings, sensors)
        out = []
        for c, p, r in zip(np.asarray(cycles, dtype=float), point, self._residuals_for(point, cycles)):
            samples = np.maximum(p + r, 0.0)
            samples[samples >= float(self.cap)] = np.inf
            out.append(RemainingLife(samples=samples, events=("end_of_life",), horizon=float(self.cap), time=float(c),
                                     unit="cycle"))
        return out
