"""The calibration hand-off: CalibrationRecord's public API and simulate_window."""

import numpy as np
import pandas as pd
import pytest

from calibration import CalibrationData, CalibrationRecord, LeastSquaresCalibrator, simulate_window
from sim.exceptions import CalibrationError, ConfigurationError
from sim.physics import MOTOR_THERMAL, MOTOR_THERMAL_SPEC as SPEC
from tests.helpers import MOTOR_TRUTH, motor_frame

FITTED = list(MOTOR_TRUTH)


@pytest.fixture(scope="module")
def fitted():
    frame, _ = motor_frame(3, hours=6.0)
    data = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"])
    cal = LeastSquaresCalibrator(FITTED, initial_states=("housing_temperature",), max_step=2.0)
    return cal.fit(MOTOR_THERMAL, data), data


def test_the_record_carries_the_posterior_and_round_trips_through_json(fitted, tmp_path):
    cal, _ = fitted
    rec = cal.record_
    assert rec.names == FITTED and rec.max_step == 2.0
    assert rec.units == {n: SPEC.var("params", n).unit for n in FITTED}
    assert rec.bounds == {n: list(SPEC.var("params", n).bounds) for n in FITTED}
    np.testing.assert_array_equal(rec.mean, [cal.params_[n] for n in FITTED])
    np.testing.assert_array_equal(rec.cov, cal.covariance_.loc[FITTED, FITTED].to_numpy())
    assert rec.params() == cal.model_params_  # calibrated + fixed, every model parameter
    assert set(rec.params()) == set(SPEC.names("params")) and rec.values() == rec.params()
    assert rec.final_state == cal.final_state_
    again = CalibrationRecord.from_json(rec.to_json(tmp_path / "rec.json"))
    assert CalibrationRecord.from_json(tmp_path / "rec.json") == again == rec
    assert again.record_id == rec.record_id
    np.testing.assert_array_equal(again.cov, rec.cov)


def test_an_older_record_without_bounds_still_loads(fitted):
    rec = fitted[0].record_
    data = rec.to_dict()
    for key in ("bounds", "max_step", "record_id"):
        data.pop(key)
    old = CalibrationRecord(**data)
    assert old.params() == rec.params() and old.bounds == {} and old.max_step is None


def test_posterior_draws_are_clipped_to_the_bounds_and_drawn_as_the_calibrator_draws(fitted):
    cal, _ = fitted
    rec = cal.record_
    np.testing.assert_array_equal(rec.sample(5, np.random.default_rng(1)), cal.sample(5, np.random.default_rng(1)))
    wide = CalibrationRecord(**{**{k: v for k, v in rec.to_dict().items() if k != "record_id"},
                                "covariance": (np.diag(rec.mean ** 2) * 100).tolist()})
    draws = wide.sample(2000, np.random.default_rng(0))
    lo, hi = np.array([rec.bounds[n] for n in FITTED]).T
    assert (draws >= lo).all() and (draws <= hi).all() and (draws == lo).any()
    one = rec.draw(np.random.default_rng(2))
    assert set(one) == set(rec.params()) and one["heat_capacity_winding"] == rec.params()["heat_capacity_winding"]
    assert one[FITTED[0]] == rec.sample(1, np.random.default_rng(2))[0, 0]
    with pytest.raises(CalibrationError, match="n = -1 must be an integer >= 0"):
        rec.sample(-1, np.random.default_rng(0))


def test_simulate_window_reproduces_the_fit_and_its_final_state(fitted):
    cal, data = fitted
    run = simulate_window(MOTOR_THERMAL, cal.record_, data)  # the record's initial state, params and step
    np.testing.assert_array_equal(run.frame()["winding_temperature"].to_numpy(),
                                  cal.fitted_["winding_temperature"].to_numpy())
    assert run.final_state() == cal.final_state_
    frame = pd.DataFrame({"t": data.t, **{n: data.inputs[:, j] for j, n in enumerate(data.input_names)}})
    same = simulate_window(MOTOR_THERMAL, cal.model_params_, frame, x0=cal.initial_state_, max_step=2.0)
    np.testing.assert_array_equal(same.outputs, run.outputs)
    batch = simulate_window(MOTOR_THERMAL, np.stack([SPEC.vector("params", cal.model_params_)] * 2), data,
                            x0=SPEC.vector("states", cal.initial_state_), max_step=2.0)
    np.testing.assert_array_equal(batch.outputs[1], run.outputs[0])
    np.testing.assert_array_equal(batch.final_states[1], run.final_states[0])


def test_simulate_window_names_what_is_missing(fitted):
    cal, data = fitted
    with pytest.raises(ConfigurationError, match=r"window frame lacks \['t', 'ambient_temperature'\]"):
        simulate_window(MOTOR_THERMAL, cal.record_, pd.DataFrame({"motor_current": [1.0]}))
    with pytest.raises(CalibrationError, match="final state was not computed"):
        simulate_window(MOTOR_THERMAL, cal.record_, data, final_state=False).final_state()
