"""The job can calibrate any window (start and end dates, or the last N hours) and replay any library model."""

import warnings

import numpy as np
import pandas as pd
import pytest

from calibration import CalibrationData, LeastSquaresCalibrator, window_bounds
from scenarios.reference.plant import shadow_replay
from sim.exceptions import ConfigurationError, DataQualityWarning
from sim.physics import MOTOR_THERMAL, MOTOR_THERMAL_SPEC as SPEC, PUMP
from sim.telemetry import ChannelMap, read_frame
from tests.helpers import MOTOR_TRUTH, motor_frame, pump_frame

DAY0 = pd.Timestamp("2026-06-01", tz="UTC")


@pytest.fixture(scope="module")
def frame():
    return motor_frame(0, hours=12.0, period=60.0)[0]  # 00:00 .. 11:59 UTC, one row a minute


def quiet_bounds(index, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for a window inside the data
        return window_bounds(index, **kw)


# ------------------------------------------------------------------ cutting
def test_a_window_by_dates_by_the_last_hours_or_a_span_from_a_date(frame):
    idx = frame.index
    assert quiet_bounds(idx, start="2026-06-01T02:00Z", end="2026-06-01T05:00Z") == (DAY0 + pd.Timedelta("2h"),
                                                                                      DAY0 + pd.Timedelta("5h"))
    assert quiet_bounds(idx, last="6h") == (idx[-1] - pd.Timedelta("6h"), idx[-1])
    assert quiet_bounds(idx, last=pd.Timedelta(hours=2), end="2026-06-01 04:00") == (DAY0 + pd.Timedelta("2h"),
                                                                                      DAY0 + pd.Timedelta("4h"))
    assert quiet_bounds(idx, start=DAY0 + pd.Timedelta("1h"), last="30min") == (DAY0 + pd.Timedelta("1h"),
                                                                                 DAY0 + pd.Timedelta("90min"))
    # naive times are the index's zone (UTC); a window that ends within one sample of the data does not warn
    assert quiet_bounds(idx, last="12h")[0] == idx[-1] - pd.Timedelta("12h") < idx[0]
    data = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"], last="3h")
    same = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"], start=idx[-1] - pd.Timedelta("3h"),
                                      end=idx[-1])
    assert data.content_hash == same.content_hash and data.end == idx[-1] and data.t[-1] == 3 * 3600.0


def test_a_window_longer_than_the_data_warns_with_what_is_covered(frame):
    with pytest.warns(DataQualityWarning, match=r"\(24 h\) is longer than the data.*fit rests on 12 h"):
        data = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"], last="24h")
    assert data.t.size == len(frame)
    with pytest.warns(DataQualityWarning, match="longer than the data"):
        window_bounds(frame.index, start="2026-06-01T06:00Z", end="2026-06-02T00:00Z")


@pytest.mark.parametrize("kw, message", [
    ({"last": 6}, r"last = 6 needs a unit.*pd.Timedelta\(hours=window_h\)"),
    ({"last": "-1h"}, "must be a positive time span"),
    ({"start": "2026-06-01T01:00Z", "end": "2026-06-01T02:00Z", "last": "1h"}, "at most two of start"),
    ({"start": "2026-06-01T05:00Z", "end": "2026-06-01T02:00Z"}, r"starts \(2026-06-01 05:00:00\+00:00\) after"),
    ({"start": "yesterday-ish"}, "is not a date/time"),
])
def test_bad_windows_are_explained(frame, kw, message):
    with pytest.raises(ConfigurationError, match=message):
        window_bounds(frame.index, **kw)


def test_a_window_cut_by_dates_calibrates_like_the_same_rows(frame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_dates = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"],
                                              start="2026-06-01T01:00Z", end="2026-06-01T07:00Z")
        cal = LeastSquaresCalibrator(list(MOTOR_TRUTH)).fit(MOTOR_THERMAL, by_dates)
    assert cal.record_.window["start"] == "2026-06-01T01:00:00+00:00"
    assert cal.record_.window["end"] == "2026-06-01T07:00:00+00:00"
    for name, true in MOTOR_TRUTH.items():
        lo, hi = cal.intervals_[name]
        assert lo < true < hi


# ------------------------------------------------------------------ replay of any library model
@pytest.fixture(scope="module")
def pump_stream():
    frame, _ = pump_frame(4, minutes=10)
    channels = {name: {"column": name, "unit": PUMP.spec.var(kind, name).unit,
                       "si_unit": PUMP.spec.var(kind, name).unit}
                for kind, names in (("inputs", PUMP.spec.names("inputs")), ("outputs", ["flow", "shaft_power"]))
                for name in names}
    return read_frame(frame[list(channels)], ChannelMap.from_dict({"channels": channels}))


def test_shadow_replay_runs_any_library_model_by_object_name_or_record(pump_stream):
    x0 = {"flow": 0.028}
    by_object, end = shadow_replay(pump_stream, motor_params={}, x0=x0, model=PUMP)
    by_name, _ = shadow_replay(pump_stream, motor_params={}, x0=x0, model="centrifugal_pump")
    pd.testing.assert_frame_equal(by_object, by_name)
    measured = pump_stream.frame["flow"].to_numpy()
    np.testing.assert_array_equal(by_object["measured"].to_numpy(), measured)  # the first output the stream has
    # the spec-default pump made the data: residuals are the 1 % measurement noise
    assert np.sqrt(np.mean((by_object["residual"] / by_object["measured"]) ** 2)) == pytest.approx(0.01, rel=0.2)
    assert set(end) == set(PUMP.spec.names("states"))
    power, _ = shadow_replay(pump_stream, motor_params={}, x0=x0, model=PUMP, output="shaft_power")
    assert np.sqrt(np.mean((power["residual"] / power["measured"]) ** 2)) == pytest.approx(0.01, rel=0.2)
    # a record names its model: the replay uses it without being told
    data = CalibrationData.from_frame(pump_stream.frame, PUMP.spec, outputs=["flow", "shaft_power"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = LeastSquaresCalibrator(["bep_efficiency"], initial_states=(), max_step=1.0).fit(PUMP, data, x0=x0)
    replay, _ = shadow_replay(pump_stream, motor_params=cal.record_, x0=x0)
    np.testing.assert_array_equal(replay["predicted"].to_numpy(), cal.fitted_["flow"].to_numpy())


def test_shadow_replay_explains_an_unknown_model(pump_stream):
    with pytest.raises(ConfigurationError, match=r"model = 'pmup' is not a library model; choose one of \["):
        shadow_replay(pump_stream, motor_params={}, x0={}, model="pmup")
    with pytest.raises(ConfigurationError, match="neither a sim.physics.Model"):
        shadow_replay(pump_stream, motor_params={}, x0={}, model=42)
