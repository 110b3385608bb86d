"""Alarms on labelled pump telemetry: pointwise F1 / FAR / MAR and NAB scores, ours vs baselines.

    .venv/bin/python benchmarks/alarms.py [FILE.csv ...] [--fit-rows 400] [--json]

Files are in the SKAB layout (Skoltech Anomaly Benchmark: ``;``-separated, a ``datetime`` column, sensor
columns, ``anomaly`` and ``changepoint`` labels).  No data ships with Twinbench: pass files you have.  Without
files the script scores synthetic SKAB-like runs (8 channels at 1 Hz, temperatures cycling through the run
within the range the normal window saw, a valve closing that lowers the flow and, slowly, the temperature) so
that it always runs; its figures say nothing about real plants.

Protocol (the SKAB one): each file's first ``--fit-rows`` rows are normal; every detector is fitted there and
scores the whole file as a stream (blocks of ``--block`` rows, state carried); the alarm state per sample goes
to the pointwise scores (summed over files), its changes (raised and cleared, SKAB's ``|diff|`` of the predicted
labels) to NAB with a window of ``--nab-window`` rows after each change point (30: SKAB's 30 s at 1 Hz).

Detectors: ``pca`` (PCADetector defaults, input EWMA 0.2, + AlarmLogic defaults), ``pca_raw`` (no input
smoothing: plain T² + Q), ``pca_ewma`` (raw inputs, EWMA 0.1 of the statistic), ``pca_t2`` (T² only),
``residual_full`` (ResidualDetector with the full covariance on the raw channels - what it does
without a twin), ``cusum_or`` (one CusumDetector per raw channel, OR-ed: today's approach), ``always_on`` and
``never``.  ``far`` is always reported next to ``f1``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

from calibration import CusumDetector  # noqa: E402
from calibration.alarms import (AlarmLogic, PCADetector, ResidualDetector, nab_score, pointwise_scores,  # noqa: E402
                                state_changes)

LABELS = ("anomaly", "changepoint")


def read_skab(path) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Sensor frame, anomaly labels and change points of one SKAB file."""
    frame = pd.read_csv(path, sep=";", index_col="datetime", parse_dates=True)
    missing = [c for c in LABELS if c not in frame.columns]
    if missing:
        raise SystemExit(f"{path}: no {missing} column; a SKAB file has 'anomaly' and 'changepoint' labels")
    return (frame.drop(columns=list(LABELS)), frame["anomaly"].to_numpy() > 0,
            frame["changepoint"].to_numpy() > 0)


def synthetic_run(seed=0, n=1100, start=570, stop=970):
    """A SKAB-like run: thermal drift in normal operation, a valve closing between *start* and *stop*."""
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=float)
    ambient = 0.6 * np.sin(2 * np.pi * t / 400.0)  # a thermal cycle the normal window covers once
    load = np.convolve(rng.standard_normal(n), np.ones(25) / 5.0, mode="same")
    frame = pd.DataFrame({
        "Accelerometer1RMS": 0.0264 + 0.0003 * rng.standard_normal(n) + 0.0001 * load,
        "Accelerometer2RMS": 0.0401 + 0.0006 * rng.standard_normal(n) + 0.0002 * load,
        "Current": 1.0 + 0.25 * rng.standard_normal(n) + 0.1 * load,
        "Pressure": 0.33 * np.round(rng.standard_normal(n) * 0.8) + 0.05,
        "Temperature": 79.0 + ambient + 0.12 * rng.standard_normal(n),
        "Thermocouple": 26.0 + 0.1 * ambient + 0.005 * rng.standard_normal(n),
        "Voltage": 231.0 + 10.0 * rng.standard_normal(n) + 3.0 * load,
        "Volume Flow RateRMS": 32.0 + np.round(0.4 * rng.standard_normal(n)),
    }, index=pd.date_range("2020-03-09 10:00", periods=n, freq="s"))
    label = np.zeros(n, dtype=bool)
    label[start:stop] = True
    k = np.arange(stop - start)
    frame.iloc[start:stop, frame.columns.get_loc("Volume Flow RateRMS")] -= 0.6
    frame.iloc[start:stop, frame.columns.get_loc("Temperature")] -= 3.5 * (1 - np.exp(-k / 60.0))
    cps = np.zeros(n, dtype=bool)
    cps[[start, stop]] = True
    return frame, label, cps


class CusumOr:
    """Today's approach: a two-sided CUSUM per raw channel, alarm while any channel's CUSUM alarmed recently."""

    def __init__(self, hold=10):
        self.hold = hold

    def fit(self, X):
        self.detectors = [CusumDetector().fit(X.iloc[:, j].to_numpy()) for j in range(X.shape[1])]
        return self

    def mask(self, X):
        on = np.zeros(len(X), dtype=bool)
        for j, det in enumerate(self.detectors):
            det.partial_fit(X.iloc[:, j].to_numpy())
            for alarm in det.alarms_:
                on[alarm.index:alarm.index + self.hold] = True
        return on


def stream_mask(detector, X, times, block):
    """Alarm state per sample from a detector fitted on the normal rows, scored block by block."""
    logic = AlarmLogic.for_detector(detector)
    out, seconds = [], 0.0
    for lo in range(0, len(X), block):
        part = X.iloc[lo:lo + block]
        start = time.perf_counter()
        stat = detector.statistic(part)
        logic.update(times[lo:lo + block], stat, detector.contributions(part))
        seconds += time.perf_counter() - start
        out.append(logic.last_active_[0])
    return np.concatenate(out), seconds


DETECTORS = {
    "pca": lambda: PCADetector(),
    "pca_raw": lambda: PCADetector(input_smoothing=None),
    "pca_ewma": lambda: PCADetector(input_smoothing=None, smoothing=0.1),
    "pca_t2": lambda: PCADetector(use="t2"),
    "residual_full": lambda: ResidualDetector(covariance="full"),
}


def score_files(runs, fit_rows, block, nab_window):
    masks = {name: [] for name in [*DETECTORS, "cusum_or", "always_on", "never"]}
    labels, cps, seconds, samples = [], [], 0.0, 0
    for X, y, cp in runs:
        times = (X.index - X.index[0]).total_seconds().to_numpy(dtype=float)
        labels.append(y)
        cps.append(cp)
        for name, make in DETECTORS.items():
            mask, sec = stream_mask(make().fit(X.iloc[:fit_rows]), X, times, block)
            masks[name].append(mask)
            if name == "pca":
                seconds += sec
                samples += len(X)
        masks["cusum_or"].append(CusumOr().fit(X.iloc[:fit_rows]).mask(X))
        masks["always_on"].append(np.ones(len(X), dtype=bool))
        masks["never"].append(np.zeros(len(X), dtype=bool))
    table = {}
    for name, ms in masks.items():
        p = pointwise_scores(labels, ms)
        windows = [nab_window] * len(cps)
        nab = {k: 0.0 for k in ("standard", "reward_low_FP", "reward_low_FN")}
        parts = [nab_score(c, state_changes(m), window=w) for c, m, w in zip(cps, ms, windows)]
        for k in nab:  # sum raw, null and perfect over files, then normalize (as SKAB does)
            raw, null, perfect = (sum(pt[k][f] for pt in parts) for f in ("raw", "null", "perfect"))
            nab[k] = 100.0 * (raw - null) / (perfect - null) if perfect != null else float("nan")
        table[name] = {"f1": p["f1"], "far": p["far"], "mar": p["mar"], "precision": p["precision"],
                       "recall": p["recall"], "nab_standard": nab["standard"], "nab_low_fp": nab["reward_low_FP"],
                       "nab_low_fn": nab["reward_low_FN"]}
    return table, seconds / max(samples, 1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", help="SKAB-layout CSV files (none: a synthetic run)")
    ap.add_argument("--fit-rows", type=int, default=400, help="normal rows at the start of each file")
    ap.add_argument("--block", type=int, default=100, help="rows per streamed block")
    ap.add_argument("--nab-window", type=int, default=30, help="NAB window after each change point [rows]; SKAB: 30 s")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args(argv)
    runs = [read_skab(f) for f in args.files] if args.files else [synthetic_run(seed) for seed in range(3)]
    table, per_sample = score_files(runs, args.fit_rows, args.block, args.nab_window)
    data = "synthetic SKAB-like runs (3 seeds)" if not args.files else ", ".join(Path(f).name for f in args.files)
    print(f"data: {data}; fit on the first {args.fit_rows} rows of each; {sum(len(r[0]) for r in runs)} samples")
    print(f"{'detector':14s} {'F1':>6s} {'FAR':>6s} {'MAR':>6s} {'NAB std':>8s} {'lowFP':>7s} {'lowFN':>7s}")
    for name, row in table.items():
        print(f"{name:14s} {row['f1']:6.3f} {row['far']:6.3f} {row['mar']:6.3f} {row['nab_standard']:8.1f} "
              f"{row['nab_low_fp']:7.1f} {row['nab_low_fn']:7.1f}")
    print(f"pca: statistic + contributions + alarm logic {per_sample * 1e6:.1f} us per sample "
          f"(blocks of {args.block})")
    if args.json:
        print(json.dumps({"data": data, "fit_rows": args.fit_rows, "detectors": table,
                          "pca_seconds_per_sample": per_sample}))


if __name__ == "__main__":
    main()
