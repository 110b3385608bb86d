"""What-if on the reference line: actions as line changes, CRN pairing, the calibrated motor, bad input."""

import numpy as np
import pandas as pd
import pytest

from scenarios.reference.line_config import LineConfig
from scenarios.reference.plant import ambient_cycle
from scenarios.whatif.report import recommend, summarize
from scenarios.whatif.run import Action, run_whatif
from sim import ReplicationPlan
from sim.exceptions import ConfigurationError
from sim.line import AmbientCycle

HOUR = 3600.0
HOT_MOTOR = {"thermal_resistance_housing_ambient": 0.072, "heat_capacity_housing": 52000.0}
HOT_DAY = AmbientCycle(mean=300.15, amplitude=7.0, peak_time=13 * HOUR)


def small_plan(**kw):
    return ReplicationPlan(**{"replications": 3, "seed": 11, "run_length": 12 * HOUR, "warmup": 2 * HOUR, **kw})


def test_an_action_merges_its_changes_into_the_line():
    line = {**LineConfig().__dict__, "speeds": {"capper": 1.1}}
    a = Action("a", changes={"speeds": {"filler": 1.2}, "crew_size": 3, "policy": {"interval_h": 80.0}})
    cfg = a.apply(line)
    assert cfg["speeds"] == {"capper": 1.1, "filler": 1.2}
    assert cfg["crew_size"] == 3 and cfg["policy"]["interval_h"] == 80.0 and cfg["policy"]["name"] == "time_based"
    with pytest.raises(ConfigurationError, match=r"unknown change\(s\) \['sped'\]; an action may change"):
        Action("typo", changes={"sped": {"filler": 1.1}})


def test_identical_actions_pair_exactly_and_a_faster_filler_gives_more():
    actions = [Action("as_is"), Action("same", changes={"crew_size": 2}),
               Action("faster", changes={"speeds": {"filler": 1.1}})]
    res = run_whatif(LineConfig(), actions, plan=small_plan(), baseline="as_is")
    comp = res.comparison
    same = comp.difference("same", "throughput")
    assert same.mean == 0.0 and same.half_width == 0.0  # common random numbers: the same line, the same numbers
    faster = comp.difference("faster", "throughput")
    assert faster.low > 0  # the filler is the bottleneck (5 bottles/s against 5.5 and more)
    assert len(res.kpis) == 9 and set(res.kpis["action"]) == {"as_is", "same", "faster"}
    assert res.traces["as_is"]["t"].iloc[-1] == pytest.approx(14 * HOUR - 600.0)
    # the winding temperature peak is that of the observed part of the run
    assert (res.kpis["max_winding_temperature"] > 300.0).all()


def test_calibrated_parameters_go_to_the_filler_motor_and_posterior_draws_are_shared():
    draws = []

    def posterior(rng):
        value = float(rng.uniform(0.07, 0.074))
        draws.append(value)
        return {"thermal_resistance_housing_ambient": value}

    actions = [Action("as_is"), Action("fast", changes={"speeds": {"filler": 1.2}})]
    res = run_whatif(LineConfig(), actions, plan=small_plan(replications=2), baseline="as_is",
                     motor_params=HOT_MOTOR, posterior=posterior, ambient=HOT_DAY)
    params = res.specs["as_is"].motors.params
    assert params[1] == HOT_MOTOR and params[0] == params[2] == params[3] == {}
    assert res.specs["fast"].ambient == HOT_DAY
    assert draws[:2] == draws[2:] and draws[0] != draws[1]  # replication r draws the same in every action


def test_the_calibrated_motor_changes_the_answer():
    """At full speed on a hot day the calibrated (worse cooling) filler motor trips; the nameplate one does not."""
    fast = [Action("as_is"), Action("filler_max", changes={"speeds": {"filler": 1.2}})]
    plan = small_plan(replications=2, run_length=24 * HOUR)
    hot = run_whatif(LineConfig(), fast, plan=plan, baseline="as_is", motor_params=HOT_MOTOR, ambient=HOT_DAY)
    cold = run_whatif(LineConfig(), fast, plan=plan, baseline="as_is", ambient=HOT_DAY)
    trips = {name: r.kpis.groupby("action")["trips"].mean() for name, r in (("hot", hot), ("cold", cold))}
    assert trips["hot"]["filler_max"] > 0 and trips["cold"]["filler_max"] == 0
    assert trips["hot"]["as_is"] == 0
    peak = hot.kpis.groupby("action")["max_winding_temperature"].max()
    assert peak["filler_max"] <= hot.specs["as_is"].motors.trip_temperature + 0.5


@pytest.mark.parametrize("actions,baseline,match", [
    ([Action("as_is"), Action("x", changes={"speeds": {"labeller": 1.1}})], "as_is",
     r"action 'x': .*unknown station\(s\) \['labeller'\]"),
    ([Action("as_is"), Action("x", changes={"buffers": {"filler_capper": -10.0}})], "as_is",
     r"action 'x': line.buffers.filler_capper = -10.0 must be a capacity > 0"),
    ([Action("as_is"), Action("x", changes={"policy": {"name": "when_it_breaks"}})], "as_is",
     r"action 'x': unknown maintenance policy 'when_it_breaks'; known policies: condition_based, predictive"),
    ([Action("as_is"), Action("x", changes={"crew_size": 0})], "as_is", r"action 'x': line.crew_size = 0"),
    ([Action("as_is"), Action("x", changes={"speeds": {"filler": 1.5}})], "as_is", r"exceeds the rated max_speed"),
    ([Action("as_is")], "status_quo", r"baseline 'status_quo' is not among the actions \['as_is'\]"),
    ([Action("a"), Action("a")], "a", r"action names must be unique"),
])
def test_bad_actions_fail_before_anything_runs(actions, baseline, match):
    with pytest.raises(ConfigurationError, match=match):
        run_whatif(LineConfig(), actions, plan=small_plan(), baseline=baseline)


def test_ambient_cycle_recovers_a_daily_cosine():
    index = pd.date_range("2026-07-14T00:00:00+02:00", periods=24 * 6, freq="10min")
    tod = (index.tz_convert("UTC") - index.tz_convert("UTC").normalize()).total_seconds().to_numpy()
    series = pd.Series(300.0 + 5.0 * np.cos(2 * np.pi * (tod - 14 * HOUR) / 86400.0), index=index)
    cycle = ambient_cycle(series)
    assert cycle.mean == pytest.approx(300.0, abs=1e-9)
    assert cycle.amplitude == pytest.approx(5.0, rel=1e-9)
    assert cycle.peak_time == pytest.approx(14 * HOUR, abs=1.0)
    with pytest.raises(ConfigurationError, match="no accepted ambient temperature"):
        ambient_cycle(series * np.nan)


def test_recommendation_needs_a_significant_gain_of_at_least_min_gain():
    rows = []
    for rep in range(5):
        noise = 0.01 * rep
        rows += [{"action": "as_is", "replication": rep, "throughput": 4.0 + noise, "trips": 0.0},
                 {"action": "tiny", "replication": rep, "throughput": 4.004 + noise, "trips": 0.0},
                 {"action": "big", "replication": rep, "throughput": 4.4 + noise + 0.001 * rep, "trips": 3.0}]
    summary = summarize(pd.DataFrame(rows), baseline="as_is")
    rec = recommend(summary, objective="throughput", baseline="as_is", min_gain=0.005)
    assert rec.action == "big"
    assert "trips +3 ± 0 (worse)" in rec.text and "+10.0%" in rec.text
    assert "'tiny' (not recommended (gain below the 0.5% that counts))" in rec.text
    only_tiny = summarize(pd.DataFrame([r for r in rows if r["action"] != "big"]), baseline="as_is")
    assert recommend(only_tiny, objective="throughput", baseline="as_is", min_gain=0.005).action == "as_is"
    assert recommend(only_tiny, objective="throughput", baseline="as_is", min_gain=0.0).action == "tiny"
