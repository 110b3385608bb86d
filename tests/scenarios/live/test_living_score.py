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
    for event, bound in DELAY_BOUND_H.items():  # measured 2.0 h, 38 min, 8.2 h, 38 min
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

