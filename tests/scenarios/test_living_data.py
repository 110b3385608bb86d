"""The living reference scenario: deterministic data, events where the truth table says, the gates, the scorer."""

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from scenarios.reference.diagnosis import diagnose_reference
from scenarios.reference.faults import COLUMNS, TRUTH_PUMP_PARAMS
from scenarios.reference.living import (EVENT_KINDS, EVENTS_PATH, LIVING_PATH, LivingEvent, LivingScenario,
                                        clean_days, generate_living_telemetry, injected_defects, living_channel_map,
                                        read_living_telemetry, simulate_living_truth, truth_events, truth_parameters,
                                        write_living_telemetry)
from scenarios.reference.living_score import coverage_fraction, nab_sigma, read_events, score_living
from sim.exceptions import ConfigurationError
from sim.telemetry import ChannelMap, read_csv

ROOT = Path(__file__).resolve().parents[2]
SHORT = LivingScenario(days=1.0, events=(LivingEvent("strainer_fouling", 9.5, 16.0),), seed=7)


@pytest.fixture(scope="module")
def runs():
    """The default scenario's truth, and the same days without any event."""
    sc = LivingScenario()
    return sc, simulate_living_truth(sc), simulate_living_truth(replace(sc, events=()))


def window(frame, start, end):
    return frame[(frame.index >= start) & (frame.index < end)]


# ------------------------------------------------------------------ determinism and size
def test_same_scenario_gives_the_same_bytes_and_another_seed_does_not(tmp_path):
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    digest = write_living_telemetry(a, SHORT)
    assert write_living_telemetry(b, SHORT) == digest
    assert a.read_bytes() == b.read_bytes() and digest == hashlib.sha256(a.read_bytes()).hexdigest()
    assert (tmp_path / "living_events.json").read_text() == json.dumps(json.loads(
        (tmp_path / "living_events.json").read_text()), indent=1) + "\n"
    assert write_living_telemetry(c, replace(SHORT, seed=8), events_path=tmp_path / "c.json") != digest
    assert a.read_text().splitlines()[0].split(",") == ["timestamp"] + [c[0] for c in COLUMNS.values()]
    assert len(a.read_text().splitlines()) == 1 + 24 * 60 + 1  # header, a day at 60 s, one double write


def test_bundled_files_are_what_the_generator_writes(tmp_path):
    digest = write_living_telemetry(tmp_path / "living_telemetry.csv")
    assert digest == hashlib.sha256(LIVING_PATH.read_bytes()).hexdigest(), (
        "the committed living telemetry differs from the generator's output; regenerate it with "
        "`python -m scenarios.reference.living` and commit both files")
    assert (tmp_path / "living_events.json").read_bytes() == EVENTS_PATH.read_bytes()
    assert json.loads(EVENTS_PATH.read_text())["scenario"]["telemetry_sha256"] == digest
    assert LIVING_PATH.stat().st_size < 1.0e6  # small enough to commit (nine days at 60 s: 854 kB)


# ------------------------------------------------------------------ the truth table and the calendar
def test_truth_table_and_clean_days_of_the_default_calendar():
    sc = LivingScenario()
    events = truth_events(sc)
    assert list(events["event"]) == ["strainer_fouling", "heat_wave", "ambient_load", "sensor_drift", "bearing_wear"]
    row = events.set_index("event").loc["strainer_fouling"]
    assert row["onset"] == pd.Timestamp("2026-07-21T07:30Z") and row["end"] == pd.Timestamp("2026-07-21T20:00Z")
    assert (row["parameter"], row["value"], row["baseline"]) == ("fouling_rate", 3.0, 0.25)
    assert events.set_index("event").loc["heat_wave", "hypothesis"] == "no_fault"
    assert list(events["alarm"]) == [True, False, True, True, True]
    assert events["hypothesis"].tolist() == ["strainer_fouling", "no_fault", "ambient_load", "sensor_drift",
                                             "bearing_wear"]
    days = clean_days(sc)
    assert days["date"].tolist() == ["2026-07-20", "2026-07-22", "2026-07-25", "2026-07-27"]
    for day in days.itertuples():  # clean means at least 2 h from every event
        assert ((events["end"] + pd.Timedelta(hours=2) <= day.start) | (events["onset"] - pd.Timedelta(hours=2)
                                                                        >= day.end)).all()
    on_file, days_on_file = read_events()
    pd.testing.assert_frame_equal(on_file[list(events.columns)], events, check_dtype=False)
    pd.testing.assert_frame_equal(days_on_file, days, check_dtype=False)


def test_the_duty_follows_the_shift_calendar(runs):
    sc, truth, _ = runs
    local = truth.index.tz_convert("Europe/Berlin")
    idle = np.isclose(truth["shaft_speed"], 0.6 * 308.9)
    night = (local.hour < 6) | (local.hour >= 22)
    assert idle[night].all() and not truth["producing"][night].any()
    assert idle[(local.hour == 14) & (local.minute < 30)].all()  # changeover stop
    sunday_afternoon = (local.day_of_week == 6) & (local.hour >= 14)
    assert idle[sunday_afternoon].all()
    producing = truth["producing"].to_numpy()
    assert 0.9 < (~idle[producing]).mean() < 1.0  # a few short stops within the shifts
    assert len(np.unique(truth["shaft_speed"][producing & ~idle])) == 6  # the six line speeds
    assert truth["flow"].min() > 0.005  # the idle pump still circulates (no backflow against the static head)


# ------------------------------------------------------------------ the events act where the table says
NOISE_SI = {"flow": 0.4 / 3600, "discharge_pressure": 1e3, "vibration_rms": 0.05e-3, "motor_current": 0.15,
            "winding_temperature": 0.3, "ambient_temperature": 0.2}


@pytest.mark.parametrize("kind", sorted(EVENT_KINDS))
def test_each_event_changes_exactly_the_channels_its_table_row_lists(kind):
    one = LivingScenario(days=1.0, seed=3, events=(LivingEvent(kind, 8.0, 18.0),))
    run, base = simulate_living_truth(one), simulate_living_truth(replace(one, events=()))
    row = truth_events(one).iloc[0]
    during = (run.index >= row["onset"]) & (run.index < row["end"])
    pd.testing.assert_frame_equal(run[run.index < row["onset"]], base[base.index < row["onset"]])
    for channel, noise in NOISE_SI.items():
        change = (run[channel] - base[channel])[during].abs().max()
        if channel in row["channels"]:
            assert change > 2 * noise, (kind, channel, change)
        else:
            assert change < noise / 5, (kind, channel, change)


def test_fouling_lowers_flow_after_its_onset_and_cleaning_ends_it(runs):
    sc, truth, base = runs
    ev = truth_events(sc).set_index("event").loc["strainer_fouling"]
    before = truth.index < ev["onset"]
    pd.testing.assert_frame_equal(truth[before], base[before])
    during = window(truth, ev["onset"], ev["end"])
    drop = (window(base, ev["onset"], ev["end"])["flow"] - during["flow"])
    assert drop.iloc[0] < 1e-6 and drop.iloc[-1] > 1.0 / 3600  # over 1 m^3/h less flow at the end
    rise = during["discharge_pressure"] - window(base, ev["onset"], ev["end"])["discharge_pressure"]
    assert rise.iloc[-1] > 0.1e5  # the pump moves up its curve: over 0.1 bar more
    assert np.all(np.diff(during["strainer_resistance"]) > 0)
    # k_f integrates the flow: the resistance added is k_f times the volume pumped (trapezoid on the 60 s grid)
    added = (during["strainer_resistance"] - window(base, ev["onset"], ev["end"])["strainer_resistance"]).iloc[-1]
    volume = np.trapezoid(during["flow"], dx=60.0)
    assert added == pytest.approx((3.0 - 0.25) * volume, rel=0.01)
    after = truth.index >= ev["end"]
    assert np.allclose(truth.loc[after, "strainer_resistance"], base.loc[after, "strainer_resistance"], rtol=1e-6)


def test_drift_ramps_the_winding_reading_while_current_and_winding_stay(runs):
    sc, truth, base = runs
    ev = truth_events(sc).set_index("event").loc["sensor_drift"]
    during, healthy = window(truth, ev["onset"], ev["end"]), window(base, ev["onset"], ev["end"])
    assert np.allclose(during["motor_current"], healthy["motor_current"], rtol=1e-6)
    assert np.allclose(during["true_winding_temperature"], healthy["true_winding_temperature"], atol=1e-5)
    reading = during["winding_temperature"] - during["true_winding_temperature"]
    hours = (during.index - ev["onset"]).total_seconds().to_numpy() / 3600.0
    assert np.polyfit(hours, reading, 1)[0] == pytest.approx(0.25, rel=1e-3)  # K/h, the table's value
    assert reading.iloc[-1] == pytest.approx(ev["value"] * (15 * 3600 - 60), rel=1e-6)


def test_bearing_wear_grows_vibration_towards_the_threshold(runs):
    sc, truth, base = runs
    ev = truth_events(sc).set_index("event").loc["bearing_wear"]
    during = window(truth, ev["onset"], ev["end"])
    assert np.all(np.diff(during["bearing_wear"]) > 0)
    assert 0.5 < during["bearing_wear"].iloc[-1] < 1.0  # towards failure (1), replaced before
    extra = during["vibration_rms"] - window(base, ev["onset"], ev["end"])["vibration_rms"]
    assert extra.iloc[0] < 1e-6 and extra.iloc[-1] > 4e-3  # +4 mm/s and more
    for column in ("flow", "motor_current", "winding_temperature"):
        assert np.allclose(during[column], window(base, ev["onset"], ev["end"])[column], rtol=1e-6)


def test_heat_wave_is_measured_and_the_ventilation_failure_is_not(runs):
    sc, truth, base = runs
    events = truth_events(sc).set_index("event")
    wave, load = events.loc["heat_wave"], events.loc["ambient_load"]
    rise = window(truth, wave["onset"], wave["end"])["ambient_temperature"] - window(
        base, wave["onset"], wave["end"])["ambient_temperature"]
    assert rise.max() == pytest.approx(7.0, abs=1e-9) and rise.min() >= 0
    params = truth_parameters(sc, truth)
    assert np.allclose(window(params, wave["onset"], wave["end"])["hall_ambient_rise"], rise)
    during_load = window(truth, load["onset"], load["end"])
    assert np.allclose(during_load["local_air_temperature"] - during_load["ambient_temperature"],
                       during_load["local_air_excess"])
    assert during_load["local_air_excess"].iloc[-1] == pytest.approx(5.0, abs=0.01)  # unmeasured 5 K
    assert np.allclose(during_load["flow"], window(base, load["onset"], load["end"])["flow"], rtol=1e-6)


def test_clean_days_carry_no_trace_of_any_event(runs):
    sc, truth, base = runs
    for day in clean_days(sc).itertuples():
        a, b = window(truth, day.start, day.end), window(base, day.start, day.end)
        for column, noise in (("flow", 0.4 / 3600), ("discharge_pressure", 1e3), ("motor_current", 0.15),
                              ("vibration_rms", 0.05e-3), ("winding_temperature", 0.3),
                              ("ambient_temperature", 0.2)):
            assert (a[column] - b[column]).abs().max() < noise / 5, (day.date, column)


def test_truth_parameters_follow_the_events(runs):
    sc, truth, _ = runs
    params = truth_parameters(sc, truth)
    events = truth_events(sc)
    for ev in events.itertuples():
        inside = (params.index >= ev.onset) & (params.index < ev.end)
        assert np.allclose(params.loc[inside, ev.parameter], ev.value) or ev.kind == "heat_wave"
        assert np.allclose(params.loc[~inside, ev.parameter], ev.baseline)
    for name, value in TRUTH_PUMP_PARAMS.items():
        assert (params[name] == value).all()


# ------------------------------------------------------------------ the gates and the config
def test_bundled_file_reads_through_the_main_jobs_config_with_only_the_defects_quarantined(compose_config):
    from hydra.utils import instantiate

    spec = instantiate(compose_config(["telemetry=living"]).telemetry)
    assert spec.path == LIVING_PATH
    stream = read_csv(spec.path, spec.channel_map)  # as scenarios.steps reads it
    counts = stream.counts
    assert (counts["accepted"] + counts["quarantined"] == counts["read"]).all()
    defects = injected_defects(LivingScenario())
    doubled = int(defects.loc[defects["gate"] == "timestamp_duplicate", "row"].iloc[0])
    # 1-based file rows: the rows after the double write move down by one; the double write's second copy goes
    expected = {(int(r) + 1 + (r > doubled) + (g == "timestamp_duplicate"), c, g)
                for r, c, g in zip(defects["row"], defects["channel"], defects["gate"])}
    got = set(zip(stream.quarantine["row"].astype(int), stream.quarantine["channel"], stream.quarantine["gate"]))
    assert got == expected and len(stream.quarantine) == 13
    assert stream.gaps.empty and len(stream.frame) == 9 * 24 * 60
    assert stream.frame.index[1] - stream.frame.index[0] == pd.Timedelta(minutes=1)


def test_the_config_the_code_map_and_the_mqtt_map_agree(compose_config):
    from hydra.utils import instantiate

    spec = instantiate(compose_config(["telemetry=living"]).telemetry)
    from_config = spec.channel_map.to_dict()
    for channel in from_config["channels"].values():
        channel.pop("description")
    assert from_config == living_channel_map().to_dict()
    mqtt = ChannelMap.from_yaml(ROOT / "conf/telemetry/maps/living_mqtt.yaml")
    assert mqtt.names == spec.channel_map.names and len(set(mqtt.topics)) == 7
    for a, b in zip(mqtt.channels, spec.channel_map.channels):
        assert (a.unit, a.si_unit, a.valid_range, a.period) == (b.unit, b.si_unit, b.valid_range, b.period)
    raw = yaml.safe_load((ROOT / "conf/telemetry/living.yaml").read_text())
    assert raw["defaults"] == ["telemetry_schema"] and raw["path"] == "${twinbench_data:living_telemetry.csv}"


def test_short_scenario_passes_the_gates_in_si():
    table = generate_living_telemetry(SHORT)
    stream = read_living_telemetry(table)
    truth = simulate_living_truth(SHORT)
    counts = stream.counts
    assert (counts["accepted"] + counts["quarantined"] == counts["read"]).all()
    assert counts.loc["TOTAL", "quarantined"] == len(injected_defects(SHORT)) == 13
    frame = stream.frame.reindex(truth.index)
    assert (frame["flow"] - truth["flow"]).std() * 3600 == pytest.approx(0.4, rel=0.1)
    assert (frame["shaft_speed"] - truth["shaft_speed"]).abs().max() < 0.5  # rad/s: 2.5 sigma of 0.5 rpm noise
    assert (frame["ambient_temperature"] - truth["ambient_temperature"]).std() == pytest.approx(0.2, rel=0.1)


@pytest.mark.slow
@pytest.mark.parametrize("event", ["strainer_fouling", "ambient_load", "sensor_drift"])
def test_the_reference_diagnosis_names_each_event_on_the_bundled_file(event):
    """The data are scoreable: the diagnosis on the truth window recovers the hypothesis and its parameter."""
    events, _ = read_events()
    ev = events.set_index("event").loc[event]
    stream = read_living_telemetry(pd.read_csv(LIVING_PATH, dtype=str, keep_default_na=False))
    result = diagnose_reference(stream.frame, params=TRUTH_PUMP_PARAMS, start=ev["onset"], end=ev["end"])
    assert result.best == ev["hypothesis"] and result.margin > 100, result.explanation  # measured 1869-4532
    lo, hi = result.fits[ev["hypothesis"]].intervals_[ev["parameter"]]
    assert lo < ev["value"] < hi


@pytest.mark.parametrize("kw,match", [
    ({"events": (LivingEvent("leak", 1.0, 2.0),)}, "kind = 'leak' is not known"),
    ({"events": (LivingEvent("sensor_drift", 5.0, 4.0),)}, "onset_h = 5.0 and end_h = 4.0"),
    ({"events": (LivingEvent("sensor_drift", 1.01, 4.0),)}, "not on the 60.0 s sampling grid"),
    ({"events": (LivingEvent("sensor_drift", 1.0, 4.0), LivingEvent("sensor_drift", 3.0, 5.0, name="b"))},
     "overlap"),
    ({"events": (LivingEvent("sensor_drift", 1.0, 4.0), LivingEvent("bearing_wear", 5.0, 6.0, name="sensor_drift"))},
     "used twice"),
    ({"days": 0.001}, "at least 20 samples"),
])
def test_bad_scenarios_are_refused_naming_the_value(kw, match):
    with pytest.raises(ConfigurationError, match=match):
        LivingScenario(**{"days": 1.0, **kw})


def test_every_event_kind_names_a_parameter_of_the_drive_or_the_hall():
    from sim.physics.filler_drive import FILLER_DRIVE_SPEC

    for kind in EVENT_KINDS.values():
        assert kind.parameter in FILLER_DRIVE_SPEC.names("params") or kind.parameter == "hall_ambient_rise"
        assert set(kind.channels) <= set(COLUMNS)
        assert kind.reset_state is None or kind.reset_state in FILLER_DRIVE_SPEC.names("states")


# ------------------------------------------------------------------ the scorer, on hand-made tables
T0 = pd.Timestamp("2026-07-21T00:00Z")


def h(hours):
    return T0 + pd.Timedelta(hours=hours)


EVENTS = pd.DataFrame([
    {"event": "fouling", "onset": h(10), "end": h(14), "alarm": True, "hypothesis": "strainer_fouling",
     "parameter": "fouling_rate"},
    {"event": "wave", "onset": h(30), "end": h(50), "alarm": False, "hypothesis": "no_fault",
     "parameter": "hall_ambient_rise"},
    {"event": "load", "onset": h(40), "end": h(44), "alarm": True, "hypothesis": "ambient_load",
     "parameter": "ambient_load"},
    {"event": "drift", "onset": h(60), "end": h(64), "alarm": True, "hypothesis": "sensor_drift",
     "parameter": "sensor_drift_rate"},
])
DAYS = [{"start": h(-24), "end": h(0)}, {"start": h(72), "end": h(96)}]


def test_scorer_gives_hand_computed_delays_counts_and_diagnoses():
    alarms = [
        {"raised": h(11), "cleared": h(13), "estimated_onset": h(10.5)},  # fouling: 1 h late, onset 30 min late
        {"raised": h(12), "cleared": h(12.5)},  # a second alarm in the window: neither false nor scored
        {"raised": h(35), "cleared": h(36)},  # during the heat wave, outside the load window: false
        {"raised": h(44.5), "cleared": h(45)},  # load: inside its grace hour, 4.5 h late
        {"raised": h(-20), "cleared": h(-18)},  # clean day: false, 2 alarm-hours
        {"raised": h(95)},  # clean day, never cleared: false, active until the record's end (h 96)
    ]
    diagnoses = [{"time": h(11.5), "hypothesis": "strainer_fouling"}, {"time": h(45), "hypothesis": "sensor_drift"},
                 {"time": h(33), "hypothesis": "no_fault"}, {"time": h(41), "hypothesis": "sensor_drift"}]
    recalibrations = [{"time": h(31)}, {"time": h(80)}, {"time": h(12)}]
    score = score_living(alarms, diagnoses, recalibrations, EVENTS, clean_days=DAYS)
    ev = score.events
    assert ev.loc["fouling", "delay_s"] == 3600.0 and ev.loc["fouling", "onset_error_s"] == 1800.0
    assert ev.loc["fouling", "alarms"] == 2 and ev.loc["fouling", "diagnosis_right"]
    assert ev.loc["load", "delay_s"] == 4.5 * 3600 and np.isnan(ev.loc["load", "onset_error_s"])
    assert ev.loc["load", "diagnosis"] == "sensor_drift" and not ev.loc["load", "diagnosis_right"]
    assert not ev.loc["drift", "detected"] and np.isnan(ev.loc["drift", "delay_s"])
    assert pd.isna(ev.loc["drift", "diagnosis"]) and pd.isna(ev.loc["drift", "diagnosis_right"])  # none made
    assert ev.loc["wave", "diagnosis"] == "no_fault" and ev.loc["wave", "diagnosis_right"]  # h 41 is the load's
    assert ev.loc["wave", "alarms"] == 1 and ev.loc["wave", "recalibrations"] == 1
    assert score.false_alarms["where"].tolist() == ["quiet event wave", "clean day", "clean day"]
    s = score.summary
    assert (s["events"], s["detected"], s["missed"]) == (3, 2, 1)
    assert s["mean_delay_s"] == pytest.approx(2.75 * 3600) and s["median_delay_s"] == pytest.approx(2.75 * 3600)
    assert (s["diagnosed"], s["diagnoses_right"]) == (3, 2)
    assert (s["false_alarms"], s["false_alarms_clean_days"], s["false_alarms_quiet_events"]) == (3, 2, 1)
    assert s["alarm_hours_clean_days"] == pytest.approx(3.0)  # 2 h + 1 h still open at the end
    assert (s["recalibrations_clean_days"], s["recalibrations_quiet_events"]) == (1, 1)
    # NAB, standard profile: windows of 5 h; detections at y = (11 - 15)/5 and (44.5 - 45)/5; one miss; 3 FPs
    sig = nab_sigma(-0.8) + nab_sigma(-0.1)
    raw, null, perfect = sig - 1.0 - 3 * 0.11, -3.0, 3 * nab_sigma(-1.0)
    assert s["nab_standard"] == pytest.approx(100 * (raw - null) / (perfect - null))
    raw_fn = sig - 2.0 - 3 * 0.11
    assert s["nab_low_fn"] == pytest.approx(100 * (raw_fn + 6.0) / (perfect + 6.0))
    assert nab_sigma(-1.0) == pytest.approx(0.98661, abs=1e-5) and nab_sigma(0.0) == 0.0


def test_perfect_and_silent_twins_score_100_and_0():
    first = [{"raised": row.onset} for row in EVENTS.itertuples() if row.alarm]
    perfect = score_living(first, None, None, EVENTS, clean_days=DAYS).summary
    assert perfect["nab_standard"] == pytest.approx(100.0) and perfect["mean_delay_s"] == 0.0
    silent = score_living([], [], [], EVENTS, clean_days=DAYS).summary
    assert silent["nab_standard"] == 0.0 and silent["false_alarms"] == 0 and silent["missed"] == 3
    assert np.isnan(silent["mean_delay_s"]) and silent["alarm_hours_clean_days"] == 0.0


def test_coverage_is_the_fraction_of_time_the_interval_holds_the_truth():
    truth = pd.DataFrame({"fouling_rate": [0.25, 3.0, 0.25]}, index=pd.DatetimeIndex([h(0), h(10), h(14)]))
    track = pd.DataFrame({"time": [h(9), h(11), h(12), h(15)], "parameter": "fouling_rate",
                          "low": [0.2, 0.5, 2.5, 0.0], "high": [0.3, 2.0, 3.5, 0.3]})
    # [10, 11): track [0.2, 0.3] misses 3.0; [11, 12) [0.5, 2] misses; [12, 14) [2.5, 3.5] holds: 2 h of 4
    assert coverage_fraction(track, truth["fouling_rate"], h(10), h(14)) == pytest.approx(0.5)
    # from the first row (h 9) to h 16: [9, 10) holds, [10, 12) misses, [12, 14) holds, [14, 15) misses 0.25 with
    # [2.5, 3.5], [15, 16) holds: 4 h of 7
    assert coverage_fraction(track, truth["fouling_rate"], h(9), h(16)) == pytest.approx(4 / 7)
    assert coverage_fraction(track, truth["fouling_rate"], h(8), h(10)) == pytest.approx(0.5)  # no track before 9
    score = score_living([], [], [], EVENTS, clean_days=DAYS, tracks=track, truth=truth, record_end=h(16))
    assert score.events.loc["fouling", "coverage"] == pytest.approx(0.5)
    assert np.isnan(score.events.loc["drift", "coverage"])
    assert score.coverage.loc["fouling_rate", "hours"] == 7.0
    assert score.summary["coverage"] == pytest.approx(4 / 7)


def test_scorer_reads_the_bundled_truth_and_refuses_bad_tables(tmp_path):
    events, days = read_events()
    onsets = events.loc[events["alarm"], "onset"]
    score = score_living([{"raised": t + pd.Timedelta(minutes=30)} for t in onsets], [], [], events,
                         clean_days=days)
    assert score.summary["detected"] == 4 and score.summary["mean_delay_s"] == 1800.0
    assert score.summary["clean_days"] == 4
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="bad.json' is not valid JSON"):
        read_events(tmp_path / "bad.json")
    with pytest.raises(ConfigurationError, match="cannot be read"):
        read_events(tmp_path / "none.json")
    with pytest.raises(ConfigurationError, match=r"alarms lacks the column\(s\) \['raised'\]"):
        score_living([{"time": T0}], [], [], EVENTS, clean_days=DAYS)
    with pytest.raises(ConfigurationError, match="'raised' holds values that are not time stamps"):
        score_living([{"raised": "soon"}], [], [], EVENTS, clean_days=DAYS)
    with pytest.raises(ConfigurationError, match="grace = -1"):
        score_living([], [], [], EVENTS, clean_days=DAYS, grace=-1)
    with pytest.raises(ConfigurationError, match="tracks were given without truth"):
        score_living([], [], [], EVENTS, clean_days=DAYS, tracks=[])
    with pytest.raises(ConfigurationError, match="parameter 'x' has no truth"):
        score_living([], [], [], EVENTS, clean_days=DAYS, tracks=[{"time": T0, "parameter": "x", "low": 0,
                                                                    "high": 1}], truth=pd.DataFrame({"y": [1.0]},
                                                                                                   index=[T0]))


def test_a_twin_that_knows_the_healthy_plant_detects_every_event_and_stays_silent_on_clean_days():
    """End to end: the residuals of the bundled file against the healthy truth (the plant events removed, the
    measured heat wave kept), a 30-minute mean per channel with an alarm above 6 and a clear below 3 standard
    errors - every expected event is found within 75 min, the heat wave and the clean days raise nothing."""
    sc = LivingScenario()
    healthy = simulate_living_truth(replace(sc, events=tuple(e for e in sc.events if e.kind == "heat_wave")))
    frame = read_living_telemetry(pd.read_csv(LIVING_PATH, dtype=str, keep_default_na=False)).frame
    frame = frame.reindex(healthy.index)
    n = 30
    z = pd.DataFrame({c: (frame[c] - healthy[c]).rolling(n, min_periods=n // 2).mean() / (NOISE_SI[c] / np.sqrt(n))
                      for c in NOISE_SI if c != "ambient_temperature"})
    alarms, active = [], False
    for t, s in zip(frame.index, z.abs().max(axis=1).fillna(0.0)):
        if not active and s > 6:
            active = True
            alarms.append({"raised": t})
        elif active and s < 3:
            active = False
            alarms[-1]["cleared"] = t
    events, days = read_events()
    score = score_living(alarms, [], [], events, clean_days=days)
    s = score.summary
    assert (s["detected"], s["false_alarms"], s["alarm_hours_clean_days"]) == (4, 0, 0.0)  # measured: 4, 0, 0
    assert score.events.loc[events.loc[events["alarm"], "event"], "delay_s"].max() < 75 * 60  # measured 22-70 min
    assert score.events.loc["heat_wave", "alarms"] == 0 and s["nab_standard"] > 99  # measured 99.78
