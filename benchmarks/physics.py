"""Pump-fleet throughput of the physics engine, side by side with C, pure Python, scipy and progpy.

    .venv/bin/python benchmarks/physics.py            # table
    .venv/bin/python benchmarks/physics.py --json     # + one JSON object on the last line

Workload (issue 3): a fleet of N = 1000 centrifugal pumps (sim/physics/pump.py: flow,
impeller wear, strainer fouling, bearing wear), RK4 with dt = 1 s, one simulated day,
constant inputs per asset (speeds spread over 250..310 rad/s).  Figures are
asset-steps per second.  The slow peers run a fraction of the fleet / horizon and are
extrapolated linearly (their cost is linear in both); the fractions are printed.

* C: the same equations and RK4 in ``benchmarks/pump_rk4.c``, ``gcc -O3 -march=native``.
* pure Python: the same kernel's Python function (``pump_rhs.py_func``) in a per-asset RK4 loop.
* scipy: ``solve_ivp`` (RK45) per asset at matching accuracy: its tolerances are
  tightened until its final states agree with a reference (RK4 at 0.05 s) as well
  as ours at 1 s do.
* progpy (optional; ``pip install progpy``): the same equations written as a
  vectorized ``PrognosticsModel`` subclass below, ``simulate_to`` with rk4, dt = 1 s,
  the whole fleet as one vectorized state.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.physics import PUMP, RK4, Fleet  # noqa: E402
from sim.physics.pump import pump_rhs  # noqa: E402

SPEC = PUMP.spec
P0 = SPEC.vector("params")
X0 = np.array([0.03, 0.0, 2000.0, 0.0])


def fleet_inputs(n):
    return np.column_stack([250.0 + 60.0 * np.arange(n) / n, np.full(n, 10.0), np.zeros(n)])


def bench_numba(n, steps):
    Fleet(PUMP, states=X0, n=n, inputs=fleet_inputs(n)).advance(2.0)  # load kernels from the cache
    fleet = Fleet(PUMP, states=X0, n=n, inputs=fleet_inputs(n), integrator=RK4(max_step=1.0))
    t = time.perf_counter()
    fleet.advance(float(steps))
    return time.perf_counter() - t, fleet.states.copy()


def bench_c(n, steps):
    tmp = Path(tempfile.mkdtemp())
    exe, params = tmp / "pump", tmp / "params.txt"
    params.write_text(" ".join(repr(float(v)) for v in P0))
    subprocess.run(["gcc", "-O3", "-march=native", "-o", str(exe), str(ROOT / "benchmarks" / "pump_rk4.c"), "-lm"],
                   check=True)
    out = subprocess.run([str(exe), str(n), str(steps), str(params)], capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), float(out[1])


def _rk4_python(rhs, x, p, u, h, steps):
    for _ in range(steps):
        k1 = rhs(x, p, u)
        k2 = rhs(tuple(xi + 0.5 * h * ki for xi, ki in zip(x, k1)), p, u)
        k3 = rhs(tuple(xi + 0.5 * h * ki for xi, ki in zip(x, k2)), p, u)
        k4 = rhs(tuple(xi + h * ki for xi, ki in zip(x, k3)), p, u)
        x = tuple(xi + h / 6.0 * (a + 2 * b + 2 * c + d) for xi, a, b, c, d in zip(x, k1, k2, k3, k4))
    return x


def bench_python(n_sub, steps_sub):
    rhs = getattr(pump_rhs, "py_func", pump_rhs)
    u_all = fleet_inputs(1000)
    t = time.perf_counter()
    for a in range(n_sub):
        _rk4_python(rhs, tuple(X0), tuple(P0), tuple(u_all[a * (1000 // n_sub)]), 1.0, steps_sub)
    return time.perf_counter() - t


def bench_scipy(n_sub, horizon, target_err, ref_states):
    """solve_ivp RK45 per asset, tolerance tightened until it is as accurate as our RK4 at 1 s."""
    from scipy.integrate import solve_ivp

    rhs = getattr(pump_rhs, "py_func", pump_rhs)
    p = tuple(P0)
    u_all = fleet_inputs(1000)
    idx = [a * (1000 // n_sub) for a in range(n_sub)]
    scale = np.array([1e-2, 1e-6, 1e3, 1e-6])
    for rtol in (1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11):
        t = time.perf_counter()
        errs = []
        for a in idx:
            u = tuple(u_all[a])
            sol = solve_ivp(lambda _t, x: rhs(tuple(x), p, u), (0.0, horizon), X0, method="RK45", rtol=rtol,
                            atol=rtol * scale)
            errs.append(np.max(np.abs(sol.y[:, -1] - ref_states[a]) / scale))
        elapsed = time.perf_counter() - t
        if max(errs) <= target_err:
            return elapsed, rtol, max(errs)
    return elapsed, rtol, max(errs)


def make_progpy_pump():
    from progpy import PrognosticsModel

    names = SPEC.names("params")

    class ProgpyPump(PrognosticsModel):
        """The equations of sim/physics/pump.py written for progpy (vectorized over a fleet)."""

        inputs = list(SPEC.names("inputs"))
        states = list(SPEC.names("states"))
        outputs = ["flow", "discharge_pressure", "shaft_power", "motor_current", "vibration_rms"]
        events = []
        is_vectorized = True
        default_parameters = {**dict(zip(names, P0.tolist())),
                              "x0": dict(zip(SPEC.names("states"), X0.tolist())),
                              "process_noise": 0.0, "measurement_noise": 0.0}

        _last_u = dict(zip(SPEC.names("inputs"), SPEC.vector("inputs").tolist()))

        def dx(self, x, u):
            self._last_u = u
            p = self.parameters
            q, w_i, k_s = x["flow"], x["impeller_wear"], x["strainer_resistance"]
            s = u["shaft_speed"] / p["reference_speed"]
            head = (1 - p["impeller_wear_head_loss"] * w_i) * (
                p["head_coefficient_0"] * s * s + p["head_coefficient_1"] * s * q + p["head_coefficient_2"] * q * np.abs(q))
            system = u["static_head"] + (p["pipe_resistance"] + k_s) * q * np.abs(q)
            off = q / (s * p["bep_flow"]) - 1.0
            return self.StateContainer({
                "flow": 9.80665 * (head - system) / p["pipe_inertance"],
                "impeller_wear": p["impeller_wear_rate"] * s ** 3,
                "strainer_resistance": p["fouling_rate"] * np.abs(q),
                "bearing_wear": p["bearing_wear_rate"] * s * (1 + p["bearing_off_bep_factor"] * off * off),
            })

        def output(self, x):
            # outputs need the inputs; progpy's output(x) has none, so the last inputs are kept by dx
            p, u = self.parameters, self._last_u
            q, w_i, w_b = x["flow"], x["impeller_wear"], x["bearing_wear"]
            s = u["shaft_speed"] / p["reference_speed"]
            head = (1 - p["impeller_wear_head_loss"] * w_i) * (
                p["head_coefficient_0"] * s * s + p["head_coefficient_1"] * s * q + p["head_coefficient_2"] * q * np.abs(q))
            r = q / (s * p["bep_flow"])
            eta = np.clip(p["bep_efficiency"] * (1 - p["impeller_wear_efficiency_loss"] * w_i) * (2 * r - r * r),
                          p["min_efficiency"], 1.0)
            shaft = np.abs(p["density"] * 9.80665 * q * head) / eta
            return self.OutputContainer({
                "flow": q, "discharge_pressure": p["density"] * 9.80665 * head + u["suction_pressure"],
                "shaft_power": shaft,
                "motor_current": shaft / (p["motor_efficiency"] * np.sqrt(3) * p["line_voltage"] * p["power_factor"]),
                "vibration_rms": p["vibration_base"] * s * s + p["vibration_wear_gain"] * w_b * s})

    return ProgpyPump


def bench_progpy(n, steps):
    try:
        model_cls = make_progpy_pump()
    except ImportError:
        return None, None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = model_cls(integration_method="rk4")
    u = fleet_inputs(n)
    load = m.InputContainer({k: u[:, i] for i, k in enumerate(SPEC.names("inputs"))})
    x0 = m.StateContainer({k: np.full(n, X0[i]) for i, k in enumerate(SPEC.names("states"))})
    t = time.perf_counter()
    res = m.simulate_to(float(steps), lambda t, x=None: load, x=x0, dt=1.0, save_freq=float(steps),
                        integration_method="rk4")
    elapsed = time.perf_counter() - t
    final = np.array([np.asarray(res.states[-1][k]).ravel() for k in SPEC.names("states")]).T
    return elapsed, final


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="fleet size")
    parser.add_argument("--hours", type=float, default=24.0, help="simulated time per asset [h]")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on the last line")
    args = parser.parse_args(argv)
    n, steps = args.n, int(args.hours * 3600)
    total = n * steps
    t_nb, x_nb = bench_numba(n, steps)
    t_c, sum_c = bench_c(n, steps)
    sum_nb = float(np.sum(x_nb / np.array([1.0, 1.0, 1e3, 1.0])))
    # pure Python: 10 assets x 1 h, extrapolated
    n_py, steps_py = 10, min(steps, 3600)
    t_py = bench_python(n_py, steps_py) * (n / n_py) * (steps / steps_py)
    # accuracy reference for the scipy comparison: RK4 at 0.05 s on the sampled assets
    n_sp = 10
    idx = [a * (1000 // n_sp) for a in range(n_sp)]
    ref_fleet = Fleet(PUMP, states=X0, n=1000, inputs=fleet_inputs(1000), integrator=RK4(max_step=0.05))
    ref_fleet.advance(float(steps))
    ours_err = float(np.max(np.abs(x_nb[idx] - ref_fleet.states[idx]) / np.array([1e-2, 1e-6, 1e3, 1e-6]))) \
        if n == 1000 else 1e-9
    t_sp, rtol_sp, err_sp = bench_scipy(n_sp, float(steps), max(ours_err, 1e-12), ref_fleet.states)
    t_sp *= n / n_sp
    # progpy: the whole fleet, 1 h, extrapolated
    steps_pp = min(steps, 3600)
    t_pp, x_pp = bench_progpy(n, steps_pp)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from sim.physics import PUMP, Fleet\nFleet(PUMP).advance(1.0)"],
                   check=True, cwd=ROOT)
    warm = time.perf_counter() - t0
    res = {
        "model": "centrifugal_pump", "n_assets": n, "steps_per_asset": steps,
        "fleet_steps_per_s": total / t_nb,
        "c_steps_per_s": total / t_c,
        "ratio_vs_c": t_c / t_nb,
        "ratio_vs_python": t_py / t_nb,
        "ratio_vs_scipy": t_sp / t_nb,
        "scipy_rtol_needed": rtol_sp,
        "ratio_vs_progpy": (t_pp * steps / steps_pp) / t_nb if t_pp else None,
        "progpy_steps_per_s": n * steps_pp / t_pp if t_pp else None,
        "warm_start_s": warm,
        "same_result_as_c": bool(math.isclose(sum_nb, sum_c, rel_tol=1e-9)),
        "cpu_count": os.cpu_count(),
    }
    print(f"pump fleet: N = {n}, RK4 dt = 1 s, {args.hours:g} h ({total:.3g} asset-steps)")
    print(f"  numba fleet kernel      {t_nb:8.2f} s  {res['fleet_steps_per_s']:10.3g} steps/s")
    print(f"  C gcc -O3               {t_c:8.2f} s  {res['c_steps_per_s']:10.3g} steps/s  ours/C = {res['ratio_vs_c']:.2f}")
    print(f"  pure Python (10 assets x {steps_py} s, extrapolated) {t_py:9.0f} s  ratio {res['ratio_vs_python']:.0f}")
    print(f"  solve_ivp RK45 rtol {rtol_sp:g} ({n_sp} assets, extrapolated; max error {err_sp:.1e} vs ours "
          f"{ours_err:.1e}) {t_sp:8.0f} s  ratio {res['ratio_vs_scipy']:.0f}")
    if t_pp:
        print(f"  progpy vectorized rk4 (whole fleet x {steps_pp} s, extrapolated) {t_pp * steps / steps_pp:8.1f} s  "
              f"{res['progpy_steps_per_s']:.3g} steps/s  ratio {res['ratio_vs_progpy']:.1f}")
    else:
        print("  progpy not installed (pip install progpy): ratio_vs_progpy skipped")
    print(f"  interpreter start + import + first step, warm cache: {warm:.2f} s")
    if args.json:
        print(json.dumps(res))


if __name__ == "__main__":
    main()
