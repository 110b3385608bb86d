"""The live loop's monitors: alarm -> diagnosis -> refit -> shadow verdict, a failing fit, resume with the
detector and governor state, and the what-if forked from the live twin."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from scenarios.live.app import build_service
from scenarios.live.config import register_live_configs
from scenarios.live.monitor import RecalibrationMonitor, WhatIfMonitor
from scenarios.reference.faults import FaultScenario, generate_fault_telemetry

CONF = str(Path(__file__).resolve().parents[3] / "conf")
ONSET_H = 4.0
FAST = ["telemetry.channels.flow.period=10", "detection.normal_h=2", "recalibration.window_h=1",
        "recalibration.shadow_h=1", "tick_s=300", "whatif_now.final=false", "checkpoint.path=null"]


@pytest.fixture(scope="module")
def fouling_csv(tmp_path_factory):
    """Eight hours of the filler drive at 10 s; the strainer starts to clog after four."""
    path = tmp_path_factory.mktemp("live") / "fouling.csv"
    generate_fault_telemetry(FaultScenario(effect="strainer_fouling", hours=8.0, onset_h=ONSET_H, seed=1)).to_csv(
        path, index=False)
    return path


def cfg(csv, tmp_path, *overrides):
    register_live_configs()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("live", overrides=[f"telemetry.path={csv}", f"recalibration.audit={tmp_path}/audit.jsonl",
                                          *FAST, *overrides])


def onset_stamp():
    return FaultScenario(effect="strainer_fouling", hours=8.0, onset_h=ONSET_H, seed=1).onset.value


@pytest.mark.slow
def test_fouling_is_alarmed_after_its_onset_diagnosed_refitted_and_judged(fouling_csv, tmp_path):
    s = build_service(cfg(fouling_csv, tmp_path, "recalibration.refit_faults=true"))
    s.run()
    tl = s.timeline
    raised = tl.of_kind("alarm raised")
    assert raised, tl.render()
    assert all(e.time > onset_stamp() for e in raised)  # no false alarm on the healthy hours
    assert raised[0].time - onset_stamp() < 2.5 * 3600 * 10**9  # measured 2.07 h (5 min above threshold needed)
    diagnosis = tl.of_kind("diagnosis")[0]
    assert diagnosis.details["best"] == "strainer_fouling"
    assert tl.of_kind("promoted")[0].text.startswith("first champion")
    assert tl.of_kind("recalibration") and (tl.of_kind("rejected") or len(tl.of_kind("promoted")) > 1)
    text = tl.render()
    assert text.index("alarm raised") < text.index("diagnosis") < text.index("recalibration")


def test_an_indecisive_diagnosis_waits_for_a_longer_window_while_the_alarm_is_up(fouling_csv, tmp_path):
    """A margin no data can reach: the window grows by extend_h up to max_window_h after the onset, then the winner is
    taken with the evidence it has - the same winner, on more data."""
    s = build_service(cfg(fouling_csv, tmp_path, "recalibration.min_margin=1e9", "recalibration.extend_h=0.5",
                          "recalibration.max_window_h=2"))
    s.run()
    pending, (final,) = s.timeline.of_kind("diagnosis pending"), s.timeline.of_kind("diagnosis")
    assert len(pending) == 2, s.timeline.render()  # at 1 h and 1.5 h after the window start
    assert [e.details["best"] for e in pending] + [final.details["best"]] == ["strainer_fouling"] * 3
    start = final.details["start"]
    assert 2 * 3600 * 10**9 <= final.time - start < 2 * 3600 * 10**9 + 300 * 10**9  # the longest window, on a tick
    # the window starts at the twin's last tick before the onset (tick_s 300 s): it grows by 0.5 h on that grid
    assert abs(pending[1].time - pending[0].time - 1800 * 10**9) <= 300 * 10**9
    assert all("(very strong evidence, < 1e+09)" in e.text and "the window grows to" in e.text for e in pending)
    assert final.details["margin"] > pending[0].details["margin"]  # more of the fouling, more evidence


def test_a_failing_refit_keeps_the_champion_and_the_timeline_says_why(fouling_csv, tmp_path):
    s = build_service(cfg(fouling_csv, tmp_path, "max_rows=1200"))
    s.run()
    recal = next(m for m in s.monitors if isinstance(m, RecalibrationMonitor))
    champion = recal.governor.champion
    assert champion is not None
    empty_from = s.last_stamp + 10**12  # a window with no rows
    assert recal._refit(s, empty_from, empty_from + 10**9, reason="test") is None
    assert recal.governor.champion is champion
    failed = s.timeline.of_kind("calibration failed")[-1]
    assert "champion stays" in failed.text and "no telemetry rows" in failed.text
    assert recal.governor.decisions[-1]["outcome"] == "champion_kept"


@pytest.mark.slow
def test_a_resumed_run_makes_the_same_decisions_at_the_same_times(fouling_csv, tmp_path):
    whole = build_service(cfg(fouling_csv, tmp_path / "a"))
    whole.run()
    ckpt = tmp_path / "b" / "live.ckpt"
    first = build_service(cfg(fouling_csv, tmp_path / "b", f"checkpoint.path={ckpt}", "block_rows=97"))
    first.run(max_rows=1900)  # mid-way through the fouling, alarm up
    second = build_service(cfg(fouling_csv, tmp_path / "b", f"checkpoint.path={ckpt}", "block_rows=31"))
    assert second.resume()
    second.run()
    assert [(e.time, e.kind, e.text) for e in second.timeline.events] == \
           [(e.time, e.kind, e.text) for e in whole.timeline.events]
    assert second.tracker.fingerprint() == whole.tracker.fingerprint()


def test_the_what_if_forks_from_the_live_twin_now(fouling_csv, tmp_path):
    s = build_service(cfg(fouling_csv, tmp_path, "max_rows=700", "detection.enabled=false",
                          "whatif.replications=2", "whatif.horizon_h=2", "whatif.warmup_h=0.5",
                          "whatif_now.final=true"))
    s.run()
    whatif = next(m for m in s.monitors if isinstance(m, WhatIfMonitor))
    stamp, summary, rec = whatif.last
    assert stamp == s.last_stamp
    # the main job's decision (guardrails of conf/whatif/speed.yaml judged on intervals), not a bare ranking
    from scenarios.whatif.decision import Decision

    assert isinstance(rec, Decision) and rec.status in {"recommend", "keep", "no clear winner", "no feasible action"}
    assert rec.action is None or rec.action in {a.name for a in whatif.spec.actions}
    assert set(summary["action"]) == {a.name for a in whatif.spec.actions}
    event = s.timeline.of_kind("what-if")[-1]
    assert event.time == s.last_stamp and str(rec.action) in event.text
    winding = s.tracker.states()[0][s.tracker.model.spec.index("states", "winding_temperature")]
    assert f"winding {winding - 273.15:.1f} degC" in event.text  # the fork starts from the tracked state
