"""Remaining useful life: interval coverage on synthetic degrading assets, P(failure) against a closed form,
second-order sampling, the RUL plot, and the health-index degradation model on a synthetic run-to-failure fleet."""

import math

import numpy as np
import pytest
from scipy import stats

from calibration import CalibrationRecord
from calibration.degradation import HealthIndexRUL, capped_rul, phm08_score
from calibration.prognosis import RemainingLife, order_interval, plot_rul, predict_rul
from sim.exceptions import CalibrationError, ConfigurationError
from sim.physics import PUMP, StateEvent
from sim.physics.prognostics import time_of_event

SPEC = PUMP.spec
WORN = StateEvent("impeller_worn", "impeller_wear", 0.5, +1)
SPEED = {"shaft_speed": SPEC.var("params", "reference_speed").default}  # wear rate = k exactly at this speed


def wear_record(mean, std, *, wear_now=0.0):
    """A calibration record of the impeller wear rate k [1/s] with a Gaussian posterior."""
    fixed = {v.name: v.default for v in SPEC.params if v.name != "impeller_wear_rate"}
    return CalibrationRecord(
        model=SPEC.name, model_version=SPEC.version,
        parameters={"impeller_wear_rate": {"value": mean, "unit": "1/s", "stderr": std, "ci_low": mean - 2 * std,
                                           "ci_high": mean + 2 * std}},
        fixed_parameters=fixed, covariance=[[std * std]], parameter_names=["impeller_wear_rate"], confidence=0.95,
        metrics={}, window={}, initial_state={}, method="test",
        final_state=SPEC.as_dict("states", SPEC.vector("states", {"flow": 0.03, "impeller_wear": wear_now})),
        bounds={"impeller_wear_rate": [0.0, 1.0]})


def _inside(value, interval):
    return interval[0] <= value <= interval[1]


# --------------------------------------------------------------------------------------------- physics RUL
def test_intervals_cover_the_true_failure_time_of_synthetic_assets():
    """Each asset: k estimated from a noisy bench test (least squares, Gaussian posterior), future process noise;
    its true time of event comes from its own noise stream.  The 95 % interval must hold it in >= 90 % of
    cases, the 90 % one in about 90 % (and not by being far too wide: the 50 % one about half the time)."""
    rng = np.random.default_rng(2024)
    t_obs = np.linspace(20.0, 200.0, 19)
    sigma_y, sigma_w = 0.01, 2e-3
    hits95 = hits90 = hits50 = 0
    n_assets = 150
    k_true = rng.lognormal(math.log(1e-3), 0.25, n_assets)
    p_true = np.tile(SPEC.vector("params"), (n_assets, 1))
    p_true[:, SPEC.index("params", "impeller_wear_rate")] = k_true
    truths = time_of_event(PUMP, {"flow": 0.03}, p_true, WORN, horizon=5000.0, inputs=SPEED, max_step=2.0,
                           process_noise={"impeller_wear": sigma_w}, seed=10_000).first  # one noise path each
    for i, truth in enumerate(truths):
        y = k_true[i] * t_obs + rng.normal(0.0, sigma_y, t_obs.size)
        k_hat = float(t_obs @ y / (t_obs @ t_obs))
        k_std = sigma_y / math.sqrt(float(t_obs @ t_obs))
        rul = predict_rul(PUMP, wear_record(k_hat, k_std), threshold=WORN, horizon=5000.0, n_samples=50, n_noise=4,
                          seed=i, inputs=SPEED, process_noise={"impeller_wear": sigma_w}, max_step=2.0)
        hits95 += _inside(truth, rul.interval(0.95))
        hits90 += _inside(truth, rul.interval(0.9))
        hits50 += _inside(truth, rul.interval(0.5))
    # calibrated, within about two binomial standard deviations (150 assets: 0.025 at 90 %, 0.04 at 50 %)
    assert hits95 / n_assets >= 0.90
    assert hits90 / n_assets >= 0.86
    assert 0.40 <= hits50 / n_assets <= 0.62


def test_p_failure_before_horizon_matches_the_closed_form_of_a_gaussian_rate():
    mu, s, horizon = 1e-3, 1.5e-4, 560.0
    rul = predict_rul(PUMP, wear_record(mu, s), threshold=WORN, horizon=horizon, n_samples=4000, seed=3,
                      inputs=SPEED, max_step=2.0)
    closed = 1.0 - stats.norm.cdf((0.5 / horizon - mu) / s)  # P(T <= H) = P(k >= L / H)
    assert abs(rul.p_failure() - closed) < 3.5 * math.sqrt(closed * (1 - closed) / 4000)
    assert rul.censored_fraction() == pytest.approx(1.0 - rul.p_failure())
    within = 450.0
    closed = 1.0 - stats.norm.cdf((0.5 / within - mu) / s)
    assert abs(rul.p_failure(within) - closed) < 3.5 * math.sqrt(closed * (1 - closed) / 4000)
    assert rul.median() == pytest.approx(0.5 / mu, rel=0.03)


@pytest.mark.kernel
def test_second_order_sampling_shares_each_parameter_draw_across_its_noise_streams():
    quiet = predict_rul(PUMP, wear_record(1e-3, 1e-4), threshold=WORN, horizon=2000.0, n_samples=6, n_noise=3,
                        seed=1, inputs=SPEED, max_step=2.0)
    assert quiet.samples.shape == (18, 1)
    blocks = quiet.rul().reshape(6, 3)
    assert np.all(blocks == blocks[:, :1]) and np.unique(blocks[:, 0]).size == 6
    noisy = predict_rul(PUMP, wear_record(1e-3, 1e-4), threshold=WORN, horizon=2000.0, n_samples=6, n_noise=3,
                        seed=1, inputs=SPEED, max_step=2.0, process_noise={"impeller_wear": 1e-3})
    assert np.unique(noisy.rul()).size == 18
    again = predict_rul(PUMP, wear_record(1e-3, 1e-4), threshold=WORN, horizon=2000.0, n_samples=6, n_noise=3,
                        seed=1, inputs=SPEED, max_step=2.0, process_noise={"impeller_wear": 1e-3})
    np.testing.assert_array_equal(noisy.samples, again.samples)


@pytest.mark.kernel
def test_state_defaults_to_the_records_final_state_and_modes_are_separate():
    rec = wear_record(1e-3, 1e-12, wear_now=0.3)
    bearing = StateEvent("bearing_worn", "bearing_wear", 0.1, +1)
    rul = predict_rul(PUMP, rec, threshold=(WORN, bearing), horizon=1000.0, n_samples=4, seed=0, inputs=SPEED,
                      max_step=1.0)
    assert rul.median("impeller_worn") == pytest.approx(200.0, rel=1e-6)  # (0.5 - 0.3) / 1e-3
    assert rul.censored_fraction("bearing_worn") == 1.0  # bearing wear 2e-8 / s: far beyond the horizon
    assert rul.median() == rul.median("impeller_worn")
    summary = rul.summary(0.9)
    assert set(summary) == {"system", "impeller_worn", "bearing_worn"}
    assert summary["bearing_worn"]["high"] == math.inf
    with pytest.raises(ConfigurationError, match="no failure mode 'x'"):
        rul.rul("x")
    states = np.array([SPEC.vector("states", {"flow": 0.03, "impeller_wear": w}) for w in (0.1, 0.2, 0.3)])
    per_draw = predict_rul(PUMP, rec, states, threshold=WORN, horizon=1000.0, n_samples=3, n_noise=2, seed=0,
                           inputs=SPEED, max_step=1.0)  # one state per parameter draw, shared by its noise streams
    np.testing.assert_allclose(per_draw.rul(), [400.0, 400.0, 300.0, 300.0, 200.0, 200.0], rtol=1e-6)


@pytest.mark.kernel
def test_remaining_life_intervals_and_statistics_with_censoring():
    r = RemainingLife(samples=np.r_[np.arange(1.0, 91.0), np.full(10, np.inf)], events=("eol",), horizon=100.0)
    assert r.censored_fraction() == pytest.approx(0.1)
    assert r.p_failure(45.0) == pytest.approx(0.45)
    assert r.median() == pytest.approx(50.5)
    lo, hi = r.interval(0.8)
    assert (lo, hi) == (11.0, 90.0)
    assert order_interval(r.rul(), 0.9)[1] == math.inf  # the upper end lies among the censored samples
    x = np.random.default_rng(0).normal(size=997)
    lo, hi = order_interval(x, 0.9)
    assert np.mean((x >= lo) & (x <= hi)) >= 0.9
    with pytest.raises(ConfigurationError, match="strictly between 0 and 1"):
        r.interval(1.0)
    with pytest.raises(CalibrationError, match="NaN or negative"):
        RemainingLife(samples=[1.0, -2.0], events=("eol",), horizon=10.0)
    with pytest.raises(ConfigurationError, match="n_samples"):
        predict_rul(PUMP, None, {"flow": 0.03}, threshold=WORN, horizon=10.0, n_samples=0)
    with pytest.raises(ConfigurationError, match="state is None"):
        predict_rul(PUMP, None, threshold=WORN, horizon=10.0)
    with pytest.raises(CalibrationError, match="shape"):
        predict_rul(PUMP, np.ones((3, 2)), {"flow": 0.03}, threshold=WORN, horizon=10.0)


def test_plot_rul_draws_the_median_the_interval_and_the_truth():
    track = [RemainingLife(samples=np.linspace(90.0 - t, 110.0 - t, 21), events=("eol",), horizon=500.0, time=t)
             for t in (0.0, 20.0, 40.0, 60.0)]
    fig = plot_rul(track, truth=100.0, level=0.8, alpha_bounds=0.2)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.lines}
    median, truth = lines["median"], lines["true RUL"]
    assert lines["horizon (censored beyond)"].get_ydata()[0] == 500.0
    np.testing.assert_allclose(median.get_ydata(), [100.0, 80.0, 60.0, 40.0])
    np.testing.assert_allclose(truth.get_ydata(), [100.0, 80.0, 60.0, 40.0])
    assert ax.get_ylabel() == "remaining useful life [s]"
    with pytest.raises(ConfigurationError, match="non-empty"):
        plot_rul([])


# --------------------------------------------------------------------------------------------- degradation model
def synthetic_fleet(n_units, seed, *, regimes=1):
    """Run-to-failure units: health 1 until an onset, then falling to 0 (exponentially faster near the end);
    8 sensors respond to it (some rising, some falling) plus noise; 2 constant sensors; operating regimes
    shift every sensor by a regime offset."""
    rng = np.random.default_rng(seed)
    gains = rng.normal(0.0, 1.0, 8)
    offsets = rng.normal(0.0, 20.0, (regimes, 10))
    centers = np.array([[0.0, 0.0], [10.0, 0.5], [20.0, 0.8]])[:regimes]
    rows = []
    for unit in range(1, n_units + 1):
        life = int(rng.integers(120, 260))
        onset = int(life - rng.integers(60, 110))
        for cycle in range(1, life + 1):
            damage = 0.0 if cycle < onset else ((cycle - onset) / (life - onset)) ** 1.5
            regime = int(rng.integers(0, regimes))
            setting = centers[regime] + rng.normal(0.0, 0.01, 2)
            sensors = np.r_[3.0 * gains * damage + rng.normal(0.0, 0.25, 8), 7.0, -2.0] + offsets[regime]
            rows.append((unit, cycle, *setting, *sensors))
    data = np.array(rows)
    return data[:, 0].astype(int), data[:, 1], data[:, 2:4], data[:, 4:]


def test_health_index_model_predicts_held_out_units_with_calibrated_intervals():
    u, c, s, x = synthetic_fleet(60, seed=5)
    test = u > 45
    model = HealthIndexRUL(cap=100.0, seed=1).fit(u[~test], c[~test], s[~test], x[~test])
    assert set(model.kept_) == set(range(8))  # the constant sensors are dropped
    y = capped_rul(u[test], c[test], 100.0)
    point, low, high = model.predict_interval(u[test], c[test], s[test], x[test], level=0.9)
    rmse = float(np.sqrt(np.mean((point - y) ** 2)))
    assert rmse < 12.0  # a cap of 100: the health index carries the signal
    assert rmse < 0.5 * float(np.std(y))
    assert 0.8 <= np.mean((low <= y) & (y <= high)) <= 0.98
    hi = model.health_index(u[test], c[test], s[test], x[test])
    assert np.all((hi >= 0) & (hi <= 1))
    assert phm08_score(point, y) > 0


def test_health_index_prediction_at_a_cycle_uses_only_the_cycles_up_to_it():
    u, c, s, x = synthetic_fleet(25, seed=6)
    model = HealthIndexRUL(cap=100.0).fit(u[u > 5], c[u > 5], s[u > 5], x[u > 5])
    rows = np.flatnonzero(u == 2)
    full = model.predict(u[rows], c[rows], s[rows], x[rows])
    cut = rows[:70]
    np.testing.assert_allclose(model.predict(u[cut], c[cut], s[cut], x[cut]), full[:70], rtol=0, atol=1e-9)
    track = model.remaining_life(u[cut], c[cut], s[cut], x[cut])
    assert len(track) == 70 and track[-1].time == c[cut][-1] and track[0].unit == "cycle"
    _, low, high = model.predict_interval(u[cut], c[cut], s[cut], x[cut], level=0.8)
    for r, lo, hi in zip(track, low, high):  # the track's samples and the intervals agree (cap: censored)
        a, b = r.interval(0.8)
        assert min(a, 100.0) == pytest.approx(lo) and min(b, 100.0) == pytest.approx(hi)


def test_operating_regimes_are_normalized_away():
    def held_out_rmse(regimes, n_regimes):
        u, c, s, x = synthetic_fleet(40, seed=7, regimes=regimes)
        test = u > 30
        m = HealthIndexRUL(cap=100.0, n_regimes=n_regimes, seed=0).fit(u[~test], c[~test], s[~test], x[~test])
        y = capped_rul(u[test], c[test], 100.0)
        return float(np.sqrt(np.mean((m.predict(u[test], c[test], s[test], x[test]) - y) ** 2)))

    plain = held_out_rmse(1, 1)
    normalized = held_out_rmse(3, 3)
    assert normalized < held_out_rmse(3, 1)  # regime offsets of 20 sensor-noise sigmas: normalizing them helps
    assert normalized < 1.2 * plain  # ... back to about the accuracy without regimes


def test_health_index_model_rejects_bad_data_with_clear_errors():
    u, c, s, x = synthetic_fleet(12, seed=8)
    with pytest.raises(CalibrationError, match="not fitted"):
        HealthIndexRUL().predict(u, c, s, x)
    with pytest.raises(CalibrationError, match="sorted by unit"):
        HealthIndexRUL().fit(u[::-1], c[::-1], s[::-1], x[::-1])
    bad = x.copy()
    bad[5, 2] = np.nan
    with pytest.raises(CalibrationError, match="row 5"):
        HealthIndexRUL().fit(u, c, s, bad)
    with pytest.raises(CalibrationError, match="too few"):
        HealthIndexRUL(inner_folds=5).fit(u[u <= 6], c[u <= 6], s[u <= 6], x[u <= 6])
    with pytest.raises(ConfigurationError, match="spans"):
        HealthIndexRUL(spans=()).fit(u, c, s, x)
    assert HealthIndexRUL(cap=90.0).get_params()["cap"] == 90.0
