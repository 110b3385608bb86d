"""A share of replications (failure_probability) in the sweep report: Wilson intervals in the ranking, Newcombe's
score intervals for differences (paired with common random numbers, independent otherwise) - the same intervals
the what-if report and the guardrails use, never a Student-t interval of 0/1 outcomes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scenarios.sweeps.report import SweepData, differences, ranking
from scenarios.whatif.constraints import paired_proportion_difference, proportion_difference, wilson_interval
from sim.kpi import display_name


def test_independent_difference_matches_newcombe_1998():
    # Newcombe (1998), Stat. Med. 17, 873, table II, example (a): 56/70 - 48/80, method 10: 0.0524 .. 0.3339
    x = np.r_[np.ones(56), np.zeros(14)]
    y = np.r_[np.ones(48), np.zeros(32)]
    d, low, high = proportion_difference(x, y)
    assert d == pytest.approx(0.2)
    assert low == pytest.approx(0.0524, abs=5e-5) and high == pytest.approx(0.3339, abs=5e-5)


def test_independent_difference_never_has_zero_width_and_stays_in_range():
    d, low, high = proportion_difference(np.zeros(20), np.zeros(30))
    assert d == 0 and low < 0 < high
    assert high == pytest.approx(wilson_interval(0, 20)[1]) and low == pytest.approx(-wilson_interval(0, 30)[1])
    d, low, high = proportion_difference(np.ones(5), np.zeros(5))
    assert d == 1 and -1 <= low < 1 and high == 1.0


@pytest.mark.parametrize("n, p1, p2", [(30, 0.1, 0.1), (40, 0.3, 0.15)])
def test_independent_difference_covers_the_truth_over_seeds(n, p1, p2):
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(400):
        _, low, high = proportion_difference(rng.random(n) < p1, rng.random(n + 7) < p2)
        hits += low <= p1 - p2 <= high
    assert hits / 400 >= 0.92  # nominal 0.95; Newcombe's method 10 is close to nominal at these sizes


def _sweep(outcomes: dict, *, seeds: dict) -> SweepData:
    col = display_name("failure_probability")
    runs = pd.DataFrame([{"run_id": rid, "name": rid, "job": i, "config_hash": f"{i:08x}", "seed": seeds[rid],
                          "crn": "True"} for i, rid in enumerate(outcomes)]).set_index("run_id")
    reps = {rid: pd.DataFrame({col: 100.0 * np.asarray(v, float)}) for rid, v in outcomes.items()}
    return SweepData(parent=None, runs=runs, replications=reps)


def test_ranking_and_differences_of_a_share_use_wilson_and_newcombe():
    base = np.r_[np.zeros(18), np.ones(2)]
    same_seed = np.r_[np.zeros(19), np.ones(1)]  # replication r shares its random numbers with the baseline's
    data = _sweep({"base": base, "other": same_seed, "zero": np.zeros(20)}, seeds={"base": 1, "other": 1, "zero": 2})
    rank = ranking(data, "failure_probability").set_index("name")
    assert rank.loc["zero", "interval"] == "wilson" and rank.loc["zero", "mean"] == 0
    assert rank.loc["zero", "low"] == 0 and rank.loc["zero", "high"] == pytest.approx(100 * wilson_interval(0, 20)[1])
    assert rank.loc["base", "high"] == pytest.approx(100 * wilson_interval(2, 20)[1])
    assert list(rank.index[:1]) == ["zero"]  # less is better
    diff = differences(data, "failure_probability", baseline="base").set_index("name")
    assert bool(diff.loc["other", "paired"]) and not bool(diff.loc["zero", "paired"])
    d, lo, hi = paired_proportion_difference(same_seed, base)
    assert diff.loc["other", ["diff", "low", "high"]].tolist() == pytest.approx([100 * d, 100 * lo, 100 * hi])
    d, lo, hi = proportion_difference(np.zeros(20), base)
    assert diff.loc["zero", ["diff", "low", "high"]].tolist() == pytest.approx([100 * d, 100 * lo, 100 * hi])
    assert not diff["significant"].any()  # 2 of 20 vs 0 of 20 is not a significant difference


def test_a_continuous_kpi_keeps_its_t_interval():
    col = display_name("throughput")
    data = _sweep({"a": np.zeros(3), "b": np.zeros(3)}, seeds={"a": 1, "b": 1})
    for rid, v in {"a": [10.0, 12.0, 14.0], "b": [11.0, 13.0, 15.0]}.items():
        data.replications[rid] = pd.DataFrame({col: v})
    rank = ranking(data, "throughput").set_index("name")
    assert (rank["interval"] == "t").all()
    assert rank.loc["a", "half_width"] == pytest.approx(4.302653 * 2.0 / np.sqrt(3), rel=1e-5)


def test_a_share_that_is_not_an_outcome_per_replication_is_refused_naming_it():
    from scenarios.sweeps.runs import SweepError

    data = _sweep({"a": np.array([0.0, 0.5, 1.0])}, seeds={"a": 1})
    with pytest.raises(SweepError, match=r"failure_probability of 'a'.*0 or 100 %.*\[50.0\]"):
        ranking(data, "failure_probability")
