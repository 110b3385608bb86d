"""The RUL-distribution maintenance policy: risk and lower-bound rules, a Weibull prognosis against run to failure,
a pump prognosis from calibration.prognosis as the estimate, and clear errors."""

import math

import numpy as np
import pytest
from scipy import stats

from calibration.prognosis import RemainingLife, predict_rul
from sim.clock import CoSimulation
from sim.exceptions import ConfigurationError
from sim.physics import PUMP, StateEvent
from sim.processes import Constant, FailureMode, Machine, MachineParams, RunToFailure, machine_process, start_policy
from sim.processes.maintenance import RulPredictive
from sim.streams import RandomStreams

QUANTILES = (np.arange(200) + 0.5) / 200  # a deterministic "sample" of a distribution: its quantiles


def run_machine(policy, *, horizon, modes=()):
    cosim = CoSimulation()
    env = cosim.env
    m = Machine(env, MachineParams("m", cycle_time=Constant(10.0), failure_modes=modes), streams=RandomStreams(1))
    env.process(machine_process(env, m))
    start_policy(env, m, policy, RandomStreams(1))
    cosim.run(horizon)
    return m


def test_risk_rule_maintains_at_the_first_check_where_failure_before_the_next_window_is_likely():
    life, spread = 5000.0, 300.0  # the prognosis: the unit fails at age ~ N(5000, 300) s

    def estimate(unit):
        return np.maximum(life - unit.age + spread * stats.norm.ppf(QUANTILES), 0.0)

    policy = RulPredictive(estimate=estimate, max_risk=0.1, lead_time=200.0, level=0.999, check_interval=500.0,
                           duration=Constant(100.0))
    # P(RUL <= 700 s) > 0.1 first at age 4000 (P = P(z <= -1) = 0.16; at 3500 it is P(z <= -2.67) = 0.004);
    # the 99.9 % lower end is still above 200 s there (4000 + 200 < 5000 - 3.3 * 300 is false, so check it)
    decide_3500, _ = policy.decide(estimate(type("U", (), {"age": 3500.0})()))
    decide_4000, lower_4000 = policy.decide(estimate(type("U", (), {"age": 4000.0})()))
    assert not decide_3500 and decide_4000 and lower_4000 > 0
    m = run_machine(policy, horizon=10 * 4100.0 + 50.0)
    assert m.maintenances == 10  # every 4000 s of age + 100 s of work


def test_lower_bound_rule_waits_until_the_lower_end_reaches_the_lead_time():
    def estimate(unit):  # RUL uniform on [3000 - age, 7000 - age]: the 90 % lower end is 3200 - age
        return np.maximum(3000.0 + 4000.0 * QUANTILES - unit.age, 0.0)

    policy = RulPredictive(estimate=estimate, max_risk=0.9, lead_time=1000.0, level=0.9, check_interval=1000.0,
                           duration=Constant(100.0))
    m = run_machine(policy, horizon=5 * 2310.0 + 50.0)
    # checks at ages 0, 1000, 2000 (risk of failing within 2000 s: 0, 0, 0.25), then the check is pulled forward
    # to age 3210 - 1000 = 2210 s (the lower end is order statistic 10 of 200: 3210 - age)
    assert m.maintenances == 5
    assert policy.decide(estimate(type("U", (), {"age": 2210.0})()))[0]


def test_weibull_prognosis_prevents_most_wear_out_failures():
    wear = FailureMode("wear", scale=2000.0, shape=4.0, repair_time=Constant(500.0))

    def conditional_weibull(unit):  # residual life of a Weibull unit that survived to its age
        a = unit.age / 2000.0
        return 2000.0 * (a ** 4 - np.log1p(-QUANTILES)) ** 0.25 - unit.age

    rtf = run_machine(RunToFailure(), modes=(wear,), horizon=400_000.0)
    pdm = run_machine(RulPredictive(estimate=conditional_weibull, max_risk=0.05, lead_time=50.0,
                                    check_interval=100.0, duration=Constant(50.0)), modes=(wear,), horizon=400_000.0)
    assert pdm.failures < 0.2 * rtf.failures
    assert pdm.kpis()["availability"] > rtf.kpis()["availability"]


def test_a_pump_prognosis_is_the_estimate():
    """predict_rul of a pump whose wear grows with the machine's age: maintenance before the threshold."""
    spec = PUMP.spec
    worn = StateEvent("impeller_worn", "impeller_wear", 0.5, +1)
    rates = np.random.default_rng(0).normal(1e-4, 5e-6, 64)

    ages = []

    def estimate(unit):
        ages.append(unit.age)
        wear_now = 1e-4 * unit.age  # the pump's wear as the twin tracks it
        state = spec.vector("states", {"flow": 0.03, "impeller_wear": wear_now})
        return predict_rul(PUMP, {"impeller_wear_rate": rates}, state, threshold=worn, horizon=6000.0,
                           n_samples=64, seed=1, inputs={"shaft_speed": 308.9}, max_step=2.0, time=unit.age)

    policy = RulPredictive(estimate=estimate, max_risk=0.05, lead_time=300.0, check_interval=600.0,
                           duration=Constant(100.0))
    first = estimate(type("U", (), {"age": 0.0})())
    assert isinstance(first, RemainingLife) and 4500.0 < first.median() < 5500.0
    m = run_machine(policy, horizon=20_000.0)
    # the twin's wear reaches 0.5 at age 5000 s; checks every 600 s.  At age 3600 s (wear 0.36) the risk of
    # failing within 600 + 300 s is P(k >= 0.14 / 900) ~ 0; at 4200 s (wear 0.42) it is P(k >= 0.08 / 900) ~ 0.99
    assert max(ages) == pytest.approx(4200.0)
    assert m.maintenances == 4  # cycles of 4200 + 100 s in 20,000 s


def test_bad_settings_and_bad_estimates_raise_clear_errors():
    with pytest.raises(ConfigurationError, match="callable"):
        RulPredictive(estimate=3.0)
    with pytest.raises(ConfigurationError, match="max_risk = 1.5 must lie strictly between 0 and 1"):
        RulPredictive(estimate=lambda u: [1.0], max_risk=1.5)
    with pytest.raises(ConfigurationError, match="lead_time"):
        RulPredictive(estimate=lambda u: [1.0], lead_time=-1.0)
    policy = RulPredictive(estimate=lambda u: [np.nan, 3.0])
    with pytest.raises(ConfigurationError, match="NaN or negative"):
        policy.samples(type("U", (), {"name": "m", "age": 0.0})())
    assert policy.decide([math.inf] * 10) == (False, math.inf)
