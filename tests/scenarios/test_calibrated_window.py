"""One calibrated window, three consumers: the fit's residuals, the shadow replay and the registry's prediction
simulate it through calibration.simulate_window and agree bit for bit."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from calibration import CalibrationData, LeastSquaresCalibrator
from scenarios.config import bundled_data
from scenarios.reference.plant import shadow_replay
from scenarios.tracking.registry import CalibratedTwin, frame_of
from sim.physics import MOTOR_THERMAL
from sim.telemetry import ChannelMap, read_csv

ROOT = Path(__file__).resolve().parents[2]
WINDOW_H = 6.0


@pytest.fixture(scope="module")
def calibrated():
    cfg = yaml.safe_load((ROOT / "conf" / "telemetry" / "reference.yaml").read_text())
    for key in ("defaults", "path"):
        cfg.pop(key)
    stream = read_csv(bundled_data("reference_telemetry.csv"), ChannelMap.from_dict(cfg))
    end = stream.frame.index[-1]
    data = CalibrationData.from_frame(stream.frame, MOTOR_THERMAL.spec, outputs=["winding_temperature"],
                                      source_hash=stream.content_hash, start=end - pd.Timedelta(hours=WINDOW_H),
                                      end=end)
    cal = LeastSquaresCalibrator(max_step=1.0).fit(MOTOR_THERMAL, data)
    window = stream.window((data.start - stream.t0).total_seconds(), (data.end - stream.t0).total_seconds() + 1.0)
    return cal, data, window


def test_fit_shadow_replay_and_registry_prediction_give_identical_numbers(calibrated):
    cal, data, window = calibrated
    record = cal.record_
    fitted = cal.fitted_["winding_temperature"].to_numpy()
    replay, replay_end = shadow_replay(window, motor_params=record, x0=record.initial_state)
    twin = CalibratedTwin(record, x0=record.initial_state, max_step=record.max_step)
    predicted = twin.predict(frame_of(data))["winding_temperature"].to_numpy()
    assert len(fitted) == len(replay) == len(predicted) == data.t.size > 2000
    np.testing.assert_array_equal(replay["predicted"].to_numpy(), fitted)
    np.testing.assert_array_equal(predicted, fitted)
    np.testing.assert_array_equal(replay["residual"].to_numpy(), -cal.residuals_["winding_temperature"].to_numpy())
    assert replay_end == record.final_state  # the state the what-if forks from
    assert replay.index[0] == data.start and replay.index[-1] == data.end
    # and the calibrated twin explains the window better than the nameplate twin
    nameplate, _ = shadow_replay(window, motor_params={}, x0=record.initial_state, max_step=1.0)
    assert np.sqrt(np.nanmean(replay["residual"] ** 2)) < np.sqrt(np.nanmean(nameplate["residual"] ** 2))
