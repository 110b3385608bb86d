"""P(failure before the horizon) as a what-if KPI and guardrail (issue 15).

The analytic case: a station that runs all the time (no neighbours to starve or block it, no motor, no shifts)
with one exponential failure mode of rate lambda on operating time fails within the first h seconds with
probability 1 - exp(-lambda h) - exactly, whatever the repair, since only the first failure decides the
indicator.  Its Wilson interval over the replications covers that; with common random numbers a faster-failing
variant fails in every replication the slower one fails in (the same unit exponential draw, scaled), and
Newcombe's paired interval covers the true difference.
"""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from scenarios.whatif.constraints import (Constraint, binomial_rows, evaluate, failure_free_replications,
                                          paired_proportion_difference, wilson_interval, with_binomial)
from scenarios.whatif.decision import decide, decision_record, decision_text
from scenarios.whatif.report import summarize
from scenarios.whatif.run import FailureWatch, failure_modes_of
from sim import ReplicationPlan, compare
from sim.exceptions import ConfigurationError
from sim.line import LineSpec, LineTwin
from sim.processes import Constant, Exponential, FailureMode, FlowStationParams

HOUR = 3600.0
Z = norm.ppf(0.975)


def press(life, repair=Constant(HOUR)) -> LineSpec:
    """One station, always running (no neighbours, no jams, no motor, no shifts), one failure mode."""
    station = FlowStationParams(name="press", rate=1.0, motor=None,
                                failure_modes=(FailureMode("seal", life, repair_time=repair),))
    return LineSpec(stations=(station,), buffers=(), motors=None, ambient=None)


def watched(spec):
    return lambda streams: FailureWatch(LineTwin(spec, streams=streams), failure_modes_of(spec, ["press"]))


def replications(specs: dict, plan: ReplicationPlan) -> pd.DataFrame:
    comparison = compare({name: watched(s) for name, s in specs.items()}, plan, baseline=next(iter(specs)))
    return pd.concat([res.table.reset_index().assign(action=name) for name, res in comparison.results.items()],
                     ignore_index=True)


# ------------------------------------------------------------------------------ the analytic case
def test_p_failure_of_an_exponential_mode_is_one_minus_exp_minus_lambda_h_and_its_wilson_interval_covers_it():
    horizon, n = 36 * HOUR, 300
    means = {"as_is": 100 * HOUR, "worn": 50 * HOUR}  # failure rates 1/100 h and 1/50 h
    plan = ReplicationPlan(replications=n, seed=7, run_length=horizon, warmup=0.0)
    kpis = replications({name: press(Exponential(m)) for name, m in means.items()}, plan)
    truth = {name: 1.0 - math.exp(-horizon / m) for name, m in means.items()}  # 0.302, 0.513
    summary = with_binomial(summarize(kpis, baseline="as_is", kpi_names=["failure_probability"]), kpis,
                            baseline="as_is")
    rows = summary.set_index("action")
    for name, p in truth.items():
        row = rows.loc[name]
        assert row["interval"] == "wilson" and row["n"] == n
        assert row["low"] <= p <= row["high"]
        assert abs(row["mean"] - p) < 3.5 * math.sqrt(p * (1 - p) / n)
        assert (row["low"], row["high"]) == pytest.approx(wilson_interval(round(row["mean"] * n), n))
    # the indicator is the station's own failure count > 0
    assert (kpis["failure_probability"] == (kpis["failures"] > 0)).all()
    assert (kpis["press.seal.failure_probability"] == kpis["failure_probability"]).all()
    # common random numbers: the faster-failing seal fails in every replication the slower one fails in
    pairs = kpis.pivot(index="replication", columns="action", values="failure_probability")
    assert (pairs["worn"] >= pairs["as_is"]).all()
    worn = rows.loc["worn"]
    assert worn["diff_low"] <= truth["worn"] - truth["as_is"] <= worn["diff_high"]
    assert worn["diff_low"] > 0  # the difference is significant, and positive
    assert worn["diff"] == pytest.approx(pairs["worn"].mean() - pairs["as_is"].mean())


def test_only_failures_after_the_warm_up_count():
    # a seal that lasts exactly 10 h of running, 1 h to repair: failures at 10 h and 21 h, then 32 h
    spec = press(Constant(10 * HOUR))
    for warmup, horizon, expected in ((12 * HOUR, 5 * HOUR, 0.0), (12 * HOUR, 12 * HOUR, 1.0),
                                      (0.0, 9 * HOUR, 0.0), (0.0, 10.5 * HOUR, 1.0)):
        plan = ReplicationPlan(replications=2, seed=0, run_length=horizon, warmup=warmup)
        kpis = replications({"as_is": spec}, plan)
        assert kpis["failure_probability"].tolist() == [expected, expected], (warmup, horizon)


def test_zero_failures_give_the_closed_form_wilson_upper_bound_not_a_zero_width_interval():
    for n in (10, 20, 73, 200):
        low, high = wilson_interval(0, n)
        assert low == 0.0 and high == pytest.approx(Z * Z / (n + Z * Z), rel=1e-12)  # 27.75 % for n = 10
    assert wilson_interval(0, 10)[1] == pytest.approx(0.2775328, abs=1e-7)
    # a t-interval of ten zeros would have zero width; summarize gives the share its Wilson interval
    kpis = pd.DataFrame({"action": "as_is", "replication": range(10), "failure_probability": 0.0})
    s_row = summarize(kpis, baseline="as_is", kpi_names=["failure_probability"]).iloc[0]
    assert s_row["interval"] == "wilson" and s_row["low"] == 0.0
    assert s_row["high"] == pytest.approx(Z * Z / (10 + Z * Z)) and s_row["half_width"] > 0
    row = binomial_rows(np.zeros(10))
    assert row["mean"] == 0.0 and row["high"] == pytest.approx(Z * Z / (10 + Z * Z)) and row["half_width"] > 0
    # how many failure-free replications show P(failure) <= 5 % at 95 %: n >= z^2 (1 - p) / p = 73
    assert failure_free_replications(0.05) == 73
    assert wilson_interval(0, 73)[1] <= 0.05 < wilson_interval(0, 72)[1]
    # paired: no failure in either action is no evidence of a difference, in either direction
    d, lo, hi = paired_proportion_difference(np.zeros(10), np.zeros(10))
    assert d == 0.0 and lo == pytest.approx(-Z * Z / (10 + Z * Z)) and hi == pytest.approx(Z * Z / (10 + Z * Z))


def test_newcombe_paired_interval_holds_the_true_difference_at_about_its_level():
    rng = np.random.default_rng(3)
    n, sims, p_base, p_extra = 40, 400, 0.2, 0.15  # action fails when the baseline does, or with p_extra more
    truth = (1 - p_base) * p_extra
    hits = 0
    for _ in range(sims):
        base = (rng.random(n) < p_base).astype(float)
        action = np.maximum(base, (rng.random(n) < p_extra).astype(float))
        d, lo, hi = paired_proportion_difference(action, base)
        assert lo <= d <= hi
        hits += lo <= truth <= hi
    assert 0.92 <= hits / sims <= 0.995


def test_bad_binomial_input_names_the_value_and_the_rule():
    with pytest.raises(ConfigurationError, match=r"0\.5 is not 0 or 1"):
        binomial_rows([0.0, 0.5, 1.0])
    with pytest.raises(ConfigurationError, match="integer n >= 1"):
        wilson_interval(0, 0)
    with pytest.raises(ConfigurationError, match=r"must be an integer in \[0, n = 3\]"):
        wilson_interval(4, 3)
    with pytest.raises(ConfigurationError, match="give a limit > 0"):
        failure_free_replications(0.0)
    with pytest.raises(ConfigurationError, match="same length|one length"):
        paired_proportion_difference([0, 1], [0, 1, 1])
    with pytest.raises(ConfigurationError, match=r"cannot apply to a probability.*whatif\.horizon_h"):
        Constraint("failure_probability", max=5, per=168 * HOUR)


# ------------------------------------------------------------------------------ the guardrail
def _table(n: int, failures: dict, seed: int = 0) -> pd.DataFrame:
    """Replications: throughput (faster gains 10 %, common noise) and failure indicators (*failures* of n)."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 0.02, n)
    gain = {"as_is": 1.0, "faster": 1.1, "slower": 0.95}
    rows = []
    for action, k in failures.items():
        for r in range(n):
            rows.append({"action": action, "replication": r, "draw": r, "throughput": 4.0 * gain[action] + noise[r],
                         "failure_probability": float(r < k), "motor_risk_cost": 1.0})
    return pd.DataFrame(rows)


def _decide(kpis, constraints):
    summary = with_binomial(summarize(kpis, baseline="as_is", kpi_names=["throughput", "failure_probability",
                                                                          "motor_risk_cost"]), kpis,
                            baseline="as_is")
    verdicts = evaluate(constraints, summary, horizon=168 * HOUR)
    return decide(summary, objective="throughput", baseline="as_is", verdicts=verdicts, min_gain=0.005,
                  kpis=kpis), summary


def test_an_action_whose_failure_probability_upper_bound_exceeds_the_limit_is_refused_and_the_constraint_named():
    limit = Constraint("failure_probability", max=5)  # display unit: percent
    assert limit.label == "failure_probability <= 5 %"
    kpis = _table(100, {"as_is": 0, "faster": 3, "slower": 0})
    free, _ = _decide(kpis, [])
    assert free.action == "faster" and free.status == "recommend"
    guarded, summary = _decide(kpis, [limit])
    # 3 of 100: mean 3 %, Wilson upper 8.5 % > 5 %: refused although its mean is under the limit
    row = summary.set_index(["action", "kpi"]).loc[("faster", "failure_probability")]
    assert row["mean"] == pytest.approx(0.03) and row["high"] == pytest.approx(wilson_interval(3, 100)[1])
    assert row["high"] > 0.05
    assert guarded.action == "as_is" and "faster" in guarded.excluded
    [v] = guarded.excluded["faster"]
    assert v.constraint == "failure_probability <= 5 %" and v.value == pytest.approx(100 * row["high"])
    assert "'faster' is excluded: failure_probability <= 5 %: 8.452 % violates the bound 5 %" in guarded.text
    assert "3 of 100 replications failed; Wilson upper bound" in guarded.text
    # as_is: 0 of 100, upper bound 3.7 % - within the limit
    ok = [x for x in guarded.verdicts if x.action == "as_is"][0]
    assert ok.ok and ok.value == pytest.approx(100 * Z * Z / (100 + Z * Z))
    # the record and its text carry the KPI with its Wilson interval and the binding constraint
    record = decision_record(guarded, summary)
    faster = next(a for a in record["alternatives"] if a["action"] == "faster")
    assert faster["binding"][0]["constraint"] == "failure_probability <= 5 %" and not faster["feasible"]
    fp = faster["kpis"]["failure_probability"]
    assert fp["unit"] == "%" and fp["interval"] == "wilson" and fp["mean"] == pytest.approx(3.0)
    assert fp["high"] == pytest.approx(100 * row["high"])
    text = decision_text(record)
    assert "P(failure) 3 [" in text and "(Wilson)" in text and "binds: failure_probability <= 5 %" in text


def test_too_few_replications_cannot_show_a_small_failure_probability_and_the_verdict_says_how_many():
    kpis = _table(10, {"as_is": 0, "faster": 0, "slower": 0})
    decision, _ = _decide(kpis, [Constraint("failure_probability", max=5)])
    assert decision.status == "no feasible action" and decision.action is None
    assert "0 of 10 replications failed" in decision.text and "run at least 73 replications" in decision.text
    # a limit the closed form allows with 10 failure-free replications (27.8 %) passes
    decision, _ = _decide(kpis, [Constraint("failure_probability", max=28)])
    assert decision.action == "faster"


def test_the_constraint_judges_the_wilson_bound_even_on_a_plain_t_summary():
    kpis = _table(40, {"as_is": 0, "faster": 2, "slower": 1})
    fixed = summarize(kpis, baseline="as_is", kpi_names=["throughput", "failure_probability"])  # Wilson rows
    # the same table as a summary without binomial rows would have it: t-intervals, no `interval` column
    plain = fixed.drop(columns="interval")
    share = plain.kpi == "failure_probability"
    sd = kpis.groupby("action")["failure_probability"].std().reindex(plain.loc[share, "action"]).to_numpy()
    half = 2.0227 * sd / np.sqrt(40)  # t(0.975, 39)
    plain.loc[share, "half_width"] = half
    plain.loc[share, "low"] = plain.loc[share, "mean"] - half
    plain.loc[share, "high"] = plain.loc[share, "mean"] + half
    limit = [Constraint("failure_probability", max=10)]
    a = evaluate(limit, plain, horizon=HOUR)
    b = evaluate(limit, fixed, horizon=HOUR)
    assert [v.value for v in a] == pytest.approx([v.value for v in b])
    assert [v.value for v in b] == pytest.approx([100 * wilson_interval(k, 40)[1] for k in (0, 2, 1)])
    # with_binomial is idempotent and leaves the other KPIs' rows alone
    again = with_binomial(fixed, kpis, baseline="as_is")
    pd.testing.assert_frame_equal(again.reset_index(drop=True), fixed.reset_index(drop=True))


# ------------------------------------------------------------------------------ on the reference line
def test_the_what_if_reports_a_failure_indicator_per_mode_and_for_the_counted_modes():
    from scenarios.reference.line_config import LineConfig
    from scenarios.whatif.run import Action, run_whatif

    plan = ReplicationPlan(replications=3, seed=1, run_length=36 * HOUR, warmup=0.5 * HOUR)
    stations = ["depalletizer", "filler", "capper", "packer"]
    result = run_whatif(LineConfig(), [Action("as_is"), Action("fast", changes={"speeds": {"filler": 1.1}})],
                        plan=plan, baseline="as_is", failure_modes=stations,
                        motor_params={"thermal_resistance_housing_ambient": 0.072})
    kpis = result.kpis
    modes = [c for c in kpis.columns if c.endswith(".failure_probability")]
    assert set(result.failure_modes) == {c.rsplit(".", 1)[0] for c in modes}
    assert set(kpis[modes].to_numpy().ravel()) <= {0.0, 1.0}
    # per station: a mode failed iff the station counted a failure; the line: any counted mode
    for s in stations:
        mine = [c for c in modes if c.startswith(f"{s}.")]
        assert (kpis[mine].max(axis=1) == (kpis[f"{s}.failures"] > 0)).all()
    assert (kpis["failure_probability"] == (kpis["failures"] > 0)).all()
    assert kpis["failure_probability"].sum() > 0  # 36 h of the reference line: some replication fails
    # the default counts the monitored station's modes only; a wrong name lists what the line has
    spec = result.specs["as_is"]
    assert failure_modes_of(spec, stations=["filler"]) == tuple(
        f"filler.{m.name}" for m in spec.stations[1].failure_modes)
    with pytest.raises(ConfigurationError, match=r"failure mode 'filler\.seal' is not on the line; .*filler\.valve"):
        failure_modes_of(spec, ["filler.seal"])


def test_failure_probability_as_the_objective_is_compared_on_newcombe_intervals():
    # 'slower' fails in 0 of 60 replications, as_is in 15 of them (the same replications fail in 'faster')
    kpis = _table(60, {"as_is": 15, "faster": 15, "slower": 0})
    summary = with_binomial(summarize(kpis, baseline="as_is", kpi_names=["failure_probability", "motor_risk_cost"]),
                            kpis, baseline="as_is")
    decision = decide(summary, objective="failure_probability", baseline="as_is", min_gain=0.0, kpis=kpis)
    assert decision.action == "slower" and decision.status == "recommend"
    row = summary.set_index(["action", "kpi"]).loc[("slower", "failure_probability")]
    assert (row["diff"], row["diff_low"], row["diff_high"]) == pytest.approx(
        paired_proportion_difference(kpis[kpis.action == "slower"]["failure_probability"].to_numpy(),
                                     kpis[kpis.action == "as_is"]["failure_probability"].to_numpy()))
    assert row["diff_high"] < 0  # significantly fewer failures


def test_a_sweep_reports_failure_probability_and_judges_its_guardrail_on_the_wilson_bound():
    """Sweeps take the P(failure) guardrail too: each replication says whether any failure mode of the line
    fired, consistently with the stations' own failure counts, and the guardrail reads the Wilson upper bound."""
    from scenarios.sweeps.job import replicate_configuration
    from scenarios.sweeps.steps import guardrail_values

    plan = ReplicationPlan(replications=6, seed=11, run_length=48 * HOUR, warmup=0.0)
    table = replicate_configuration({}, plan)
    assert set(table["failure_probability"]) <= {0.0, 1.0}
    per_mode = table[[c for c in table.columns if c.endswith(".failure_probability") and c.count(".") == 2]]
    assert (table["failure_probability"] == per_mode.max(axis=1)).all()
    stations = {c.split(".")[0] for c in per_mode.columns}
    failures = table[[f"{s}.failures" for s in stations]].sum(axis=1)
    assert ((failures > 0) == (table["failure_probability"] > 0)).all()
    k, n = int(table["failure_probability"].sum()), len(table)
    assert 0 < k < n  # (seed 11: 2 of 6 fail in 48 h) both outcomes occur, so the checks above are not vacuous
    [value] = guardrail_values(table, [Constraint("failure_probability", max=5)], horizon=plan.run_length,
                               confidence=0.95, trip_temperature=None).values()
    assert value == pytest.approx(100 * wilson_interval(k, n)[1] - 5)  # > 0: infeasible with 6 replications


def test_the_counted_failure_modes_come_from_config_and_a_wrong_one_fails_before_anything_runs(compose_config):
    from hydra.utils import instantiate

    from scenarios.whatif.run import line_config_dict

    def spec(override):
        cfg = compose_config([override])
        return instantiate(cfg.whatif, line=line_config_dict(cfg.line), seed=cfg.seed)

    assert spec("whatif.failure_modes=[capper,filler.valve]").failure_modes == ("capper", "filler.valve")
    assert spec("whatif.replications=10").failure_modes is None
    # (instantiate wraps it; the app unwraps it into its one-line error)
    with pytest.raises(Exception, match=r"whatif.failure_modes: failure mode 'filer' is not on the line; name a "
                                        r"station .* or one of its modes .*'filler.valve'"):
        spec("whatif.failure_modes=[filer]")
