"""FMU component overhead and parameter-sweep cost, next to raw fmpy.

    .venv/bin/python benchmarks/fmu.py            # table
    .venv/bin/python benchmarks/fmu.py --json     # + one JSON object on the last line

The FMUs are built here from the C sources of the FMU tests (``tests/sim/fmu/sources``) with gcc against the FMI
headers fmpy ships, into a temporary folder:

* ``step_overhead_ratio``: per-step cost of :class:`sim.fmu.FmuComponent` (``step`` + ``outputs``) over raw fmpy
  on the same instance type (``FMU2Slave.doStep`` + ``getReal([vr])``), FMI 2 Co-Simulation (``dahlquist2``), best
  of ``--repeat`` runs of ``--steps`` steps each.  Target <= 1.5.  The FMI 3 figure (``feedthrough3``,
  ``doStep`` + ``getFloat64``) is reported too.
* ``sweep_per_run_ms``: a 20-run parameter sweep (k over [0.5, 2], 2000 steps, every output recorded) with one
  instance reused through reset + re-initialization, against ``fmpy.simulate_fmu`` per run (which extracts, loads
  and instantiates each time); ``sweep_speedup`` is their ratio.  Both must give the same final values.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import fmpy  # noqa: E402
from fmpy import read_model_description, simulate_fmu  # noqa: E402
from fmpy.fmi2 import FMU2Slave  # noqa: E402
from fmpy.fmi3 import FMU3Slave  # noqa: E402

from sim.fmu import FmuComponent  # noqa: E402

SOURCES = ROOT / "tests" / "sim" / "fmu" / "sources"
HEADERS = Path(fmpy.__file__).resolve().parent / "c-code"


def build(folder: Path, name: str, sources, platform_dir: str) -> str:
    root = folder / name
    (root / "binaries" / platform_dir).mkdir(parents=True)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", f"-I{HEADERS}", "-o",
                    str(root / "binaries" / platform_dir / f"{name}.so"), *[str(SOURCES / s) for s in sources],
                    "-lm"], check=True)
    shutil.copy(SOURCES / f"{name}.xml", root / "modelDescription.xml")
    target = folder / f"{name}.fmu"
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root).as_posix())
    return str(target)


def raw_per_step(path: str, output: str, steps: int, fmi3: bool) -> float:
    md = read_model_description(path)
    unzipdir = fmpy.extract(path)
    vr = [v.valueReference for v in md.modelVariables if v.name == output]
    cls = FMU3Slave if fmi3 else FMU2Slave
    fmu = cls(guid=md.guid, unzipDirectory=unzipdir, modelIdentifier=md.coSimulation.modelIdentifier)
    fmu.instantiate()
    if fmi3:
        fmu.enterInitializationMode()
        get = fmu.getFloat64
    else:
        fmu.setupExperiment(startTime=0.0)
        fmu.enterInitializationMode()
        get = fmu.getReal
    fmu.exitInitializationMode()
    h = 0.001
    t0 = time.perf_counter()
    t = 0.0
    for _ in range(steps):
        fmu.doStep(currentCommunicationPoint=t, communicationStepSize=h)
        get(vr)
        t += h
    elapsed = time.perf_counter() - t0
    fmu.terminate()
    fmu.freeInstance()
    shutil.rmtree(unzipdir, ignore_errors=True)
    return elapsed / steps


def ours_per_step(path: str, steps: int) -> float:
    with FmuComponent(path) as comp:
        comp.initialize()
        step, outputs = comp.step, comp.outputs
        h = 0.001
        t0 = time.perf_counter()
        t = 0.0
        for _ in range(steps):
            step(t, h)
            outputs()
            t += h
        return (time.perf_counter() - t0) / steps


def sweep(path: str, runs: int, steps: int):
    rates = np.linspace(0.5, 2.0, runs)
    h = 0.005
    t0 = time.perf_counter()
    ours = []
    with FmuComponent(path) as comp:
        for k in rates:
            comp.initialize(parameters={"k": float(k)})
            y = np.empty(steps + 1)
            y[0] = comp.outputs()[0]
            for j in range(steps):
                comp.step(j * h, h)
                y[j + 1] = comp.outputs()[0]
            ours.append(y[-1])
    t_ours = (time.perf_counter() - t0) / runs
    t0 = time.perf_counter()
    theirs = []
    for k in rates:
        result = simulate_fmu(path, start_values={"k": float(k)}, stop_time=steps * h, output_interval=h,
                              output=["x"])
        theirs.append(result["x"][-1])
    t_theirs = (time.perf_counter() - t0) / runs
    return t_ours, t_theirs, np.array(ours), np.array(theirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100_000, help="steps per timing run")
    parser.add_argument("--repeat", type=int, default=5, help="timing runs (the best counts)")
    parser.add_argument("--runs", type=int, default=20, help="runs of the parameter sweep")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on the last line")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="twinbench-fmu-bench-"))
    try:
        fmi2 = build(folder, "dahlquist2", ["dahlquist2.c"], "linux64")
        fmi3 = build(folder, "feedthrough3", ["feedthrough3.c", "fmi3_stubs.c"], "x86_64-linux")
        figures = {}
        for label, path, output, is3 in (("fmi2", fmi2, "x", False), ("fmi3", fmi3, "integral", True)):
            raw = min(raw_per_step(path, output, args.steps, is3) for _ in range(args.repeat))
            ours = min(ours_per_step(path, args.steps) for _ in range(args.repeat))
            figures[label] = (raw, ours)
        t_ours, t_theirs, y_ours, y_theirs = sweep(fmi2, args.runs, 2000)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    (raw2, ours2), (raw3, ours3) = figures["fmi2"], figures["fmi3"]
    res = {
        "step_overhead_ratio": ours2 / raw2,
        "ours_us_per_step_fmi2": ours2 * 1e6,
        "raw_fmpy_us_per_step_fmi2": raw2 * 1e6,
        "step_overhead_ratio_fmi3": ours3 / raw3,
        "ours_us_per_step_fmi3": ours3 * 1e6,
        "raw_fmpy_us_per_step_fmi3": raw3 * 1e6,
        "sweep_per_run_ms": t_ours * 1e3,
        "simulate_fmu_per_run_ms": t_theirs * 1e3,
        "sweep_speedup": t_theirs / t_ours,
        "sweep_same_result": bool(np.allclose(y_ours, y_theirs, rtol=1e-12, atol=0)),
        "steps": args.steps, "repeat": args.repeat, "runs": args.runs,
        "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
    }
    print(f"per step (best of {args.repeat} x {args.steps} steps):")
    print(f"  FMI 2 CS  raw fmpy doStep+getReal     {raw2 * 1e6:6.2f} us   FmuComponent step+outputs "
          f"{ours2 * 1e6:6.2f} us   ratio {res['step_overhead_ratio']:.2f} (target <= 1.5)")
    print(f"  FMI 3 CS  raw fmpy doStep+getFloat64  {raw3 * 1e6:6.2f} us   FmuComponent step+outputs "
          f"{ours3 * 1e6:6.2f} us   ratio {res['step_overhead_ratio_fmi3']:.2f}")
    print(f"{args.runs}-run sweep, 2000 steps each: reused instance {t_ours * 1e3:.2f} ms/run, simulate_fmu "
          f"{t_theirs * 1e3:.2f} ms/run, speed-up {res['sweep_speedup']:.2f}, same results: "
          f"{res['sweep_same_result']}")
    print(f"load average (1 min) {res['load_average_1min']:.2f} on {res['cpu_count']} CPUs")
    if args.json:
        print(json.dumps(res))


if __name__ == "__main__":
    main()
