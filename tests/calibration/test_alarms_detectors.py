"""Multivariate detectors: calibrated false-alarm rates, T²/Q behaviour, fleets, streams and checkpoints."""

import json
import time

import numpy as np
import pandas as pd
import pytest

from calibration import CusumDetector
from calibration.alarms import (AlarmLogic, PCADetector, ResidualDetector, binomial_interval, calibrate_threshold,
                                residual_frame)
from sim.exceptions import CalibrationError, ConfigurationError
from sim.physics import MOTOR_THERMAL


def latent_data(rng, n, loadings, noise=0.2, factors=None):
    k, m = loadings.shape
    f = rng.standard_normal((n, k)) if factors is None else factors
    return f @ loadings + noise * rng.standard_normal((n, m))


@pytest.mark.parametrize("rate", [0.002, 0.01, 0.05])
def test_quantile_threshold_gives_the_target_rate_on_fresh_normal_data(rate):
    rng = np.random.default_rng(10)
    thr = calibrate_threshold(rng.chisquare(4, 200_000), rate)
    fresh = rng.chisquare(4, 50_000)
    lo, hi = binomial_interval(int((fresh > thr).sum()), fresh.size, confidence=0.999)
    assert lo <= rate <= hi


def test_short_windows_extrapolate_the_tail_instead_of_reading_a_quantile():
    rng = np.random.default_rng(11)
    rate, realized = 0.002, []
    for _ in range(40):  # 300 samples hold 0.6 expected exceedances: the tail fit takes over
        thr = calibrate_threshold(rng.chisquare(4, 300), rate)
        realized.append(float(np.mean(rng.chisquare(4, 20_000) > thr)))
    assert 0.25 * rate < np.mean(realized) < 2.0 * rate
    assert calibrate_threshold(rng.chisquare(4, 300), rate) > np.max(rng.chisquare(4, 300)) * 0.5


@pytest.mark.parametrize("rate", [0.005, 0.02])
@pytest.mark.parametrize("make", [lambda r: ResidualDetector(false_alarm_rate=r),
                                  lambda r: PCADetector(n_components=2, false_alarm_rate=r, input_smoothing=None)])
def test_detectors_calibrate_to_the_target_false_alarm_rate(make, rate):
    rng = np.random.default_rng(12)
    L = rng.standard_normal((2, 5))
    det = make(rate).fit(latent_data(rng, 20_000, L))
    s = det.statistic(latent_data(rng, 50_000, L))
    far = float(np.mean(s > det.threshold_[0]))
    tol = 4.0 * np.sqrt(rate * (1 - rate) * (1 / 20_000 + 1 / 50_000))  # threshold noise + test binomial noise
    assert abs(far - rate) < tol


def test_input_smoothing_keeps_the_false_alarm_rate_and_catches_a_small_sustained_shift():
    rng = np.random.default_rng(22)
    L = rng.standard_normal((2, 5))
    smooth = PCADetector(n_components=2, input_smoothing=0.2, false_alarm_rate=0.01).fit(latent_data(rng, 20_000, L))
    raw = PCADetector(n_components=2, input_smoothing=None, false_alarm_rate=0.01).fit(latent_data(rng, 20_000, L))
    far = float(np.mean(smooth.statistic(latent_data(rng, 50_000, L)) > smooth.threshold_[0]))
    # the EWMA makes the statistic autocorrelated: about (2 - 0.2) / 0.2 = 9 samples carry one sample's information
    assert abs(far - 0.01) < 4.0 * np.sqrt(0.01 * 0.99 * 9 * (1 / 20_000 + 1 / 50_000))
    shifted = latent_data(rng, 2000, L)
    shifted[:, 3] += 0.4  # 2 noise spreads on one channel: a small sustained break of the correlations
    smooth.reset()
    hit_smooth = np.mean(smooth.statistic(shifted)[50:] > smooth.threshold_[0])
    hit_raw = np.mean(raw.statistic(shifted)[50:] > raw.threshold_[0])
    assert hit_smooth > 0.9 > 0.5 > hit_raw


def test_contributions_explain_the_block_just_scored():
    rng = np.random.default_rng(23)
    L = rng.standard_normal((2, 4))
    normal = latent_data(rng, 2000, L)
    det = PCADetector(input_smoothing=0.3).fit(normal)
    first, second = latent_data(rng, 200, L), latent_data(rng, 200, L) + 0.5
    det.statistic(first)
    stat = det.statistic(second)
    contrib = det.contributions(second)
    np.testing.assert_allclose(contrib.sum(axis=1), stat, rtol=1e-9)
    np.testing.assert_allclose(det.raw_statistic(second), stat, rtol=1e-12)
    twin = PCADetector(input_smoothing=0.3).fit(normal)
    twin.statistic(first)
    s2, c2 = twin.score(second)
    np.testing.assert_array_equal(s2, stat)
    np.testing.assert_array_equal(c2, contrib)


def test_t2_rises_for_a_shift_along_the_correlations_q_for_a_broken_correlation():
    rng = np.random.default_rng(13)
    L = np.array([[1.0, 1.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 1.0, -1.0]])
    det = PCADetector(n_components=2).fit(latent_data(rng, 4000, L))
    normal = det.parts(latent_data(rng, 500, L))
    along = latent_data(rng, 500, L) + 5.0 * L[0]  # five factor spreads along the first correlation
    off = latent_data(rng, 500, L)
    off[:, 0] += 1.5  # channel 0 alone, 7.5 noise spreads: breaks its tie to channels 1 and 2
    p_along, p_off = det.parts(along), det.parts(off)
    t2n, qn = np.median(normal, axis=0)
    assert np.median(p_along[:, 0]) > 10 * t2n and np.median(p_along[:, 1]) < 2 * qn
    assert np.median(p_off[:, 1]) > 10 * qn and np.median(p_off[:, 0]) < 3 * t2n
    assert np.mean(det.statistic(along) > det.threshold_[0]) > 0.95
    assert np.mean(det.statistic(off) > det.threshold_[0]) > 0.95


def test_a_drift_along_the_normal_correlations_does_not_alarm_where_a_raw_cusum_does():
    rng = np.random.default_rng(14)
    L = np.array([[2.0, 1.5, 1.0, 0.5], [0.0, 0.3, -0.3, 0.6]])
    t = np.arange(6000)
    ramp = 3.0 * np.sin(2 * np.pi * t / 3000.0)  # the run's warm-up and cool-down, twice
    normal = latent_data(rng, t.size, L, factors=np.c_[ramp, rng.standard_normal(t.size)])
    det = PCADetector(n_components=2).fit(normal)
    drift = 3.0 * np.sin(2 * np.pi * t[:2000] / 1700.0 + 1.0)  # another run, same correlations, same range
    block = latent_data(rng, 2000, L, factors=np.c_[drift, rng.standard_normal(2000)])
    logic = AlarmLogic.for_detector(det, min_on=3)
    events = logic.update(t[:2000].astype(float), det.statistic(block))
    assert [e for e in events if e.kind == "raised"] == []
    assert np.mean(det.statistic(block) > det.threshold_[0]) < 0.03
    cusum = CusumDetector().fit(normal[:1000, 0]).partial_fit(block[:, 0])
    assert len(cusum.alarms_) > 5  # the univariate detector on a raw channel alarms all the time


def test_a_fleet_is_the_same_as_each_asset_alone():
    rng = np.random.default_rng(15)
    L = rng.standard_normal((2, 4))
    X = np.stack([latent_data(rng, 1500, L * (a + 1)) for a in range(3)])
    Y = np.stack([latent_data(rng, 300, L * (a + 1)) for a in range(3)])
    fleet = PCADetector(smoothing=0.2).fit(X)
    s, c = fleet.statistic(Y), fleet.contributions(Y)
    assert s.shape == (3, 300) and c.shape == (3, 300, 4) and fleet.threshold_.shape == (3,)
    for a in range(3):
        one = PCADetector(smoothing=0.2).fit(X[a])
        np.testing.assert_allclose(one.threshold_[0], fleet.threshold_[a], rtol=1e-10)
        np.testing.assert_allclose(one.statistic(Y[a]), s[a], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(c.sum(axis=2), fleet.raw_statistic(Y), rtol=1e-9)


@pytest.mark.parametrize("cls", [PCADetector, ResidualDetector])
def test_a_smoothed_stream_scores_the_same_in_blocks_and_after_a_restart(cls):
    rng = np.random.default_rng(16)
    L = rng.standard_normal((2, 5))
    det = cls(smoothing=0.1).fit(latent_data(rng, 2000, L))
    Y = latent_data(rng, 700, L)
    Y[300:, 1] += 1.0
    Y[50, :] = np.nan
    whole = det.statistic(Y)
    det.reset()
    parts = [det.statistic(Y[:123])]
    det = cls.from_state(json.loads(json.dumps(det.state_dict())))
    parts += [det.statistic(Y[123:400]), det.statistic(Y[400:])]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert np.isnan(whole[50]) and np.isfinite(whole[51])


def test_residual_detector_uses_the_twins_expected_spread():
    rng = np.random.default_rng(17)
    spread = np.array([0.5, 2.0, 0.1])
    normal = rng.standard_normal((3000, 3)) * spread
    det = ResidualDetector(spread=spread.tolist(), center=False).fit(normal)
    assert np.mean(det.raw_statistic(normal)) == pytest.approx(3.0, rel=0.05)  # chi-square with 3 dof
    shifted = rng.standard_normal((500, 3)) * spread + np.array([0.0, 0.0, 0.4])  # 4 spreads on channel 2
    contrib = det.contributions(shifted).mean(axis=0)
    assert np.argmax(contrib) == 2
    full = ResidualDetector(covariance="full").fit(normal @ np.array([[1, 0.9, 0], [0, 1, 0], [0, 0, 1]]))
    assert full.model_["precision"].shape == (1, 3, 3)


def test_frames_are_matched_by_channel_name():
    rng = np.random.default_rng(18)
    L = rng.standard_normal((2, 3))
    frame = pd.DataFrame(latent_data(rng, 1000, L), columns=["current", "pressure", "flow"])
    det = PCADetector(n_components=1).fit(frame)
    shuffled = frame[["flow", "current", "pressure"]]
    np.testing.assert_array_equal(det.reset().statistic(shuffled), det.reset().statistic(frame))
    with pytest.raises(ConfigurationError, match="lacks the channels"):
        det.statistic(frame[["flow", "current"]])


def test_no_fit_runs_on_a_window_with_too_much_quarantined_data():
    rng = np.random.default_rng(19)
    X = rng.standard_normal((1000, 4))
    quarantined = np.zeros_like(X, dtype=bool)
    quarantined[200:500, 2] = True  # 30 % of the rows
    with pytest.raises(CalibrationError, match="no fit runs on such data"):
        PCADetector().fit(X, quarantined=quarantined)
    PCADetector(max_missing=0.4).fit(X, quarantined=quarantined)
    with pytest.raises(CalibrationError, match="not fitted"):
        PCADetector().statistic(X)


def test_bad_settings_are_refused_with_the_rule():
    X = np.random.default_rng(20).standard_normal((500, 3))
    with pytest.raises(ConfigurationError, match="false_alarm_rate"):
        PCADetector(false_alarm_rate=0.9).fit(X)
    with pytest.raises(ConfigurationError, match="use"):
        PCADetector(use="spe").fit(X)
    with pytest.raises(ConfigurationError, match="spread"):
        ResidualDetector(spread=[1.0, -1.0, 1.0]).fit(X)
    with pytest.raises(ConfigurationError, match="smoothing"):
        ResidualDetector(smoothing=0.0).fit(X)


@pytest.mark.parametrize("cls", [PCADetector, ResidualDetector])
def test_estimator_contract(cls):
    est = cls()
    assert not [k for k in vars(est) if k.endswith("_")]
    assert cls(**est.get_params()).get_params() == est.get_params()
    assert est.fit(np.random.default_rng(0).standard_normal((400, 3))) is est


def test_a_block_of_a_thousand_samples_scores_well_under_a_millisecond_per_sample():
    rng = np.random.default_rng(21)
    L = rng.standard_normal((3, 10))
    det = PCADetector(smoothing=0.1).fit(latent_data(rng, 5000, L))
    Y = latent_data(rng, 1000, L)
    logic = AlarmLogic.for_detector(det)
    times = np.arange(1000.0) * 10.0
    start = time.process_time()  # CPU time of this process: other jobs on the machine do not count
    for k in range(5):
        logic.update(times + k * 1e4, det.statistic(Y), det.contributions(Y))
    per_sample = (time.process_time() - start) / 5000
    assert per_sample < 1e-4  # 10 s samples at 10,000x real time leave 1 ms; we take about 10 us


def test_a_channel_constant_in_the_normal_window_is_left_out_not_blown_up():
    rng = np.random.default_rng(24)
    X = rng.standard_normal((800, 4))
    X[:, 2] = 32.0  # a quantized flow reading that did not move while the window was recorded
    det = PCADetector(input_smoothing=None).fit(X)
    assert det.constant_channels() == ["x2"]
    Y = rng.standard_normal((400, 4))
    Y[:, 2] = 33.0
    assert np.mean(det.statistic(Y) > det.threshold_[0]) < 0.05
    state = json.loads(json.dumps(det.state_dict(), allow_nan=False))  # strict JSON: no infinities
    assert PCADetector.from_state(state).constant_channels() == ["x2"]


def test_residual_frame_joins_twin_residuals_and_uncovered_channels():
    idx = pd.date_range("2026-01-01", periods=4, freq="10s", tz="UTC")
    measured = pd.DataFrame({"winding_temperature": [350.0, 351, 352, 353], "vibration": [1.0, 2, 3, 4]}, index=idx)
    predicted = pd.DataFrame({"winding_temperature": [349.0, 351, 350, 353]}, index=idx)
    frame = residual_frame(measured, predicted)
    assert list(frame.columns) == ["winding_temperature_residual", "vibration"]
    assert frame["winding_temperature_residual"].tolist() == [1.0, 0.0, 2.0, 0.0]
    with pytest.raises(ConfigurationError, match="lacks"):
        residual_frame(measured, predicted.rename(columns={"winding_temperature": "flow"}))


def test_refitting_on_another_fleet_size_starts_afresh():
    rng = np.random.default_rng(25)
    L = rng.standard_normal((2, 3))
    det = PCADetector(smoothing=0.1).fit(np.stack([latent_data(rng, 600, L) for _ in range(3)]))
    X = latent_data(rng, 600, L)
    det.fit(X)
    assert det.threshold_.shape == (1,) and det.statistic(X[:50]).shape == (50,)
    np.testing.assert_allclose(det.threshold_, PCADetector(smoothing=0.1).fit(X).threshold_, rtol=1e-12)
    with pytest.raises(ConfigurationError, match="non-numeric"):
        PCADetector().fit(pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "label": ["x"] * 600}))


def motor_run(seed, fouled_at_h=12.0, hours=18.0):
    """Measured winding temperature of a motor whose fins foul (R_ha 0.06 -> 0.066 K/W) at *fouled_at_h*, the
    nameplate twin's prediction, and the load, every 10 s."""
    spec = MOTOR_THERMAL.spec
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, hours * 3600.0, 10.0)
    blocks = (t // 600).astype(int)
    current = (rng.uniform(22.0, 34.0, blocks.max() + 1) * (rng.random(blocks.max() + 1) > 0.25))[blocks]
    u = np.column_stack([current, 293.15 + 6.0 * np.sin(2 * np.pi * t / 86400.0)])
    twin = MOTOR_THERMAL.simulate(np.array([320.0, 312.0]), spec.vector("params", {}), t, u)[0]
    k = int(t.searchsorted(fouled_at_h * 3600.0))
    fouled_params = spec.vector("params", {"thermal_resistance_housing_ambient": 0.066})
    fouled = MOTOR_THERMAL.simulate(twin[k - 1, :2], fouled_params, t[k - 1:], u[k - 1:])[0][1:]
    plant = np.vstack([twin[:k], fouled])
    index = pd.Timestamp("2026-06-01", tz="UTC") + pd.to_timedelta(t, unit="s")
    measured = pd.DataFrame({"winding_temperature": plant[:, 0] + rng.normal(0.0, 0.3, t.size),
                             "motor_current": current}, index=index)
    return t, measured, pd.DataFrame({"winding_temperature": twin[:, 0]}, index=index)


def test_twin_residuals_catch_a_fouling_that_the_raw_channels_hide():
    t, measured, predicted = motor_run(seed=0)
    normal = slice(0, 6 * 360)  # the first 6 h
    residuals = residual_frame(measured[["winding_temperature"]], predicted)
    det = ResidualDetector(spread=[0.3], calibration="chi2", input_smoothing=0.05, false_alarm_rate=1e-5)
    det.fit(residuals.iloc[normal])
    events = AlarmLogic.for_detector(det, min_on=3).update(t, det.statistic(residuals))
    raised = [e for e in events if e.kind == "raised"]
    assert len(raised) == 1
    assert 12 * 3600 < raised[0].time < 12 * 3600 + 900 and abs(raised[0].onset - 12 * 3600) < 600
    raw = PCADetector(false_alarm_rate=1e-3).fit(measured.iloc[normal])  # winding temperature and current
    raw_events = AlarmLogic.for_detector(raw, min_on=3).update(t, raw.statistic(measured))
    assert not [e for e in raw_events if e.kind == "raised"]  # the load swings hide a 4 K rise


def test_chi2_thresholds_need_the_twins_spread():
    X = np.random.default_rng(26).standard_normal((500, 2))
    det = ResidualDetector(spread=[1.0, 1.0], calibration="chi2", false_alarm_rate=0.01).fit(X)
    assert det.threshold_[0] == pytest.approx(9.2103, abs=1e-4)  # chi-square, 2 dof, 99 %
    with pytest.raises(ConfigurationError, match="needs the residual spread"):
        ResidualDetector(calibration="chi2").fit(X)
    with pytest.raises(ConfigurationError, match="spread has 3 values for 2 channels"):
        ResidualDetector(spread=[1.0, 1.0, 1.0]).fit(X)
