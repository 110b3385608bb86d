"""Profile likelihood: equals the Wald interval on a linear problem, asymmetric on a nonlinear one."""

import warnings

import numpy as np
import pytest

from calibration import CalibrationData, LeastSquaresCalibrator, ProfileLikelihood
from sim.exceptions import CalibrationError, ConfigurationError
from sim.physics import PUMP
from tests.calibration._oscillator import OSCILLATOR
from tests.helpers import oscillator_data, pump_frame


@pytest.fixture(scope="module")
def pump_fit():
    frame, _ = pump_frame(seed=3, minutes=15, noise=0.01)
    data = CalibrationData.from_frame(frame, PUMP.spec, outputs=["vibration_rms", "shaft_power"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LeastSquaresCalibrator(["vibration_base", "bep_efficiency"], initial_states=()).fit(
            PUMP, data, x0={"flow": 0.028})


def test_profile_interval_equals_wald_on_a_linear_parameter(pump_fit):
    # vibration RMS is linear in vibration_base and feeds back into nothing
    prof = pump_fit.profile("vibration_base")
    assert isinstance(prof, ProfileLikelihood)
    np.testing.assert_allclose(prof.interval, pump_fit.intervals_["vibration_base"], rtol=1e-9)
    np.testing.assert_allclose(prof.wald, pump_fit.intervals_["vibration_base"], rtol=1e-12)
    assert prof.asymmetry == pytest.approx(1.0, abs=1e-6)
    # D(v) = ((v - v_hat) / stderr)^2 along the whole profile
    z = (prof.values - prof.estimate) / pump_fit.stderr_["vibration_base"]
    np.testing.assert_allclose(prof.statistic, z ** 2, rtol=1e-6, atol=1e-9)


def test_profile_agrees_with_wald_on_a_near_linear_parameter(pump_fit):
    # shaft power is proportional to 1 / bep_efficiency: nonlinear, but only slightly over a 0.1 % interval
    prof = pump_fit.profile("bep_efficiency", n_points=11)
    lo, hi = pump_fit.intervals_["bep_efficiency"]
    assert prof.interval[0] == pytest.approx(lo, abs=0.01 * (hi - lo))
    assert prof.interval[1] == pytest.approx(hi, abs=0.01 * (hi - lo))
    assert prof.values.size >= 11 and prof.statistic.min() == pytest.approx(0.0, abs=1e-6)
    assert list(prof.others.columns) == ["vibration_base"]


def test_profile_is_asymmetric_on_a_nonlinear_problem():
    cal = LeastSquaresCalibrator(["natural_frequency", "damping_ratio"], initial_states=(), max_step=0.05)
    cal.fit(OSCILLATOR, oscillator_data(noise=0.5), params={"natural_frequency": 1.3, "damping_ratio": 0.03},
            x0={"position": 1.0})
    prof = cal.profile("damping_ratio")
    lo, hi = prof.interval
    w_lo, w_hi = prof.wald
    assert lo < 0.03 < hi and not prof.open_ends
    # a decay rate is skewed to the right: the profile reaches farther up than the symmetric Wald interval
    assert prof.asymmetry > 1.2
    assert lo > w_lo and hi > w_hi
    # the statistic crosses its threshold at the interval ends
    assert np.interp(lo, prof.values, prof.statistic) == pytest.approx(prof.threshold, rel=0.05)
    assert np.interp(hi, prof.values, prof.statistic) == pytest.approx(prof.threshold, rel=0.05)


def test_profile_needs_a_fitted_estimated_parameter(pump_fit):
    with pytest.raises(CalibrationError, match="not fitted"):
        LeastSquaresCalibrator(["vibration_base"]).profile("vibration_base")
    with pytest.raises(ConfigurationError, match="cannot profile 'density': it was not estimated"):
        pump_fit.profile("density")
    with pytest.raises(ConfigurationError, match="at least 5 points"):
        pump_fit.profile("vibration_base", n_points=3)
    import pickle

    with pytest.raises(CalibrationError, match="not pickled; fit this calibrator again"):
        pickle.loads(pickle.dumps(pump_fit)).profile("vibration_base")
