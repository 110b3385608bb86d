"""Alarm logic: hysteresis, minimum hold, onset, severity, operator actions and checkpoints."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calibration import CalibrationData, Diagnosis, Hypothesis
from calibration.alarms import AlarmLogic, PCADetector, explain_diagnosis
from sim.exceptions import ConfigurationError
from sim.physics import MOTOR_THERMAL
from tests.helpers import motor_frame


def kinds(events):
    return [e.kind for e in events]


def test_a_statistic_hovering_at_the_threshold_does_not_chatter():
    rng = np.random.default_rng(1)
    x = 1.0 + 0.05 * rng.standard_normal(2000)  # crosses the threshold on about half the samples
    x[:100] = 0.2
    logic = AlarmLogic(1.0, min_on=3, min_off=3, clear_fraction=0.8)
    events = logic.update(np.arange(x.size, dtype=float), x)
    assert kinds(events).count("raised") == 1
    assert "cleared" not in kinds(events)
    plain = AlarmLogic(1.0, min_on=1, min_off=1, clear_fraction=1.0)  # no deadband, no delays: it chatters
    assert kinds(plain.update(np.arange(x.size, dtype=float), x)).count("raised") > 100


def test_min_on_and_min_hold_are_honoured():
    x = np.r_[np.zeros(10), np.full(2, 5.0), np.zeros(10), np.full(3, 5.0), np.zeros(30)]
    t = np.arange(x.size, dtype=float) * 10.0
    logic = AlarmLogic(1.0, min_on=3, min_off=2, min_hold_s=150.0)
    events = logic.update(t, x)
    assert kinds(events) == ["raised", "cleared"]
    raised, cleared = events
    assert raised.time == t[24]  # the two-sample blip did not raise; the third of three samples did
    assert cleared.time - raised.time >= 150.0
    assert cleared.time == 24 * 10.0 + 150.0
    assert logic.last_active_[0, 24] and not logic.last_active_[0, 23]


def test_onset_is_dated_to_a_true_step_even_when_raised_late():
    rng = np.random.default_rng(2)
    x = np.abs(rng.normal(0.2, 0.1, 600))
    x[400:] += 1.5
    logic = AlarmLogic(1.0, min_on=10)
    events = logic.update(np.arange(600.0), x)
    assert events[0].kind == "raised" and events[0].time >= 409
    assert abs(events[0].onset - 400) <= 3


def test_a_later_alarm_dates_its_own_onset_not_the_first_ones():
    # the statistic clears into the deadband (0.6 of the threshold: below the clear level, above the onset
    # reference 0.5), so an always-running CUSUM would never return to zero and date every later alarm at 100
    x = np.r_[np.full(100, 0.1), np.full(50, 3.0), np.full(400, 0.6), np.full(50, 3.0), np.full(100, 0.6)]
    logic = AlarmLogic(1.0, min_on=5, min_off=5)
    events = logic.update(np.arange(x.size, dtype=float), x)
    assert kinds(events) == ["raised", "cleared", "raised", "cleared"]
    first, second = events[0], events[2]
    assert first.onset == 100.0
    assert 150.0 < second.onset <= 550.0  # after the first alarm's clear, at or before the second step
    assert second.onset >= events[1].time


def test_severity_grows_with_peak_and_escalates():
    logic = AlarmLogic(1.0, min_on=1, severity_bands=(1, 2, 4, 8))
    events = logic.update(np.arange(4.0), np.array([1.5, 1.5, 3.0, 9.0]))
    assert kinds(events) == ["raised", "escalated", "escalated"]
    assert [e.severity for e in events] == [1, 2, 4]
    assert events[-1].severity_name == "critical"


def test_acknowledge_shelve_and_explain():
    logic = AlarmLogic([1.0, 1.0], assets=["p1", "p2"], min_on=1, min_off=1)
    t = np.arange(5.0)
    x = np.array([[0, 2, 2, 2, 2], [0, 0, 0, 0, 0]], dtype=float)
    assert kinds(logic.update(t, x)) == ["raised"]
    assert kinds(logic.acknowledge("p1", 5.0)) == ["acknowledged"]
    assert logic.acknowledge("p1", 5.5) == []
    logic.explain("p1", "strainer fouling")
    assert logic.active_alarms()[0].explanation == "strainer fouling"
    with pytest.raises(ConfigurationError, match="no alarm up"):
        logic.explain("p2", "x")
    logic.shelve("p2", until=20.0, time=5.0)
    ev = logic.update(np.arange(6.0, 25.0), np.vstack([np.zeros(19), np.full(19, 3.0)]))
    assert [(e.kind, e.asset) for e in ev] == [("cleared", "p1"), ("raised", "p2")]
    assert ev[0].explanation == "strainer fouling"
    assert ev[1].time == 20.0


def test_events_name_the_channels_that_carried_the_statistic():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2000, 4)) @ rng.normal(size=(4, 4))
    det = PCADetector(n_components=2).fit(X)
    Y = X[:300].copy()
    Y[150:, 2] += 8 * X[:, 2].std()
    logic = AlarmLogic.for_detector(det, min_on=3)
    events = logic.update(np.arange(300.0), det.statistic(Y), det.contributions(Y))
    raised = [e for e in events if e.kind == "raised"]
    assert raised and raised[0].top_channels[0][0] == "x2"


def _stream(seed, n=400):
    rng = np.random.default_rng(seed)
    x = np.abs(rng.normal(0.3, 0.3, (2, n)))
    x[0, 100:180] += 2.0
    x[1, 250:260] += 5.0
    x[1, 300:] *= 4.0
    x[0, rng.integers(0, n, 10)] = np.nan
    c = np.abs(rng.normal(size=(2, n, 3)))
    return np.arange(n) * 10.0, x, c


@settings(max_examples=30, deadline=None)
@given(cuts=st.lists(st.integers(1, 399), min_size=1, max_size=4, unique=True), seed=st.integers(0, 3))
def test_checkpoint_and_restore_mid_stream_gives_identical_events(cuts, seed):
    t, x, c = _stream(seed)
    make = dict(assets=["a", "b"], channels=["u", "v", "w"], min_on=2, min_off=3, min_hold_s=50.0,
                escalate_after_s=300.0, keep=120)
    whole = AlarmLogic([1.0, 1.5], **make)
    expected = whole.update(t, x, c)
    logic = AlarmLogic([1.0, 1.5], **make)
    got, bounds = [], [0, *sorted(cuts), t.size]
    for lo, hi in zip(bounds, bounds[1:]):
        got += logic.update(t[lo:hi], x[:, lo:hi], c[:, lo:hi])
        logic = AlarmLogic.from_state(json.loads(json.dumps(logic.state_dict())))
    assert sorted(got, key=lambda e: (e.time, e.asset)) == sorted(expected, key=lambda e: (e.time, e.asset))
    assert logic.state_dict() == json.loads(json.dumps(whole.state_dict()))


def test_replayed_samples_are_not_counted_twice():
    t, x, _ = _stream(0)
    logic = AlarmLogic([1.0, 1.5], min_on=2)
    first = logic.update(t[:200], x[:, :200])
    again = logic.update(t[:250], x[:, :250])  # overlaps the first block: only 200..249 are new
    ref = AlarmLogic([1.0, 1.5], min_on=2).update(t[:250], x[:, :250])
    assert first + again == ref


def test_bad_settings_name_the_value_and_the_rule():
    with pytest.raises(ConfigurationError, match="clear_fraction"):
        AlarmLogic(1.0, clear_fraction=1.5)
    with pytest.raises(ConfigurationError, match="2 thresholds for 3 assets"):
        AlarmLogic([1.0, 2.0], assets=["a", "b", "c"])
    with pytest.raises(ConfigurationError, match="must be"):
        AlarmLogic(1.0).update(np.arange(3.0), np.zeros(4))
    assert json.loads(json.dumps(AlarmLogic(1.0).state_dict()))["state"]["shelved_until"] == ["-inf"]


def test_the_per_sample_statistic_and_state_are_kept():
    t, x, _ = _stream(1)
    logic = AlarmLogic([1.0, 1.5], assets=["a", "b"], min_on=2, keep=150)
    logic.update(t[:300], x[:, :300])
    logic.update(t[300:], x[:, 300:])
    np.testing.assert_array_equal(logic.last_statistic_, x[:, 300:])
    h = logic.history("b")
    np.testing.assert_array_equal(h["time"], t[-150:])
    np.testing.assert_array_equal(h["statistic"], x[1, -150:])
    assert h["active"].dtype == bool and h["active"].size == 150 and h["threshold"] == 1.5


def test_a_diagnosis_becomes_a_short_explanation_with_its_evidence():
    frame, _ = motor_frame(0, hours=1.0, period=20.0)
    data = CalibrationData.from_frame(frame, MOTOR_THERMAL.spec, outputs=["winding_temperature"])
    result = Diagnosis().fit([Hypothesis("fins", MOTOR_THERMAL, ["thermal_resistance_housing_ambient"]),
                              Hypothesis("mass", MOTOR_THERMAL, ["heat_capacity_housing"])], data).result_
    text = explain_diagnosis(result)
    assert text.startswith(result.best + " (")
    assert f"BIC margin {result.margin:.1f} over {result.runner_up}: {result.strength}" in text
    assert "BIC weight" in text and "Ljung-Box p =" in text
    estimate = next(iter(result.ranking.at[result.best, "estimates"]))
    assert estimate in text
    logic = AlarmLogic(1.0, min_on=1, min_off=1)
    logic.update(np.arange(3.0), np.array([0.0, 2.0, 2.0]))
    logic.explain(0, text)
    assert logic.update(np.arange(3.0, 5.0), np.zeros(2))[0].explanation == text
