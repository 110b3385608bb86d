"""Continuous calibration: the fleet JointUKF, warm-started windows, and parameter-track plots."""

import time
import warnings

import numpy as np
import pandas as pd
import pytest

from calibration import CalibrationData, JointUKF, LeastSquaresCalibrator, plot_parameter_tracks
from sim.exceptions import CalibrationError, ConfigurationError
from sim.physics import PUMP
from tests.helpers import pump_frame

SPEC = PUMP.spec
CHANNELS = ["flow", "discharge_pressure", "shaft_power", "motor_current", "vibration_rms"]
KEYS = ["head_coefficient_0", "bep_efficiency", "pipe_resistance"]
TRUTH = {k: SPEC.var("params", k).default for k in KEYS}
START = {"head_coefficient_0": 48.0, "bep_efficiency": 0.70, "pipe_resistance": 12500.0}


def windows(n_assets, minutes=20, noise=0.01):
    return [CalibrationData.from_frame(pump_frame(seed=10 + a, minutes=minutes, noise=noise)[0], SPEC,
                                       outputs=CHANNELS) for a in range(n_assets)]


def ukf(**kw):
    return JointUKF(KEYS, param_walk=0.0, state_std={"flow": 1e-4}, max_step=1.0,
                    initial_state_std={"flow": 3e-3, "impeller_wear": 1e-9, "strainer_resistance": 1e-3,
                                       "bearing_wear": 1e-9}, **kw)


def cut(w, a, b):
    return CalibrationData(t=w.t[a:b] - w.t[a], inputs=w.inputs[a:b], outputs=w.outputs[a:b],
                           input_names=w.input_names, output_names=w.output_names,
                           start=w.start + pd.Timedelta(seconds=float(w.t[a])),
                           end=w.start + pd.Timedelta(seconds=float(w.t[b - 1])))


def test_fleet_filter_recovers_every_assets_parameters():
    fleet = windows(4)
    est = ukf().fit(PUMP, fleet, params=START, x0={"flow": 0.028})
    inside = 0
    for k, truth in TRUTH.items():
        assert est.params_[k].shape == (4,)
        np.testing.assert_allclose(est.params_[k], truth, rtol=0.01)
        inside += int(np.sum((est.intervals_[k][0] < truth) & (truth < est.intervals_[k][1])))
    assert inside >= 10  # of 12 intervals
    # the noise of every channel is estimated from the innovations (1 % of a ~3e5 Pa pressure)
    assert np.all((est.noise_std_["discharge_pressure"] > 1500) & (est.noise_std_["discharge_pressure"] < 4500))
    track = est.track_
    assert len(track) == 4 * fleet[0].t.size and set(track["asset"]) == {0, 1, 2, 3}


def test_a_fleet_filters_each_asset_exactly_as_alone():
    fleet = windows(3, minutes=5)
    together = ukf().fit(PUMP, fleet, params=START, x0={"flow": 0.028})
    alone = ukf().fit(PUMP, fleet[1], params=START, x0={"flow": 0.028})
    for k in KEYS:
        assert together.params_[k][1] == pytest.approx(alone.params_[k], rel=1e-12)
        assert together.intervals_[k][0][1] == pytest.approx(alone.intervals_[k][0], rel=1e-12)
    assert isinstance(alone.params_[KEYS[0]], float) and "asset" not in alone.track_.columns


def test_partial_fit_continues_the_filter_exactly():
    (w,) = windows(1, minutes=10)
    # the noise given: an estimated one would start from each first window's own robust estimate
    noise = dict(zip(CHANNELS, 0.01 * np.nanmean(np.abs(w.outputs), axis=0)))
    whole = ukf(noise_std=noise).fit(PUMP, w, params=START, x0={"flow": 0.028})
    split = ukf(noise_std=noise).fit(PUMP, cut(w, 0, 300), params=START, x0={"flow": 0.028})
    split.partial_fit(PUMP, cut(w, 300, w.t.size))
    for k in KEYS:
        assert split.params_[k] == pytest.approx(whole.params_[k], rel=1e-12)
    pd.testing.assert_frame_equal(split.track_, whole.track_)
    with pytest.raises(ConfigurationError, match="not after the last filtered sample"):
        split.partial_fit(PUMP, cut(w, 100, 200))


def test_quarantined_samples_are_skipped_not_zeroed():
    (w,) = windows(1, minutes=10)
    out = w.outputs.copy()
    out[100:250] = np.nan  # a quarantined stretch: the filter only predicts there
    out[300:, 1] = np.nan  # and a pressure sensor lost for the rest of the window
    holed = CalibrationData(t=w.t, inputs=w.inputs, outputs=out, input_names=w.input_names,
                            output_names=w.output_names, start=w.start, end=w.end)
    est = ukf().fit(PUMP, holed, params=START, x0={"flow": 0.028})
    for k, truth in TRUTH.items():
        assert est.params_[k] == pytest.approx(truth, rel=0.02)
    width = est.track_["pipe_resistance.ci_high"] - est.track_["pipe_resistance.ci_low"]
    assert width.iloc[249] == pytest.approx(width.iloc[100], rel=1e-6)  # no information while quarantined


def test_a_diverging_filter_names_the_asset_time_and_fix():
    fleet = [cut(w, 0, 200) for w in windows(2, minutes=4)]
    with pytest.raises(CalibrationError,
                       match="filter diverged at 2026-01-01 00:00:.* for asset 0: .*shorten max_step \\(now 8.0 s\\)"):
        JointUKF(KEYS, max_step=8.0).fit(PUMP, [CalibrationData(
            t=w.t[::8], inputs=w.inputs[::8], outputs=w.outputs[::8], input_names=w.input_names,
            output_names=w.output_names, start=w.start, end=w.end) for w in fleet], params=START,
            x0={"flow": 0.028})


def test_fleet_filter_keeps_up_with_100_channels_at_1_hz():
    fleet = windows(20, minutes=10)  # 20 pumps x 5 channels
    ukf().fit(PUMP, [cut(w, 0, 20) for w in fleet], params=START, x0={"flow": 0.028})  # compiled once
    t0 = time.perf_counter()
    ukf().fit(PUMP, fleet, params=START, x0={"flow": 0.028})
    factor = 600.0 / (time.perf_counter() - t0)
    assert factor > 200, factor  # benchmarks/calibration.py measures ~4000x; loose here for loaded CI machines


# ---------------------------------------------------------------- plots
def test_parameter_tracks_of_windows_plot_one_point_per_window():
    import matplotlib

    matplotlib.use("Agg")
    (w,) = windows(1, minutes=30)
    cal = LeastSquaresCalibrator(KEYS, initial_states=())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for a in range(0, 1800, 600):
            cal.partial_fit(PUMP, cut(w, a, a + 601), x0={"flow": 0.028})
    fig = plot_parameter_tracks(cal.history_, truth=TRUTH)
    assert len(fig.axes) == 3
    for ax, name in zip(fig.axes, KEYS):
        est, truth_line = ax.get_lines()
        assert len(est.get_xdata()) == 3 and np.allclose(est.get_ydata(), [h[name] for h in cal.history_])
        assert truth_line.get_ydata()[0] == TRUTH[name]
        assert len(ax.collections) == 1 and ax.get_ylabel() == name
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_parameter_tracks_of_a_fleet_filter_plot_one_line_per_asset():
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    fleet = windows(2, minutes=3)
    est = ukf().fit(PUMP, fleet, params=START, x0={"flow": 0.028})
    fig = plot_parameter_tracks(est.track_, ["bep_efficiency"])
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert len(lines) == 2 and all(len(line.get_xdata()) == fleet[0].t.size for line in lines)
    assert len(ax.collections) == 2
    plt.close(fig)
    with pytest.raises(ConfigurationError, match="lacks estimate/interval columns for \\['density'\\]"):
        plot_parameter_tracks(est.track_, ["density"])


# ------------------------------------------------------- oracles of the kernels
def reference_ukf(model, data, names, *, p0_std, x0, state_var, max_step, alpha=1e-3, beta=2.0, forgetting=0.995):
    """Plain numpy joint UKF, one sample at a time (the algorithm calibration/_kernels.py compiles)."""
    from calibration.objective import robust_noise_std
    from sim.physics import RK4, Fleet

    spec = model.spec
    nx, p_idx = spec.nx, [spec.index("params", k) for k in names]
    y_idx = [spec.index("outputs", c) for c in data.output_names]
    base = spec.vector("params")
    z = np.concatenate([x0, base[p_idx]])
    P = np.diag(np.concatenate([np.ones(nx), p0_std]) ** 2)
    R = robust_noise_std(data.outputs) ** 2
    n = z.size
    lam = alpha ** 2 * n - n
    wm = np.full(2 * n + 1, 0.5 / (n + lam))
    wc = wm.copy()
    wm[0] = lam / (n + lam)
    wc[0] = wm[0] + 1 - alpha ** 2 + beta
    track = []
    for j in range(data.t.size):
        root = np.sqrt(n + lam) * np.linalg.cholesky(P).T
        pts = np.vstack([z, z + root, z - root])
        params = np.tile(base, (pts.shape[0], 1))
        params[:, p_idx] = pts[:, nx:]
        if j:
            dt = data.t[j] - data.t[j - 1]
            fleet = Fleet(model, states=pts[:, :nx], params=params, inputs=np.tile(data.inputs[j - 1], (len(pts), 1)),
                          integrator=RK4(max_step=max_step))
            fleet.advance(dt)
            pts[:, :nx] = fleet.states
            z = wm @ pts
            q = np.concatenate([state_var * dt, np.zeros(len(p_idx))])
            P = (wc[:, None] * (pts - z)).T @ (pts - z) + np.diag(q)
        ok = np.isfinite(data.outputs[j])
        if ok.any():
            ys = np.array([[model.output(tuple(pt[:nx]), tuple(pp), tuple(data.inputs[j]))[i] for i in y_idx]
                           for pt, pp in zip(pts, params)])[:, ok]
            y_mean = wm @ ys
            S = (wc[:, None] * (ys - y_mean)).T @ (ys - y_mean)
            C = (wc[:, None] * (pts - z)).T @ (ys - y_mean)
            S_full = S + np.diag(R[ok])
            K = C @ np.linalg.inv(S_full)
            innov = data.outputs[j, ok] - y_mean
            z = z + K @ innov
            P = P - K @ S_full @ K.T
            r_new = (1 - forgetting) * (innov ** 2 - np.diag(S)) + forgetting * R[ok]
            R[ok] = np.maximum(r_new, forgetting * R[ok])
        track.append(z[nx:].copy())
    return np.array(track)


@pytest.mark.kernel
def test_ukf_kernel_matches_the_numpy_reference():
    from sim.physics import MOTOR_THERMAL
    from tests.helpers import motor_frame as synthetic_frame

    frame, _ = synthetic_frame(4, hours=1.0, period=20.0)
    frame.iloc[40:60, frame.columns.get_loc("winding_temperature")] = np.nan
    data = CalibrationData.from_frame(frame, MOTOR_THERMAL.spec, outputs=["winding_temperature"])
    names = ["thermal_resistance_housing_ambient", "heat_capacity_housing"]
    spec = MOTOR_THERMAL.spec
    x0 = spec.vector("states", {"winding_temperature": data.outputs[0, 0]})
    est = JointUKF(names, state_std=1e-3).fit(MOTOR_THERMAL, data, x0=spec.as_dict("states", x0))
    ref = reference_ukf(MOTOR_THERMAL, data, names, p0_std=0.3 * spec.vector("params")[[spec.index("params", k)
                                                                                        for k in names]],
                        x0=x0, state_var=np.full(spec.nx, 1e-6), max_step=1.0)
    # alpha = 1e-3 gives sigma-point weights of ~1e6 with opposite signs: round-off differs at ~1e-7
    np.testing.assert_allclose(est.track_[names].to_numpy(), ref, rtol=1e-5)


@pytest.mark.kernel
def test_final_state_kernel_matches_stepping_a_fleet():
    from calibration._kernels import estimator_kernels
    from sim.physics import RK4, Fleet

    (w,) = windows(1, minutes=3)
    p = SPEC.vector("params")[None]
    x = SPEC.vector("states", {"flow": 0.02})[None]
    fleet = Fleet(PUMP, states=x, params=p, integrator=RK4(max_step=0.5))
    for j in range(w.t.size - 1):
        fleet.inputs[0] = w.inputs[j]
        fleet.advance(float(w.t[j + 1]))
    status = np.zeros(4, dtype=np.int64)
    got = x.copy()
    estimator_kernels(PUMP).final_state(got, p, w.t, np.ascontiguousarray(w.inputs), 0.5, status)
    assert status[0] == 0
    np.testing.assert_allclose(got[0], fleet.states[0], rtol=1e-12)


def test_an_unpickled_filter_continues_with_partial_fit():
    import pickle

    (w,) = windows(1, minutes=6)
    whole = ukf().fit(PUMP, w, params=START, x0={"flow": 0.028})
    first = pickle.loads(pickle.dumps(ukf().fit(PUMP, cut(w, 0, 200), params=START, x0={"flow": 0.028})))
    first.partial_fit(PUMP, cut(w, 200, w.t.size))
    # not bit-identical: the first noise guess comes from each first window's own differences
    assert first.params_["pipe_resistance"] == pytest.approx(whole.params_["pipe_resistance"], rel=1e-3)
    assert len(first.track_) == w.t.size
