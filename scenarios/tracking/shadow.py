"""Shadow evaluation: champion and challenger predict the same unseen window; a rule decides.

:class:`PromotionRule` scores each twin by a weighted RMSE over the measured output channels and promotes the
challenger only if it beats the champion by a margin; :class:`ShadowResult` is the outcome, with the decision
written once per challenger (see :mod:`scenarios.tracking.lineage`, ``shadow.decision``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.exceptions import ConfigurationError, ModelError

__all__ = ["PromotionRule", "ShadowResult", "TIME_COLUMN", "frame_of", "shadow_rmse", "DECISIONS"]

TIME_COLUMN = "time"
DECISIONS = ("promoted", "rejected", "failed", "superseded", "stale")


def frame_of(data) -> pd.DataFrame:
    """The pyfunc input of a :class:`~calibration.data.CalibrationData` window: time [s] and inputs [SI]."""
    cols = {TIME_COLUMN: data.t, **{n: data.inputs[:, j] for j, n in enumerate(data.input_names)}}
    return pd.DataFrame(cols)


@dataclass(frozen=True)
class PromotionRule:
    """When a challenger predicts better than the champion.

    ``score = sqrt(mean_c (rmse_c / sigma_c)^2)`` over the measured output channels
    ``c``, with ``rmse_c`` over the samples at ``t >= t_start + burn_in_s`` and
    ``sigma_c`` from *noise_std*, else the challenger's then the champion's record
    (``metrics[c]["noise_std"]``), else 1 (SI unit of the channel).  The challenger
    is promoted iff its score is finite and ``< (1 - margin) * champion score``.

    Parameters
    ----------
    margin : float
        Relative improvement required, in [0, 1).
    burn_in_s : float
        Initial part of the window left out of the RMSE [s] (decay of a wrong initial state).
    noise_std : dict
        channel → noise level [SI].
    """

    margin: float = 0.02
    burn_in_s: float = 0.0
    noise_std: dict = field(default_factory=dict)

    def __post_init__(self):
        if not 0 <= self.margin < 1:
            raise ConfigurationError(f"PromotionRule margin = {self.margin} must lie in [0, 1) (a relative "
                                     f"improvement, e.g. 0.02 for 2 %)")
        if not self.burn_in_s >= 0:
            raise ConfigurationError(f"PromotionRule burn_in_s = {self.burn_in_s} must be >= 0 seconds")

    def sigma(self, channel: str, *records) -> float:
        if channel in self.noise_std:
            return float(self.noise_std[channel])
        for rec in records:
            value = rec.metrics.get(channel, {}).get("noise_std")
            if value is not None and math.isfinite(value) and value > 0:
                return float(value)
        return 1.0

    def score(self, rmse: dict, sigma: dict) -> float:
        return float(np.sqrt(np.mean([(rmse[c] / sigma[c]) ** 2 for c in rmse])))

    def promotes(self, challenger_score: float, champion_score: float) -> bool:
        return math.isfinite(challenger_score) and challenger_score < (1 - self.margin) * champion_score


@dataclass(frozen=True)
class ShadowResult:
    """Outcome of one shadow evaluation: per-channel RMSE [SI], weighted scores and the decision.

    ``promoted`` is true only when the challenger became champion.  A ``failed`` evaluation (a version that
    did not pass the integrity check, or did not load) has NaN scores and its reason in ``error``.
    """

    name: str
    champion: int
    challenger: int
    rmse: dict  # {"champion": {channel: rmse}, "challenger": {...}}
    scores: dict  # {"champion": score, "challenger": score}
    sigma: dict
    promoted: bool
    rule: PromotionRule
    window: dict
    run_id: str
    decision: str = ""  # one of DECISIONS; "stale": another job decided first, nothing was moved
    error: str | None = None  # why a "failed" evaluation failed

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def shadow_rmse(twin, x0, data, channels, burn_in_s) -> dict:
    """RMSE [SI] per channel of *twin*'s predictions on *data* from *x0* after the burn-in; inf if it cannot
    simulate."""
    try:
        y = twin.predict(frame_of(data), x0=x0)
    except ModelError:
        return {c: math.inf for c in channels}
    out = {}
    keep = data.t >= data.t[0] + burn_in_s
    for c in channels:
        meas = data.outputs[:, list(data.output_names).index(c)]
        ok = keep & np.isfinite(meas)
        if not ok.any():
            raise ConfigurationError(f"channel {c!r} has no finite measurement after the burn-in of {burn_in_s} s; "
                                     f"shorten PromotionRule.burn_in_s or evaluate on a longer window")
        out[c] = float(np.sqrt(np.mean((y[c].to_numpy()[ok] - meas[ok]) ** 2)))
    return out
