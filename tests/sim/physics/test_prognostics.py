"""Times of event of fleets: analytic crossing times, first passage with noise, censoring, thread invariance."""

import math

import numba
import numpy as np
import pytest
from scipy import stats

from sim.exceptions import ConfigurationError, DivergenceError, ModelError
from sim.physics import PUMP, StateEvent
from sim.physics.prognostics import (CENSORED, CROSSED, MET_AT_START, PrognosisRK4, event_state, sample_seeds,
                                     time_of_event)
from tests.models_for_tests import BLOWUP

SPEC = PUMP.spec
WORN = StateEvent("impeller_worn", "impeller_wear", 0.5, +1)
RATE = SPEC.index("params", "impeller_wear_rate")
# at the reference speed the impeller wears linearly: w(t) = w0 + k t (the flow does not enter dw/dt)
SPEED = {"shaft_speed": SPEC.var("params", "reference_speed").default}
X0 = {"flow": 0.03}


def pump_params(rates):
    p = np.tile(SPEC.vector("params"), (len(rates), 1))
    p[:, RATE] = rates
    return p


@pytest.mark.kernel
def test_linear_wear_crosses_at_threshold_over_rate():
    rates = np.linspace(5e-4, 2e-3, 4)
    res = time_of_event(PUMP, X0, pump_params(rates), WORN, horizon=2000.0, inputs=SPEED, max_step=1.0)
    assert np.all(res.status == CROSSED)
    np.testing.assert_allclose(res.column("impeller_worn"), 0.5 / rates, rtol=1e-9)
    np.testing.assert_allclose(res.final_states[:, 1], 0.5, atol=2e-3)  # stopped at the step after the crossing


def test_p_failure_before_horizon_matches_the_gaussian_rate_closed_form():
    # k ~ N(mu, s): P(T <= H) = P(k >= L / H) = 1 - Phi((L / H - mu) / s)
    mu, s, level, horizon, n = 1e-3, 2e-4, 0.5, 550.0, 4000
    rates = np.random.default_rng(7).normal(mu, s, n)
    rates = rates[rates > 0]
    res = time_of_event(PUMP, X0, pump_params(rates), WORN, horizon=horizon, inputs=SPEED, max_step=2.0)
    p_hat = np.mean(res.first <= horizon)
    p_true = 1.0 - stats.norm.cdf((level / horizon - mu) / s)
    assert abs(p_hat - p_true) < 3.5 * math.sqrt(p_true * (1 - p_true) / rates.size)
    assert np.array_equal(res.censored[:, 0], rates < level / horizon)  # the censored ones are exactly the slow ones
    assert np.all(np.isinf(res.times[res.censored]))


def test_first_passage_with_process_noise_is_inverse_gaussian():
    # dw = k dt + sigma dB: the first passage time to L is inverse Gaussian, mean L / k, shape L^2 / sigma^2
    k, sigma, level, n = 1e-3, 2e-3, 0.5, 3000
    res = time_of_event(PUMP, X0, pump_params(np.full(n, k)), WORN, horizon=3000.0, inputs=SPEED, max_step=1.0,
                        process_noise={"impeller_wear": sigma}, seed=11)
    mean, shape = level / k, level ** 2 / sigma ** 2
    # discrete monitoring sees a crossing late by about 0.5826 sigma sqrt(h) in level (Siegmund's correction)
    shifted = level + 0.5826 * sigma
    mean, shape = shifted / k, shifted ** 2 / sigma ** 2
    truth = stats.invgauss(mu=mean / shape, scale=shape)
    t = res.first
    assert not np.any(res.censored)
    assert abs(t.mean() - truth.mean()) < 4 * truth.std() / math.sqrt(n)
    assert abs(t.std() / truth.std() - 1) < 0.08
    assert stats.kstest(t, truth.cdf).pvalue > 0.01


@pytest.mark.kernel
def test_censored_and_met_at_start_are_reported_as_such():
    x0 = np.array([SPEC.vector("states", {"flow": 0.03, "impeller_wear": w}) for w in (0.0, 0.6, 0.0)])
    rates = np.array([1e-3, 1e-3, 1e-6])  # crosses at 500 s; already worn; would take 5e5 s
    res = time_of_event(PUMP, x0, pump_params(rates), WORN, horizon=1000.0, inputs=SPEED, max_step=2.0)
    assert res.status[:, 0].tolist() == [CROSSED, MET_AT_START, CENSORED]
    assert res.times[0, 0] == pytest.approx(500.0)
    assert res.times[1, 0] == 0.0 and res.times[2, 0] == math.inf
    assert res.censored[:, 0].tolist() == [False, False, True]


def test_samples_that_never_cross_terminate_at_the_horizon():
    never = StateEvent("never", "impeller_wear", 9.0, +1)
    falling = StateEvent("never_falls", "impeller_wear", -1.0, -1)
    res = time_of_event(PUMP, X0, pump_params(np.full(4, 0.0)), (never, falling), horizon=1e4, inputs=SPEED,
                        max_step=2.0)
    assert np.all(res.censored) and np.all(np.isinf(res.first))
    np.testing.assert_allclose(res.final_states[:, 1], 0.0)


@pytest.mark.kernel
def test_noise_streams_are_per_sample():
    run = lambda n, seed: time_of_event(PUMP, X0, pump_params(np.full(n, 1e-3)), WORN, horizon=800.0, inputs=SPEED,
                                        max_step=2.0, process_noise={"impeller_wear": 2e-3}, seed=seed).first
    three = run(3, 4)
    assert np.unique(three).size == 3 and np.all(np.abs(three - 500.0) < 150.0)
    np.testing.assert_array_equal(run(2, 4), three[:2])  # sample i draws from stream i, whatever the fleet size
    assert not np.array_equal(run(3, 5), three)


def test_same_seed_same_numbers_whatever_the_thread_count():
    rates = np.random.default_rng(3).normal(1e-3, 1e-4, 257)
    run = lambda seed: time_of_event(PUMP, X0, pump_params(rates), WORN, horizon=2000.0, inputs=SPEED,
                                     max_step=1.0, process_noise={"impeller_wear": 1e-3}, seed=seed).times
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        serial = run(5)
    finally:
        numba.set_num_threads(threads)
    parallel = run(5)
    np.testing.assert_array_equal(serial, parallel)
    assert not np.array_equal(parallel, run(6))
    # sample i has stream i: the first samples of a larger fleet are the same samples
    np.testing.assert_array_equal(sample_seeds(5, 10), sample_seeds(5, 20)[:10])


@pytest.mark.kernel
def test_event_state_runs_from_one_to_zero():
    np.testing.assert_allclose(event_state([0.0, 0.25, 0.5, 0.7], WORN, healthy=0.0), [1.0, 0.5, 0.0, 0.0])
    with pytest.raises(ConfigurationError, match="healthy"):
        event_state(0.1, WORN, healthy=0.5)


@pytest.mark.kernel
def test_bad_input_raises_clear_errors():
    p = pump_params([1e-3])
    with pytest.raises(ConfigurationError, match="horizon"):
        time_of_event(PUMP, X0, p, WORN, horizon=-1.0)
    with pytest.raises(ConfigurationError, match="StateEvent"):
        time_of_event(PUMP, X0, p, ("impeller_wear",), horizon=10.0)
    with pytest.raises(ModelError, match="process_noise must have shape"):
        time_of_event(PUMP, X0, p, WORN, horizon=10.0, process_noise=[1.0, 2.0])
    with pytest.raises(ConfigurationError, match="finite and >= 0"):
        time_of_event(PUMP, X0, p, WORN, horizon=10.0, process_noise={"impeller_wear": -1.0})
    with pytest.raises(ConfigurationError, match="max_step"):
        PrognosisRK4(max_step=0.0)
    with pytest.raises(ConfigurationError, match="seed"):
        sample_seeds(-1, 3)
    with pytest.raises(DivergenceError, match="sample 0 became non-finite"):
        time_of_event(BLOWUP, {"x": 1.0}, {"unused": 0.0}, StateEvent("big", "x", 1e300, +1), horizon=5.0,
                      max_step=0.5)
