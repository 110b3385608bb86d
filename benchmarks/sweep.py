"""Sweep overhead: bare model time vs a tracked Hydra sweep (1 and 2 workers), and MLflow cost per child run.

    .venv/bin/python benchmarks/sweep.py [--json] [--configs 8] [--reps 25] [--run-length-h 200]

* sweep_efficiency: bare model time (the same replications, in this process, no Hydra, no MLflow) divided by
  the wall time of ``twinbench-sweep -m`` with 1 worker, MLflow on a sqlite store (created before, as the
  default store is after its first use; the start of the sweep process - imports, Hydra - is included).
  Target >= 0.7.
* parallel_speedup: wall time with ``replications.workers=1`` over ``replications.workers=2``. Target >= 1.7.
* per_child_overhead_ms: median time a job spends in tracking (find the parent, skip check, create the
  child, params, metrics, artifacts), measured inside the job (metric ``tracking_ms``). Target <= 100.

With ``--json`` the last line is one JSON object with these keys and the raw times.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _line_config() -> dict:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from scenarios.sweeps.config import register_sweep_configs

    register_sweep_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return OmegaConf.to_container(compose(config_name="sweep").line, resolve=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--configs", type=int, default=8)
    parser.add_argument("--reps", type=int, default=25)
    parser.add_argument("--run-length-h", type=float, default=200.0, help="observed hours per replication")
    opts = parser.parse_args()

    from scenarios.sweeps.job import replicate_configuration
    from scenarios.sweeps.runs import connect
    from sim.replications import ReplicationPlan

    scales = [round(0.25 + 0.25 * i, 2) for i in range(opts.configs)]
    line = _line_config()
    plan = ReplicationPlan(replications=opts.reps, seed=2026, run_length=opts.run_length_h * 3600.0, warmup=0.0)
    replicate_configuration({**line, "buffer_scale": 1.0}, ReplicationPlan(2, 1, 3600.0))  # JIT cache, imports
    t0 = time.perf_counter()
    for s in scales:
        replicate_configuration({**line, "buffer_scale": s}, plan)
    bare = time.perf_counter() - t0
    per_rep = bare / (opts.configs * opts.reps)

    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        tracker, exp_id = connect(uri, "twinbench-sweeps")  # the store exists, as the default one does
        walls = {}
        for workers in (1, 2):
            cmd = [sys.executable, "-m", "scenarios.sweeps.cli", "-m", f"tracking.uri={uri}", f"sweep.name=bench-w{workers}",
                   f"hydra.sweep.dir={tmp}/multirun-{workers}", "line.buffer_scale=" + ",".join(map(str, scales)),
                   f"replications.n={opts.reps}", f"replications.run_length_h={opts.run_length_h}",
                   "replications.warmup_h=0", f"replications.workers={workers}", "sweep.progress=false"]
            t0 = time.perf_counter()
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
            walls[workers] = time.perf_counter() - t0
            if done.returncode != 0:
                sys.exit(f"sweep failed:\n{done.stderr[-3000:]}")
        runs = tracker.client.search_runs([exp_id], "tags.`twinbench.role` = 'child' and tags.`twinbench.sweep` = 'bench-w1'")
        overhead = statistics.median(r.data.metrics["tracking_ms"] for r in runs)
        model_in_jobs = sum(r.data.metrics["model_seconds"] for r in runs)

    result = {"sweep_efficiency": bare / walls[1], "parallel_speedup": walls[1] / walls[2],
              "per_child_overhead_ms": overhead, "bare_model_s": bare, "model_s_per_replication": per_rep,
              "model_s_inside_jobs": model_in_jobs, "sweep_wall_s_1_worker": walls[1],
              "sweep_wall_s_2_workers": walls[2], "configs": opts.configs, "replications": opts.reps,
              "load_average": os.getloadavg()[0]}
    print(f"{opts.configs} configurations x {opts.reps} replications of {per_rep:.3f} s "
          f"(load average {result['load_average']:.1f})")
    print(f"  bare model            {bare:8.1f} s")
    print(f"  sweep, 1 worker       {walls[1]:8.1f} s   efficiency {result['sweep_efficiency']:.2f} (target >= 0.7)")
    print(f"  sweep, 2 workers      {walls[2]:8.1f} s   speedup    {result['parallel_speedup']:.2f} (target >= 1.7)")
    print(f"  tracking per child    {overhead:8.1f} ms  (target <= 100)")
    if opts.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
