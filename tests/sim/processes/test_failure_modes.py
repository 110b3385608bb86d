"""Failure modes with any time-to-failure distribution, in Weibull's argument order (issue 17)."""

import dataclasses
import math
import pickle

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sim.exceptions import ConfigurationError
from sim.processes import (Constant, Distribution, Exponential, FailureClock, FailureMode, LogNormal, Machine,
                           MachineParams, Normal, PowerLink, Uniform, Weibull, machine_process)
from sim.streams import RandomStreams

LIVES = [Exponential(500.0), Weibull(1.7, 800.0), LogNormal(600.0, 0.4), Normal(700.0, 150.0),
         Uniform(200.0, 900.0)]
SCIPY = {Exponential: lambda d: stats.expon(scale=d.mean),
         Weibull: lambda d: stats.weibull_min(d.shape, scale=d.scale),
         LogNormal: lambda d: stats.lognorm(math.sqrt(math.log1p(d.cv ** 2)),
                                            scale=d.mean / math.sqrt(1 + d.cv ** 2)),
         Normal: lambda d: stats.norm(d.mean, d.sd),  # P(T > t) for t > 0 (the clip at 0 is far out here)
         Uniform: lambda d: stats.uniform(d.low, d.high - d.low)}


def lives(mode, n=2000, *, read=None, seed=3):
    """Ages at failure of *n* fresh lives of *mode* (each renewed after its failure)."""
    clock = FailureClock(mode, np.random.default_rng(seed), read=read, owner="test")
    out = []
    while len(out) < n:
        if clock.check():
            out.append(clock.candidate)
            clock.renew(0.0)
    return np.array(out)


def test_old_keywords_and_weibull_order_build_the_same_mode_and_the_same_failures():
    old = FailureMode("wear", scale=3000.0, shape=1.5, repair_time=Constant(60.0))
    new = FailureMode("wear", Weibull(1.5, 3000.0), repair_time=Constant(60.0))
    assert old == new and (old.scale, old.shape) == (3000.0, 1.5)
    assert FailureMode("x", scale=10.0).life == Weibull(1.0, 10.0)  # shape 1 by default, as before

    def failures(mode):
        env = simpy.Environment()
        m = Machine(env, MachineParams("m", cycle_time=Constant(1e9), failure_modes=(mode,)),
                    streams=RandomStreams(4))
        env.process(machine_process(env, m))
        env.run(200000.0)
        return m.failures, m.usage

    assert failures(old) == failures(new)
    assert pickle.loads(pickle.dumps(new)) == new and dataclasses.replace(new, name="w").life == new.life


@pytest.mark.parametrize("call, fix", [
    (lambda: FailureMode("bearing", 3000.0, 1.5), "Weibull(shape, scale)"),
    (lambda: FailureMode("bearing", 3000.0), "positional"),
    (lambda: FailureMode("bearing"), "give its life"),
    (lambda: FailureMode("bearing", Weibull(1.5, 3000.0), scale=3000.0), "not both"),
    (lambda: FailureMode("bearing", scale=-1.0), "scale = -1.0"),
    (lambda: FailureMode("bearing", scale=10.0, shape=math.nan), "shape = nan"),
])
def test_ambiguous_or_bad_lives_fail_with_the_fix(call, fix):
    with pytest.raises(ConfigurationError, match=fix.replace("(", r"\(").replace(")", r"\)")) as info:
        call()
    assert "bearing" in str(info.value)


def test_a_distribution_without_a_hazard_is_refused():
    class Drawn(Distribution):
        mean = 1.0

        def draw(self, rng, n):
            return rng.exponential(1.0, n)

    with pytest.raises(ConfigurationError, match="cumulative_hazard"):
        FailureMode("x", Drawn())
    with pytest.raises(ConfigurationError, match="not a Weibull"):
        FailureMode("x", LogNormal(10.0, 0.5)).scale


@pytest.mark.parametrize("life", LIVES, ids=lambda d: type(d).__name__)
def test_lives_of_any_distribution_follow_it(life):
    t = lives(FailureMode("m", life))
    assert stats.kstest(t, SCIPY[type(life)](life).cdf).pvalue > 0.01
    assert t.mean() == pytest.approx(life.mean, rel=0.05)


@pytest.mark.parametrize("life", LIVES[2:], ids=lambda d: type(d).__name__)
def test_a_constant_link_scales_the_hazard_of_any_life(life):
    """Proportional hazards: with the output held at y, P(T > t) = S_0(t) ** m(y) (sampled by thinning)."""
    link = PowerLink("load", reference=1.0, exponent=1.0, maximum=3.0)
    m = 2.0
    t = lives(FailureMode("m", life, link=link), read=lambda output: m)
    base = SCIPY[type(life)](life)
    assert stats.kstest(t, lambda x: 1.0 - base.sf(x) ** m).pvalue > 0.01


def test_minimal_repair_continues_the_age_of_a_bounded_life():
    clock = FailureClock(FailureMode("m", Uniform(100.0, 200.0), as_good_as_new=False), np.random.default_rng(1))
    ages = []
    for _ in range(5):
        assert clock.check()
        ages.append(clock.candidate)
        clock.after_repair(clock.origin + clock.candidate)
    assert 100.0 <= ages[0] < 200.0 and all(np.diff(ages) >= 0) and ages[-1] <= 200.0


def test_a_constant_life_fails_at_its_value_and_then_never_again_under_minimal_repair():
    clock = FailureClock(FailureMode("m", Constant(50.0), as_good_as_new=False), np.random.default_rng(1))
    assert clock.candidate == 50.0
    clock.after_repair(50.0)
    assert clock.candidate == math.inf


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(LIVES), st.floats(0.01, 0.99))
def test_inverse_cumulative_hazard_inverts_the_cumulative_hazard(life, q):
    t = SCIPY[type(life)](life).ppf(q)
    h = life.cumulative_hazard(t)
    assert h == pytest.approx(-math.log1p(-q), rel=1e-6)
    assert life.inverse_cumulative_hazard(h) == pytest.approx(t, rel=1e-9)
