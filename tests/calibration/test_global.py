"""The global stage (multi-start, differential evolution) on a genuinely multimodal problem."""

import warnings

import pytest

from calibration import LeastSquaresCalibrator
from sim.exceptions import ConfigurationError
from tests.calibration._oscillator import OSCILLATOR
from tests.helpers import OSCILLATOR_TRUE_FREQUENCY, oscillator_data

TRUE_FREQUENCY = OSCILLATOR_TRUE_FREQUENCY


def fit(start, **kw):
    cal = LeastSquaresCalibrator(["natural_frequency"], initial_states=("position",), max_step=0.05, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cal.fit(OSCILLATOR, oscillator_data(), params={"natural_frequency": start, "damping_ratio": 0.03})


@pytest.mark.parametrize("start", [0.5, 3.0])
def test_local_fit_alone_lands_in_a_wrong_basin(start):
    cal = fit(start)
    assert abs(cal.params_["natural_frequency"] - TRUE_FREQUENCY) > 0.2
    assert cal.noise_std_["position"] > 0.2  # several times the true noise (0.05): a visibly wrong fit


@pytest.mark.parametrize("method", ["multistart", "de"])
@pytest.mark.parametrize("start", [0.5, 3.0])
def test_global_stage_finds_the_true_basin(method, start):
    cal = fit(start, global_search=method)
    lo, hi = cal.intervals_["natural_frequency"]
    assert lo < TRUE_FREQUENCY < hi and hi - lo < 0.01
    assert cal.noise_std_["position"] == pytest.approx(0.05, rel=0.15)
    assert cal.initial_state_["position"] == pytest.approx(1.0, abs=0.05)
    assert cal.search_["method"] == method and cal.search_["n_evaluations"] > 100
    assert cal.success_


def test_multistart_reports_its_local_fits_and_searches_a_given_box():
    cal = fit(3.0, global_search="multistart", n_starts=4, search_bounds={"natural_frequency": (0.5, 2.0)})
    assert cal.search_["n_local"] == 4 and len(cal.search_["local_costs"]) == 4
    assert min(cal.search_["local_costs"]) == pytest.approx(cal.cost_, rel=1e-9)
    assert cal.params_["natural_frequency"] == pytest.approx(TRUE_FREQUENCY, abs=0.005)


def test_global_stage_settings_are_checked():
    with pytest.raises(ConfigurationError, match="global_search = 'anneal'.*multistart"):
        fit(0.5, global_search="anneal")
    with pytest.raises(ConfigurationError, match="search_bounds names \\['damping_ratio'\\]"):
        fit(0.5, global_search="de", search_bounds={"damping_ratio": (0.0, 1.0)})
    with pytest.raises(ConfigurationError, match="low < high"):
        fit(0.5, global_search="de", search_bounds={"natural_frequency": (2.0, 1.0)})


def test_failed_candidates_get_an_infinite_cost_never_a_penalty():
    # a 1-s RK4 step makes high frequencies diverge: those candidates fail, the fit still finds the truth
    data = oscillator_data()
    cal = LeastSquaresCalibrator(["natural_frequency"], initial_states=(), max_step=0.2, global_search="de",
                                 search_bounds={"natural_frequency": (0.5, 40.0)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal.fit(OSCILLATOR, data, params={"natural_frequency": 0.6, "damping_ratio": 0.03}, x0={"position": 1.0})
    assert cal.search_["n_failed_evaluations"] > 0
    assert cal.params_["natural_frequency"] == pytest.approx(TRUE_FREQUENCY, abs=0.005)
