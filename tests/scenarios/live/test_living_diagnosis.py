"""Fouling vs ambient load vs sensor drift, told apart on synthetic days built here (issue 14): the diagnosis
window starts where an alarm would put it - after the effect began - and the twin's states come from a lead-in
through the measured inputs, so a drifting sensor cannot pass for a warm motor."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from scenarios.reference.diagnosis import (EFFECT_STATES, NUISANCE_STATES, REFERENCE_OUTPUTS, diagnose_reference,
                                           reference_hypotheses, twin_states)
from scenarios.reference.faults import TRUTH_PUMP_PARAMS
from scenarios.reference.living import (LivingEvent, LivingScenario, generate_living_telemetry,
                                        read_living_telemetry, simulate_living_truth)
from sim.exceptions import CalibrationError

LEAD_H = 4.5  # five of the motor's slowest thermal time constants, (R_wh + R_ha) C_h = 3200 s


def day(event, seed):
    """One synthetic Monday (production 06-22 h local) with *event*, through the historian and the gates."""
    sc = LivingScenario(days=1.0, events=(event,), defects=False, seed=seed)
    return sc, read_living_telemetry(generate_living_telemetry(sc)).frame


def diagnose_late(sc, frame, start_h, hours=4.0):
    """What the live twin does: the window starts at *start_h* (after the effect began), the states there are the
    twin's prediction from the inputs over a lead-in that starts from the spec's defaults."""
    start = sc.at(start_h)
    x0 = twin_states(frame, params=TRUTH_PUMP_PARAMS, x0={}, start=start - pd.Timedelta(hours=LEAD_H), end=start)
    return diagnose_reference(frame, params=TRUTH_PUMP_PARAMS, start=start, end=start + pd.Timedelta(hours=hours),
                              onset_known=False, x0=x0, vibration=None)


# (the right hypothesis, the event, where the window starts [h after midnight], its parameter's estimate bounds)
CASES = {
    # 0.4 K/h from 04:00; the window opens at 09:00 with 2 K of offset already there: the motor's current and heat
    # balance stay as the twin predicts, the reading ramps on
    "offset ramp on the winding sensor": ("sensor_drift", LivingEvent("sensor_drift", 4.0, 24.0, 0.4 / 3600), 9.0,
                                          ("sensor_drift_rate", 0.3 / 3600, 0.5 / 3600)),
    # the motor's ventilation fails at 09:00 (4 K, unmeasured); the window opens 30 min later, the motor warming
    "unmeasured ambient load": ("ambient_load", LivingEvent("ambient_load", 9.0, 24.0, 4.0), 9.5,
                                ("ambient_load", 3.0, 5.0)),
    # the hall warms by 6 K and its sensor measures it: the twin follows its input, nothing to diagnose
    "measured ambient rise": ("no_fault", LivingEvent("heat_wave", 2.0, 24.0, 6.0), 10.0, None),
    # pulp clogs the strainer from 08:00; the window opens an hour later
    "strainer fouling": ("strainer_fouling", LivingEvent("strainer_fouling", 8.0, 24.0, 3.0), 9.0,
                         ("fouling_rate", 2.0, 4.5)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_effect_gets_its_own_diagnosis_from_a_window_that_starts_late(case):
    want, event, start_h, estimate = CASES[case]
    sc, frame = day(event, seed=31)
    result = diagnose_late(sc, frame, start_h)
    assert result.best == want, result.explanation
    # a fault: very strong evidence (Kass-Raftery > 10; measured 83 drift, 248 ambient, 438 fouling); no fault against nested alternatives: each extra parameter
    # costs ln(n) ~ 8 in BIC, so "positive" (> 2) is what the data can give (measured 5.7)
    assert result.margin > (2 if want == "no_fault" else 10), result.explanation
    if estimate is not None:
        name, lo, hi = estimate
        assert lo < result.fits[want].params_[name] < hi, result.fits[want].params_
        # the reported 95 % interval (robust to autocorrelation, calibration.diagnosis.robust_intervals) holds the
        # truth; measured drift 0.397 [0.366, 0.427] K/h, ambient load 4.01 [3.96, 4.06] K, fouling 2.83 [2.63, 3.02]
        value, low, high = result.estimates()[name]
        assert result.intervals[want].method == "hac" and low <= event.value <= high, (value, low, high)


def test_the_same_late_window_without_the_twins_states_cannot_tell_a_drift_from_a_warm_motor():
    """The contrast that motivates x0: with the motor's temperatures free for every hypothesis, an offset on a motor
    'cooler than the twin thought' mimics an ambient load, and the evidence between the two collapses."""
    sc, frame = day(LivingEvent("ambient_load", 9.0, 24.0, 4.0), seed=31)
    start = sc.at(9.5)
    free = diagnose_reference(frame, params=TRUTH_PUMP_PARAMS, start=start, end=start + pd.Timedelta(hours=4),
                              onset_known=False, vibration=None)
    anchored = diagnose_late(sc, frame, 9.5)
    gap = {r.best: r for r in (free, anchored)}
    assert anchored.best == "ambient_load"
    assert free.ranking.at["sensor_drift", "delta_bic"] < 0.2 * anchored.ranking.at["sensor_drift", "delta_bic"], (
        free.explanation, anchored.explanation, gap)


def test_late_hypotheses_fit_each_effects_state_and_start_the_rest_from_the_twin():
    outputs = REFERENCE_OUTPUTS + ("vibration_rms",)
    x0 = {"housing_temperature": 305.0, "winding_temperature": 310.0}
    hs = {h.name: h for h in reference_hypotheses(outputs=outputs, onset_known=False, x0=x0)}
    assert hs["no_fault"].initial_states == ("bearing_wear",)  # the motor's temperatures come from the twin
    assert set(hs["sensor_drift"].initial_states) == {"bearing_wear", *EFFECT_STATES["sensor_drift"]}
    assert set(hs["ambient_load"].initial_states) == {"bearing_wear", "local_air_excess", "housing_temperature",
                                                      "winding_temperature"}
    assert all(h.x0 == x0 for h in hs.values())
    free = {h.name: h for h in reference_hypotheses(outputs=REFERENCE_OUTPUTS, onset_known=False)}
    assert free["no_fault"].initial_states == NUISANCE_STATES + ("winding_temperature",)
    assert free["sensor_drift"].initial_states == NUISANCE_STATES + ("winding_temperature", "sensor_offset")
    # the default (the window starts with the effect) is unchanged
    assert [h.n_unknowns for h in reference_hypotheses()] == [2, 3, 3, 3]


def test_twin_states_forget_where_they_started_and_follow_the_heat_balance():
    """Two lead-ins 5 K apart in housing and winding end within 1 % of that after five thermal time constants, at
    the truth's motor temperatures (the truth is the same model)."""
    sc = LivingScenario(days=0.5, events=(), defects=False, seed=5)
    truth = simulate_living_truth(sc)
    frame = read_living_telemetry(generate_living_telemetry(replace(sc, noise={}))).frame
    start, end = sc.at(6.0), sc.at(6.0 + LEAD_H)
    cold, warm = ({"housing_temperature": truth.loc[start, "housing_temperature"] + dx,
                   "winding_temperature": truth.loc[start, "true_winding_temperature"] + dx,
                   "strainer_resistance": truth.loc[start, "strainer_resistance"]} for dx in (-5.0, 5.0))
    a = twin_states(frame, params=TRUTH_PUMP_PARAMS, x0=cold, start=start, end=end)
    b = twin_states(frame, params=TRUTH_PUMP_PARAMS, x0=warm, start=start, end=end)
    for name in ("winding_temperature", "housing_temperature"):
        assert abs(a[name] - b[name]) < 0.1, (name, a[name], b[name])  # 10 K apart at the start
    # the historian writes temperatures to 0.1 K and speeds to 0.1 rpm: the prediction sits within that of the truth
    assert a["housing_temperature"] == pytest.approx(truth.loc[end, "housing_temperature"], abs=0.3)
    assert a["winding_temperature"] == pytest.approx(truth.loc[end, "true_winding_temperature"], abs=0.3)
    with pytest.raises(CalibrationError, match="at least two"):
        twin_states(frame, params=TRUTH_PUMP_PARAMS, x0=cold, start=start, end=start)
    with pytest.raises(CalibrationError, match="lacks the input"):
        twin_states(frame.drop(columns=["shaft_speed"]), params=TRUTH_PUMP_PARAMS, x0=cold)
    assert np.isfinite(list(a.values())).all()


def test_a_diagnosis_holds_the_champion_as_uncertain_as_its_disagreement_with_the_filter_says():
    """RecalibrationMonitor.nuisance: the champion's covariance for what it calibrates; where the filter tracks the
    same parameter and the two disagree beyond their errors, the DerSimonian-Laird between-estimate variance is
    added; the filter's variance for the other tracked parameters."""
    from types import SimpleNamespace

    from calibration import CalibrationData, LeastSquaresCalibrator
    from scenarios.live.governance import Governor
    from scenarios.live.monitor import RecalibrationMonitor
    from sim.physics import MOTOR_THERMAL

    rng = np.random.default_rng(2)
    t = np.arange(0.0, 6 * 3600.0, 60.0)
    current = np.where((t // 1800) % 2 == 0, 30.0, 12.0)
    ambient = np.full(t.size, 295.0)
    spec = MOTOR_THERMAL.spec
    y = MOTOR_THERMAL.simulate(np.array([320.0, 312.0]), spec.vector("params", {}), t,
                               np.column_stack([current, ambient]))[0][:, 0]
    frame = pd.DataFrame({"motor_current": current, "ambient_temperature": ambient,
                          "winding_temperature": y + rng.normal(0, 0.3, t.size)},
                         index=pd.Timestamp("2026-06-01", tz="UTC") + pd.to_timedelta(t, unit="s"))
    record = LeastSquaresCalibrator().fit(MOTOR_THERMAL, CalibrationData.from_frame(
        frame, spec, outputs=["winding_temperature"])).record_
    governor = Governor()
    governor.propose(record, reason="test")
    r_ha, c_h = record.names
    var = record.cov[0, 0]
    monitor = RecalibrationMonitor(SimpleNamespace(), governor, channels=list(frame.columns), normal_ns=1, window_ns=1,
                                   shadow_ns=1)

    def service(value, sd):
        tracker = SimpleNamespace(std=lambda: {r_ha: np.array([sd]), "pipe_resistance": np.array([50.0])},
                                  estimates=lambda: {r_ha: np.array([value]), "pipe_resistance": np.array([1.1e4])})
        return SimpleNamespace(tracker=tracker)

    agree = monitor.nuisance(service(record.params()[r_ha], np.sqrt(var)))
    assert list(agree.index) == [r_ha, c_h, "pipe_resistance"]
    np.testing.assert_allclose(agree.loc[[r_ha, c_h], [r_ha, c_h]].to_numpy(), record.cov)  # no excess: as is
    assert agree.at["pipe_resistance", "pipe_resistance"] == pytest.approx(50.0 ** 2)
    assert agree.at[r_ha, "pipe_resistance"] == 0.0
    # the filter says 4 of the champion's standard errors higher, as sure as the champion: Q = 8, tau^2 = 7 var
    apart = monitor.nuisance(service(record.params()[r_ha] + 4 * np.sqrt(var), np.sqrt(var)),
                             tracked={r_ha: record.params()[r_ha] + 4 * np.sqrt(var)})
    assert apart.at[r_ha, r_ha] == pytest.approx(8 * var, rel=1e-9)
    assert apart.at[c_h, c_h] == pytest.approx(record.cov[1, 1])
