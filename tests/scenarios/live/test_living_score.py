"""The living twin on the living reference scenario (issue 14): the bearing-wear diagnosis, the normal-behaviour
model of the channels no model covers, and the whole nine days scored against the truth."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from scenarios.live.app import build_service
from scenarios.live.config import register_live_configs
from scenarios.reference.diagnosis import REFERENCE_OUTPUTS, diagnose_reference, reference_hypotheses
from scenarios.reference.faults import TRUTH_PUMP_PARAMS
from scenarios.reference.living import LIVING_PATH, read_living_telemetry
from scenarios.reference.living_score import read_events

CONF = str(Path(__file__).resolve().parents[3] / "conf")
QUIET = ["whatif_now.final=false", "checkpoint.path=null", "checkpoint.resume=false"]


def cfg(tmp_path, *overrides):
    register_live_configs()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("live", overrides=[f"recalibration.audit={tmp_path}/audit.jsonl", *QUIET, *overrides])


def test_bearing_wear_joins_the_hypotheses_only_when_vibration_is_compared():
    assert [h.name for h in reference_hypotheses()] == ["no_fault", "strainer_fouling", "ambient_load",
                                                        "sensor_drift"]
    hs = reference_hypotheses({"head_coefficient_0": 41.5}, outputs=REFERENCE_OUTPUTS + ("vibration_rms",))
    assert [h.name for h in hs][-1] == "bearing_wear"
    bearing = hs[-1]
    assert "bearing_wear_rate" in bearing.parameters and "bearing_wear_rate" in bearing.model.spec.names("params")
    assert all("bearing_wear" in h.initial_states for h in hs)  # wear before the window: a shared nuisance
    assert [h.n_unknowns for h in hs] == [3, 4, 4, 4, 4]


def test_the_bearing_event_is_diagnosed_as_bearing_wear_with_its_rate():
    """Four hours after the bundled file's bearing onset, with vibration compared (auto: the frame has it)."""
    events, _ = read_events()
    ev = events.set_index("event").loc["bearing_wear"]
    frame = read_living_telemetry(pd.read_csv(LIVING_PATH, dtype=str, keep_default_na=False)).frame
    end = ev["onset"] + pd.Timedelta(hours=4)
    result = diagnose_reference(frame, params=TRUTH_PUMP_PARAMS, start=ev["onset"], end=end, vibration=None)
    assert result.best == "bearing_wear" and result.margin > 100, result.explanation  # measured 1103
    rate = result.fits["bearing_wear"].params_["bearing_wear_rate"]
    assert ev["value"] / 3 < rate < 3 * ev["value"]  # truth 1.5e-5 1/s; the wear is not linear in time
    hydraulic = diagnose_reference(frame, params=TRUTH_PUMP_PARAMS, start=ev["onset"], end=end)
    assert "bearing_wear" not in hydraulic.ranking.index  # default: the four thermal-hydraulic hypotheses


def test_an_event_parameter_the_twin_does_not_track_is_scored_on_the_state_it_drives():
    """A fouling rate is not tracked, the strainer resistance it drives is: per-event coverage falls back to it."""
    from scenarios.reference.living_score import score_living

    events = pd.DataFrame([{"event": "f", "onset": "2026-01-01T10:00Z", "end": "2026-01-01T12:00Z", "alarm": True,
                            "hypothesis": "strainer_fouling", "parameter": "fouling_rate"}])
    index = pd.date_range("2026-01-01T09:00Z", periods=5, freq="1h")
    truth = pd.DataFrame({"fouling_rate": [0.25, 3.0, 3.0, 0.25, 0.25],
                          "strainer_resistance": [2000.0, 2000.0, 2400.0, 2800.0, 2000.0]}, index=index)
    tracks = pd.DataFrame({"time": pd.to_datetime(["2026-01-01T09:00Z", "2026-01-01T11:00Z"]),
                           "parameter": "strainer_resistance", "low": [1900.0, 2700.0], "high": [2100.0, 2900.0]})
    score = score_living([], [], [], events, clean_days=[], tracks=tracks, truth=truth)
    row = score.events.loc["f"]
    assert row["covered"] == "strainer_resistance"
    assert row["coverage"] == pytest.approx(0.5)  # 10-11 h: 2000 in [1900, 2100]; 11-12 h: 2400 not in [2700, 2900]


def test_per_event_coverage_is_also_scored_from_the_diagnosis_on():
    """A 10 h event diagnosed 4 h in: the healthy track before misses the truth, the diagnosed interval after holds
    it - coverage 0.6 over the event, 1.0 from the diagnosis, which is 0.6 of the event."""
    from scenarios.reference.living_score import score_living

    events = pd.DataFrame([{"event": "a", "onset": "2026-01-01T10:00Z", "end": "2026-01-01T20:00Z", "alarm": True,
                            "hypothesis": "ambient_load", "parameter": "ambient_load"},
                           {"event": "b", "onset": "2026-01-02T10:00Z", "end": "2026-01-02T12:00Z", "alarm": True,
                            "hypothesis": "sensor_drift", "parameter": "sensor_drift_rate"}])
    truth = pd.DataFrame({"ambient_load": [0.0, 5.0, 0.0], "sensor_drift_rate": [0.0, 0.0, 0.0]},
                         index=pd.to_datetime(["2026-01-01T00:00Z", "2026-01-01T10:00Z", "2026-01-01T20:00Z"]))
    tracks = pd.DataFrame({"time": pd.to_datetime(["2026-01-01T00:00Z", "2026-01-01T14:00Z", "2026-01-01T00:00Z"]),
                           "parameter": ["ambient_load", "ambient_load", "sensor_drift_rate"],
                           "low": [0.0, 4.9, 0.0], "high": [0.0, 5.2, 0.0]})
    diagnoses = [{"time": "2026-01-01T14:00Z", "hypothesis": "ambient_load"}]
    score = score_living([], diagnoses, [], events, clean_days=[], tracks=tracks, truth=truth)
    a, b = score.events.loc["a"], score.events.loc["b"]
    assert a["diagnosed_at"] == pd.Timestamp("2026-01-01T14:00Z")
    assert a["coverage"] == pytest.approx(0.6) and a["coverage_diagnosed"] == pytest.approx(1.0)
    assert a["diagnosed_share"] == pytest.approx(0.6)
    assert pd.isna(b["diagnosed_at"]) and pd.isna(b["coverage_diagnosed"]) and b["diagnosed_share"] == 0.0
    assert b["coverage"] == pytest.approx(1.0)  # a parameter that stayed healthy is covered by the healthy track
    assert score.summary["coverage_events"] == pytest.approx(0.8)  # (0.6 + 1.0) / 2
    assert score.summary["coverage_diagnosed"] == pytest.approx(1.0)  # event a only


def test_channels_no_model_covers_get_a_pca_normal_model_with_its_own_alarms(tmp_path):
    """Vibration left out of the filter: the PCA T² + Q model of vibration with its context (the shaft speed) is
    fitted on the normal window, scores every later sample and checkpoints."""
    c = cfg(tmp_path, "filter.channels=[flow,discharge_pressure,motor_current,winding_temperature]",
            "detection.normal_h=2", "max_rows=400", "recalibration.enabled=false")
    s = build_service(c)
    s.run(max_rows=400)
    alarms = s.monitors[0]
    assert list(alarms.uncovered) == ["vibration_rms", "shaft_speed"]
    assert alarms.pca is not None and alarms.pca_logic.config["source"] == "normal_model"
    started = [e.text for e in s.timeline.of_kind("started")]
    assert any("channels no model covers (vibration_rms, shaft_speed)" in t for t in started), started
    assert alarms.pca_logic.last_statistic_.shape == (1, alarms.pca_logic.last_active_.shape[1])
    assert np.isfinite(alarms.pca_logic.last_statistic_).all()
    again = type(alarms)(assets=alarms.assets, channels=alarms.channels, normal_rows=alarms.normal_rows,
                         uncovered=alarms.uncovered)
    again.load_state(alarms.state_dict())
    assert np.array_equal(again.pca.threshold_, alarms.pca.threshold_)
    assert again.pca_logic.state_dict() == alarms.pca_logic.state_dict()


#: Detection-delay bound per alarm-worthy event [h] and why: the fouling and the sensor drift are ramps that need
#: hours to reach a few noise levels (0.25 K/h against 0.3 K of winding noise; resistance growing by 12x its
#: baseline rate), the ambient load is a 5 K step through a 15-min air lag, the bearing's vibration rises fast.
DELAY_BOUND_H = {"strainer_fouling": 3.0, "ambient_load": 1.5, "sensor_drift": 10.0, "bearing_wear": 1.5}


@pytest.mark.slow
def test_the_living_twin_on_the_nine_days_detects_every_event_and_stays_quiet_otherwise(tmp_path):
    """The default live config over the bundled 9-day file, scored by scenarios.reference.living_score."""
    from scenarios.live.app import score_against_living_truth

    s = build_service(cfg(tmp_path))
    s.run()
    score = score_against_living_truth(s)
    summary, per_event = score.summary, score.events
    text = s.timeline.render()
    assert (summary["detected"], summary["missed"]) == (4, 0), text
    assert summary["false_alarms"] == 0, text  # none on the clean days, none during the measured heat wave
    assert per_event.loc["heat_wave", "alarms"] == 0 and pd.isna(per_event.loc["heat_wave", "diagnosis"])
    # the fouling alarm stays up into the next (clean) day until the twin has followed the strainer's cleaning
    # through its random walk (about a day, see conf/live.yaml): measured 19.8 h, no other alarm-hours there
    assert summary["alarm_hours_clean_days"] < 24.0, text
    for event, bound in DELAY_BOUND_H.items():  # measured 2.0 h, 36 min, 7.0 h, 38 min
        assert 0 < per_event.loc[event, "delay_s"] < bound * 3600, (event, per_event.loc[event, "delay_s"])
    # every alarm's diagnosis is right, the sensor drift's too: its alarm's onset estimate comes 7.7 h after the
    # drift began, so the hypotheses fit the effect so far and start the motor where the twin's heat balance puts it
    # (measured BIC margins 434 fouling, 274 ambient load, 34 sensor drift, 1188 bearing wear)
    assert summary["diagnoses_right"] == summary["diagnosed"] == 4, per_event
    assert summary["recalibrations_clean_days"] == summary["recalibrations_quiet_events"] == 0
    # a window with a diagnosed fault is not refitted: the twin never learns a fault as the healthy plant
    skipped = [e for e in s.timeline.of_kind("recalibration") if e.details.get("outcome") == "skipped"]
    assert len(skipped) == 4 and not [e for e in s.timeline.of_kind("promoted")
                                      if not e.text.startswith("first champion")]
    assert summary["nab_standard"] > 95  # measured 97.9
    # parameter tracks covering the truth: 95 % intervals of the filter's parameters and states over the whole
    # record, and of the fault parameters (healthy value until a diagnosis, its interval until the alarm clears)
    cover = score.coverage["coverage"]  # measured: pipe 0.93, strainer 0.85, bearing wear 0.92, R_ha 0.65,
    assert cover["pipe_resistance"] > 0.9 and cover["bearing_wear"] > 0.85  # fouling rate 0.87, ambient load 0.97,
    assert cover["strainer_resistance"] > 0.8 and cover["thermal_resistance_housing_ambient"] > 0.6  # drift 0.95,
    assert min(cover[p] for p in ("fouling_rate", "ambient_load", "sensor_drift_rate", "bearing_wear_rate")) > 0.85
    # over an event: the diagnosed intervals are honest - from its diagnosis to its end every event's fault
    # parameter is covered (measured 1.0 each; before the robust intervals the ambient load's 5.08 [5.02, 5.13] K
    # and the drift's 0.21 [0.18, 0.24] K/h missed the truth, 5 K and 0.25 K/h: residual autocorrelation and the
    # champion's R_ha, 1.7 of its own standard errors off, were not in them)
    faults = ["strainer_fouling", "ambient_load", "sensor_drift", "bearing_wear"]
    assert list(per_event.loc[faults, "covered"]) == ["fouling_rate", "ambient_load", "sensor_drift_rate",
                                                      "bearing_wear_rate"]
    assert (per_event.loc[faults, "coverage_diagnosed"] >= 0.8).all(), per_event.loc[faults]
    # over the whole event the coverage cannot exceed the share after the diagnosis: the twin holds a fault
    # parameter at its healthy value until it has diagnosed the fault (by design, so that the fault shows in the
    # residuals), and a causal twin diagnoses after detection (0.6-7 h) plus a 4-8 h window since the alarm's
    # estimated onset.  Measured = that bound: fouling 0.58 (diagnosed 5.2 h into 12.5 h), ambient load 0.54,
    # sensor drift 0.43 (alarm 7 h after a 0.25 K/h drift began), bearing wear 0.68
    share = per_event.loc[faults, "diagnosed_share"]
    assert (per_event.loc[faults, "coverage"] >= 0.95 * share).all() and (share > 0.35).all(), per_event.loc[faults]
    assert summary["coverage_diagnosed"] >= 0.8 and summary["coverage_events"] > 0.45  # measured 1.0 and 0.56
    # a diagnosed fault is not learned: when its alarm clears, the filter's parameters go back to before its window
    assert len(s.timeline.of_kind("rolled back")) == 3
    # remaining useful life of the bearing, hourly from its diagnosis: every interval covers the true failure time
    # (the wear-out run on without the replacement: 07-29 00:01Z); after the replacement the fit no longer explains
    # the vibration and the tracking ends
    from scenarios.live.prognosis import RulMonitor
    from scenarios.reference.living import failure_time

    rul = next(m for m in s.monitors if isinstance(m, RulMonitor)).track_table()
    left = (failure_time() - rul["time"]).dt.total_seconds()
    assert len(rul) >= 8 and ((rul["low_s"] <= left) & (left <= rul["high_s"])).all(), (rul, left)
    assert (rul["high_s"] - rul["low_s"]).iloc[-1] < 0.5 * (rul["high_s"] - rul["low_s"]).iloc[0]  # it narrows
    assert [e for e in s.timeline.of_kind("prognosis") if e.details.get("ended")]



def test_failure_time_is_asked_of_an_event_with_a_failure_level():
    from scenarios.reference.living import LivingScenario, failure_time
    from sim.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="'leak' is not in the scenario"):
        failure_time(LivingScenario(), "leak")
    with pytest.raises(ConfigurationError, match="has no failure level"):
        failure_time(LivingScenario(), "sensor_drift")


def test_health_monitors_round_trip_their_state():
    """What the checkpoint stores of the parameter tracks and of the remaining-life prognosis loads back equal."""
    from scenarios.live.prognosis import RulMonitor, TrackMonitor

    tracks = TrackMonitor(("strainer_resistance",), fault_parameters=("fouling_rate",))
    tracks.rows = [(1, "fouling_rate", 0.25, 0.25, 0.25), (2, "fouling_rate", 3.0, 2.8, 3.2)]
    tracks.seen, tracks.diagnosed = 7, ["fouling_rate"]
    again = TrackMonitor(("strainer_resistance",), fault_parameters=("fouling_rate",))
    again.load_state(tracks.state_dict())
    assert (again.rows, again.seen, again.diagnosed) == (tracks.rows, 7, ["fouling_rate"])
    assert list(again.table()["parameter"]) == ["fouling_rate", "fouling_rate"]
    from types import SimpleNamespace

    from sim.exceptions import ConfigurationError
    from sim.physics.filler_drive import FILLER_DRIVE

    service = SimpleNamespace(tracker=SimpleNamespace(model=FILLER_DRIVE),  # what on_block reads: the model's inputs
                              layout=SimpleNamespace(inputs=np.array([[0, 1]])))
    rul = RulMonitor(None, None, seed=3)
    rul.on_block(service, np.array([10, 20]), np.array([[300.0, 295.0], [301.0, 296.0]]), None)
    rul.active, rul.updates = {"mode": "bearing_wear", "start": 1, "next_at": 5}, 2
    rul.track = [(9, "bearing_wear", 1.0, 0.5, 2.0)]
    back = RulMonitor(None, None, seed=3)
    back.load_state(rul.state_dict())
    assert (back.active, back.updates, back.track) == (rul.active, 2, rul.track)
    assert np.array_equal(back.duty.values, rul.duty.values) and back.duty.channels == rul.duty.channels
    with pytest.raises(ConfigurationError, match="n_samples"):
        RulMonitor(None, None, n_samples=1)
