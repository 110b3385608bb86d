"""Continuous calibration: drift in the residuals triggers a warm-started refit, recorded with why."""

import warnings

import numpy as np
import pandas as pd
import pytest

from calibration import CalibrationData, CusumDetector, LeastSquaresCalibrator, PageHinkleyDetector
from calibration.continuous import DriftRecalibration, slice_window
from sim.exceptions import CalibrationError, ConfigurationError
from sim.physics import MOTOR_THERMAL

SPEC = MOTOR_THERMAL.spec
R, C = "thermal_resistance_housing_ambient", "heat_capacity_housing"
TRUTH = {R: 0.075, C: 52000.0}
FOULED = 0.090  # cooling fins clogged: housing-to-ambient resistance +20 %
HOUR = 3600.0


def telemetry(seed, hours=72.0, period=10.0, change_h=None):
    """Winding temperature under an on/off load; R_ha steps to FOULED at *change_h* (states continue)."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, hours * HOUR, period)
    blocks = (t // 600).astype(int)
    level = rng.uniform(22.0, 34.0, blocks.max() + 1) * (rng.random(blocks.max() + 1) > 0.25)
    u = np.column_stack([level[blocks], 293.15 + 6.0 * np.sin(2 * np.pi * t / 86400.0)])
    x0 = np.array([320.0, 312.0])
    k = t.size if change_h is None else int(change_h * HOUR / period)
    y = MOTOR_THERMAL.simulate(x0, SPEC.vector("params", TRUTH), t[:k], u[:k])[0]
    if k < t.size:
        tail = MOTOR_THERMAL.simulate(y[-1, :2], SPEC.vector("params", {**TRUTH, R: FOULED}),
                                      t[k - 1:] - t[k - 1], u[k - 1:])[0][1:]
        y = np.vstack([y, tail])
    frame = pd.DataFrame({"motor_current": u[:, 0], "ambient_temperature": u[:, 1],
                          "winding_temperature": y[:, 0] + rng.normal(0.0, 0.3, t.size)},
                         index=pd.Timestamp("2026-06-01", tz="UTC") + pd.to_timedelta(t, unit="s"))
    return CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"])


def run(data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # identifiability notes of the short refit windows
        return DriftRecalibration(LeastSquaresCalibrator([R, C]), window_s=12 * HOUR, **kw).fit(MOTOR_THERMAL, data)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_drift_no_refit(seed):
    d = run(telemetry(seed))
    assert d.events_.empty and not d.alarms_
    assert d.params_[R] == pytest.approx(TRUTH[R], rel=0.01)
    assert len(d.residuals_) == pytest.approx((72 - 12) * 6, abs=1)  # every 10-min block after the first fit


@pytest.mark.parametrize("detector", [CusumDetector(k=0.5, h=8.0), PageHinkleyDetector(delta=0.02, threshold=2.0)],
                         ids=["cusum", "page_hinkley"])
def test_fouling_is_detected_and_the_refit_finds_the_new_resistance(detector):
    d = run(telemetry(3, change_h=36.0), detector=detector)
    first = d.events_.iloc[0]
    assert first["action"] == "refit"
    assert 36 * HOUR < first["time"] < 40 * HOUR  # detected within 4 h of the change
    assert 33 * HOUR < first["onset"] <= first["time"]  # the change point is estimated near 36 h
    assert "residual mean shifted up" in first["reason"]
    assert first["before"][R] == pytest.approx(TRUTH[R], rel=0.01)
    lo, hi = d.intervals_[R]
    assert lo < FOULED < hi and d.params_[R] == pytest.approx(FOULED, rel=0.02)
    # the record of each refit names its exact data window
    assert first["window_start"] >= pd.Timestamp("2026-06-01", tz="UTC") + pd.Timedelta(hours=33)
    assert len(first["content_hash"]) == 64 and first["record_id"]
    track = d.track_
    assert len(track) == 1 + len(d.events_)  # the first fit and every refit
    assert track[R].iloc[0] == pytest.approx(TRUTH[R], rel=0.01)
    assert track[R].iloc[-1] == pytest.approx(FOULED, rel=0.02)


def test_slice_window_restarts_time_and_keeps_the_stamps():
    data = telemetry(0, hours=2.0)
    w = slice_window(data, 600.0, 1200.0)
    assert w.t[0] == 0.0 and w.t[-1] == 600.0 and w.start == data.start + pd.Timedelta(seconds=600)
    with pytest.raises(CalibrationError, match="no samples"):
        slice_window(data, 1e6, 2e6)


def test_bad_settings_are_explained():
    data = telemetry(0, hours=6.0)
    with pytest.raises(CalibrationError, match="shorter than the first window"):
        run(data)
    with pytest.raises(ConfigurationError, match="fewer than 10 blocks"):
        DriftRecalibration(window_s=3600.0, block_s=600.0).fit(MOTOR_THERMAL, data)
    with pytest.raises(ConfigurationError, match="not calibrated against"):
        DriftRecalibration(window_s=3600.0, block_s=60.0, output="housing_temperature").fit(MOTOR_THERMAL, data)
    with pytest.raises(ConfigurationError, match="block_s"):
        DriftRecalibration(block_s=-1.0).fit(MOTOR_THERMAL, data)
