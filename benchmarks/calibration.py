"""Pump calibration: 4 parameters from 1 h of 1 Hz data on 5 channels, ours vs progpy.estimate_params.

    .venv/bin/python benchmarks/calibration.py --json        # progpy optional: .venv/bin/pip install progpy

Truth: the default pump of sim/physics/pump.py.  Data: one hour at 1 Hz with the
shaft speed stepping every 5 min between 240 and 310 rad/s (a VFD schedule) and
the static head between 8 and 12 m; channels flow, discharge pressure, shaft power,
motor current and vibration RMS with 1 % Gaussian noise.  Unknowns: shut-off head
a0, quadratic head coefficient a2, best efficiency and pipe resistance, started
at 1.2 / 0.8 / 0.9 / 1.25 x truth.  Ours: LeastSquaresCalibrator (channels weighted
by estimated noise).  progpy: the same equations as a PrognosticsModel
(benchmarks/physics.py), ``estimate_params`` (Nelder-Mead, its default), same data,
same start, rk4 at dt = 1 s.

Continuous calibration (``online_realtime_factor``): 20 pumps x 5 channels = 100
channels at 1 Hz for one hour (each pump its own speed/head schedule), the same
4 parameters tracked from the same start.  The figure is seconds of telemetry
processed per wall second, for the fleet JointUKF (every sample, all assets in
one compiled filter loop; ``online_realtime_factor``) and for warm-started
``partial_fit`` refits on consecutive 10-min windows, one calibrator per pump
(``online_window_realtime_factor``); ``online_param_err`` is the UKF's max
relative error at the end of the hour and ``online_truth_in_ci`` the share of
its final 95 % intervals (80 = 20 pumps x 4) that hold the truth.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
# this script's folder is sys.path[0] and its name would shadow the calibration package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

from calibration import CalibrationData, JointUKF, LeastSquaresCalibrator  # noqa: E402
from sim.physics import PUMP, RK4  # noqa: E402

SPEC = PUMP.spec
KEYS = ["head_coefficient_0", "head_coefficient_2", "bep_efficiency", "pipe_resistance"]
START = {"head_coefficient_0": 1.2, "head_coefficient_2": 0.8, "bep_efficiency": 0.9, "pipe_resistance": 1.25}
CHANNELS = ["flow", "discharge_pressure", "shaft_power", "motor_current", "vibration_rms"]


def make_data(seed=0, hours=1.0):
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, hours * 3600.0 + 1.0, 1.0)
    block = (t // 300).astype(int)
    speeds = rng.uniform(240.0, 310.0, block.max() + 1)
    heads = rng.uniform(8.0, 12.0, block.max() + 1)
    u = np.column_stack([speeds[block], heads[block], np.zeros(t.size)])
    truth = SPEC.vector("params")
    x0 = SPEC.vector("states", {"flow": 0.028})
    y = PUMP.simulate(x0, truth, t, u, integrator=RK4(max_step=1.0))[0]
    cols = [SPEC.index("outputs", c) for c in CHANNELS]
    meas = y[:, cols] * (1 + 0.01 * rng.normal(size=(t.size, len(cols))))
    index = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(t, unit="s")
    frame = pd.DataFrame(np.column_stack([u, meas]), index=index, columns=list(SPEC.names("inputs")) + CHANNELS)
    return frame, t, u, meas, truth, x0


def fit_ours(frame, truth):
    data = CalibrationData.from_frame(frame, SPEC, outputs=CHANNELS)
    start = {k: truth[SPEC.index("params", k)] * START[k] for k in KEYS}
    cal = LeastSquaresCalibrator(KEYS, initial_states=(), max_step=1.0, max_nfev=100)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal.fit(PUMP, data, params=start, x0={"flow": 0.028})
    return time.perf_counter() - t0, cal


def fit_progpy(t, u, meas, truth):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_physics", ROOT / "benchmarks" / "physics.py")
    physics = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(physics)
    try:
        cls = physics.make_progpy_pump()
    except ImportError:
        return None, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = cls(integration_method="rk4")
        for k in KEYS:
            m.parameters[k] = truth[SPEC.index("params", k)] * START[k]
        m.parameters["x0"]["flow"] = 0.028
        inputs = [m.InputContainer(dict(zip(SPEC.names("inputs"), row))) for row in u]
        outputs = [m.OutputContainer(dict(zip(CHANNELS, row))) for row in meas]
        t0 = time.perf_counter()
        m.estimate_params(times=list(t), inputs=inputs, outputs=outputs, keys=KEYS, dt=1.0)
        elapsed = time.perf_counter() - t0
    return elapsed, {k: m.parameters[k] for k in KEYS}


N_ASSETS = 20  # x 5 channels = 100 channels
WINDOW_S = 600


def online_data(hours=1.0):
    frames = [make_data(seed=100 + a, hours=hours)[0] for a in range(N_ASSETS)]
    return [CalibrationData.from_frame(f, SPEC, outputs=CHANNELS) for f in frames]


def online_ukf():
    return JointUKF(KEYS, param_walk=0.0, state_std={"flow": 1e-4}, max_step=1.0,
                    initial_state_std={"flow": 3e-3, "impeller_wear": 1e-9, "strainer_resistance": 1e-3,
                                       "bearing_wear": 1e-9})


def _cut(window, a, b):
    return CalibrationData(t=window.t[a:b] - window.t[a], inputs=window.inputs[a:b], outputs=window.outputs[a:b],
                           input_names=window.input_names, output_names=window.output_names,
                           start=window.start + pd.Timedelta(seconds=float(window.t[a])),
                           end=window.start + pd.Timedelta(seconds=float(window.t[b - 1])))


def bench_online(truth):
    """Seconds of telemetry (100 channels at 1 Hz) processed per wall second."""
    windows = online_data()
    start = {k: truth[SPEC.index("params", k)] * START[k] for k in KEYS}
    horizon = float(windows[0].t[-1] - windows[0].t[0])
    online_ukf().fit(PUMP, [_cut(w, 0, 30) for w in windows], params=start, x0={"flow": 0.028})  # compile
    t0 = time.perf_counter()
    ukf = online_ukf().fit(PUMP, windows, params=start, x0={"flow": 0.028})
    t_ukf = time.perf_counter() - t0
    tv = {k: truth[SPEC.index("params", k)] for k in KEYS}
    err = max(float(np.max(np.abs(ukf.params_[k] / tv[k] - 1))) for k in KEYS)
    inside = sum(int(np.sum((ukf.intervals_[k][0] < tv[k]) & (tv[k] < ukf.intervals_[k][1]))) for k in KEYS)
    cals = [LeastSquaresCalibrator(KEYS, initial_states=(), max_step=1.0) for _ in windows]
    n = windows[0].t.size
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for a in range(0, n - 1, WINDOW_S):
            for cal, w in zip(cals, windows):
                part = _cut(w, a, min(a + WINDOW_S + 1, n))
                if a == 0:
                    cal.fit(PUMP, part, params=start, x0={"flow": 0.028})
                else:
                    cal.partial_fit(PUMP, part, x0=cal.final_state_)
    t_win = time.perf_counter() - t0
    err_win = max(abs(c.params_[k] / tv[k] - 1) for c in cals for k in KEYS)
    return {"online_realtime_factor": horizon / t_ukf, "online_ukf_s": t_ukf, "online_param_err": err,
            "online_truth_in_ci": f"{inside}/{len(KEYS) * len(windows)}",
            "online_window_realtime_factor": horizon / t_win, "online_window_s": t_win,
            "online_window_param_err": err_win, "online_channels": len(windows) * len(CHANNELS),
            "online_hours": horizon / 3600.0}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip-progpy", action="store_true")
    parser.add_argument("--skip-online", action="store_true", help="skip the continuous-calibration figures")
    args = parser.parse_args(argv)
    frame, t, u, meas, truth, _ = make_data()
    fit_ours(frame, truth)  # warm the kernels (compile cost is not the figure)
    t_ours, cal = fit_ours(frame, truth)
    err_ours = max(abs(cal.params_[k] / truth[SPEC.index("params", k)] - 1) for k in KEYS)
    covered = sum(cal.intervals_[k][0] < truth[SPEC.index("params", k)] < cal.intervals_[k][1] for k in KEYS)
    t_pp, est_pp = (None, None) if args.skip_progpy else fit_progpy(t, u, meas, truth)
    err_pp = max(abs(est_pp[k] / truth[SPEC.index("params", k)] - 1) for k in KEYS) if est_pp else None
    res = {"pump_fit_s": t_ours, "nfev": cal.nfev_, "param_err_ours": err_ours, "truth_in_ci": f"{covered}/4",
           "progpy_fit_s": t_pp, "ratio_vs_progpy": (t_pp / t_ours) if t_pp else None, "param_err_progpy": err_pp}
    print("pump calibration, 4 parameters, 3601 samples x 5 channels")
    print(f"  ours   {t_ours:8.3f} s  nfev {cal.nfev_}  max rel. error {err_ours:.2e}  truth inside 95 % CI: "
          f"{covered}/4")
    for k in KEYS:
        lo, hi = cal.intervals_[k]
        print(f"    {k:22s} {cal.params_[k]:12.6g}  [{lo:.6g}, {hi:.6g}]  truth {truth[SPEC.index('params', k)]:.6g}")
    if t_pp:
        print(f"  progpy {t_pp:8.1f} s  max rel. error {err_pp:.2e}   ratio {t_pp / t_ours:.0f}")
    if not args.skip_online:
        res.update(bench_online(truth))
        print(f"continuous calibration, {res['online_channels']} channels at 1 Hz, {res['online_hours']:.1f} h")
        print(f"  fleet JointUKF     {res['online_ukf_s']:7.3f} s  {res['online_realtime_factor']:8.0f} x real time"
              f"  max rel. error {res['online_param_err']:.2e}  truth inside 95 % CI: {res['online_truth_in_ci']}")
        print(f"  10-min partial_fit {res['online_window_s']:7.3f} s  {res['online_window_realtime_factor']:8.0f} x "
              f"real time  max rel. error {res['online_window_param_err']:.2e}")
    if args.json:
        print(json.dumps(res))


if __name__ == "__main__":
    main()
