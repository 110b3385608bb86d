"""Calibration records: what was estimated, how well, from exactly which data."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

__all__ = ["CalibrationRecord"]


@dataclass(frozen=True)
class CalibrationRecord:
    """A versionable result of one calibration.

    Attributes
    ----------
    model, model_version : str
        The physics model the parameters belong to.
    parameters : dict
        name → {"value", "unit", "stderr", "ci_low", "ci_high"} for every fitted parameter.
    fixed_parameters : dict
        name → value of the parameters held at their prior value [SI].
    covariance : list of list
        Covariance of the fitted parameters, order of ``parameter_names``.
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

    @property
    def record_id(self) -> str:
        """Stable id: hash of the content (same data + same result → same id)."""
        text = json.dumps(asdict(self), sort_keys=True, default=float)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def to_dict(self) -> dict:
        out = asdict(self)
        out["record_id"] = self.record_id
        return out

    def to_json(self, path=None, *, indent: int = 2) -> str:
        text = json.dumps(self.to_dict(), indent=indent, sort_keys=True, default=float)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
        return text

    @classmethod
    def from_json(cls, text_or_path: str) -> "CalibrationRecord":
        text = text_or_path
        if not text_or_path.lstrip().startswith("{"):
            with open(text_or_path, encoding="utf-8") as fh:
                text = fh.read()
        data = json.loads(text)
        data.pop("record_id", None)
        return cls(**data)

    def values(self) -> dict[str, float]:
        """Fitted and fixed parameters as name → value [SI]."""
        out = dict(self.fixed_parameters)
        out.update({k: v["value"] for k, v in self.parameters.items()})
        return out
