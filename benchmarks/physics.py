"""Fleet throughput of the motor thermal kernel, side by side with C, pure Python and scipy.

    python benchmarks/physics.py            # table
    python benchmarks/physics.py --json     # + one JSON object on the last line

Workload: a fleet of N motors, RK4 with dt = 1 s, one simulated day, constant inputs
per asset.  Figures are asset-steps per second (one asset advanced by one step).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.physics import MOTOR_THERMAL, RK4, Fleet  # noqa: E402
from sim.physics.motor_thermal import motor_thermal_rhs  # noqa: E402

C_SOURCE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static void rhs(const double *x, const double *p, const double *u, double *d) {
    double q = (x[0] - x[1]) / p[0];
    d[0] = (p[4] * u[0] * u[0] - q) / p[1];
    d[1] = (q - (x[1] - u[1]) / p[2]) / p[3];
}
int main(int argc, char **argv) {
    int n = atoi(argv[1]); long steps = atol(argv[2]); double h = 1.0;
    double *x = malloc(sizeof(double) * 2 * n), *p = malloc(sizeof(double) * 5 * n), *u = malloc(sizeof(double) * 2 * n);
    for (int a = 0; a < n; a++) {
        x[2*a] = 300.0; x[2*a+1] = 299.0;
        p[5*a] = 0.02; p[5*a+1] = 3000.0; p[5*a+2] = 0.06; p[5*a+3] = 40000.0; p[5*a+4] = 0.9;
        u[2*a] = 10.0 + 20.0 * a / n; u[2*a+1] = 298.15;
    }
    struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
    double k1[2], k2[2], k3[2], k4[2], tmp[2];
    for (long s = 0; s < steps; s++) {
        for (int a = 0; a < n; a++) {
            double *xa = x + 2*a, *pa = p + 5*a, *ua = u + 2*a;
            rhs(xa, pa, ua, k1);
            for (int i = 0; i < 2; i++) tmp[i] = xa[i] + 0.5*h*k1[i];
            rhs(tmp, pa, ua, k2);
            for (int i = 0; i < 2; i++) tmp[i] = xa[i] + 0.5*h*k2[i];
            rhs(tmp, pa, ua, k3);
            for (int i = 0; i < 2; i++) tmp[i] = xa[i] + h*k3[i];
            rhs(tmp, pa, ua, k4);
            for (int i = 0; i < 2; i++) xa[i] += h/6.0*(k1[i] + 2*k2[i] + 2*k3[i] + k4[i]);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double sum = 0; for (int a = 0; a < 2*n; a++) sum += x[a];
    printf("%.9f %.17g\n", (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec), sum);
    return 0;
}
"""


def fleet_inputs(n):
    return np.column_stack([10.0 + 20.0 * np.arange(n) / n, np.full(n, 298.15)])


def bench_numba(n, steps):
    fleet = Fleet(MOTOR_THERMAL, states=np.array([300.0, 299.0]), n=n, inputs=fleet_inputs(n),
                  integrator=RK4(max_step=1.0))
    fleet.advance(10.0)  # compile / load from cache
    fleet = Fleet(MOTOR_THERMAL, states=np.array([300.0, 299.0]), n=n, inputs=fleet_inputs(n),
                  integrator=RK4(max_step=1.0))
    t = time.perf_counter()
    fleet.advance(float(steps))
    return time.perf_counter() - t, float(fleet.states.sum())


def bench_c(n, steps):
    tmp = Path(tempfile.mkdtemp())
    src, exe = tmp / "motor.c", tmp / "motor"
    src.write_text(C_SOURCE)
    subprocess.run(["gcc", "-O3", "-march=native", "-o", str(exe), str(src)], check=True)
    out = subprocess.run([str(exe), str(n), str(steps)], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def bench_python(n, steps):
    rhs = getattr(motor_thermal_rhs, "py_func", motor_thermal_rhs)
    p = tuple(MOTOR_THERMAL.spec.vector("params"))
    u_all = fleet_inputs(n)
    t = time.perf_counter()
    for a in range(n):
        x = (300.0, 299.0)
        u = tuple(u_all[a])
        for _ in range(steps):
            k1 = rhs(x, p, u)
            k2 = rhs((x[0] + 0.5 * k1[0], x[1] + 0.5 * k1[1]), p, u)
            k3 = rhs((x[0] + 0.5 * k2[0], x[1] + 0.5 * k2[1]), p, u)
            k4 = rhs((x[0] + k3[0], x[1] + k3[1]), p, u)
            x = (x[0] + (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0]) / 6.0,
                 x[1] + (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1]) / 6.0)
    return time.perf_counter() - t


def bench_scipy(n, horizon):
    from scipy.integrate import solve_ivp

    rhs = getattr(motor_thermal_rhs, "py_func", motor_thermal_rhs)
    p = MOTOR_THERMAL.spec.vector("params")
    u_all = fleet_inputs(n)
    t = time.perf_counter()
    for a in range(n):
        def f(_t, x, u=tuple(u_all[a])):
            return rhs(x, p, u)
        solve_ivp(f, (0.0, horizon), [300.0, 299.0], method="RK45", rtol=1e-8, atol=1e-8)
    return time.perf_counter() - t


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="fleet size")
    parser.add_argument("--hours", type=float, default=24.0, help="simulated time per asset")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on the last line")
    args = parser.parse_args(argv)
    steps = int(args.hours * 3600)
    total = args.n * steps
    t_nb, sum_nb = bench_numba(args.n, steps)
    t_c, sum_c = bench_c(args.n, steps)
    n_py = max(1, args.n // 100)
    py_steps = min(steps, 3600)
    t_py = bench_python(n_py, py_steps) * (args.n / n_py) * (steps / py_steps)
    n_sp = max(1, args.n // 100)
    t_sp = bench_scipy(n_sp, float(steps)) * (args.n / n_sp)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import numpy as np\nfrom sim.physics import MOTOR_THERMAL, Fleet\n"
                    "Fleet(MOTOR_THERMAL).advance(1.0)"], check=True, cwd=Path(__file__).resolve().parents[1])
    warm = time.perf_counter() - t0
    res = {
        "model": "motor_thermal", "n_assets": args.n, "steps_per_asset": steps,
        "fleet_steps_per_s": total / t_nb,
        "c_steps_per_s": total / t_c,
        "ratio_vs_c": t_c / t_nb,
        "ratio_vs_python": t_py / t_nb,
        "ratio_vs_scipy": t_sp / t_nb,
        "warm_start_s": warm,
        "same_result_as_c": bool(math.isclose(sum_nb, sum_c, rel_tol=1e-12)),
        "cpu_count": os.cpu_count(),
    }
    print(f"motor thermal fleet: N = {args.n}, RK4 dt = 1 s, {args.hours:g} h ({total:.3g} asset-steps)")
    print(f"  numba fleet kernel   {t_nb:8.3f} s   {res['fleet_steps_per_s']:12.4g} steps/s")
    print(f"  C (gcc -O3)          {t_c:8.3f} s   {res['c_steps_per_s']:12.4g} steps/s   ratio ours/C = {res['ratio_vs_c']:.2f}")
    print(f"  pure Python (extrap) {t_py:8.1f} s   ratio = {res['ratio_vs_python']:.0f}x")
    print(f"  scipy solve_ivp RK45 rtol 1e-8 (extrap) {t_sp:8.1f} s   ratio = {res['ratio_vs_scipy']:.0f}x")
    print(f"  import + first step with warm cache: {warm:.2f} s (includes interpreter start)")
    if args.json:
        print(json.dumps(res))


if __name__ == "__main__":
    main()
