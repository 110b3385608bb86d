"""The shared machinery of block detectors: fit on a normal window, calibrate, score blocks, checkpoint.

A subclass says what a model is (``_fit_one``: one asset's clean normal rows -> a dict of arrays), how a block
is scored (``_parts``: the model stacked over assets and a block ``(A, n, m)`` -> parts ``(A, n, c)`` such as
Hotelling T² and Q) and how the parts split over channels (``_part_contributions``).  The base class does the
rest the same way for every detector:

* **cross-fitted calibration**: the normal window is cut into ``n_folds`` contiguous folds; each fold is scored
  by a model fitted on the others, so the threshold is calibrated on out-of-sample statistics (an in-sample
  Q is optimistic by the fitted dimensions, and a threshold read from it alarms too often);
* **normalization**: with several parts, each is divided by its out-of-fold normal mean, and the statistic is
  their sum (so contributions add up to it);
* **input smoothing** (``input_smoothing`` = EWMA weight of the newest sample, a MEWMA chart): the channels are
  smoothed before the model sees them, in the normal window as in the stream, so the model and its threshold
  describe smoothed data; small sustained shifts add up over the EWMA's memory while the noise averages out;
* **statistic smoothing** (``smoothing``): an EWMA of the statistic itself;
* both EWMAs carry their state across blocks, so the statistic does not depend on how a stream is cut;
* **threshold** per asset by :func:`calibration.alarms.threshold.calibrate_threshold`;
* **state_dict / from_state** as plain JSON-able data (floats round-trip exactly through JSON).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from calibration.alarms.threshold import calibrate_threshold, check_rate
from calibration.base import BaseCalibrator, check_is_fitted
from sim.exceptions import CalibrationError, ConfigurationError

__all__ = ["BlockDetector", "as_blocks"]


def as_blocks(X, channels=None, *, what="X"):
    """``X`` as a float array ``(A, n, m)``, whether it was one asset, and the channel names.

    Accepts a DataFrame (columns = channels; reordered to *channels* when given), a 2-D array ``(n, m)`` (one
    asset) or a 3-D array ``(A, n, m)`` (a fleet).
    """
    if isinstance(X, pd.DataFrame):
        names = [str(c) for c in X.columns]
        if channels is not None:
            missing = [c for c in channels if c not in names]
            if missing:
                raise ConfigurationError(f"{what} lacks the channels {missing} the detector was fitted on "
                                         f"({list(channels)}); pass a frame with these columns")
            X = X[list(channels)]
            names = list(channels)
        try:
            arr = X.to_numpy(dtype=float)[None]
        except (TypeError, ValueError) as err:
            bad = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
            raise ConfigurationError(f"{what} has non-numeric columns {bad}: {err}; pass the sensor channels only "
                                     f"(drop labels and text columns)") from None
        return arr, True, names
    try:
        arr = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as err:
        raise ConfigurationError(f"{what} must be numeric (samples x channels), got {type(X).__name__}: "
                                 f"{err}") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim == 2:
        single, arr = True, arr[None]
    elif arr.ndim == 3:
        single = False
    else:
        raise ConfigurationError(f"{what} has shape {arr.shape}; give (samples, channels) for one asset or "
                                 f"(assets, samples, channels) for a fleet")
    if channels is not None and arr.shape[2] != len(channels):
        raise ConfigurationError(f"{what} has {arr.shape[2]} channels, the detector was fitted on {len(channels)} "
                                 f"({list(channels)}); pass the same channels in the same order")
    names = list(channels) if channels is not None else [f"x{j}" for j in range(arr.shape[2])]
    return arr, single, names


def _tolist(value):
    return value.tolist() if isinstance(value, np.ndarray) else value


class BlockDetector(BaseCalibrator):
    """Base class of the multivariate detectors (see the module docstring)."""

    #: names of the learned arrays kept in the checkpoint besides the shared ones
    _model_keys: tuple[str, ...] = ()
    #: names of the parts (columns of ``_parts``)
    _part_names: tuple[str, ...] = ()
    #: divide each part by its out-of-fold normal mean (several parts on one scale); False keeps the units
    _normalize_parts: bool = True

    # ----------------------------------------------------------------- to fill in
    def _fit_one(self, X):  # pragma: no cover - abstract
        raise NotImplementedError

    def _parts(self, model, X):  # pragma: no cover - abstract
        raise NotImplementedError

    def _part_contributions(self, model, X):  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_settings(self):
        pass

    def _analytic_threshold(self, rate):
        """Thresholds from theory (one per asset) instead of the normal window, or None (the default)."""
        return None

    def _part_mask(self) -> np.ndarray:
        return np.ones(len(self._part_names))

    # ----------------------------------------------------------------------- fit
    def fit(self, X_normal, *, quarantined=None) -> "BlockDetector":
        """Fit the normal-behaviour model on a normal window and calibrate the threshold there.

        Parameters
        ----------
        X_normal : DataFrame or array_like
            Normal window: ``(n, m)`` for one asset (a DataFrame: columns are the channels) or ``(A, n, m)``
            for a fleet.  Rows with a non-finite value are left out.
        quarantined : array_like of bool, optional
            Same shape as *X_normal*: samples the telemetry gates quarantined (left out like NaN).

        Raises
        ------
        CalibrationError
            When more than ``max_missing`` of an asset's rows are unusable (a data-quality problem: no fit runs on
            such data) or too few rows remain.
        """
        rate = check_rate(self.false_alarm_rate)
        for name in ("smoothing", "input_smoothing"):
            value = getattr(self, name)
            if value is not None and not 0.0 < float(value) <= 1.0:
                raise ConfigurationError(f"{name} = {value!r} must be None (no smoothing) or the EWMA weight of the "
                                         f"newest sample in (0, 1], e.g. 0.3")
        if int(self.n_folds) != self.n_folds or self.n_folds < 2:
            raise ConfigurationError(f"n_folds = {self.n_folds!r} must be an integer >= 2 (cross-fitted calibration), "
                                     f"e.g. 5")
        if not 0.0 <= float(self.max_missing) < 1.0:
            raise ConfigurationError(f"max_missing = {self.max_missing!r} must lie in [0, 1), e.g. 0.2")
        self._check_settings()
        X, single, names = as_blocks(X_normal, what="X_normal")
        if quarantined is not None:
            q = np.asarray(quarantined, dtype=bool).reshape(X.shape) if np.size(quarantined) == X.size else None
            if q is None:
                raise ConfigurationError(f"quarantined has {np.size(quarantined)} flags, X_normal {X.size} values; "
                                         f"give one flag per value")
            X = np.where(q, np.nan, X)
        n_assets, n, m = X.shape
        models, oof, levels_in = [], [], []
        for a in range(n_assets):
            ok = np.isfinite(X[a]).all(axis=1)
            lost = 1.0 - ok.mean()
            if lost > self.max_missing:
                raise CalibrationError(
                    f"asset {a}: {lost:.0%} of the normal window's rows are missing or quarantined, more than "
                    f"max_missing = {self.max_missing:.0%}; no fit runs on such data - choose a window the "
                    f"data-quality alarm allows (fit_allowed) or raise max_missing")
            Xa = X[a][ok]
            levels_in.append(Xa.mean(axis=0))
            if self.input_smoothing is not None and Xa.shape[0]:
                Xa = self._smooth_inputs(Xa[None], Xa[:1], Xa[:1])[0][0]
            need = max(10 * m, 20 * self.n_folds // 2, 40)
            if Xa.shape[0] < need:
                raise CalibrationError(f"asset {a}: {Xa.shape[0]} usable normal rows for {m} channels; a normal window "
                                       f"needs at least {need} (10 per channel) - fit on a longer window")
            folds = np.array_split(np.arange(Xa.shape[0]), self.n_folds)
            parts = []
            for idx in folds:
                train = np.delete(Xa, idx, axis=0)
                sub = self._stack([self._fit_one(train)])
                parts.append(self._parts(sub, Xa[idx][None])[0])
            oof.append(np.concatenate(parts, axis=0))
            models.append(self._fit_one(Xa))
        self.channels_ = names
        self.single_ = bool(single)
        self.model_ = self._stack(models)
        mask = self._part_mask()
        scale = np.array([[np.nanmean(p[:, c]) for c in range(p.shape[1])] for p in oof])
        scale = np.where(np.isfinite(scale) & (scale > 0) & self._normalize_parts, scale, 1.0)
        self.part_weight_ = mask[None, :] / scale
        thresholds, levels = [], []
        for a in range(n_assets):
            raw = (oof[a] * self.part_weight_[a]).sum(axis=1)
            levels.append(float(raw.mean()))
            smooth = self._ewma(raw[None], np.array([levels[-1]]), np.array([levels[-1]]))[0][0]
            thresholds.append(calibrate_threshold(smooth, rate))
        analytic = self._analytic_threshold(rate)
        self.threshold_ = np.array(thresholds) if analytic is None else np.asarray(analytic, dtype=float)
        self.level_ = np.array(levels)
        self.input_level_ = np.array(levels_in)
        return self.reset()

    @staticmethod
    def _stack(models):
        return {k: np.stack([np.asarray(mod[k], dtype=float) for mod in models]) for k in models[0]}

    # --------------------------------------------------------------------- score
    def _check_block(self, X):
        check_is_fitted(self, "threshold_")
        Xb, single, _ = as_blocks(X, self.channels_, what="X_block")
        if Xb.shape[0] != self.threshold_.size:
            shape = "(samples, channels)" if self.single_ else "(assets, samples, channels)"
            raise ConfigurationError(f"X_block holds {Xb.shape[0]} assets, the detector was fitted on "
                                     f"{self.threshold_.size}; pass {shape}")
        return Xb

    def _out(self, arr):
        return arr[0] if self.single_ else arr

    def _smooth_inputs(self, X, start, fill):
        """EWMA of the channels along the sample axis from *start* ``(A, m)``; NaN entries count as *fill*."""
        if self.input_smoothing is None:
            return X, start
        lam = float(self.input_smoothing)
        x = np.where(np.isfinite(X), X, fill[:, None, :])
        y, _ = lfilter([lam], [1.0, lam - 1.0], x, axis=1, zi=((1.0 - lam) * start)[:, None, :])
        return y, (y[:, -1] if y.shape[1] else start)

    def _inputs(self, X_block, *, advance: bool):
        """The block as the model sees it (input-smoothed from the stream state) and its all-NaN rows."""
        Xb = self._check_block(X_block)
        dead = ~np.isfinite(Xb).any(axis=2)
        start = self.xs_ if advance else self._before["xs"]
        Xs, last = self._smooth_inputs(Xb, start, self.input_level_)
        if advance:
            self.xs_ = last
        return Xs, dead

    def parts(self, X_block) -> np.ndarray:
        """The unsmoothed parts of the statistic (``part_names_``), ``(n, c)`` or ``(A, n, c)``; NaN rows stay NaN.

        Like :meth:`contributions`, it describes the block last passed to :meth:`statistic` (the same rows): with
        ``input_smoothing`` it starts from the stream state that block started from.
        """
        Xs, dead = self._inputs(X_block, advance=False)
        p = self._parts(self.model_, Xs)
        p[dead] = np.nan
        return self._out(p)

    @property
    def part_names_(self) -> tuple[str, ...]:
        return self._part_names

    def raw_statistic(self, X_block) -> np.ndarray:
        """The statistic before ``smoothing``, one value per sample (reads the stream state, changes nothing)."""
        Xs, dead = self._inputs(X_block, advance=False)
        return self._out(self._raw(Xs, dead))

    def _raw(self, Xs, dead):
        raw = (self._parts(self.model_, Xs) * self.part_weight_[:, None, :]).sum(axis=2)
        raw[dead] = np.nan
        return raw

    def _ewma(self, raw, start, fill):
        """EWMA along the last axis from *start* (one value per asset); NaN inputs count as *fill*."""
        if self.smoothing is None or float(self.smoothing) >= 1.0:
            return raw, raw[:, -1].copy() if raw.shape[1] else start
        lam = float(self.smoothing)
        x = np.where(np.isfinite(raw), raw, fill[:, None])
        y, _ = lfilter([lam], [1.0, lam - 1.0], x, axis=1, zi=((1.0 - lam) * start)[:, None])
        y[~np.isfinite(raw)] = np.nan
        last = y[:, -1] if y.shape[1] else start
        last = np.where(np.isfinite(last), last, x[:, -1] if x.shape[1] else start)
        return y, last

    def statistic(self, X_block) -> np.ndarray:
        """The detector statistic, one value per sample: ``(n,)`` for one asset, ``(A, n)`` for a fleet.

        This advances the stream: the input EWMA (``input_smoothing``) and the statistic EWMA (``smoothing``)
        carry on from the previous block (:meth:`reset` starts again from the normal level), so scoring a stream
        in one block or in many gives the same values.  Samples without any finite channel give NaN.
        """
        check_is_fitted(self, "threshold_")
        self._before = {"xs": self.xs_.copy(), "ewma": self.ewma_.copy()}
        Xs, dead = self._inputs(X_block, advance=True)
        raw = self._raw(Xs, dead)
        if self.smoothing is None:
            return self._out(raw)
        y, self.ewma_ = self._ewma(raw, self.ewma_, self.level_)
        return self._out(y)

    def contributions(self, X_block) -> np.ndarray:
        """Per-channel contributions to the statistic before ``smoothing``, ``(n, m)`` or ``(A, n, m)``.

        They sum to :meth:`raw_statistic`.  Call it after :meth:`statistic` with the same block (or use
        :meth:`score`): with ``input_smoothing`` it replays that block from the state it started from.  Q
        contributions are squared residuals (never negative); T² and Mahalanobis contributions are
        ``z_j (S⁻¹ z)_j``, which sum to the statistic but can be negative for single channels.
        """
        Xs, dead = self._inputs(X_block, advance=False)
        c = self._part_contributions(self.model_, Xs)  # (A, n, m, c)
        out = (c * self.part_weight_[:, None, None, :]).sum(axis=3)
        out[dead] = np.nan
        return self._out(out)

    def score(self, X_block) -> tuple[np.ndarray, np.ndarray]:
        """``(statistic, contributions)`` of a block in one call (advances the stream once)."""
        stat = self.statistic(X_block)
        return stat, self.contributions(X_block)

    def reset(self) -> "BlockDetector":
        """Forget the stream state: both EWMAs restart at the normal level."""
        check_is_fitted(self, "threshold_")
        self.ewma_ = self.level_.copy()
        self.xs_ = self.input_level_.copy()
        self._before = {"xs": self.xs_.copy(), "ewma": self.ewma_.copy()}
        return self

    # ---------------------------------------------------------------- checkpoint
    def state_dict(self) -> dict:
        """Settings, learned model and stream state as plain JSON-able data."""
        check_is_fitted(self, "threshold_")
        return {"type": type(self).__name__, "params": {k: _tolist(v) for k, v in self.get_params().items()},
                "channels": list(self.channels_), "single": self.single_,
                "model": {k: v.tolist() for k, v in self.model_.items()},
                "part_weight": self.part_weight_.tolist(), "threshold": self.threshold_.tolist(),
                "level": self.level_.tolist(), "input_level": self.input_level_.tolist(),
                "ewma": self.ewma_.tolist(), "xs": self.xs_.tolist(),
                "before": {k: v.tolist() for k, v in self._before.items()}}

    def load_state(self, state: dict) -> "BlockDetector":
        """Take over a :meth:`state_dict` (settings, model and stream state)."""
        if state.get("type") != type(self).__name__:
            raise ConfigurationError(f"state of a {state.get('type')!r} cannot be loaded into a {type(self).__name__}; "
                                     f"use {state.get('type')}.from_state")
        self.set_params(**state["params"])
        self.channels_ = list(state["channels"])
        self.single_ = bool(state["single"])
        self.model_ = {k: np.asarray(v, dtype=float) for k, v in state["model"].items()}
        self.part_weight_ = np.asarray(state["part_weight"], dtype=float)
        self.threshold_ = np.asarray(state["threshold"], dtype=float)
        self.level_ = np.asarray(state["level"], dtype=float)
        self.input_level_ = np.asarray(state["input_level"], dtype=float)
        self.ewma_ = np.asarray(state["ewma"], dtype=float)
        self.xs_ = np.asarray(state["xs"], dtype=float)
        self._before = {k: np.asarray(v, dtype=float) for k, v in state["before"].items()}
        return self

    @classmethod
    def from_state(cls, state: dict) -> "BlockDetector":
        """A detector rebuilt from :meth:`state_dict`."""
        params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in state["params"].items()}
        return cls(**params).load_state(state)

    @property
    def n_assets_(self) -> int:
        check_is_fitted(self, "threshold_")
        return int(self.threshold_.size)

