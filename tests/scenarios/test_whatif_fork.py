"""The what-if forks from the calibrated twin: the line with the calibrated motor state at the window end."""

import dataclasses

import pandas as pd
import pytest

from scenarios.reference.line_config import LineConfig, line_spec_from_config
from scenarios.whatif.fork import calibrated_snapshot, line_time
from scenarios.whatif.run import Action, line_config_dict, run_whatif, with_motor_params
from sim import ReplicationPlan
from sim.exceptions import ConfigurationError
from sim.line import AmbientCycle, LineTwin
from sim.streams import RandomStreams

HOUR = 3600.0
HOT_MOTOR = {"thermal_resistance_housing_ambient": 0.072, "heat_capacity_housing": 52000.0}
HOT_DAY = AmbientCycle(mean=300.15, amplitude=7.0, peak_time=13 * HOUR)
CALIBRATED = {"winding_temperature": 365.2, "housing_temperature": 338.4}  # a motor that has been running
FORK_TIME = 46 * HOUR  # Tuesday 22:00 UTC


def line_spec(**changes):
    spec = line_spec_from_config(Action("a", changes=changes).apply(line_config_dict(LineConfig())),
                                 motor_params=HOT_MOTOR, motor_stations=("filler",))
    return dataclasses.replace(spec, ambient=HOT_DAY)


def plan(**kw):
    return ReplicationPlan(**{"replications": 2, "seed": 5, "run_length": 6 * HOUR, "warmup": 1 * HOUR, **kw})


def test_the_line_clock_counts_from_monday_midnight_utc():
    assert line_time(pd.Timestamp("2026-07-14T23:59:50+02:00")) == 24 * HOUR + 21 * HOUR + 59 * 60 + 50
    assert line_time("2026-07-13T00:00:00Z") == 0.0 and line_time("2026-07-19T23:00:00") == 6 * 24 * HOUR + 23 * HOUR


def test_a_fork_with_as_is_and_matching_seeds_reproduces_the_unforked_run_exactly():
    spec = line_spec()
    snap = calibrated_snapshot(spec, states=CALIBRATED, stations=["filler"], time=FORK_TIME,
                               streams=RandomStreams(7, 0))
    assert snap.time == FORK_TIME and snap.physics["motors"].states[1, 0] == CALIBRATED["winding_temperature"]
    unforked = LineTwin.restore(spec, snap)  # the calibrated twin running on
    forked = LineTwin.restore(spec, snap, streams=RandomStreams(7, 0))  # a what-if fork: as_is, the same seeds
    for twin in (unforked, forked):
        twin.run(FORK_TIME + 12 * HOUR)
    assert forked.kpis() == unforked.kpis() and forked.kpis()["throughput"] > 0
    # and at the what-if level: a fork of the untouched line at 0 s is the run without a fork, number for number
    actions = [Action("as_is"), Action("faster", changes={"speeds": {"filler": 1.1}})]
    fresh = calibrated_snapshot(line_spec(), states={}, stations=["filler"], time=0.0)
    plain = run_whatif(LineConfig(), actions, plan=plan(), baseline="as_is", motor_params=HOT_MOTOR, ambient=HOT_DAY)
    fork = run_whatif(LineConfig(), actions, plan=plan(), baseline="as_is", motor_params=HOT_MOTOR, ambient=HOT_DAY,
                      snapshot=fresh)
    pd.testing.assert_frame_equal(fork.kpis, plain.kpis)
    pd.testing.assert_frame_equal(fork.traces["faster"], plain.traces["faster"])


def test_the_first_minutes_of_the_whatif_show_the_calibrated_winding_temperature():
    snap = calibrated_snapshot(line_spec(), states=CALIBRATED, stations=["filler"], time=FORK_TIME)
    actions = [Action("as_is"), Action("faster", changes={"speeds": {"filler": 1.1}, "crew_size": 3,
                                                          "buffers": {"filler_capper": 2400.0}})]
    fork = run_whatif(LineConfig(), actions, plan=plan(), baseline="as_is", motor_params=HOT_MOTOR, ambient=HOT_DAY,
                      snapshot=snap, trace_step=60.0)
    cold = run_whatif(LineConfig(), actions, plan=plan(), baseline="as_is", motor_params=HOT_MOTOR, ambient=HOT_DAY,
                      trace_step=60.0)
    for name in ("as_is", "faster"):
        first = fork.traces[name]["filler.winding_temperature"]
        assert first.iloc[0] == CALIBRATED["winding_temperature"]
        assert (first.iloc[:10] > 355.0).all()  # the first ten minutes: still hot
        # without a fork the motor starts at its initial state (40 degC)
        assert cold.traces[name]["filler.winding_temperature"].iloc[0] <= 313.15
    assert (fork.kpis["throughput"] > 0).all()


def test_a_fork_takes_the_motor_parameters_of_its_spec_and_refuses_another_structure():
    snap = calibrated_snapshot(line_spec(), states=CALIBRATED, stations=["filler"], time=FORK_TIME)
    draw = {"thermal_resistance_housing_ambient": 0.08}
    twin = LineTwin.restore(with_motor_params(line_spec(), draw, ("filler",)), snap, streams=RandomStreams(1, 1))
    fleet = twin.motors.fleet
    assert fleet.params[1, fleet.spec.index("params", "thermal_resistance_housing_ambient")] == 0.08
    assert fleet.states[1, 0] == CALIBRATED["winding_temperature"]
    no_pump = line_spec_from_config({**line_config_dict(LineConfig()), "pump": False}, motor_params=HOT_MOTOR,
                                    motor_stations=("filler",))
    with pytest.raises(ConfigurationError, match="snapshot does not fit this plant: its failure modes"):
        LineTwin.restore(no_pump, snap, streams=RandomStreams(1, 1))
    with pytest.raises(ConfigurationError, match=r"calibrated state\(s\) \['winding'\] are not states"):
        calibrated_snapshot(line_spec(), states={"winding": 1.0}, stations=["filler"])
    with pytest.raises(ConfigurationError, match=r"unknown station\(s\) \['labeller'\]"):
        calibrated_snapshot(line_spec(), states=CALIBRATED, stations=["labeller"])


def test_a_continue_fork_of_a_running_twin_with_its_own_streams_is_the_unforked_run():
    """Issue 15: snapshot a twin mid-run (buffers, failures, physics, streams) and fork it with the action
    'continue' and matching seeds (the snapshot's streams): the fork is the run that was never forked."""
    from scenarios.whatif.run import CONTINUE

    spec = line_spec()
    base = line_config_dict(LineConfig())
    assert CONTINUE.changes == {} and CONTINUE.apply(base) == base  # 'continue' changes nothing
    unforked = LineTwin(spec, streams=RandomStreams(3, 1))
    unforked.run(30 * HOUR)
    snap = unforked.snapshot()
    assert snap.time == 30 * HOUR and any(level > 0 for level in snap.levels)
    fork = LineTwin.restore(line_spec(**CONTINUE.changes), snap)
    for twin in (unforked, fork):
        twin.reset_statistics()
        twin.run(42 * HOUR)
    a, b = fork.kpis(), unforked.kpis()
    assert a.keys() == b.keys() and a["throughput"] > 0
    # every event is the same (counts and down times exactly); the flow of bottles and the energy to the last
    # bits (a restored buffer level is summed from the snapshot's, a rounding apart)
    exact = [k for k in a if k.rsplit(".", 1)[-1] in ("trips", "failures", "jams", "maintenances", "stockouts",
                                                      "unplanned_downtime", "maintenance_time", "crew_cost")]
    assert len(exact) > 10 and all(a[k] == b[k] for k in exact)
    assert a == pytest.approx(b, rel=1e-12, nan_ok=True)
    # with new seeds the future differs (the what-if's fork), from the same state
    other = LineTwin.restore(spec, snap, streams=RandomStreams(3, 2))
    other.reset_statistics()
    other.run(42 * HOUR)
    assert other.kpis() != unforked.kpis()


def test_second_order_monte_carlo_shares_each_posterior_draw_between_its_seeds():
    actions = [Action("as_is"), Action("faster", changes={"speeds": {"filler": 1.1}})]
    seen = []

    def posterior(rng):
        value = float(rng.uniform(0.07, 0.075))
        seen.append(value)
        return {"thermal_resistance_housing_ambient": value}

    two = run_whatif(LineConfig(), actions, plan=plan(replications=4), baseline="as_is", motor_params=HOT_MOTOR,
                     ambient=HOT_DAY, posterior=posterior, seeds_per_draw=2)
    assert list(two.kpis["draw"]) == [0, 0, 1, 1] * 2 and two.parameter_draws == 2 and two.seeds_per_draw == 2
    assert seen[0] == seen[1] != seen[2] == seen[3] and seen[:4] == seen[4:]  # shared in pairs, and across actions
    # one seed per draw is the first-order Monte Carlo of before: draw r from replication r's own stream
    seen.clear()
    one = run_whatif(LineConfig(), actions, plan=plan(replications=2), baseline="as_is", motor_params=HOT_MOTOR,
                     ambient=HOT_DAY, posterior=posterior)
    expected = [float(RandomStreams(5, r)("twin.motor_parameters").uniform(0.07, 0.075)) for r in range(2)]
    assert seen[:2] == expected and list(one.kpis["draw"]) == [0, 1, 0, 1]
    # the motor's stress as KPIs: ageing grows with speed, costs follow the risk settings
    k = two.kpis.set_index(["action", "replication"])
    assert (k.loc["faster", "insulation_ageing"] > k.loc["as_is", "insulation_ageing"]).all()
    assert (k["ageing_cost"] == k["insulation_ageing"] * two.risk.ageing_cost).all()
    assert (k["motor_risk_cost"] == k["trip_cost"] + k["ageing_cost"]).all()
    with pytest.raises(ConfigurationError, match="seeds_per_draw = 4 leaves 1 posterior draw"):
        run_whatif(LineConfig(), actions, plan=plan(replications=4), baseline="as_is", posterior=posterior,
                   seeds_per_draw=4)
