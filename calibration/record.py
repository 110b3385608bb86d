"""Calibration records: what was estimated, how well, from exactly which data - the one hand-off.

A :class:`CalibrationRecord` is what a calibration hands on to the rest of
Twinbench: the what-if, the sweeps and the model registry read the calibrated
parameters, their posterior and the state at the window end from it, and from
nothing else (not from the calibrator's learned attributes):

* :meth:`CalibrationRecord.params` - every model parameter [SI], fitted and fixed;
* :meth:`CalibrationRecord.sample` / :meth:`CalibrationRecord.draw` - posterior draws
  (Gaussian approximation: ``mean``, ``covariance``) clipped to ``bounds``;
* ``final_state`` - the model states at the window end, where the twin continues;
* :meth:`CalibrationRecord.to_json` / :meth:`CalibrationRecord.from_json` - a lossless
  round trip (tested), with a content ``record_id``.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from sim.exceptions import CalibrationError

__all__ = ["CalibrationRecord"]


@dataclass(frozen=True)
class CalibrationRecord:
    """A versionable result of one calibration.

    Attributes
    ----------
    model, model_version : str
        The physics model the parameters belong to.
    parameters : dict
        name → {"value", "unit", "stderr", "ci_low", "ci_high"} for every fitted parameter [SI].
    fixed_parameters : dict
        name → value of the parameters held at their prior value [SI].
    covariance : list of list
        Covariance of the fitted parameters, order of ``parameter_names`` [SI²].
    parameter_names : list of str
    confidence : float
        Level of the intervals.
    metrics : dict
        channel → {"rmse", "r2", "n", "noise_std"}.
    window : dict
        {"start", "end", "channels", "n_samples", "content_hash", "source_hash"}.
    initial_state, final_state : dict
        Model states at the window start (fitted or given) and end [SI].
    method : str
        Estimator and its settings.
    bounds : dict
        name → [low, high] of every fitted parameter (the model spec's bounds) [SI]; posterior
        draws are clipped to them.
    max_step : float or None
        RK4 step the window was simulated with [s] (:func:`calibration.simulate_window` uses it).
    misspecification : dict
        Whether the model could explain the data, with the evidence
        (:func:`calibration.evidence.misspecification_evidence`: ``misspecified``, ``reasons``,
        per channel residual RMS against the noise level and Ljung-Box whiteness, ``thresholds``);
        empty for records made before this check existed.
    intervals_reliable : bool
        False when the intervals (and ``covariance``) should not be trusted: the model was
        misspecified, an estimate stopped at a bound, the fit did not converge or a standard error
        is not finite.  True for older records (not assessed: see ``misspecification``).

    When the data had gaps, ``window`` also holds ``split_at_gaps``, ``max_gap_s``, ``gaps``
    (start, end, duration, channels of each) and ``windows`` (start, end, samples, hash and the
    fitted initial state of every window that was fitted).
    """

    model: str
    model_version: str
    parameters: dict
    fixed_parameters: dict
    covariance: list
    parameter_names: list
    confidence: float
    metrics: dict
    window: dict
    initial_state: dict
    final_state: dict
    method: str
    extra: dict = field(default_factory=dict)
    bounds: dict = field(default_factory=dict)
    max_step: float | None = None
    misspecification: dict = field(default_factory=dict)
    intervals_reliable: bool = True

    # ------------------------------------------------------------ identity, I/O
    @property
    def record_id(self) -> str:
        """Stable id: hash of the content (same data + same result → same id)."""
        content = asdict(self)
        for name, default in _ADDED_FIELDS.items():  # a field added later counts only when set: old ids stay
            if content[name] == default:
                del content[name]
        text = json.dumps(content, sort_keys=True, default=float)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def to_dict(self) -> dict:
        out = asdict(self)
        out["record_id"] = self.record_id
        return out

    def to_json(self, path=None, *, indent: int = 2) -> str:
        """The record as JSON text (written to *path* too, if given); :meth:`from_json` reads it back unchanged."""
        text = json.dumps(self.to_dict(), indent=indent, sort_keys=True, default=float)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
        return text

    @classmethod
    def from_json(cls, text_or_path) -> "CalibrationRecord":
        """A record from JSON text or the path of a file :meth:`to_json` wrote."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            with open(text, encoding="utf-8") as fh:
                text = fh.read()
        data = json.loads(text)
        data.pop("record_id", None)
        return cls(**data)

    @property
    def misspecified(self) -> bool:
        """True when the fit found that the model cannot explain its data (see ``misspecification``)."""
        return bool(self.misspecification.get("misspecified", False))

    # ------------------------------------------------------------ the hand-off
    @property
    def names(self) -> list[str]:
        """The fitted parameters, in the order of ``mean`` and ``cov``."""
        return list(self.parameter_names)

    @property
    def mean(self) -> np.ndarray:
        """Fitted values, order of ``names`` [SI]."""
        return np.array([float(self.parameters[n]["value"]) for n in self.names])

    @property
    def cov(self) -> np.ndarray:
        """Covariance of the fitted values, order of ``names`` [SI²]."""
        return np.asarray(self.covariance, dtype=float).reshape(len(self.names), len(self.names))

    @property
    def units(self) -> dict[str, str]:
        """Unit of every fitted parameter."""
        return {n: self.parameters[n]["unit"] for n in self.names}

    def params(self) -> dict[str, float]:
        """Every model parameter as name → value [SI]: the fixed ones and the fitted ones."""
        out = {k: float(v) for k, v in self.fixed_parameters.items()}
        out.update({n: float(info["value"]) for n, info in self.parameters.items()})
        return out

    def values(self) -> dict[str, float]:
        """Same as :meth:`params` (the older name)."""
        return self.params()

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """*n* draws ``[n, len(names)]`` of the fitted parameters from the Gaussian posterior, clipped to ``bounds``.

        The draw is ``rng.multivariate_normal(mean, cov, method="cholesky")``; a parameter
        without bounds in the record is not clipped.
        """
        if not (isinstance(n, (int, np.integer)) and n >= 0):
            raise CalibrationError(f"n = {n!r} must be an integer >= 0 draws")
        cov = self.cov
        if not np.all(np.isfinite(cov)):
            raise CalibrationError(f"record {self.record_id}: the covariance of {self.names} is not finite (the "
                                   f"parameters were not identifiable); use the point values (params()) instead "
                                   f"of posterior draws")
        draws = rng.multivariate_normal(self.mean, cov, size=n, method="cholesky")
        lo = np.array([self.bounds.get(k, (-math.inf, math.inf))[0] for k in self.names], dtype=float)
        hi = np.array([self.bounds.get(k, (-math.inf, math.inf))[1] for k in self.names], dtype=float)
        return np.clip(draws, lo, hi)

    def draw(self, rng: np.random.Generator) -> dict[str, float]:
        """One posterior draw as a full parameter dict (:meth:`params` with the fitted ones drawn) [SI]."""
        return {**self.params(), **dict(zip(self.names, (float(v) for v in self.sample(1, rng)[0])))}


#: Fields added after records were first stored, with their defaults (left out of ``record_id`` when at them).
_ADDED_FIELDS = {"misspecification": {}, "intervals_reliable": True}
