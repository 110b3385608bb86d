"""P(failure) from a second-order Monte Carlo (several seeds per posterior draw): the replications of one draw
share its parameters, so their 0/1 outcomes are correlated and a Wilson interval on the replication count is too
narrow. Korn & Graubard's effective number of trials restores the coverage; independent outcomes keep about n."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scenarios.whatif.constraints import (Constraint, binomial_rows, effective_trials, evaluate,
                                          paired_proportion_difference, wilson_bounds, wilson_interval,
                                          with_binomial)


@pytest.mark.parametrize("k, n", [(0, 1), (0, 10), (3, 10), (10, 10), (7, 73), (50, 200)])
def test_wilson_bounds_equal_scipys_wilson_interval_for_integer_n(k, n):
    assert wilson_bounds(k / n, n) == pytest.approx(wilson_interval(k, n), abs=1e-12)


def test_wilson_bounds_widen_as_the_effective_trials_shrink():
    widths = [np.diff(wilson_bounds(0.2, n))[0] for n in (80.0, 40.5, 20.25, 10.0)]
    assert np.all(np.diff(widths) > 0)


def test_effective_trials_limits():
    rng = np.random.default_rng(3)
    draws = np.repeat(np.arange(200), 5)
    independent = (rng.random(1000) < 0.3).astype(float)
    assert effective_trials(independent, draws) == pytest.approx(1000, rel=0.2)
    identical = np.repeat((rng.random(200) < 0.3).astype(float), 5)  # every seed of a draw agrees
    assert effective_trials(identical, draws) == pytest.approx(200, rel=0.02)
    assert effective_trials(np.zeros(1000), draws) == 1000  # no event: nothing to estimate a correlation from
    assert effective_trials(independent, np.zeros(1000)) == 1000  # one cluster


def _clustered(rng, draws: int, seeds: int):
    """Outcomes of *seeds* replications for each of *draws* posterior draws whose failure probability differs
    (Beta(2, 8): mean 0.2, the parameter uncertainty dominates the seed-to-seed variation)."""
    p = rng.beta(2.0, 8.0, size=draws)
    return (rng.random((draws, seeds)) < p[:, None]).astype(float).ravel(), np.repeat(np.arange(draws), seeds)


def test_effective_trials_restore_the_coverage_of_clustered_outcomes():
    rng = np.random.default_rng(11)
    naive = effective = 0
    sizes = []
    runs = 400
    for _ in range(runs):
        x, d = _clustered(rng, draws=30, seeds=4)
        low, high = wilson_interval(int(x.sum()), x.size)
        naive += low <= 0.2 <= high
        row = binomial_rows(x, clusters=d)
        effective += row["low"] <= 0.2 <= row["high"]
        sizes.append(row["n_eff"])
    # Var of a draw's share = p(1-p)/4 + Var(p_i) -> design effect 1 + 3 * ICC with ICC = 1/11: n_eff ~ 120 / 1.27
    assert np.mean(sizes) == pytest.approx(120 / (1 + 3 / 11), rel=0.15)
    assert effective / runs >= 0.92  # nominal 0.95
    assert naive / runs < effective / runs  # the replication count overstates the evidence


def test_a_guardrail_on_p_failure_judges_on_the_effective_trials_and_says_so():
    rng = np.random.default_rng(5)
    x, d = _clustered(rng, draws=20, seeds=5)
    kpis = pd.DataFrame({"action": "as_is", "replication": np.arange(x.size), "draw": d,
                         "failure_probability": x})
    summary = pd.DataFrame([{"action": "as_is", "kpi": "failure_probability", "n": x.size, "mean": x.mean(),
                             "half_width": 0.0, "low": x.mean(), "high": x.mean()}])
    rows = with_binomial(summary, kpis, baseline="as_is")
    row = rows.iloc[0]
    assert row["n_eff"] < x.size
    assert row["high"] == pytest.approx(wilson_bounds(x.mean(), row["n_eff"])[1])
    assert row["high"] > wilson_interval(int(x.sum()), x.size)[1]
    verdict, = evaluate([Constraint("failure_probability", max=50.0)], rows, horizon=3600.0)
    assert verdict.value == pytest.approx(100 * row["high"])
    assert "effective trials" in verdict.text


def test_paired_difference_with_clusters_is_wider_than_without():
    rng = np.random.default_rng(2)
    a, d = _clustered(rng, draws=25, seeds=4)
    b = np.where(rng.random(a.size) < 0.1, 1.0 - a, a)  # the other action mostly agrees replication by replication
    _, low0, high0 = paired_proportion_difference(a, b)
    diff, low, high = paired_proportion_difference(a, b, clusters=d)
    assert low <= diff <= high and high - low > high0 - low0
