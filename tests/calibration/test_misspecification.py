"""A fit says when the model cannot explain the data: residual RMS far above the noise level, or residuals that
are not white.  The data come from an independent generator (scipy's solve_ivp) of the two-node motor model with
constant no-load losses, which the library's motor_thermal model lacks."""

import dataclasses
import hashlib
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import solve_ivp

from calibration import CalibrationData, CalibrationRecord, LeastSquaresCalibrator, MisspecificationWarning
from calibration.evidence import difference_noise_std, ljung_box, misspecification_evidence, segmented_ljung_box
from sim.physics import MOTOR_THERMAL, MOTOR_THERMAL_SPEC as SPEC

FITTED = ["thermal_resistance_housing_ambient", "heat_capacity_housing"]
#: R_wh [K/W], C_w [J/K], R_ha [K/W], C_h [J/K], R_cu [ohm] of the generator (R_ha, C_h as in tests.helpers).
TRUE = {"R_wh": 0.02, "C_w": 3000.0, "R_ha": 0.075, "C_h": 52000.0, "R_cu": 0.9}
NOISE = 0.3


def motor_with_losses(seed, no_load_loss, *, hours=4.0, period=20.0):
    """Winding temperature [K] of a two-node motor with constant no-load losses *no_load_loss* [W] in the winding.

    ``C_w dT_w/dt = R_cu I^2 + P_0 - (T_w - T_h) / R_wh``, ``C_h dT_h/dt = (T_w - T_h) / R_wh - (T_h - T_a) / R_ha``,
    integrated by ``solve_ivp`` (DOP853, rtol 1e-9) block by block of constant current (10 min on/off blocks),
    ambient a slow daily sine; Gaussian noise of :data:`NOISE` K.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, hours * 3600.0, period)
    n_blocks = int(np.ceil(hours * 6))
    level = rng.uniform(22.0, 34.0, n_blocks) * (rng.random(n_blocks) > 0.25)

    def ambient(s):
        return 293.15 + 6.0 * np.sin(2 * np.pi * s / 86400.0)

    def rhs(s, x, current):
        q = (x[0] - x[1]) / TRUE["R_wh"]
        return [(TRUE["R_cu"] * current ** 2 + no_load_loss - q) / TRUE["C_w"],
                (q - (x[1] - ambient(s)) / TRUE["R_ha"]) / TRUE["C_h"]]

    x, winding = np.array([320.0, 312.0]), []
    for b in range(n_blocks):
        t0, t1 = b * 600.0, (b + 1) * 600.0
        at = t[(t >= t0) & (t < t1)]
        sol = solve_ivp(rhs, (t0, t1), x, args=(level[b],), t_eval=np.append(at, t1), method="DOP853", rtol=1e-9,
                        atol=1e-9)
        winding.append(sol.y[0, :-1])
        x = sol.y[:, -1]
    frame = pd.DataFrame({"motor_current": level[(t // 600).astype(int)], "ambient_temperature": ambient(t),
                          "winding_temperature": np.concatenate(winding) + rng.normal(0.0, NOISE, t.size)},
                         index=pd.Timestamp("2026-06-01", tz="UTC") + pd.to_timedelta(t, unit="s"))
    return CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"])


def fit(data, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cal = LeastSquaresCalibrator(FITTED, **kw).fit(MOTOR_THERMAL, data)
    return cal, [w for w in caught if issubclass(w.category, MisspecificationWarning)]


# ------------------------------------------------------------------ the model misses a physical term
def test_a_model_missing_its_no_load_losses_is_reported_with_the_evidence():
    data = motor_with_losses(0, no_load_loss=150.0)
    with pytest.warns(MisspecificationWarning, match=r"cannot explain the data.*winding_temperature: residuals are "
                                                     r"not white \(Ljung-Box Q = [\d.e+]+ on 10 lags, p = "):
        cal = LeastSquaresCalibrator(FITTED).fit(MOTOR_THERMAL, data)
    ev = cal.misspecification_
    channel = ev["channels"]["winding_temperature"]
    assert ev["misspecified"] and ev["conclusive"] and ev["reasons"]
    assert channel["rms_ratio"] > 1.3 and channel["noise_source"] == "estimated"
    assert channel["noise_std"] == pytest.approx(NOISE, rel=0.15)  # from the measurements, not the residuals
    assert channel["ljung_box_p"] < 1e-10 and channel["lag1_autocorrelation"] > 0.5
    assert not cal.intervals_reliable_
    rec = cal.record_
    assert rec.misspecified and rec.intervals_reliable is False
    assert rec.misspecification["reasons"] == ev["reasons"]
    again = CalibrationRecord.from_json(rec.to_json())
    assert again == rec and again.record_id == rec.record_id and again.misspecified
    json.loads(rec.to_json())  # strict JSON (no NaN)
    # and the biased estimate is indeed outside its interval: the warning is earned
    lo, hi = cal.intervals_["thermal_resistance_housing_ambient"]
    assert not lo < TRUE["R_ha"] < hi


def test_the_warning_fires_for_every_seed_with_losses():
    for seed in range(1, 4):
        cal, caught = fit(motor_with_losses(seed, no_load_loss=150.0))
        assert caught and cal.misspecification_["misspecified"], seed


@pytest.mark.slow
def test_on_data_from_the_model_itself_the_warning_rarely_fires():
    """False-warning rate over 16 seeds of the generator without losses (the library model's own equations)."""
    fired, ratios = 0, []
    for seed in range(16):
        cal, caught = fit(motor_with_losses(100 + seed, no_load_loss=0.0))
        fired += bool(caught)
        ratios.append(cal.misspecification_["channels"]["winding_temperature"]["rms_ratio"])
        assert bool(caught) == cal.misspecification_["misspecified"] == (not cal.intervals_reliable_)
    print(f"false warnings {fired} of 16; RMS / noise {min(ratios):.3f} .. {max(ratios):.3f}")
    assert fired <= 1, fired
    assert 0.8 < min(ratios) and max(ratios) < 1.2


def test_a_correct_model_is_not_flagged_and_a_declared_noise_level_is_used():
    data = motor_with_losses(7, no_load_loss=0.0)
    cal, caught = fit(data)
    assert not caught and cal.intervals_reliable_ and cal.record_.intervals_reliable
    assert cal.misspecification_["reasons"] == []
    cal, caught = fit(data, noise_std={"winding_temperature": NOISE})
    assert not caught and cal.misspecification_["channels"]["winding_temperature"]["noise_source"] == "declared"
    # a declared noise level three times too small: the residuals are far above it
    cal, caught = fit(data, noise_std={"winding_temperature": NOISE / 3})
    assert caught and "times the declared noise level 0.1 (limit 2)" in str(caught[0].message)
    # the thresholds are hyperparameters
    cal, caught = fit(data, noise_std={"winding_temperature": NOISE / 3}, misspecification_rms_ratio=4.0)
    assert not caught and cal.misspecification_["thresholds"]["rms_ratio"] == 4.0


def test_an_unconverged_fit_is_not_called_misspecified_but_its_intervals_are_unreliable():
    from calibration import ConvergenceWarning

    data = motor_with_losses(0, no_load_loss=0.0, hours=2.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cal = LeastSquaresCalibrator(FITTED, max_nfev=1).fit(MOTOR_THERMAL, data, params={
            "thermal_resistance_housing_ambient": 0.03})
    kinds = {w.category for w in caught}
    assert ConvergenceWarning in kinds and MisspecificationWarning not in kinds
    assert cal.misspecification_["misspecified"] and not cal.misspecification_["conclusive"]
    assert not cal.intervals_reliable_


# ------------------------------------------------------------------ the evidence itself
def test_difference_noise_std_sees_the_noise_not_the_signal():
    rng = np.random.default_rng(0)
    t = np.arange(5000.0)
    noise = rng.normal(0.0, 0.5, t.size)
    assert difference_noise_std(noise) == pytest.approx(0.5, rel=0.05)
    signal = 20 * np.sin(2 * np.pi * t / 2000) + 5.0 * (t > 2500)  # slow swings and a step
    assert difference_noise_std(signal + noise) == pytest.approx(0.5, rel=0.05)
    # a segment edge is never differenced across: a jump there does not count
    jumpy = np.concatenate([noise[:2500], noise[2500:] + 1000.0])
    assert difference_noise_std(jumpy, [(0, 2500), (2500, 5000)]) == pytest.approx(
        difference_noise_std(noise, [(0, 2500), (2500, 5000)]))
    assert np.isnan(difference_noise_std(noise[:5]))


def test_segmented_ljung_box_agrees_with_ljung_box_and_does_not_cross_windows():
    rng = np.random.default_rng(1)
    white = rng.normal(size=3000)
    q, p = ljung_box(white, 10)
    one = segmented_ljung_box(white, lags=10)
    assert one["q"] == pytest.approx(q, rel=1e-12) and one["p"] == pytest.approx(p, rel=1e-9)
    ar = np.zeros(3000)
    for i in range(1, 3000):
        ar[i] = 0.6 * ar[i - 1] + rng.normal()
    red = segmented_ljung_box(ar)
    assert red["p"] < 1e-20 and red["rho1"] == pytest.approx(0.6, abs=0.05)
    # two white windows at different levels: across the edge they would look correlated, within them they are not
    halves = np.concatenate([white[:1500] - 3.0, white[1500:] + 3.0])
    assert segmented_ljung_box(halves)["p"] < 1e-20
    demeaned = np.concatenate([white[:1500] - white[:1500].mean(), white[1500:] - white[1500:].mean()])
    assert segmented_ljung_box(demeaned, [(0, 1500), (1500, 3000)])["p"] > 1e-3


def test_misspecification_evidence_needs_both_significance_and_size_for_whiteness():
    rng = np.random.default_rng(2)
    n = 20000
    e = rng.normal(size=n)
    weak = e[1:] + 0.12 * e[:-1]  # lag-1 autocorrelation about 0.12: significant with 20000 values, yet small
    measured = rng.normal(size=(n - 1, 1))
    ev = misspecification_evidence(weak[:, None] * 0.1, measured * 0.1, ["y"])
    assert ev["channels"]["y"]["ljung_box_p"] < 1e-3 and not ev["misspecified"]
    ev = misspecification_evidence(weak[:, None] * 0.1, measured * 0.1, ["y"], min_autocorrelation=0.05)
    assert ev["misspecified"] and "not white" in ev["reasons"][0]


def test_records_made_before_the_check_keep_their_id():
    data = motor_with_losses(3, no_load_loss=0.0, hours=2.0)
    rec, _ = fit(data)
    rec = rec.record_
    old = {k: v for k, v in dataclasses.asdict(rec).items() if k not in ("misspecification", "intervals_reliable")}
    legacy_id = hashlib.sha256(json.dumps(old, sort_keys=True, default=float).encode()).hexdigest()[:12]
    loaded = CalibrationRecord.from_json(json.dumps({**old, "record_id": legacy_id}))
    assert loaded.record_id == legacy_id and loaded.misspecification == {} and loaded.intervals_reliable
    assert not loaded.misspecified and rec.record_id != legacy_id
