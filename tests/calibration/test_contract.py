"""One contract for every calibrator (scikit-learn style), checked over all of them."""

import inspect

import numpy as np
import pandas as pd
import pytest

from calibration import (CalibrationData, CusumDetector, Diagnosis, DriftRecalibration, Hypothesis, JointUKF, LeastSquaresCalibrator, PageHinkleyDetector, SurvivalMLE,
                         check_is_fitted)
from sim.exceptions import CalibrationError, ConfigurationError
from sim.physics import MOTOR_THERMAL
from tests.helpers import motor_frame as synthetic_frame

SPEC = MOTOR_THERMAL.spec


def motor_data(seed=0, hours=3.0):
    frame, _ = synthetic_frame(seed, hours=hours, period=20.0)
    return CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"])


CASES = {
    "least_squares": (lambda: LeastSquaresCalibrator(["thermal_resistance_housing_ambient"]),
                      lambda est: est.fit(MOTOR_THERMAL, motor_data())),
    "least_squares_multistart": (
        lambda: LeastSquaresCalibrator(["thermal_resistance_housing_ambient"], global_search="multistart", n_starts=2),
        lambda est: est.fit(MOTOR_THERMAL, motor_data(hours=1.0))),
    "least_squares_de": (
        lambda: LeastSquaresCalibrator(["thermal_resistance_housing_ambient"], global_search="de", global_maxiter=3),
        lambda est: est.fit(MOTOR_THERMAL, motor_data(hours=1.0))),
    "joint_ukf": (lambda: JointUKF(["thermal_resistance_housing_ambient"]),
                  lambda est: est.fit(MOTOR_THERMAL, motor_data(hours=1.0))),
    "joint_ukf_fleet": (lambda: JointUKF(["thermal_resistance_housing_ambient"]),
                        lambda est: est.fit(MOTOR_THERMAL, [motor_data(seed=0, hours=1.0)] * 2)),
    "cusum": (lambda: CusumDetector(), lambda est: est.fit(np.random.default_rng(0).normal(size=100))),
    "page_hinkley": (lambda: PageHinkleyDetector(), lambda est: est.fit(np.random.default_rng(0).normal(size=50))),
    "diagnosis": (lambda: Diagnosis(),
                  lambda est: est.fit([Hypothesis("fins", MOTOR_THERMAL, ["thermal_resistance_housing_ambient"]),
                                       Hypothesis("mass", MOTOR_THERMAL, ["heat_capacity_housing"])],
                                      motor_data(hours=1.0))),
    "drift_recalibration": (
        lambda: DriftRecalibration(LeastSquaresCalibrator(["thermal_resistance_housing_ambient"]), window_s=3600.0,
                                   block_s=300.0),
        lambda est: est.fit(MOTOR_THERMAL, motor_data(hours=3.0))),
    "survival": (lambda: SurvivalMLE("weibull"),
                 lambda est: est.fit(np.random.default_rng(0).weibull(2.0, 50) * 100.0)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_init_only_stores_keyword_hyperparameters(name):
    make, _ = CASES[name]
    est = make()
    params = est.get_params()
    sig = inspect.signature(type(est).__init__)
    assert set(params) == {p for p in sig.parameters if p != "self"}
    assert not [k for k in vars(est) if k.endswith("_") and not k.startswith("_")], "nothing learned in __init__"
    assert type(est)(**params).get_params() == params


@pytest.mark.parametrize("name", sorted(CASES))
def test_fit_returns_self_and_learned_values_end_in_underscore(name):
    make, fit = CASES[name]
    est = make()
    before = set(vars(est))
    assert fit(est) is est
    learned = {k for k in set(vars(est)) - before if not k.startswith("_")}
    assert learned and all(k.endswith("_") for k in learned), learned


@pytest.mark.parametrize("name", sorted(CASES))
def test_set_params_validates_names_and_unfitted_use_is_explained(name):
    make, _ = CASES[name]
    est = make()
    with pytest.raises(ConfigurationError, match="get_params"):
        est.set_params(no_such_setting=1)
    with pytest.raises(CalibrationError, match="not fitted"):
        learned = {"CusumDetector": "mean_", "PageHinkleyDetector": "mean_", "Diagnosis": "best_"}
        check_is_fitted(est, learned.get(type(est).__name__, "params_"))


def test_partial_fit_tracks_parameters_over_windows():
    frame, _ = synthetic_frame(5, hours=12.0, period=20.0)
    cal = LeastSquaresCalibrator(["thermal_resistance_housing_ambient", "heat_capacity_housing"])
    for start in range(0, 12, 4):
        win = frame.loc[frame.index[0] + pd.Timedelta(hours=start): frame.index[0] + pd.Timedelta(hours=start + 4)]
        cal.partial_fit(MOTOR_THERMAL, CalibrationData.from_frame(win, SPEC, outputs=["winding_temperature"]))
    track = pd.DataFrame(cal.history_)
    assert len(track) == 3 and track["content_hash"].nunique() == 3
    inside = (track["thermal_resistance_housing_ambient.ci_low"] < 0.075) & \
        (track["thermal_resistance_housing_ambient.ci_high"] > 0.075)
    assert inside.sum() >= 2


def test_joint_ukf_tracks_parameters_and_estimates_the_noise():
    frame, _ = synthetic_frame(0, hours=12.0, period=20.0)
    data = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"])
    ukf = JointUKF(["thermal_resistance_housing_ambient", "heat_capacity_housing"]).fit(MOTOR_THERMAL, data)
    for name, truth in (("thermal_resistance_housing_ambient", 0.075), ("heat_capacity_housing", 52000.0)):
        lo, hi = ukf.intervals_[name]
        assert lo < truth < hi, (name, lo, truth, hi)
    assert ukf.noise_std_["winding_temperature"] == pytest.approx(0.3, rel=0.15)
    track = pd.DataFrame(ukf.track_)
    assert len(track) == len(data.t)
    first, last = track.iloc[10], track.iloc[-1]
    width = lambda row: row["heat_capacity_housing.ci_high"] - row["heat_capacity_housing.ci_low"]  # noqa: E731
    assert width(last) < width(first) / 5  # the data shrink the uncertainty


@pytest.mark.parametrize("name", ["least_squares", "joint_ukf"])
def test_fitted_calibrators_pickle(name):
    import pickle

    make, fit = CASES[name]
    est = fit(make())
    again = pickle.loads(pickle.dumps(est))
    assert again.params_ == est.params_ and again.get_params() == est.get_params()
