import numpy as np
import pytest
from scipy import stats

from calibration import CusumDetector, PageHinkleyDetector, SurvivalMLE
from calibration.drift import average_run_length_cusum
from sim.exceptions import CalibrationError, ConfigurationError


def run_lengths(shift, samples, seed=0, k=0.5, h=5.0):
    """The CUSUM's run lengths (samples between alarms) on *samples* residuals with a mean shift of *shift* sigma."""
    rng = np.random.default_rng(seed)
    det = CusumDetector(k=k, h=h).fit(rng.normal(size=5000))
    det.mean_, det.std_ = 0.0, 1.0  # exact in-control reference: compare with theory
    stream = rng.normal(shift, 1.0, size=samples)
    det.partial_fit(stream)
    idx = [a.index for a in det.alarms_]
    return np.diff([-1] + idx)


def test_cusum_average_run_lengths_match_siegmund():
    # in control: ARL ~ 469, about 1280 runs in 600 000 samples; run lengths are about geometric (sd ~ mean), so
    # the relative standard error of their mean is ~ 0.028 and the 0.15 tolerance is ~ 5 of them
    one_sided = average_run_length_cusum(0.5, 5.0, 0.0)
    two_sided = 1 / (2 / one_sided)
    in_control = run_lengths(0.0, samples=600_000)
    assert in_control.size > 1000
    assert abs(in_control.mean() / two_sided - 1) < 0.15, (in_control.mean(), two_sided)
    # shifted by one sigma: ARL ~ 10.3, about 3900 runs in 40 000 samples (sd of a run length < its mean: the
    # relative standard error of the mean is < 0.016, the 0.1 tolerance > 6 of them)
    shifted = run_lengths(1.0, samples=40_000)
    assert shifted.size > 3000
    theory = 1 / (1 / average_run_length_cusum(0.5, 5.0, 1.0) + 1 / average_run_length_cusum(0.5, 5.0, -1.0))
    assert abs(shifted.mean() / theory - 1) < 0.1, (shifted.mean(), theory)


def test_detectors_find_a_step_in_the_residual_mean_and_say_why():
    rng = np.random.default_rng(1)
    t = np.arange(4000.0)
    r = rng.normal(0, 0.3, t.size)
    r[2000:] += 0.3  # sensor drift of one noise sigma from t = 2000 s
    cusum = CusumDetector(k=0.5, h=10.0).fit(r[:1000], t[:1000]).partial_fit(r[1000:], t[1000:])
    ph = PageHinkleyDetector(delta=0.05, threshold=25.0).fit(r[:1000]).partial_fit(r[1000:], t[1000:])
    for det in (cusum, ph):
        first = det.alarms_[0]
        assert 2000 <= first.time < 2100, first
        assert first.direction == "up" and "shifted up" in first.reason


def test_no_alarm_without_drift():
    r = np.random.default_rng(2).normal(0, 1, 3000)
    assert not CusumDetector(h=8.0).fit(r[:1000]).partial_fit(r[1000:]).drift_detected_


@pytest.mark.parametrize("dist,truth", [("weibull", (1.8, 1000.0)), ("lognormal", (0.6, 500.0))])
def test_survival_mle_recovers_parameters_under_censoring(dist, truth):
    rng = np.random.default_rng(3)
    n = 400
    if dist == "weibull":
        life = truth[1] * rng.weibull(truth[0], n)
    else:
        life = truth[1] * np.exp(truth[0] * rng.normal(size=n))
    censor = rng.uniform(0, 2 * np.median(life), n)  # preventive replacement / end of log
    durations = np.minimum(life, censor)
    observed = life <= censor
    fit = SurvivalMLE(dist).fit(durations, observed)
    assert 0.2 < fit.n_censored_ / n < 0.8
    for name, true in zip(fit.params_, truth):
        lo, hi = fit.intervals_[name]
        assert lo < true < hi, (name, lo, true, hi)
    # naive fit that drops the censored durations is biased low in scale
    naive = SurvivalMLE(dist).fit(durations[observed])
    assert list(naive.params_.values())[1] < list(fit.params_.values())[1]


def test_survival_coverage_over_seeds():
    covered = 0
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        life = 800.0 * rng.weibull(2.0, 150)
        censor = rng.uniform(0, 1500, 150)
        fit = SurvivalMLE("weibull").fit(np.minimum(life, censor), life <= censor)
        covered += fit.intervals_["scale"][0] < 800.0 < fit.intervals_["scale"][1]
    assert covered >= 34  # nominal 38 of 40


def test_survival_bad_input():
    with pytest.raises(CalibrationError, match="> 0"):
        SurvivalMLE().fit([1.0, -2.0, 3.0])
    with pytest.raises(CalibrationError, match="uncensored"):
        SurvivalMLE().fit([1.0, 2.0, 3.0], [True, False, False])
    with pytest.raises(ConfigurationError, match="gamma"):
        SurvivalMLE("gamma").fit([1.0, 2.0])
    assert stats  # keep import used
