"""Parameter recovery from synthetic pump telemetry: 95 % intervals cover the truth in >= 90 % of 50 seeds."""

import warnings

import numpy as np

from calibration import CalibrationData, LeastSquaresCalibrator
from sim.physics import PUMP
from tests.helpers import pump_frame

SPEC = PUMP.spec
CHANNELS = ["flow", "discharge_pressure", "shaft_power", "motor_current"]
FITTED = ["head_coefficient_0", "head_coefficient_2", "bep_efficiency", "pipe_resistance"]
START = {"head_coefficient_0": 1.2, "head_coefficient_2": 0.8, "bep_efficiency": 0.9, "pipe_resistance": 1.25}


def test_intervals_cover_the_truth_in_at_least_90_percent_of_50_seeds():
    truth = {k: SPEC.var("params", k).default for k in FITTED}
    start = {k: truth[k] * START[k] for k in FITTED}
    covered = {k: 0 for k in FITTED}
    errors = []
    for seed in range(50):
        noise = 0.01 + 0.04 * seed / 49  # 1 % .. 5 %
        frame, _ = pump_frame(seed, noise=noise)
        data = CalibrationData.from_frame(frame, SPEC, outputs=CHANNELS)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cal = LeastSquaresCalibrator(FITTED, initial_states=()).fit(PUMP, data, params=start,
                                                                        x0={"flow": 0.028})
        assert cal.success_, (seed, cal.message_)
        for k in FITTED:
            lo, hi = cal.intervals_[k]
            covered[k] += lo < truth[k] < hi
        errors.append(max(abs(cal.params_[k] / truth[k] - 1) for k in FITTED))
    print(f"coverage of the 95 % intervals over 50 seeds: {covered}")
    assert all(n >= 45 for n in covered.values()), covered
    assert max(errors) < 0.1, max(errors)  # within 10 % even at 5 % noise on 10 min of data
    assert np.median(errors) < 0.02, np.median(errors)
