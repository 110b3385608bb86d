"""Remaining useful life: Monte Carlo speed against progpy, interval coverage, and prognosis on C-MAPSS FD001.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/prognosis.py            # table
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/prognosis.py --json     # + one JSON object on the last line
    .venv/bin/python benchmarks/prognosis.py --only-mc --json   # the Monte Carlo figures only (rul_mc100_s, speedup)
    .venv/bin/python benchmarks/prognosis.py --cmapss PATH   # the C-MAPSS folder (default ../shared/data/cmapss)

(The script sets ``OPENBLAS_NUM_THREADS=1`` itself when it is unset: threaded BLAS on a loaded 2-core machine
turned a 0.01 s Gram matrix into 2 s.)

Figures:

* ``rul_mc100_s`` - :func:`calibration.prognosis.predict_rul` of a centrifugal pump to its impeller-wear
  threshold (wear 0.5): 100 samples of the wear rate from a calibration posterior
  (:class:`~calibration.CalibrationRecord`), process noise on the wear, RK4 at 1 s, about 3,600 steps per
  sample (the scale of progpy's battery case: 100 samples x 3,572 steps, 138 s with ``MonteCarlo``, 5.9 s
  vectorized; ../shared/notes/progpy.md 3c).  Median of 5 warm calls.
* ``rul_mc10k_parallel_speedup`` - 10,000 samples with numba on 1 thread vs 2 threads (median of 3 each,
  alternating); the numbers are identical (checked).  Needs 2 idle cores to mean anything: the load average is
  printed with it.  ``rul_mc10k_projected_speedup_idle`` is what 2 idle cores would give by Amdahl's law from
  CPU times (which other processes do not inflate): the CPU time on 1 thread over the serial part plus half
  the rest on 2 threads (the serial part: the same call over one 1 s step) - a diagnostic, not the figure.
* ``synthetic_coverage`` - 200 synthetic pumps whose wear rate is estimated from noisy wear readings (least
  squares, posterior as a record): how often the 90 % RUL interval holds the asset's true failure time.
* C-MAPSS FD001 (``train_FD001.txt``; skipped with a message when absent): :class:`calibration.degradation.
  HealthIndexRUL` by 5-fold cross-validation over engines (seeded split).  Each held-out engine is cut at 5
  random cycles (seeded, uniform in [31, last cycle - 1], like the truncation of the official test set) and
  its RUL predicted at the cut from the cycles up to it: ``cmapss_rmse``, ``cmapss_phm08`` (per 100
  predictions, the size of the official test set) and ``cmapss_coverage`` (90 % intervals) are these -
  **the figures to compare with the published FD001 test-set results** (SVR 20.96, CNN 18.45, deep LSTM 16.14
  RMSE).  ``*_every_cycle`` score every cycle of every held-out engine.  RUL capped at 125 throughout.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from calibration import CalibrationRecord  # noqa: E402
from calibration.degradation import HealthIndexRUL, capped_rul, phm08_score, read_cmapss  # noqa: E402
from calibration.prognosis import predict_rul  # noqa: E402
from sim.physics import PUMP, StateEvent  # noqa: E402

SPEC = PUMP.spec
WORN = StateEvent("impeller_worn", "impeller_wear", 0.5, +1)
SPEED = {"shaft_speed": 308.9}
WEAR_RATE = 1.4e-4  # [1/s]: wear 0.5 in about 3,600 s


def pump_record(mean: float, std: float, wear_now: float = 0.0) -> CalibrationRecord:
    """A calibration record of the impeller wear rate (Gaussian posterior), the pump at *wear_now*."""
    fixed = {v.name: v.default for v in SPEC.params if v.name != "impeller_wear_rate"}
    return CalibrationRecord(
        model=SPEC.name, model_version=SPEC.version,
        parameters={"impeller_wear_rate": {"value": mean, "unit": "1/s", "stderr": std,
                                           "ci_low": mean - 1.96 * std, "ci_high": mean + 1.96 * std}},
        fixed_parameters=fixed, covariance=[[std * std]], parameter_names=["impeller_wear_rate"], confidence=0.95,
        metrics={}, window={}, initial_state={}, method="benchmark",
        final_state=SPEC.as_dict("states", SPEC.vector("states", {"flow": 0.03, "impeller_wear": wear_now})),
        bounds={"impeller_wear_rate": [0.0, 1.0]})


def rul_call(n: int, record, *, seed: int = 0, horizon: float = 8000.0):
    """The benchmarked call: RUL of *n* samples to the impeller-wear threshold within *horizon* [s]."""
    return lambda: predict_rul(PUMP, record, threshold=WORN, horizon=horizon, n_samples=n, seed=seed,
                               inputs=SPEED, process_noise={"impeller_wear": 2e-4}, max_step=1.0)


def bench_mc(n: int, record, *, repeats: int = 5, seed: int = 0):
    run = rul_call(n, record, seed=seed)
    run()  # kernels from numba's cache (or compiled): not the figure
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), result, run


def bench_parallel(record):
    threads = numba.get_num_threads()
    if threads < 2:
        return None, None, None, True, {}
    _, _, run = bench_mc(10_000, record, repeats=1)
    serial, parallel, same = [], [], True
    cpu = {1: [], 2: []}
    reference = None
    try:
        for _ in range(3):
            for k, out in ((1, serial), (2, parallel)):
                numba.set_num_threads(k)
                c, t = time.process_time(), time.perf_counter()
                res = run()
                out.append(time.perf_counter() - t)
                cpu[k].append(time.process_time() - c)
                reference = res.samples if reference is None else reference
                same = same and np.array_equal(reference, res.samples)
        # the part that does not run in parallel: the same call over one RK4 step (draws, checks, seeds, arrays)
        numba.set_num_threads(1)
        short = rul_call(10_000, record, horizon=1.0)
        short()
        c = time.process_time()
        short()
        overhead = time.process_time() - c
    finally:
        numba.set_num_threads(threads)
    t1, t2 = float(np.median(serial)), float(np.median(parallel))
    c1, c2 = float(np.median(cpu[1])), float(np.median(cpu[2]))
    # Amdahl from CPU times, which a busy machine does not inflate: what 2 idle cores would give
    projected = c1 / (overhead + max(c2 - overhead, 0.0) / 2.0)
    return t1, t2, t1 / t2, same, {"rul_mc10k_cpu_1thread_s": c1, "rul_mc10k_cpu_2threads_s": c2,
                                   "rul_mc10k_serial_cpu_s": overhead, "rul_mc10k_projected_speedup_idle": projected}


def synthetic_coverage(n_assets: int = 200, level: float = 0.9, seed: int = 1):
    """Pumps with unknown wear rates: each rate estimated from 40 noisy wear readings (least squares, its Gaussian
    posterior as a record); the 90 % interval of the time of event from new against the true one."""
    rng = np.random.default_rng(seed)
    t_obs = np.linspace(60.0, 1200.0, 40)
    sigma_y = 0.01
    hits = 0
    for i in range(n_assets):
        k_true = rng.lognormal(math.log(WEAR_RATE), 0.3)
        y = k_true * t_obs + rng.normal(0.0, sigma_y, t_obs.size)
        k_hat = float(t_obs @ y / (t_obs @ t_obs))
        k_std = sigma_y / math.sqrt(float(t_obs @ t_obs))
        rul = predict_rul(PUMP, pump_record(k_hat, k_std), threshold=WORN, horizon=20_000.0, n_samples=200, seed=i,
                          inputs=SPEED, max_step=2.0)
        lo, hi = rul.interval(level)
        hits += lo <= 0.5 / k_true <= hi
    return hits / n_assets


def bench_cmapss(data, *, folds: int = 5, cuts: int = 5, level: float = 0.9, seed: int = 0, plot: bool = False):
    u, c, s, x = data["units"], data["cycles"], data["settings"], data["sensors"]
    ids = np.unique(u)
    y = capped_rul(u, c, 125.0)
    split = np.array_split(np.random.default_rng(seed).permutation(ids), folds)
    cut_rng = np.random.default_rng(seed + 1)
    cut_rows = np.array([np.flatnonzero(u == k)[cc - 1] for k in ids
                         for cc in cut_rng.integers(31, int(c[u == k].max()), size=cuts)])
    point, low, high = (np.empty(y.size) for _ in range(3))
    t = time.perf_counter()
    for held in split:
        test = np.isin(u, held)
        model = HealthIndexRUL(cap=125.0, seed=seed).fit(u[~test], c[~test], s[~test], x[~test])
        point[test], low[test], high[test] = model.predict_interval(u[test], c[test], s[test], x[test], level=level)
    elapsed = time.perf_counter() - t
    track = None
    if plot:
        k = held[-1]
        rows = np.flatnonzero(u == k)
        track = (model.remaining_life(u[rows], c[rows], s[rows], x[rows]), float(c[rows].max()), int(k))
    # causality: the prediction at a cut uses only the cycles up to it (checked on the last fold's engines)
    k = held[0]
    rows = np.flatnonzero(u == k)[: int(c[u == k].max()) // 2]
    truncated = model.predict(u[rows], c[rows], s[rows], x[rows])
    assert np.allclose(truncated, point[rows]), "the prediction at a cycle depends on later cycles"
    rmse = lambda idx: float(np.sqrt(np.mean((point[idx] - y[idx]) ** 2)))  # noqa: E731
    cover = lambda idx: float(np.mean((low[idx] <= y[idx]) & (y[idx] <= high[idx])))  # noqa: E731
    every = np.arange(y.size)
    return {
        "cmapss_rmse": rmse(cut_rows), "cmapss_phm08": phm08_score(point[cut_rows], y[cut_rows]) * 100 / cut_rows.size,
        "cmapss_coverage": cover(cut_rows), "cmapss_interval_width": float(np.mean(high[cut_rows] - low[cut_rows])),
        "cmapss_predictions": int(cut_rows.size),
        "cmapss_rmse_every_cycle": rmse(every),
        "cmapss_phm08_every_cycle": phm08_score(point, y) * 100 / y.size,
        "cmapss_coverage_every_cycle": cover(every), "cmapss_level": level, "cmapss_cv_s": elapsed,
    }, track


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    parser.add_argument("--cmapss", default=str(ROOT.parent / "shared" / "data" / "cmapss"),
                        help="folder with train_FD001.txt (default ../shared/data/cmapss)")
    parser.add_argument("--skip-parallel", action="store_true", help="skip the 10,000-sample thread comparison")
    parser.add_argument("--only-mc", action="store_true", help="only the RUL Monte Carlo figures (rul_mc100_s and "
                        "the 10,000-sample thread comparison): no synthetic coverage, no C-MAPSS")
    parser.add_argument("--cv-repeats", type=int, default=3, help="C-MAPSS cross-validations with other seeds")
    parser.add_argument("--plot", default="", help="write the RUL track of a held-out engine to this PNG file")
    args = parser.parse_args(argv)
    res = {"load_average_1min": os.getloadavg()[0], "numba_threads": numba.get_num_threads()}

    record = pump_record(WEAR_RATE, 0.1 * WEAR_RATE)
    t100, rul, _ = bench_mc(100, record)
    lo, hi = rul.interval(0.9)
    res.update({"rul_mc100_s": t100, "rul_mc100_median_s": rul.median(), "rul_mc100_interval90": [lo, hi],
                "rul_mc100_p_failure_before_horizon": rul.p_failure()})
    print("pump RUL to impeller wear 0.5, 100 samples (posterior x process noise), RK4 1 s:")
    print(f"  {t100 * 1e3:8.1f} ms   median RUL {rul.median():.0f} s, 90 % [{lo:.0f}, {hi:.0f}] s   "
          f"(progpy MonteCarlo 138 s, vectorized 5.9 s on its battery, same scale)")
    if not args.skip_parallel:
        t1, t2, speedup, same, cpu = bench_parallel(record)
        res.update({"rul_mc10k_1thread_s": t1, "rul_mc10k_2threads_s": t2, "rul_mc10k_parallel_speedup": speedup,
                    "rul_mc10k_thread_invariant": same, **cpu})
        if t1 is not None:
            load = os.getloadavg()[0]
            res["load_average_1min_after"] = load
            print(f"10,000 samples: 1 thread {t1:.3f} s, 2 threads {t2:.3f} s, speedup {speedup:.2f} "
                  f"(identical numbers: {same}; load average {res['load_average_1min']:.1f} before, {load:.1f} "
                  f"after)")
            print(f"  CPU time 1 thread {cpu['rul_mc10k_cpu_1thread_s']:.3f} s, 2 threads "
                  f"{cpu['rul_mc10k_cpu_2threads_s']:.3f} s, serial part {cpu['rul_mc10k_serial_cpu_s']:.3f} s: "
                  f"{cpu['rul_mc10k_projected_speedup_idle']:.2f} on 2 idle cores (Amdahl; a projection, not a "
                  f"measurement)")
    if args.only_mc:
        if args.json:
            print(json.dumps(res))
        return
    cov = synthetic_coverage()
    res["synthetic_coverage"] = cov
    print(f"synthetic pumps: 90 % RUL interval holds the true failure time in {cov:.1%} of 200 assets")

    folder = Path(args.cmapss)
    if (folder / "train_FD001.txt").is_file():
        data = read_cmapss(folder / "train_FD001.txt")
        cm, track = bench_cmapss(data, plot=bool(args.plot))
        res.update(cm)
        others = [bench_cmapss(data, seed=seed)[0] for seed in range(1, args.cv_repeats)]
        for key in ("cmapss_rmse", "cmapss_phm08", "cmapss_coverage"):
            res[f"{key}_repeats"] = [cm[key]] + [o[key] for o in others]
        print(f"C-MAPSS FD001, 5-fold CV over engines, RUL capped at 125 ({cm['cmapss_cv_s']:.1f} s):")
        print(f"  at random cuts ({cm['cmapss_predictions']} predictions; compare with published test-set RMSE: "
              f"SVR 20.96, CNN 18.45, deep LSTM 16.14):")
        print(f"    RMSE {cm['cmapss_rmse']:.2f}   PHM08 {cm['cmapss_phm08']:.0f} per 100   "
              f"90 % interval coverage {cm['cmapss_coverage']:.1%} (mean width {cm['cmapss_interval_width']:.1f})")
        print(f"  every cycle: RMSE {cm['cmapss_rmse_every_cycle']:.2f}   PHM08 {cm['cmapss_phm08_every_cycle']:.0f} "
              f"per 100   coverage {cm['cmapss_coverage_every_cycle']:.1%}")
        if others:
            print(f"  {args.cv_repeats} CV repeats (split and cut seeds 0..{args.cv_repeats - 1}): RMSE at cuts "
                  + ", ".join(f"{v:.2f}" for v in res["cmapss_rmse_repeats"]) + "; coverage "
                  + ", ".join(f"{v:.1%}" for v in res["cmapss_coverage_repeats"]))
        if args.plot:
            from calibration.prognosis import plot_rul

            rul_track, last, engine = track
            fig = plot_rul(rul_track, truth=last, level=0.9, title=f"C-MAPSS FD001 engine {engine} (held out)")
            fig.savefig(args.plot, dpi=120)
            print(f"  RUL track of engine {engine} written to {args.plot}")
    else:
        res["cmapss"] = f"skipped: no train_FD001.txt in {folder}"
        print(f"C-MAPSS skipped: no train_FD001.txt in {folder} (pass --cmapss FOLDER)")
    if args.json:
        print(json.dumps(res))


if __name__ == "__main__":
    main()
