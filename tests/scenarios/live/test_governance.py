"""Governance of continuous calibration: promotion only when the challenger predicts the next window better and
the policies allow; approvals, refusals, rollback and failed calibrations are audited (and mirrored to MLflow).

The plant is the motor thermal model with a housing-to-ambient resistance that steps (fouling); champions and
challengers are real least-squares fits of its telemetry, judged on the window after their fit window.
"""

import json

import numpy as np
import pandas as pd
import pytest

from calibration import CalibrationData, LeastSquaresCalibrator
from scenarios.live.audit import AuditLog, verify_file
from scenarios.live.governance import (ApprovalPolicy, CorroborationPolicy, GovernanceError, Governor,
                                       ImprovementPolicy, MaxChangePolicy, make_policy)
from scenarios.tracking.tracker import MlflowTracker
from sim.exceptions import CalibrationError, ConfigurationError
from sim.physics import MOTOR_THERMAL, MOTOR_THERMAL_SPEC as SPEC

T0 = pd.Timestamp("2026-06-01", tz="UTC")
R = "thermal_resistance_housing_ambient"
C = "heat_capacity_housing"
BASE = {R: 0.060, C: 52000.0}
BOTH = ("winding_temperature", "housing_temperature")
SECRETS = {"alice": "alice-7f3c9e1d-token", "bob": "bob-22aa90c4-token"}


def plant_frame(segments, *, seed=0, period=10.0, noise=0.2):
    """Motor telemetry [SI] whose parameters change between *segments* ``[(hours, params), ...]``; the states run
    on continuously.  Both temperatures are measured with Gaussian noise of *noise* K."""
    rng = np.random.default_rng(seed)
    hours = sum(h for h, _ in segments)
    t = np.arange(0.0, hours * 3600.0 + period / 2, period)
    blocks = (t // 600).astype(int)
    level = rng.uniform(22.0, 34.0, blocks.max() + 1) * (rng.random(blocks.max() + 1) > 0.25)
    u = np.column_stack([level[blocks], 293.15 + 6.0 * np.sin(2 * np.pi * t / 86400.0)])
    y = np.empty((t.size, 3))
    x, start, edge = np.array([320.0, 312.0]), 0, 0.0
    for k, (h, params) in enumerate(segments):
        edge += h * 3600.0
        stop = t.size if k == len(segments) - 1 else int(np.searchsorted(t, edge, side="right"))
        y[start:stop] = MOTOR_THERMAL.simulate(x, SPEC.vector("params", params), t[start:stop], u[start:stop])[0]
        x, start = y[stop - 1, :2].copy(), stop - 1  # the next segment starts from this one's last sample
    frame = pd.DataFrame({"motor_current": u[:, 0], "ambient_temperature": u[:, 1],
                          "winding_temperature": y[:, 0] + rng.normal(0.0, noise, t.size),
                          "housing_temperature": y[:, 1] + rng.normal(0.0, noise, t.size)},
                         index=T0 + pd.to_timedelta(t, unit="s"))
    return frame


def window(frame, h0, h1, channels=BOTH):
    """The samples with ``h0 h < t <= h1 h`` (the first window starts at its first sample)."""
    start = T0 + pd.Timedelta(hours=h0) + (pd.Timedelta(seconds=1) if h0 > 0 else pd.Timedelta(0))
    return CalibrationData.from_frame(frame, SPEC, outputs=list(channels), start=start,
                                      end=T0 + pd.Timedelta(hours=h1))


def fit(frame, h0, h1, channels=BOTH):
    return LeastSquaresCalibrator([R, C]).fit(MOTOR_THERMAL, window(frame, h0, h1, channels)).record_


@pytest.fixture(scope="module")
def fouling():
    """R_ha steps +30 % at 6 h: the champion is fitted on 0-6 h, the challenger on 6-12 h, the next window is
    12-15 h; and a challenger fitted on 0-6 h data of the *old* plant is worse there."""
    frame = plant_frame([(6, BASE), (9, {**BASE, R: BASE[R] * 1.3})], seed=1)
    return {"frame": frame, "champion": fit(frame, 0, 6), "challenger": fit(frame, 6, 12),
            "next": window(frame, 12, 15), "next_one_channel": window(frame, 12, 15, ["winding_temperature"]),
            "challenger_one_channel": fit(frame, 6, 12, ["winding_temperature"])}


@pytest.fixture
def secrets(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(f"TEST_APPROVER_{name.upper()}", value)
    return {name: {"token_env": f"TEST_APPROVER_{name.upper()}"} for name in SECRETS}


def governor(tmp_path, policies=(), secrets=None, **kw):
    cfg = {"policies": list(policies), "approvers": secrets or {}}
    return Governor.from_config(cfg, audit=AuditLog(tmp_path / "audit.jsonl"), **kw)


def audited(tmp_path):
    return verify_file(tmp_path / "audit.jsonl", return_entries=True)


# ---------------------------------------------------------------- promotion
def test_the_fits_recover_the_plant(fouling):
    """(The premise of the other tests.)"""
    assert fouling["champion"].params()[R] == pytest.approx(BASE[R], rel=0.02)
    assert fouling["challenger"].params()[R] == pytest.approx(BASE[R] * 1.3, rel=0.02)


def test_a_better_challenger_is_promoted_on_the_next_window(tmp_path, fouling):
    gov = governor(tmp_path, [{"type": "improvement", "margin": 0.05}])
    first = gov.propose(fouling["champion"], reason="initial calibration")
    assert first["outcome"] == "promoted" and gov.champion is fouling["champion"]
    proposed = gov.propose(fouling["challenger"], reason="CUSUM alarm on winding_temperature",
                           diagnosis={"best": "fouling", "strength": "very strong"})
    assert proposed["outcome"] == "shadow" and gov.challenger is fouling["challenger"]
    assert proposed["details"]["changes"][R]["relative"] == pytest.approx(0.3, abs=0.03)
    decision = gov.evaluate_shadow(fouling["next"])
    assert decision["outcome"] == "promoted" and gov.champion is fouling["challenger"] and gov.challenger is None
    shadow = decision["details"]["shadow"]
    assert pd.Timestamp(shadow["window"]["start"]) > pd.Timestamp(fouling["challenger"].window["end"])
    for c in BOTH:  # the challenger sees the fouled plant: its residual is the noise level, the champion's is not
        assert shadow["rmse"]["challenger"][c] < 0.3 < 1.0 < shadow["rmse"]["champion"][c]
    entries = audited(tmp_path)
    assert [e["action"] for e in entries] == ["champion_initial", "proposed", "promoted"]
    promoted = entries[-1]
    assert promoted["record_ids"] == [fouling["challenger"].record_id, fouling["champion"].record_id]
    assert promoted["window"]["start"] == fouling["next"].start.isoformat()
    assert "fouling" in entries[1]["why"] and "CUSUM" in entries[1]["why"]
    assert "improvement" in promoted["why"]
    assert [h["record_id"] for h in gov.history] == [fouling["champion"].record_id, fouling["challenger"].record_id]


def test_a_challenger_that_does_not_predict_better_is_rejected(tmp_path, fouling):
    gov = governor(tmp_path, [{"type": "improvement", "margin": 0.02}])
    gov.propose(fouling["challenger"], reason="initial")
    gov.propose(fouling["champion"], reason="a refit on the old plant")  # worse on the fouled window
    decision = gov.evaluate_shadow(fouling["next"])
    assert decision["outcome"] == "rejected" and gov.champion is fouling["challenger"]
    assert "does not predict better" in decision["why"]
    same = gov.propose(fouling["challenger"], reason="same record again")
    assert same["outcome"] == "ignored"
    # a record with the same parameters (another id) is not better by the 2 % margin
    twin = LeastSquaresCalibrator([R, C]).fit(MOTOR_THERMAL, window(fouling["frame"], 6, 12)).record_
    import dataclasses

    copy = dataclasses.replace(twin, method=twin.method + " [copy]")
    gov.propose(copy, reason="copy")
    assert gov.evaluate_shadow(fouling["next"])["outcome"] == "rejected"


def test_tracking_none_and_no_audit_file_decide_the_same(tmp_path, fouling):
    from scenarios.tracking.tracker import NullTracker

    outcomes = []
    for gov in (Governor(tracker=NullTracker()), Governor(), governor(tmp_path)):
        gov.propose(fouling["champion"], reason="initial")
        gov.propose(fouling["challenger"], reason="refit")
        decision = gov.evaluate_shadow(fouling["next"])
        outcomes.append({k: decision[k] for k in ("id", "outcome", "why", "details")})
        assert gov.champion is fouling["challenger"]
    assert outcomes[0] == outcomes[1] == outcomes[2]


def test_the_challenger_is_judged_on_the_next_window_not_its_fit_window(tmp_path, fouling):
    gov = governor(tmp_path)
    gov.propose(fouling["champion"], reason="initial")
    with pytest.raises(GovernanceError, match="propose"):
        gov.evaluate_shadow(fouling["next"])
    gov.propose(fouling["challenger"], reason="refit")
    with pytest.raises(ConfigurationError, match="fit window"):
        gov.evaluate_shadow(window(fouling["frame"], 6, 12))
    assert gov.challenger is fouling["challenger"]  # nothing was decided


# ---------------------------------------------------------------- policies
def test_corroboration_needs_two_independent_sensors(tmp_path, fouling):
    gov = governor(tmp_path, [{"type": "corroboration", "min_channels": 2}])
    gov.propose(fouling["champion"], reason="initial")
    gov.propose(fouling["challenger_one_channel"], reason="refit on the winding sensor")
    decision = gov.evaluate_shadow(fouling["next_one_channel"])  # one sensor only, though it improves
    assert decision["outcome"] == "rejected" and gov.champion is fouling["champion"]
    assert "corroboration" in decision["why"] and "needs 2 independent sensors" in decision["why"]
    verdicts = {v["policy"]: v["outcome"] for v in decision["details"]["verdicts"]}
    assert verdicts == {"improvement": "allow", "corroboration": "deny"}
    # two channels derived from one sensor count once
    same_sensor = governor(tmp_path / "b", [{"type": "corroboration", "sensors": dict.fromkeys(BOTH, "rtd-1")}])
    same_sensor.propose(fouling["champion"], reason="initial")
    same_sensor.propose(fouling["challenger"], reason="refit")
    assert same_sensor.evaluate_shadow(fouling["next"])["outcome"] == "rejected"
    # the caller's evidence from a sensor outside the model counts as the second
    gov.propose(fouling["challenger_one_channel"], reason="refit, vibration sensor agrees")
    vouched = gov.evaluate_shadow(fouling["next_one_channel"], evidence=["bearing_vibration"])
    assert vouched["outcome"] == "promoted" and "bearing_vibration" in vouched["why"]
    gov.rollback("test the two-channel case from the same champion")
    # two sensors: allowed
    gov.propose(fouling["challenger"], reason="refit on both sensors")
    decision = gov.evaluate_shadow(fouling["next"])
    assert decision["outcome"] == "promoted" and "2 independent sensors" in decision["why"]


def test_max_change_denies_a_30_percent_step_under_a_10_percent_cap(tmp_path, fouling):
    gov = governor(tmp_path, [{"type": "max_change", "max_percent_per_day": 10}])
    gov.propose(fouling["champion"], reason="initial")
    gov.propose(fouling["challenger"], reason="refit")
    decision = gov.evaluate_shadow(fouling["next"])
    assert decision["outcome"] == "rejected" and gov.champion is fouling["champion"]
    assert f"{R} " in decision["why"] and "above 10 % per day" in decision["why"]
    assert "(30" in decision["why"] or "(29" in decision["why"] or "(31" in decision["why"]
    loose = governor(tmp_path / "b", [{"type": "max_change", "max_percent_per_day": 40, "parameters": [R]}])
    loose.propose(fouling["champion"], reason="initial")
    loose.propose(fouling["challenger"], reason="refit")
    assert loose.evaluate_shadow(fouling["next"])["outcome"] == "promoted"


def test_max_change_is_measured_against_the_champion_a_day_before(tmp_path):
    """Two +9 % steps within a day exceed 10 %/day together; the second passes once a day has gone by."""
    step = 1.09
    frame = plant_frame([(6, BASE), (6, {**BASE, R: BASE[R] * step}), (36, {**BASE, R: BASE[R] * step ** 2})],
                        seed=2)
    gov = governor(tmp_path, [{"type": "max_change", "max_percent_per_day": 10, "parameters": [R]}])
    gov.propose(fit(frame, 0, 6), reason="initial")
    gov.propose(fit(frame, 6, 9), reason="first step")
    assert gov.evaluate_shadow(window(frame, 9, 12))["outcome"] == "promoted"  # 9 % in a day
    second = fit(frame, 12, 15)
    gov.propose(second, reason="second step")
    denied = gov.evaluate_shadow(window(frame, 15, 18))
    assert denied["outcome"] == "rejected" and "above 10 % per day" in denied["why"]  # 18.8 % against 0 h
    gov.propose(fit(frame, 12, 36), reason="second step, a day later")
    allowed = gov.evaluate_shadow(window(frame, 36, 39))  # against the champion of 15 h: the first step
    assert allowed["outcome"] == "promoted", allowed["why"]


def test_approval_missing_then_refused_for_a_wrong_token_then_given(tmp_path, fouling, secrets):
    gov = governor(tmp_path, [{"type": "approval", "parameters": [R], "approvers": ["alice"]}], secrets)
    gov.propose(fouling["champion"], reason="initial")
    gov.propose(fouling["challenger"], reason="refit")
    asked = gov.evaluate_shadow(fouling["next"])
    assert asked["outcome"] == "pending_approval" and gov.champion is fouling["champion"]
    assert "alice" in asked["why"] and asked["id"] in gov.pending
    wrong = gov.handle_command({"verb": "approve", "id": asked["id"], "approver": "alice",
                                "token": SECRETS["bob"]})
    assert wrong["outcome"] == "refused" and "not authorised" in wrong["why"]
    stranger = gov.handle_command({"verb": "approve", "id": asked["id"], "approver": "mallory", "token": "x"})
    assert stranger["outcome"] == "refused"
    bob = gov.approve(asked["id"], "bob", SECRETS["bob"])  # a valid approver the policy does not name
    assert bob["outcome"] == "refused" and "may not approve" in bob["why"]
    assert gov.champion is fouling["champion"] and asked["id"] in gov.pending
    given = gov.handle_command(json.dumps({"verb": "approve", "id": asked["id"], "approver": "alice",
                                           "token": SECRETS["alice"], "reason": "checked the strainer"}))
    assert given["outcome"] == "promoted" and given["actor"] == "alice" and gov.champion is fouling["challenger"]
    assert "checked the strainer" in given["why"] and not gov.pending
    assert given["details"]["refers_to"] == asked["id"]
    assert audited(tmp_path)[-1]["details"]["decision"] == given["id"] != asked["id"]
    again = gov.approve(asked["id"], "alice", SECRETS["alice"])
    assert again["outcome"] == "refused" and "not waiting" in again["why"]
    entries = audited(tmp_path)
    refusals = [e for e in entries if e["action"] == "command_refused"]
    assert [e["actor"] for e in refusals] == ["unauthenticated", "unauthenticated", "bob", "alice"]
    assert [e["details"].get("claimed_approver") for e in refusals] == ["alice", "mallory", None, None]
    text = (tmp_path / "audit.jsonl").read_text() + json.dumps(gov.decisions) + json.dumps(gov.state_dict())
    assert not any(secret in text for secret in SECRETS.values())


def test_a_pending_change_can_be_rejected_and_goes_stale_after_a_rollback(tmp_path, fouling, secrets):
    gov = governor(tmp_path, [{"type": "approval", "parameters": [C, R]}], secrets)
    gov.propose(fouling["champion"], reason="initial")
    gov.propose(fouling["challenger"], reason="refit")
    asked = gov.evaluate_shadow(fouling["next"])
    no = gov.handle_command({"verb": "reject", "id": asked["id"], "approver": "bob", "token": SECRETS["bob"],
                             "reason": "maintenance next week"})
    assert no["outcome"] == "rejected" and no["why"] == "maintenance next week" and not gov.pending
    assert gov.champion is fouling["champion"]


# ---------------------------------------------------------------- rollback, failures
def test_rollback_restores_the_previous_champion_and_is_audited(tmp_path, fouling, secrets):
    gov = governor(tmp_path, [], secrets)
    gov.propose(fouling["champion"], reason="initial")
    with pytest.raises(GovernanceError, match="no previous champion"):
        gov.rollback("nothing to go back to")
    gov.propose(fouling["challenger"], reason="refit")
    assert gov.evaluate_shadow(fouling["next"])["outcome"] == "promoted"
    back = gov.rollback("the new model mispredicts the night shift")
    assert back["outcome"] == "rolled_back" and gov.champion is fouling["champion"]
    entry = audited(tmp_path)[-1]
    assert entry["action"] == "rolled_back" and entry["why"] == "the new model mispredicts the night shift"
    assert entry["record_ids"] == [fouling["champion"].record_id, fouling["challenger"].record_id]
    # by command: authorised only, and refused with the reason when there is nothing to roll back to
    refused = gov.handle_command({"verb": "rollback", "approver": "alice", "token": SECRETS["alice"],
                                  "reason": "again"})
    assert refused["outcome"] == "refused" and "no previous champion" in refused["why"]


def test_a_rollback_makes_a_pending_approval_stale(tmp_path, secrets):
    frame = plant_frame([(3, BASE), (3, {**BASE, R: BASE[R] * 1.15}), (9, {**BASE, R: BASE[R] * 1.3})], seed=4)
    gov = governor(tmp_path, [{"type": "approval", "parameters": [R], "approvers": ["alice"]}], secrets)
    gov.propose(fit(frame, 0, 3), reason="initial")
    gov.propose(fit(frame, 3, 6), reason="first fouling step")
    first = gov.evaluate_shadow(window(frame, 6, 9))
    assert gov.approve(first["id"], "alice", SECRETS["alice"])["outcome"] == "promoted"
    gov.propose(fit(frame, 9, 12), reason="second fouling step")
    asked = gov.evaluate_shadow(window(frame, 12, 15))
    assert asked["outcome"] == "pending_approval"
    back = gov.handle_command({"verb": "rollback", "approver": "bob", "token": SECRETS["bob"],
                               "reason": "bad sensor"})
    assert back["outcome"] == "rolled_back" and back["actor"] == "bob"
    stale = gov.approve(asked["id"], "alice", SECRETS["alice"])
    assert stale["outcome"] == "refused" and "stale" in stale["why"] and not gov.pending
    assert len(gov.history) == 1


def test_a_failed_calibration_keeps_the_champion_and_says_why(tmp_path, fouling):
    gov = governor(tmp_path)
    gov.propose(fouling["champion"], reason="initial")
    data = window(fouling["frame"], 6, 9)
    blind = CalibrationData(t=data.t, inputs=data.inputs, outputs=np.full_like(data.outputs, np.nan),
                            input_names=data.input_names, output_names=data.output_names, start=data.start,
                            end=data.end)
    with pytest.raises(CalibrationError) as err:
        LeastSquaresCalibrator([R, C]).fit(MOTOR_THERMAL, blind)  # every measurement quarantined
    decision = gov.calibration_failed(err.value, {"start": blind.start, "end": blind.end})
    assert decision["outcome"] == "champion_kept" and gov.champion is fouling["champion"]
    entry = audited(tmp_path)[-1]
    assert entry["action"] == "calibration_failed" and entry["why"] == f"CalibrationError: {err.value}"
    assert entry["window"] == {"start": str(blind.start.isoformat()), "end": str(blind.end.isoformat())}
    assert entry["record_ids"] == [fouling["champion"].record_id]


@pytest.mark.parametrize("message, reason", [
    (b"\xff\xfe", "not UTF-8"),
    ("{verb: approve", "not JSON"),
    ("[1, 2]", "JSON object"),
    ({"verb": "explode", "approver": "alice", "token": "t"}, "is not one of"),
    ({"verb": "approve", "id": "d000001"}, "missing ['approver', 'token']"),
    ({"verb": "approve", "id": "d1", "approver": "alice", "token": SECRETS["alice"], "sudo": True},
     "unknown fields ['sudo']"),
    ({"verb": "approve", "id": "d1", "approver": "alice", "token": 12345}, "not non-empty text: ['token']"),
    ({"verb": "rollback", "approver": "alice", "token": "wrong", "reason": "r"}, "not authorised"),
])
def test_malformed_or_unauthorised_commands_are_refused_and_audited(tmp_path, fouling, secrets, message, reason):
    gov = governor(tmp_path, [], secrets)
    gov.propose(fouling["champion"], reason="initial")
    out = gov.handle_command(message)
    assert out["outcome"] == "refused" and reason in out["why"], out["why"]
    entry = audited(tmp_path)[-1]
    assert entry["action"] == "command_refused" and reason in entry["why"]
    assert gov.champion is fouling["champion"]
    assert SECRETS["alice"] not in (tmp_path / "audit.jsonl").read_text()


# ---------------------------------------------------------------- config, checkpoint
def test_policies_and_approvers_come_from_plain_dicts(tmp_path, secrets):
    gov = Governor.from_config({"policies": {"improvement": {"margin": 0.1}, "corroboration": None,
                                             "max_change": {"max_percent_per_day": 5.0},
                                             "fouling_ok": {"type": "approval", "parameters": [R]}},
                                "approvers": secrets, "audit": str(tmp_path / "a.jsonl")})
    assert [type(p) for p in gov.policies] == [ImprovementPolicy, CorroborationPolicy, MaxChangePolicy,
                                               ApprovalPolicy]
    assert gov.policies[0].margin == 0.1 and gov.audit.path == tmp_path / "a.jsonl"
    assert make_policy(gov.policies[2].to_dict()) == gov.policies[2]
    assert isinstance(Governor().policies[0], ImprovementPolicy)  # always judged on prediction
    bad = [({"type": "quorum"}, "unknown; use one of"), ({"type": "max_change", "max_pct": 3}, "no setting"),
           ({"type": "max_change", "max_percent_per_day": -1}, ">= 0"), ({"type": "approval"}, "non-empty list"),
           ({"type": "corroboration", "min_channels": 0}, ">= 1"), ({"type": "improvement", "margin": 1.5}, "[0, 1)")]
    for spec, text in bad:
        with pytest.raises(ConfigurationError) as err:
            make_policy(spec)
        assert text in str(err.value), (spec, err.value)
    with pytest.raises(ConfigurationError, match="literal token"):
        Governor.from_config({"approvers": {"alice": {"token": "plain-text"}}})
    with pytest.raises(ConfigurationError, match="not configured"):
        Governor.from_config({"policies": [{"type": "approval", "parameters": [R], "approvers": ["carol"]}],
                              "approvers": secrets})
    with pytest.raises(ConfigurationError, match="nobody could approve"):
        Governor.from_config({"policies": [{"type": "approval", "parameters": [R]}]})
    with pytest.raises(ConfigurationError, match="CalibrationData"):
        Governor().evaluate_shadow(pd.DataFrame())
    with pytest.raises(ConfigurationError, match="unknown keys"):
        Governor.from_config({"polices": []})


def test_a_restored_governor_makes_the_same_decisions(tmp_path, fouling, secrets):
    cfg = {"policies": [{"type": "corroboration"}, {"type": "approval", "parameters": [R]}], "approvers": secrets}
    gov = Governor.from_config(cfg, audit=AuditLog(tmp_path / "audit.jsonl"))
    gov.propose(fouling["champion"], reason="initial")
    gov.propose(fouling["challenger"], reason="refit")
    path = gov.save(tmp_path / "state.json")
    restored = Governor.from_state(Governor.read_state(path), cfg, audit=AuditLog(tmp_path / "audit.jsonl"))
    assert restored.challenger.record_id == fouling["challenger"].record_id
    a, b = gov.evaluate_shadow(fouling["next"]), None
    b = restored.evaluate_shadow(fouling["next"])
    keep = ("id", "action", "outcome", "what", "why", "record_ids", "details")
    assert {k: a[k] for k in keep} == {k: b[k] for k in keep}
    # a pending approval survives a restart, and the restarted governor appends to the same audit chain
    again = Governor.from_state(json.loads(json.dumps(restored.state_dict())), cfg,
                                audit=AuditLog(tmp_path / "audit.jsonl"))
    done = again.approve(b["id"], "bob", SECRETS["bob"])
    assert done["outcome"] == "promoted" and again.champion.record_id == fouling["challenger"].record_id
    assert len(audited(tmp_path)) == 5  # initial, proposed, two evaluations (both governors), promoted
    with pytest.raises(ConfigurationError, match="governor state"):
        Governor().load_state({"format": "something else"})


def test_a_record_without_a_finite_covariance_survives_the_checkpoint(tmp_path, fouling):
    import dataclasses

    odd = dataclasses.replace(fouling["champion"], covariance=[[float("nan"), 0.0], [0.0, float("inf")]])
    gov = Governor(champion=odd)
    text = json.dumps(gov.state_dict(), allow_nan=False)  # strict JSON
    assert Governor.from_state(json.loads(text)).champion.record_id == odd.record_id
    state = json.loads(text)
    state["history"][0]["record"] = state["history"][0]["record"].replace("0.0", "0.5", 1)
    with pytest.raises(ConfigurationError, match="altered"):
        Governor.from_state(state)


def test_concurrent_commands_keep_one_valid_chain(tmp_path, fouling, secrets):
    import threading

    gov = governor(tmp_path, [], secrets)
    gov.propose(fouling["champion"], reason="initial")
    threads = [threading.Thread(target=lambda: [gov.handle_command("not json") for _ in range(10)])
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    entries = audited(tmp_path)
    assert len(entries) == 31 and [d["id"] for d in gov.decisions] == [f"d{i:06d}" for i in range(1, 32)]


# ---------------------------------------------------------------- MLflow
@pytest.fixture(scope="module")
def tracker(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("governance-mlflow")
    return MlflowTracker(tracking_uri=f"sqlite:///{tmp}/mlflow.db", experiment="governance")


@pytest.mark.slow  # creating an MLflow store takes 5-30 s
def test_decisions_appear_in_mlflow_too(tmp_path, fouling, secrets, tracker):
    gov = governor(tmp_path, [{"type": "approval", "parameters": [R], "approvers": ["alice"]}], secrets,
                   tracker=tracker)
    gov.propose(fouling["champion"], reason="initial")
    gov.propose(fouling["challenger"], reason="refit")
    asked = gov.evaluate_shadow(fouling["next"])
    gov.approve(asked["id"], "alice", "not-the-token")
    gov.approve(asked["id"], "alice", SECRETS["alice"])
    entries = audited(tmp_path)
    run = tracker.client.get_run(gov.run_id)
    assert run.data.tags["twinbench.role"] == "governance"
    assert run.data.tags["twinbench.audit.head_hash"] == entries[-1]["hash"]
    assert run.data.tags["twinbench.audit.last_action"] == "promoted"
    names = sorted(f.path for f in tracker.client.list_artifacts(gov.run_id))
    assert names == sorted(f"governance-{e['seq']:06d}-{e['action']}.json" for e in entries)
    local = tracker.client.download_artifacts(gov.run_id, names[-1], str(tmp_path / "dl"))
    with open(local, encoding="utf-8") as fh:
        assert json.load(fh) == entries[-1]
    score = asked["details"]["shadow"]["scores"]["challenger"]
    assert run.data.metrics["governance.shadow.challenger.score"] == pytest.approx(score)
    for name in names:  # no secret went to the store
        with open(tracker.client.download_artifacts(gov.run_id, name, str(tmp_path / "all")), encoding="utf-8") as fh:
            assert not any(s in fh.read() for s in SECRETS.values())


@pytest.mark.slow  # an MLflow store and three pyfunc versions: 10-40 s
def test_champions_are_registered_and_the_registry_follows_promotion_and_rollback(tmp_path, fouling, tracker):
    from scenarios.tracking.registry import CHALLENGER, CHAMPION, TwinRegistry, registered_model_name

    registry = TwinRegistry(tracker, registered_model_name("governed", "motor_thermal"))
    gov = governor(tmp_path, tracker=tracker, registry=registry)
    first = gov.propose(fouling["champion"], reason="initial")
    gov.propose(fouling["challenger"], reason="refit")
    assert int(registry.version(CHALLENGER).version) == 2 and int(registry.version(CHAMPION).version) == 1
    promoted = gov.evaluate_shadow(fouling["next"])
    assert promoted["outcome"] == "promoted" and "registry_error" not in promoted["details"]
    assert int(registry.version(CHAMPION).version) == 2 and registry.champion_history() == [1, 2]
    assert registry.load(CHAMPION).record.record_id == fouling["challenger"].record_id
    back = gov.rollback("operator asked")
    assert "registry_error" not in back["details"] and int(registry.version(CHAMPION).version) == 1
    assert first["details"]["registry_version"] == 1


@pytest.mark.filterwarnings("ignore::sim.exceptions.IdentifiabilityWarning")  # R_ha and C_h on a short refit
def test_the_chain_drift_refit_shadow_promotion(tmp_path, fouling):
    """A CUSUM alarm on the winding residuals after the fouling step, a refit on the data since the change
    point, the refit judged on the hours after its window and promoted; the audit names the alarm."""
    from calibration import DriftRecalibration

    frame = fouling["frame"]
    drift = DriftRecalibration(LeastSquaresCalibrator([R, C]), window_s=6 * 3600.0, block_s=600.0,
                               output="winding_temperature").fit(MOTOR_THERMAL, window(frame, 0, 12))
    refits = drift.events_[drift.events_["action"] == "refit"]
    assert len(refits) >= 1
    event = refits.iloc[-1]
    record = drift.calibrator_.record_
    assert record.record_id == event["record_id"] and record.params()[R] == pytest.approx(BASE[R] * 1.3, rel=0.05)
    gov = governor(tmp_path, [{"type": "improvement", "margin": 0.05}, {"type": "corroboration", "min_channels": 1}])
    gov.propose(fouling["champion"], reason="initial calibration")
    gov.propose(record, reason=f"drift alarm: {event['reason']}",
                diagnosis={"best": "fouling", "strength": "strong", "onset": event["onset"]})
    end = pd.Timestamp(record.window["end"])
    after = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"],
                                       start=end + pd.Timedelta(seconds=1), end=end + pd.Timedelta(hours=3))
    decision = gov.evaluate_shadow(after)
    assert decision["outcome"] == "promoted" and gov.champion is record
    proposed = [e for e in audited(tmp_path) if e["action"] == "proposed"][0]
    assert event["reason"] in proposed["why"] and proposed["details"]["diagnosis"]["best"] == "fouling"
    assert proposed["window"]["end"] == record.window["end"]
