import numpy as np
import pandas as pd
import pytest

from calibration import CalibrationData, CalibrationRecord, LeastSquaresCalibrator
from sim.exceptions import CalibrationError, ConfigurationError
from sim.physics import MOTOR_THERMAL, MOTOR_THERMAL_SPEC as SPEC
from tests.calibration._oscillator import OSCILLATOR
from tests.helpers import MOTOR_TRUTH, oscillator_data
from tests.helpers import motor_frame as synthetic_frame

TRUTH = MOTOR_TRUTH
FITTED = list(TRUTH)


def fit(seed, **kw):
    frame, _ = synthetic_frame(seed, **kw)
    data = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"])
    return LeastSquaresCalibrator(FITTED, initial_states=("housing_temperature",)).fit(MOTOR_THERMAL, data), data


def test_recovers_truth_within_95_percent_intervals():
    cal, data = fit(seed=0)
    for name, true in TRUTH.items():
        lo, hi = cal.intervals_[name]
        assert lo < true < hi, (name, lo, true, hi)
        assert abs(cal.params_[name] / true - 1) < 0.02
    assert cal.success_
    assert cal.metrics_["winding_temperature"]["rmse"] == pytest.approx(0.3, rel=0.1)
    assert cal.noise_std_["winding_temperature"] == pytest.approx(0.3, rel=0.1)
    assert cal.initial_state_["housing_temperature"] == pytest.approx(312.0, abs=1.0)


def test_interval_coverage_is_close_to_nominal():
    covered = []
    for seed in range(20):
        cal, _ = fit(seed, hours=6.0, period=20.0)
        covered += [cal.intervals_[n][0] < v < cal.intervals_[n][1] for n, v in TRUTH.items()]
    # 40 intervals at 95 %: P(fewer than 34 cover) < 1 %
    assert sum(covered) >= 34, sum(covered)


def test_record_round_trips_and_names_the_data_window():
    cal, data = fit(seed=1)
    rec = cal.record_
    assert rec.window["content_hash"] == data.content_hash
    assert rec.window["start"] == "2026-06-01T00:00:00+00:00"
    again = CalibrationRecord.from_json(rec.to_json())
    assert again == rec and again.record_id == rec.record_id
    assert rec.values()["heat_capacity_winding"] == SPEC.var("params", "heat_capacity_winding").default
    assert rec.parameters["heat_capacity_housing"]["unit"] == "J/K"


def test_posterior_samples_follow_the_covariance():
    cal, _ = fit(seed=2)
    draws = cal.sample(4000, np.random.default_rng(0))
    np.testing.assert_allclose(draws.std(axis=0), [cal.stderr_[n] for n in FITTED], rtol=0.08)


def test_estimator_contract():
    cal = LeastSquaresCalibrator(FITTED)
    assert cal.get_params()["parameters"] == FITTED
    cal.set_params(confidence=0.9)
    assert cal.confidence == 0.9
    with pytest.raises(ConfigurationError, match="get_params"):
        cal.set_params(confidense=0.9)
    with pytest.raises(CalibrationError, match="not fitted"):
        cal.sample(3, np.random.default_rng(0))


def test_too_little_data_and_unknown_names_are_explained():
    frame, _ = synthetic_frame(0, hours=0.01)
    data = CalibrationData.from_frame(frame.iloc[:2], SPEC, outputs=["winding_temperature"])
    with pytest.raises(CalibrationError, match="too little data.*window"):
        LeastSquaresCalibrator(FITTED).fit(MOTOR_THERMAL, data)
    with pytest.raises(ConfigurationError, match="no param named 'R_ha'"):
        LeastSquaresCalibrator(["R_ha"]).fit(MOTOR_THERMAL, CalibrationData.from_frame(frame, SPEC,
                                                                                       outputs=["winding_temperature"]))
    with pytest.raises(CalibrationError, match="lacks the channels"):
        CalibrationData.from_frame(frame.drop(columns="motor_current"), SPEC, outputs=["winding_temperature"])


def test_quarantined_inputs_are_carried_forward_and_counted():
    frame, _ = synthetic_frame(0, hours=1.0)
    frame.iloc[5:8, 0] = np.nan
    frame.iloc[0, 1] = np.nan
    data = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"])
    assert data.n_filled == 3 and data.t[0] == 0.0 and data.t.size == len(frame) - 1
    assert np.all(np.isfinite(data.inputs))


# ------------------------------------------------------------------ bad input
def test_a_window_of_quarantined_measurements_is_explained():
    frame, _ = synthetic_frame(0, hours=1.0)
    frame["winding_temperature"] = np.nan
    data = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"])
    with pytest.raises(CalibrationError, match="no accepted measurement of \\['winding_temperature'\\].*quarantined"):
        LeastSquaresCalibrator(FITTED).fit(MOTOR_THERMAL, data)
    frame[["motor_current", "ambient_temperature"]] = np.nan
    with pytest.raises(CalibrationError, match="no row of the window has a value for every input"):
        CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"])


def test_a_fully_quarantined_channel_warns_and_is_left_out():
    from sim.exceptions import DataQualityWarning

    frame, _ = synthetic_frame(0, hours=6.0, period=20.0)
    frame["housing_temperature"] = np.nan
    data = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature", "housing_temperature"])
    with pytest.warns(DataQualityWarning, match="\\['housing_temperature'\\] hold no accepted value"):
        cal = LeastSquaresCalibrator(FITTED).fit(MOTOR_THERMAL, data)
    assert cal.metrics_["housing_temperature"]["n"] == 0
    assert abs(cal.params_["thermal_resistance_housing_ambient"] / 0.075 - 1) < 0.03


def test_a_model_that_diverges_raises_with_the_reason_not_a_penalty():
    from sim.exceptions import NonFiniteStateError
    cal = LeastSquaresCalibrator(["natural_frequency"], initial_states=(), max_step=0.2)
    with pytest.raises(CalibrationError, match="model failed during the fit at \\{natural_frequency: 60.*max_step") \
            as info:
        cal.fit(OSCILLATOR, oscillator_data(), params={"natural_frequency": 60.0}, x0={"position": 1.0})
    assert isinstance(info.value.__cause__, NonFiniteStateError)
    assert not hasattr(cal, "params_")


def test_non_finite_residuals_raise_with_the_channel_and_time():
    data = oscillator_data()
    data = CalibrationData(t=data.t, inputs=data.inputs, outputs=np.abs(data.outputs), input_names=data.input_names,
                           output_names=("root_position",), start=data.start, end=data.end)
    with pytest.raises(CalibrationError, match="non-finite residuals: model output 'root_position' is nan at t = "
                                               "[0-9.]+ s .*every state stayed finite"):
        LeastSquaresCalibrator(["natural_frequency"], initial_states=(), max_step=0.05).fit(
            OSCILLATOR, data, x0={"position": 1.0})


def test_a_fit_that_runs_out_of_evaluations_warns_and_is_not_a_success():
    from calibration import ConvergenceWarning

    frame, _ = synthetic_frame(0, hours=3.0, period=20.0)
    data = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"])
    with pytest.warns(ConvergenceWarning, match="did not converge.*raise max_nfev \\(now 1\\)"):
        cal = LeastSquaresCalibrator(FITTED, max_nfev=1).fit(MOTOR_THERMAL, data,
                                                             params={"heat_capacity_housing": 80000.0})
    assert cal.success_ is False


def test_residuals_that_overflow_raise_instead_of_an_infinite_cost():
    # RK4 at 0.2 s is unstable for 20 rad/s: the states stay finite over 60 s but grow to ~1e200
    with pytest.raises(CalibrationError, match="residuals overflow.*natural_frequency: 20.*max_step"):
        LeastSquaresCalibrator(["natural_frequency"], initial_states=(), max_step=0.2).fit(
            OSCILLATOR, oscillator_data(), params={"natural_frequency": 20.0}, x0={"position": 1.0})


@pytest.mark.parametrize("x_scale", ["start", {"heat_capacity_housing": 5e4}, np.array([0.1, 5e4, 300.0])])
def test_parameter_scaling_options_reach_the_same_optimum(x_scale):
    frame, _ = synthetic_frame(3, hours=6.0, period=20.0)
    data = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"])
    ref = LeastSquaresCalibrator(FITTED).fit(MOTOR_THERMAL, data)
    cal = LeastSquaresCalibrator(FITTED, x_scale=x_scale).fit(MOTOR_THERMAL, data)
    for name in FITTED:
        assert cal.params_[name] == pytest.approx(ref.params_[name], rel=1e-4)
    assert cal.cost_ == pytest.approx(ref.cost_, rel=1e-6)


def test_several_windows_share_parameters_and_get_their_own_initial_states():
    """Two experiments (a cold start and a warm restart a day later) fitted at once."""
    windows, starts = [], []
    for seed, x_h in ((11, 312.0), (12, 330.0)):
        frame, _ = synthetic_frame(seed, hours=3.0, period=20.0)
        if x_h != 312.0:  # the warm restart: simulate again from a hotter housing
            t = (frame.index - frame.index[0]).total_seconds().to_numpy()
            u = frame[["motor_current", "ambient_temperature"]].to_numpy()
            y = MOTOR_THERMAL.simulate(np.array([340.0, x_h]), SPEC.vector("params", TRUTH), t, u)[0]
            frame["winding_temperature"] = y[:, 0] + np.random.default_rng(seed).normal(0.0, 0.3, t.size)
            frame.index = frame.index + pd.Timedelta(days=1)
        windows.append(CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"]))
        starts.append(x_h)
    cal = LeastSquaresCalibrator(FITTED, initial_states=("housing_temperature",)).fit(MOTOR_THERMAL, windows)
    assert cal.theta_names_ == list(FITTED) + ["housing_temperature@0", "housing_temperature@1"]
    for name, true in TRUTH.items():
        lo, hi = cal.intervals_[name]
        assert lo < true < hi and abs(cal.params_[name] / true - 1) < 0.03, (name, lo, true, hi)
    for k, x_h in enumerate(starts):
        assert f"housing_temperature@{k}" not in cal.params_  # initial states are nuisance unknowns, not params_
        lo, hi = cal.intervals_[f"housing_temperature@{k}"]
        assert lo - 0.5 < x_h < hi + 0.5
    assert list(cal.residuals_.index.names) == ["window", "t"]
    assert len(cal.residuals_) == sum(w.t.size for w in windows)
    assert cal.initial_state_["housing_temperature"] == pytest.approx(312.0, abs=1.5)
    window = cal.record_.window
    assert [w["content_hash"] for w in window["windows"]] == [w.content_hash for w in windows]
    assert window["start"] == windows[0].start.isoformat() and window["end"] == windows[1].end.isoformat()
    # the joint fit is tighter than either window alone
    single = LeastSquaresCalibrator(FITTED, initial_states=("housing_temperature",)).fit(MOTOR_THERMAL, windows[0])
    for name in TRUTH:
        assert cal.stderr_[name] < single.stderr_[name]


def test_several_windows_must_measure_the_same_outputs():
    frame, _ = synthetic_frame(0, hours=2.0, period=20.0)
    frame["housing_temperature"] = 310.0
    a = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"])
    b = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature", "housing_temperature"])
    with pytest.raises(CalibrationError, match="same outputs"):
        LeastSquaresCalibrator(FITTED).fit(MOTOR_THERMAL, [a, b])
    with pytest.raises(CalibrationError, match="non-empty sequence"):
        LeastSquaresCalibrator(FITTED).fit(MOTOR_THERMAL, [])
    with pytest.raises(CalibrationError, match="one dict per window"):
        LeastSquaresCalibrator(FITTED).fit(MOTOR_THERMAL, [a, a], x0=[{}, {}, {}])
