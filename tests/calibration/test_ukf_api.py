"""JointUKF's public filter API (issue 16, step 2): start + step filter exactly as fit, step reports innovations
whose spread is the update's own, and the filter state is read and moved only through public names."""

import numpy as np
import pandas as pd
import pytest

from calibration import CalibrationData, JointUKF
from calibration.ukf import UkfStep
from sim.exceptions import CalibrationError, ConfigurationError
from tests.sim.fmu.thermal_numba import THERMAL_MASS

START = pd.Timestamp("2026-06-01", tz="UTC")
DT, N, NOISE = 10.0, 240, 0.05  # [s], samples, [K]


def window(c=1000.0, r=0.12, seed=0, missing=()):
    """A heated mass (C dT/dt = P - (T - T_a) / R, exact solution) sampled every DT with NOISE [SI]."""
    t = np.arange(N) * DT
    u = np.column_stack([np.where((t // 600) % 2 == 0, 400.0, 50.0), np.full(N, 293.15)])
    x = np.empty(N)
    x[0] = 300.0
    for j in range(N - 1):
        steady = u[j, 1] + u[j, 0] * r
        x[j + 1] = steady + (x[j] - steady) * np.exp(-DT / (r * c))
    y = x + np.random.default_rng(seed).normal(0.0, NOISE, N)
    y[list(missing)] = np.nan
    return CalibrationData(t=t, inputs=u, outputs=y[:, None], input_names=("heating_power", "ambient_temperature"),
                           output_names=("temperature",), start=START, end=START + pd.Timedelta(seconds=t[-1]))


def ukf(**kw):
    return JointUKF(**{"parameters": ("thermal_resistance",), "noise_std": {"temperature": NOISE},
                       "state_std": 1e-3, "param_walk": 0.0, "max_step": DT / 4, **kw})


PRIOR = {"heat_capacity": 1000.0, "thermal_resistance": 0.1}


@pytest.mark.kernel
def test_start_then_step_filters_as_fit_block_invariantly_and_reports_the_updates_innovations():
    data = window(missing=(7, 8))
    fitted = ukf().fit(THERMAL_MASS, data, params=PRIOR)
    stepped = ukf().start(THERMAL_MASS, data, params=PRIOR)
    assert stepped.track_ is None and np.isnan(stepped.last_time_) and stepped.origin_ == START
    out = stepped.step(data.t[:100], data.outputs[:100, None, :], data.inputs[:100, None, :])
    rest = stepped.step(data.t[100:], data.outputs[100:, None, :], data.inputs[100:, None, :])
    assert isinstance(out, UkfStep) and out.residual.shape == (100, 1, 1)
    one = ukf().start(THERMAL_MASS, data, params=PRIOR)
    whole = one.step(data.t, data.outputs[:, None, :], data.inputs[:, None, :])
    for name in ("mean_", "covariance_", "base_params_"):  # blocks do not matter, to the bit
        np.testing.assert_array_equal(getattr(stepped, name), getattr(one, name))
    np.testing.assert_array_equal(np.concatenate([out.residual, rest.residual]), whole.residual)
    # step redraws the sigma points from the predicted mean and covariance before the update (so its spread is
    # the update's own sqrt(S)); fit reuses the propagated ones: the same filter to ~1e-5
    np.testing.assert_allclose(stepped.mean_, fitted.mean_, rtol=1e-5)
    np.testing.assert_allclose(np.concatenate([out.params, rest.params])[:, 0, 0],
                               fitted.track_["thermal_resistance"].to_numpy(), rtol=1e-4)
    assert stepped.last_time_ == fitted.last_time_ == data.t[-1]
    # the innovations: NaN where not measured, centred with unit spread (the spread is sqrt(S) of the update)
    z = np.concatenate([out.residual, rest.residual])[:, 0, 0] / np.concatenate([out.spread, rest.spread])[:, 0, 0]
    assert np.isnan(z[[7, 8]]).all() and np.isfinite(np.delete(z, [7, 8])).all()
    z = np.delete(z, [7, 8])[10:]
    assert abs(z.mean()) < 0.2 and 0.8 < z.std() < 1.2
    assert abs(stepped.params_["thermal_resistance"] - 0.12) < 2 * stepped.stderr_["thermal_resistance"]


def test_the_filter_state_is_read_as_copies_and_moved_by_set_model_params():
    f = ukf().fit(THERMAL_MASS, window(), params=PRIOR)
    state = f.filter_state()
    assert list(state) == ["mean", "covariance", "noise_variance", "base_params", "last_inputs", "last_time"]
    z = f.mean_
    z[:] = 0.0
    assert f.mean_[0, 0] > 250.0  # a copy
    f.set_model_params({"thermal_resistance": 0.2, "heat_capacity": 1500.0})
    assert f.mean_[0, 1] == 0.2 and f.params_["thermal_resistance"] == 0.2
    assert f.base_params_[0].tolist() == [1500.0, 0.2]
    assert f.spec_.name == THERMAL_MASS.spec.name and f.channels_ == ("temperature",)
    with pytest.raises(ConfigurationError, match="'nope'"):
        f.set_model_params({"nope": 1.0})
    with pytest.raises(ConfigurationError, match="asset = 3"):
        f.set_model_params({"heat_capacity": 1.0}, asset=3)


def test_step_explains_what_it_cannot_filter():
    with pytest.raises(CalibrationError, match="not fitted"):
        ukf().step(np.array([1.0]), np.zeros((1, 1, 1)), np.zeros((1, 1, 2)))
    with pytest.raises(CalibrationError, match="not fitted"):
        ukf().mean_
    f = ukf().fit(THERMAL_MASS, window(), params=PRIOR)
    last = f.last_time_
    with pytest.raises(ConfigurationError, match="shape"):
        f.step(np.array([last + 1]), np.zeros((1, 2, 1)), np.zeros((1, 1, 2)))
    with pytest.raises(ConfigurationError, match="not after the last filtered sample"):
        f.step(np.array([last]), np.zeros((1, 1, 1)), np.zeros((1, 1, 2)))
    with pytest.raises(ConfigurationError, match="increase strictly"):
        f.step(np.array([last + 2, last + 1]), np.zeros((2, 1, 1)), np.zeros((2, 1, 2)))
    with pytest.raises(CalibrationError, match="non-finite"):
        f.step(np.array([last + 1]), np.zeros((1, 1, 1)), np.full((1, 1, 2), np.nan))
    assert f.last_time_ == last  # nothing was filtered
