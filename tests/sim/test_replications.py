"""Replication runner: t-intervals, paired differences, MSER-5 diagnostic, seeding, warm-up."""

import numpy as np
import pytest
from scipy import stats

from sim.exceptions import ConfigurationError
from sim.replications import ReplicationPlan, mser5, paired_difference, replicate, t_interval
from sim.streams import RandomStreams
from tests.sim.processes.queueing_models import MMc


def test_t_interval_and_paired_difference_match_scipy():
    x = np.random.default_rng(1).normal(3.0, 2.0, 12)
    iv = t_interval(x, 0.95)
    lo, hi = stats.t.interval(0.95, 11, loc=x.mean(), scale=stats.sem(x))
    assert (iv.low, iv.high) == pytest.approx((lo, hi), rel=1e-12)
    y = x + np.random.default_rng(2).normal(0.5, 0.1, 12)
    d = paired_difference(y, x)
    assert d.mean == pytest.approx(np.mean(y - x)) and d.contains(0.5)
    assert np.isnan(t_interval([1.0]).half_width) and t_interval([]).n == 0
    with pytest.raises(ConfigurationError, match="equally many"):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ConfigurationError, match="confidence"):
        t_interval(x, 95)


def test_mser5_finds_an_initial_transient_and_flags_short_runs():
    rng = np.random.default_rng(4)
    series = np.concatenate([np.linspace(20.0, 0.0, 300), np.zeros(2700)]) + rng.normal(0, 1, 3000)
    m = mser5(series)
    assert 150 <= m.truncation <= 400 and m.reliable
    steady = mser5(rng.normal(0, 1, 1000))
    assert steady.truncation < 200
    trend = mser5(np.linspace(0, 100, 200) + rng.normal(0, 0.1, 200))
    assert not trend.reliable  # the minimum sits at the half-way limit: run longer
    with pytest.raises(ConfigurationError, match="at least 20"):
        mser5(np.ones(10))


@pytest.mark.parametrize("kwargs,match", [(dict(replications=1), "replications"),
                                          (dict(run_length=0.0), "run_length"), (dict(warmup=-1.0), "warmup"),
                                          (dict(seed=-3), "seed"), (dict(mser_interval=0.0), "mser_interval")])
def test_bad_plans_are_named(kwargs, match):
    base = dict(replications=5, seed=1, run_length=100.0)
    with pytest.raises(ConfigurationError, match=match):
        ReplicationPlan(**{**base, **kwargs})


def test_replications_are_seeded_independent_and_report_the_warmup_diagnostic():
    plan = ReplicationPlan(replications=4, seed=8, warmup=500.0, run_length=2000.0, mser_kpi="wip",
                           mser_interval=50.0)
    a = replicate(lambda s: MMc(s, lam=0.8, c=1), plan)
    b = replicate(lambda s: MMc(s, lam=0.8, c=1), plan)
    assert a.table.equals(b.table)  # same seed, same numbers
    assert a.table["wait"].nunique() == 4  # replications differ
    assert len(a.mser) == 4 and all(m.n == 50 for m in a.mser)
    s = a.summary().set_index("kpi")
    assert s.loc["wait", "n"] == 4 and s.loc["wait", "low"] < s.loc["wait", "mean"] < s.loc["wait", "high"]
    # the warm-up really was deleted: statistics cover run_length only
    assert a.table["arrival_rate"].mean() == pytest.approx(0.8, rel=0.1)
    assert plan.streams(2).replication == 2 and isinstance(plan.streams(0), RandomStreams)
    with pytest.raises(ConfigurationError, match="unknown KPI"):
        a.interval("oee")
