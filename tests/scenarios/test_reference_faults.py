"""Reference diagnosis: strainer fouling vs ambient load vs sensor drift on the filler drive's telemetry."""

import numpy as np
import pandas as pd
import pytest

from scenarios.reference.diagnosis import REFERENCE_OUTPUTS, diagnose_reference, reference_hypotheses
from sim.physics.filler_drive import FILLER_DRIVE, FILLER_DRIVE_SPEC as SPEC, filler_drive_output, filler_drive_rhs
from scenarios.reference.faults import (COLUMNS, EFFECTS, FaultScenario, fault_channel_map, generate_fault_telemetry,
                                        read_fault_telemetry, simulate_truth)
from sim.exceptions import ConfigurationError
from sim.physics import MOTOR_THERMAL_SPEC, PUMP_SPEC
from sim.physics.motor_thermal import motor_thermal_output, motor_thermal_rhs
from sim.physics.pump import pump_output, pump_rhs
from sim.telemetry import read_csv

SIZE = {"hours": 6.0, "onset_h": 1.0}  # 5 h diagnosis window at 10 s: 1800 samples x 4 channels


def scenario(effect, seed=0, **kw):
    return FaultScenario(effect=effect, seed=seed, **{**SIZE, **kw})


def diagnose(sc):
    stream = read_fault_telemetry(generate_fault_telemetry(sc))
    return diagnose_reference(stream.frame, params=sc.truth_params, start=sc.onset)


# ------------------------------------------------------------------ the model
def test_filler_drive_couples_the_library_pump_and_motor_kernels():
    """Oracle: the pump kernel on (speed, static head, suction pressure); its current heats the motor kernel."""
    rng = np.random.default_rng(0)
    p = SPEC.vector("params", {"fouling_rate": 3.0, "ambient_load": 4.0, "sensor_drift_rate": 1e-4})
    i_pump = [SPEC.index("params", v.name) for v in PUMP_SPEC.params]
    i_motor = [SPEC.index("params", v.name) for v in MOTOR_THERMAL_SPEC.params]
    for _ in range(5):
        x = (rng.uniform(0.01, 0.04), 0.01, rng.uniform(1e3, 5e3), 0.02, rng.uniform(310, 360), rng.uniform(300, 330),
             rng.uniform(0, 4), rng.uniform(-1, 1))
        u = (rng.uniform(250, 320), rng.uniform(285, 305))
        up = (u[0], p[SPEC.index("params", "static_head")], p[SPEC.index("params", "suction_pressure")])
        pp = tuple(p[i_pump])
        y_pump = pump_output(x[:4], pp, up)
        um = (y_pump[7], u[1] + x[6])
        pm = tuple(p[i_motor])
        tau = p[SPEC.index("params", "local_air_time_constant")]
        expected = pump_rhs(x[:4], pp, up) + motor_thermal_rhs(x[4:6], pm, um) + (
            (4.0 - x[6]) / tau, 1e-4)
        assert np.allclose(filler_drive_rhs(x, tuple(p), u), expected, rtol=1e-14, atol=0)
        out = dict(zip(SPEC.names("outputs"), filler_drive_output(x, tuple(p), u)))
        for name in ("flow", "discharge_pressure", "motor_current", "vibration_rms", "efficiency"):
            assert out[name] == pytest.approx(y_pump[PUMP_SPEC.index("outputs", name)], rel=1e-14)
        assert out["true_winding_temperature"] == motor_thermal_output(x[4:6], pm, um)[0]
        assert out["winding_temperature"] == pytest.approx(x[4] + x[7])


# ------------------------------------------------------------------ the data
def test_generator_is_deterministic_and_its_telemetry_passes_the_gates(tmp_path):
    sc = scenario("strainer_fouling")
    table = generate_fault_telemetry(sc)
    assert table.equals(generate_fault_telemetry(sc))
    assert not table.equals(generate_fault_telemetry(scenario("strainer_fouling", seed=1)))
    assert list(table.columns) == ["timestamp"] + [c[0] for c in COLUMNS.values()]
    stream = read_fault_telemetry(table)
    counts = stream.counts
    assert (counts["accepted"] + counts["quarantined"] == counts["read"]).all()
    assert counts.loc["TOTAL", "quarantined"] == 12  # 5 bad cells + a double write of 7 channels
    truth = simulate_truth(sc)
    frame = stream.frame.reindex(truth.index)
    # SI after the gates: flow m^3/s, pressure Pa, temperatures K - noise as written in NOISE
    assert (frame["flow"] - truth["flow"]).std() * 3600 == pytest.approx(sc.noise["flow"], rel=0.1)
    assert (frame["discharge_pressure"] - truth["discharge_pressure"]).std() / 1e5 == pytest.approx(0.01, rel=0.15)
    assert (frame["winding_temperature"] - truth["winding_temperature"]).abs().max() < 1.5
    path = tmp_path / "drive.csv"
    table.to_csv(path, index=False)
    from_csv = read_csv(path, fault_channel_map(), now=pd.Timestamp("2030-01-01", tz="UTC"))
    pd.testing.assert_frame_equal(from_csv.frame, stream.frame)


def test_each_effect_acts_where_it_should():
    base = simulate_truth(scenario("none"))
    onset = scenario("none").onset
    after = base.index >= onset
    for effect, changed, unchanged in (("strainer_fouling", "flow", None),
                                       ("ambient_load", "winding_temperature", "flow"),
                                       ("sensor_drift", "winding_temperature", "true_winding_temperature")):
        run = simulate_truth(scenario(effect))
        pd.testing.assert_frame_equal(run[~after], base[~after])  # healthy before the onset
        assert (run[changed] - base[changed])[after].abs().iloc[-1] > 0.001 * base[changed].abs().mean()
        if unchanged:
            assert np.allclose(run[unchanged], base[unchanged], rtol=1e-12)
    drift = simulate_truth(scenario("sensor_drift"))
    span = (drift.index[-1] - onset).total_seconds()
    assert (drift["sensor_offset"].iloc[-1]) == pytest.approx(EFFECTS["sensor_drift"][1] * span, rel=0.01)


def test_bad_scenarios_are_refused():
    with pytest.raises(ConfigurationError, match="effect = 'leak' is not known"):
        FaultScenario(effect="leak")
    with pytest.raises(ConfigurationError, match="onset_h = 7"):
        FaultScenario(hours=6.0, onset_h=7.0)
    with pytest.raises(ConfigurationError, match="at least 10"):
        FaultScenario(hours=0.01, period=10.0)


# ------------------------------------------------------------------ the diagnosis
@pytest.mark.parametrize("effect,hypothesis", [("strainer_fouling", "strainer_fouling"),
                                               ("ambient_load", "ambient_load"),
                                               ("sensor_drift", "sensor_drift")])
def test_diagnosis_names_the_injected_effect_with_a_clear_margin(effect, hypothesis):
    sc = scenario(effect)
    result = diagnose(sc)
    assert result.best == hypothesis, result.explanation
    assert result.margin > 100 and result.strength == "very strong"  # Delta-BIC to the runner-up (measured >= 1800)
    table = result.ranking
    assert table.at[hypothesis, "bic_weight"] > 0.999 and table.at[hypothesis, "akaike_weight"] > 0.999
    assert table.at[hypothesis, "white"]  # the winner explains everything: white residuals
    assert not table.drop(index=hypothesis)["white"].any()  # the others leave the effect in their residuals
    (param, true), = sc.effect_params.items()
    fit = result.fits[hypothesis]
    assert fit.params_[param] == pytest.approx(true, rel=0.02)  # the effect's size is recovered too
    lo, hi = fit.intervals_[param]
    assert lo < fit.params_[param] < hi and hi - lo < 0.1 * true


@pytest.mark.parametrize("seed", [3, 4])
def test_without_a_fault_the_baseline_wins(seed):
    # BIC charges ln(n) = 8.9 per extra parameter here; over seeds 0-11 "no_fault" won every time, with
    # margins 0.2-8.6 (a margin near ln(n) is the most a nested baseline can get); seeds 3 and 4 are typical
    result = diagnose(scenario("none", seed=seed))
    assert result.best == "no_fault", result.explanation
    assert result.margin > 6 and result.ranking.at["no_fault", "bic_weight"] > 0.9
    assert result.ranking.at["no_fault", "white"]
    for name, param, nominal in (("strainer_fouling", "fouling_rate", 0.25), ("ambient_load", "ambient_load", 0.0),
                                 ("sensor_drift", "sensor_drift_rate", 0.0)):
        lo, hi = result.fits[name].intervals_[param]
        assert lo <= nominal <= hi, (name, lo, hi)  # no evidence of any effect


def test_hypotheses_share_their_nuisance_unknowns_and_use_the_twins_parameters():
    hs = reference_hypotheses({"head_coefficient_0": 41.5})
    assert [h.name for h in hs] == ["no_fault", "strainer_fouling", "ambient_load", "sensor_drift"]
    assert all(h.model is FILLER_DRIVE and h.params == {"head_coefficient_0": 41.5} for h in hs)
    assert [h.n_unknowns for h in hs] == [2, 3, 3, 3]
    assert set(REFERENCE_OUTPUTS) <= set(SPEC.names("outputs"))
