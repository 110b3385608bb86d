"""Diagnosis: competing hypotheses fitted to one window, ranked by AIC/BIC and residual whiteness."""

import inspect
import json
import math

import numpy as np
import pandas as pd
import pytest

from calibration import CalibrationData, LeastSquaresCalibrator
from calibration.diagnosis import Diagnosis, DiagnosisResult, Hypothesis, ljung_box
from sim.exceptions import CalibrationError, ConfigurationError
from sim.physics import MOTOR_THERMAL

SPEC = MOTOR_THERMAL.spec
R_HA = "thermal_resistance_housing_ambient"
C_H = "heat_capacity_housing"


def motor_frame(seed=0, hours=6.0, period=20.0, noise=0.3, truth=None):
    """Winding temperature of a motor whose fins fouled (R_ha 0.075 K/W, nameplate 0.06) under an on/off load."""
    truth = {R_HA: 0.075} if truth is None else truth
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, hours * 3600.0, period)
    blocks = (t // 600).astype(int)
    current = (rng.uniform(22.0, 34.0, blocks.max() + 1) * (rng.random(blocks.max() + 1) > 0.25))[blocks]
    ambient = 293.15 + 6.0 * np.sin(2 * np.pi * t / 86400.0)
    u = np.column_stack([current, ambient])
    y = MOTOR_THERMAL.simulate(np.array([320.0, 312.0]), SPEC.vector("params", truth), t, u)[0]
    return pd.DataFrame({"motor_current": current, "ambient_temperature": ambient,
                         "winding_temperature": y[:, 0] + rng.normal(0.0, noise, t.size)},
                        index=pd.Timestamp("2026-06-01", tz="UTC") + pd.to_timedelta(t, unit="s"))


def motor_data(seed=0, **kw):
    return CalibrationData.from_frame(motor_frame(seed, **kw), SPEC, outputs=["winding_temperature"])


def hypotheses(**extra):
    hs = [Hypothesis("fins_fouled", MOTOR_THERMAL, [R_HA], ["housing_temperature"],
                     description="the cooling fins are fouled"),
          Hypothesis("heavier_housing", MOTOR_THERMAL, [C_H], ["housing_temperature"],
                     description="the housing stores more heat than the nameplate says"),
          Hypothesis("both", MOTOR_THERMAL, [R_HA, C_H], ["housing_temperature"])]
    return hs + [Hypothesis(name, MOTOR_THERMAL, **kw) for name, kw in extra.items()]


@pytest.fixture(scope="module")
def diagnosis():
    return Diagnosis().fit(hypotheses(), motor_data())


# ------------------------------------------------------------------ ranking
def test_true_hypothesis_wins_and_the_simpler_nested_one_beats_the_superset(diagnosis):
    result = diagnosis.result_
    assert isinstance(result, DiagnosisResult)
    assert result.best == diagnosis.best_ == "fins_fouled"
    table = result.ranking
    assert list(table["rank"]) == [1, 2, 3]
    # "both" contains the truth: it fits as well but pays about ln(n) for the extra parameter
    assert table.at["both", "delta_bic"] > 2
    assert table.at["heavier_housing", "delta_bic"] > 100
    assert result.margin == pytest.approx(table["bic"].iloc[1] - table["bic"].iloc[0])
    assert result.fits["fins_fouled"].params_[R_HA] == pytest.approx(0.075, rel=0.03)
    assert table.at["fins_fouled", "white"] and not table.at["heavier_housing", "white"]


def test_evidence_is_the_gaussian_likelihood_with_every_parameter_counted(diagnosis):
    table = diagnosis.ranking_
    for name, cal in diagnosis.fits_.items():
        r = cal.residuals_["winding_temperature"].dropna().to_numpy()
        n = r.size
        loglik = -0.5 * n * (math.log(2 * math.pi * (r @ r) / n) + 1)
        k = len(cal.theta_names_) + 1  # fitted parameters + initial states + one noise variance
        row = table.loc[name]
        assert (row["k"], row["n_parameters"], row["n_noise"], row["n_obs"]) == (k, k - 1, 1, n)
        assert row["log_likelihood"] == pytest.approx(loglik, rel=1e-12)
        assert row["aic"] == pytest.approx(2 * k - 2 * loglik)
        assert row["bic"] == pytest.approx(k * math.log(n) - 2 * loglik)
        assert row["aicc"] == pytest.approx(row["aic"] + 2 * k * (k + 1) / (n - k - 1))
    for crit, weight in (("aic", "akaike_weight"), ("bic", "bic_weight")):
        delta = table[crit] - table[crit].min()
        assert np.allclose(table[f"delta_{crit}"], delta)
        assert np.allclose(table[weight], np.exp(-delta / 2) / np.exp(-delta / 2).sum())


def test_known_noise_levels_are_not_counted_as_parameters():
    template = LeastSquaresCalibrator(noise_std={"winding_temperature": 0.3}, absolute_sigma=True)
    diag = Diagnosis(calibrator=template).fit(hypotheses(), motor_data())
    row = diag.ranking_.loc["fins_fouled"]
    r = diag.fits_["fins_fouled"].residuals_["winding_temperature"].to_numpy()
    assert row["n_noise"] == 0 and row["k"] == 2
    assert row["log_likelihood"] == pytest.approx(-0.5 * (r.size * math.log(2 * math.pi * 0.09) + (r @ r) / 0.09))
    assert diag.best_ == "fins_fouled"


def test_criterion_chooses_the_sort_order_and_the_explanation_reads_plainly(diagnosis):
    text = diagnosis.explanation_
    assert text.startswith("Best explanation: fins_fouled - the cooling fins are fouled.")
    assert "BIC is lower than that of the runner-up" in text and "very strong" not in text.split("\n")[0]
    assert "thermal_resistance_housing_ambient = " in text and "K/W" in text and "95% CI" in text
    assert "white" in text
    by_aic = Diagnosis(criterion="aic").fit(hypotheses(), motor_data())
    assert by_aic.result_.criterion == "aic"
    assert list(by_aic.ranking_["aic"]) == sorted(by_aic.ranking_["aic"])
    assert "AIC is lower" in by_aic.explanation_


def test_result_serializes_for_a_tracker(diagnosis):
    d = json.loads(json.dumps(diagnosis.result_.to_dict()))
    assert d["best"] == "fins_fouled" and set(d["ranking"]) == {"fins_fouled", "heavier_housing", "both"}
    assert d["ranking"]["fins_fouled"]["estimates"][R_HA] == pytest.approx(0.075, rel=0.03)
    assert str(diagnosis.result_) == diagnosis.explanation_


def test_frame_input_cuts_one_window_per_model(diagnosis):
    diag = Diagnosis().fit(hypotheses(), motor_frame(), outputs=["winding_temperature"])
    assert diag.best_ == "fins_fouled"
    assert diag.result_.observations_hash == diagnosis.result_.observations_hash


def test_compare_ranks_calibrators_fitted_elsewhere(diagnosis):
    data = motor_data()
    fits = {h.name: LeastSquaresCalibrator(h.parameters, initial_states=h.initial_states).fit(MOTOR_THERMAL, data)
            for h in hypotheses()}
    diag = Diagnosis().compare(fits, descriptions={"fins_fouled": "the cooling fins are fouled"})
    assert diag.best_ == "fins_fouled"
    assert np.allclose(diag.ranking_["bic"], diagnosis.ranking_["bic"])


# ------------------------------------------------------------------ failures
def test_a_hypothesis_that_fails_is_reported_not_dropped():
    broken = {"broken": {"parameters": [R_HA], "initial_states": ["housing_temperature"],
                         "params": {"copper_loss_resistance": -1.0}}}  # outside its bounds [0, 1e3] ohm
    diag = Diagnosis().fit(hypotheses(**broken), motor_data())
    table = diag.ranking_
    assert list(table.index) == ["fins_fouled", "both", "heavier_housing", "broken"]
    row = table.loc["broken"]
    assert row["status"] == "failed" and pd.isna(row["rank"]) and math.isnan(row["bic"])
    assert "copper_loss_resistance" in row["error"] and "bounds" in row["error"]
    assert "broken" in diag.result_.errors
    assert "Could not be fitted: broken" in diag.explanation_
    assert np.isclose(table["bic_weight"].sum(), 1.0)


def test_a_model_without_the_channels_it_needs_is_reported():
    from tests.models_for_tests import STIFF

    hs = hypotheses() + [Hypothesis("wrong_model", STIFF, ["k"])]
    diag = Diagnosis().fit(hs, motor_frame(), outputs=["winding_temperature"])
    row = diag.ranking_.loc["wrong_model"]
    assert row["status"] == "failed" and "winding_temperature" in row["error"]
    assert diag.best_ == "fins_fouled"
    with pytest.raises(CalibrationError, match="no hypothesis could be given its data.*motor_current"):
        Diagnosis().fit(hypotheses(), motor_frame().drop(columns="motor_current"), outputs=["winding_temperature"])


def test_when_every_hypothesis_fails_the_error_lists_each_reason():
    bad = {"params": {"copper_loss_resistance": -1.0}}
    hs = [Hypothesis(n, MOTOR_THERMAL, [R_HA], **bad) for n in ("a", "b")]
    with pytest.raises(CalibrationError, match="no hypothesis could be fitted.*a: .*b: "):
        Diagnosis().fit(hs, motor_data())


# ------------------------------------------------------------------ bad input
def test_empty_or_single_hypothesis_lists_are_rejected():
    with pytest.raises(ConfigurationError, match="list of hypotheses is empty"):
        Diagnosis().fit([], motor_data())
    with pytest.raises(ConfigurationError, match="only 'fins_fouled' was given"):
        Diagnosis().fit(hypotheses()[:1], motor_data())
    with pytest.raises(ConfigurationError, match="appear more than once"):
        Diagnosis().fit(hypotheses()[:1] * 2, motor_data())
    with pytest.raises(ConfigurationError, match="calibration.Hypothesis"):
        Diagnosis().fit(hypotheses() + [("x", MOTOR_THERMAL, [R_HA])], motor_data())


def test_hypotheses_fitted_to_different_data_are_refused():
    hs = hypotheses()
    windows = {hs[0].name: motor_data(seed=0), hs[1].name: motor_data(seed=0), hs[2].name: motor_data(seed=1)}
    with pytest.raises(CalibrationError, match="different data.*same observations"):
        Diagnosis().fit(hs, windows)
    with pytest.raises(ConfigurationError, match="no window for the hypotheses"):
        Diagnosis().fit(hs, {hs[0].name: motor_data()})
    fits = {h.name: LeastSquaresCalibrator(h.parameters).fit(MOTOR_THERMAL, motor_data(seed=i, hours=3.0))
            for i, h in enumerate(hs[:2])}
    with pytest.raises(CalibrationError, match="fitted to different data"):
        Diagnosis().compare(fits)
    with pytest.raises(ConfigurationError, match="name the measured channels"):
        Diagnosis().fit(hs, motor_frame())
    with pytest.raises(ConfigurationError, match="pass a CalibrationData"):
        Diagnosis().fit(hs, motor_frame().to_numpy())


def test_hypothesis_names_are_checked_against_the_model():
    with pytest.raises(ConfigurationError, match="no param named 'fouling'"):
        Hypothesis("x", MOTOR_THERMAL, ["fouling"])
    with pytest.raises(ConfigurationError, match=r"not one string; write \['thermal"):
        Hypothesis("x", MOTOR_THERMAL, R_HA)
    with pytest.raises(ConfigurationError, match="fits no parameter"):
        Hypothesis("x", MOTOR_THERMAL, [])
    with pytest.raises(ConfigurationError, match="no state named"):
        Hypothesis("x", MOTOR_THERMAL, [R_HA], x0={"oil_temperature": 300.0})
    with pytest.raises(ConfigurationError, match="not a sim.physics.Model"):
        Hypothesis("x", "motor", [R_HA])


def test_settings_are_validated_and_follow_the_estimator_contract():
    est = Diagnosis()
    params = est.get_params()
    assert set(params) == {p for p in inspect.signature(Diagnosis.__init__).parameters if p != "self"}
    assert Diagnosis(**params).get_params() == params
    assert not [k for k in vars(est) if k.endswith("_")]
    with pytest.raises(ConfigurationError, match="get_params"):
        est.set_params(criterion_="bic")
    for kw, match in (({"criterion": "dic"}, "choose one of"), ({"alpha": 1.5}, r"alpha = 1.5 must lie in \(0, 1\)"),
                      ({"lags": 0}, "positive integer")):
        with pytest.raises(ConfigurationError, match=match):
            Diagnosis(**kw).fit(hypotheses(), motor_data())
    with pytest.raises(ConfigurationError, match="LeastSquaresCalibrator"):
        Diagnosis(calibrator=object()).fit(hypotheses(), motor_data())


# ------------------------------------------------------------------ whiteness
def naive_ljung_box(x, h):
    x = np.asarray(x, float) - np.mean(x)
    n = x.size
    acf = [sum(x[t] * x[t - k] for t in range(k, n)) / sum(v * v for v in x) for k in range(1, h + 1)]
    return n * (n + 2) * sum(a * a / (n - k) for k, a in enumerate(acf, start=1))


def test_ljung_box_matches_the_formula_and_separates_white_from_correlated():
    rng = np.random.default_rng(3)
    white = rng.normal(size=400)
    q, p = ljung_box(white, 10)
    assert q == pytest.approx(naive_ljung_box(white, 10), rel=1e-10)
    assert p > 0.05
    ar = np.zeros(400)
    for i in range(1, 400):
        ar[i] = 0.5 * ar[i - 1] + white[i]
    assert ljung_box(ar, 10)[1] < 1e-10
    with_gaps = np.where(np.arange(400) % 50 == 0, np.nan, white)
    assert ljung_box(with_gaps, 5)[0] == pytest.approx(naive_ljung_box(white[np.isfinite(with_gaps)], 5))
    assert ljung_box(np.zeros(50), 5) == (0.0, 1.0)
    with pytest.raises(CalibrationError, match="more samples"):
        ljung_box(white[:5], 10)
