"""Discrete-event throughput of the process library, side by side with raw SimPy, and the reference line.

    python benchmarks/des.py                       # table
    python benchmarks/des.py --json                # + one JSON object on the last line
    python benchmarks/des.py --horizon 50000 --customers 50000 --line-days 30   # quick

Figures (CPU seconds, ``time.process_time``, median of ``--repeat`` runs):

* ``ratio_vs_simpy`` - the machine shop (50 machines, part time Normal(10, 2), time to failure Exp(1000),
  repair Exp(30) by one of 3 repairmen who otherwise do preemptible 30-unit side jobs) built from
  ``sim.processes`` (Machine, FailureMode, Crew, side_work) divided by the same model in raw SimPy
  (SimPy's machine-shop example: a breakdown process interrupting the machine, ``PreemptiveResource``,
  ``random`` module), same horizon.  Lower is better; target <= 1.3.
* ``customers_per_s`` - M/M/1 (lambda 0.8, mu 1) through Source -> EntityBuffer -> Machine -> Sink with
  waiting-time, WIP and lead-time statistics on; ``customers_ratio_vs_simpy`` = ours / raw SimPy
  (process per customer + ``Resource``) measured in the same run (> 1: we are faster).
* ``line_year_s`` - the reference bottling line (scenarios/reference/line.py: 4 flow stations and buffers, 4-motor
  thermal fleet at 1 s RK4 steps with trip events, crew, spares, time-based maintenance, shifts), one
  simulated year, including building the twin; ``line_year_with_pump_s`` the same with the filler's
  centrifugal pump (``reference_line_spec(pump=True)``, 1 s RK4) and its vibration-driven bearing failures.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import simpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.processes import (Crew, EntityBuffer, Exponential, FailureMode, Machine, MachineParams, Normal,  # noqa: E402
                           Sampler, Sink, SystemStats, machine_process, side_work, source)
from sim.streams import RandomStreams  # noqa: E402

N_MACHINES, MTTF, MTTR, REPAIRMEN, JOB = 50, 1000.0, 30.0, 3, 30.0


# ------------------------------------------------------------------ raw SimPy
def shop_simpy(horizon: float, seed: int = 1) -> dict:
    rng = random.Random(seed)
    env = simpy.Environment()
    repairmen = simpy.PreemptiveResource(env, capacity=REPAIRMEN)
    machines = []

    class RawMachine:
        def __init__(self):
            self.parts = 0
            self.broken = False
            self.down = 0.0
            self.process = env.process(self.working())
            env.process(self.break_machine())

        def working(self):
            while True:
                done_in = max(0.0, rng.normalvariate(10.0, 2.0))
                while done_in:
                    start = env.now
                    try:
                        yield env.timeout(done_in)
                        done_in = 0
                    except simpy.Interrupt:
                        self.broken = True
                        t_fail = env.now
                        done_in -= env.now - start
                        with repairmen.request(priority=1) as req:
                            yield req
                            yield env.timeout(rng.expovariate(1.0 / MTTR))
                        self.broken = False
                        self.down += env.now - t_fail
                self.parts += 1

        def break_machine(self):
            while True:
                yield env.timeout(rng.expovariate(1.0 / MTTF))
                if not self.broken:
                    self.process.interrupt()

    def other_jobs():
        while True:
            done_in = JOB
            while done_in:
                with repairmen.request(priority=2) as req:
                    yield req
                    start = env.now
                    try:
                        yield env.timeout(done_in)
                        done_in = 0
                    except simpy.Interrupt:
                        done_in -= env.now - start

    machines = [RawMachine() for _ in range(N_MACHINES)]
    for _ in range(REPAIRMEN):
        env.process(other_jobs())
    env.run(until=horizon)
    return {"parts": sum(m.parts for m in machines),
            "availability": 1.0 - sum(m.down for m in machines) / (N_MACHINES * horizon)}


def mm1_simpy(customers: int, seed: int = 1) -> dict:
    rng = random.Random(seed)
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=1)
    waits = []

    def customer():
        arrive = env.now
        with server.request() as req:
            yield req
            waits.append(env.now - arrive)
            yield env.timeout(rng.expovariate(1.0))

    def arrivals():
        for _ in range(customers):
            yield env.timeout(rng.expovariate(0.8))
            env.process(customer())

    env.process(arrivals())
    env.run()
    return {"customers": len(waits), "mean_wait": sum(waits) / len(waits)}


# ------------------------------------------------------------------ ours
def shop_ours(horizon: float, seed: int = 1) -> dict:
    env = simpy.Environment()
    streams = RandomStreams(seed, 0)
    crew = Crew(env, REPAIRMEN)
    mode = FailureMode("breakdown", scale=MTTF, shape=1.0, repair_time=Exponential(MTTR))
    machines = []
    for k in range(N_MACHINES):
        m = Machine(env, MachineParams(f"machine{k}", cycle_time=Normal(10.0, 2.0), failure_modes=(mode,)),
                    streams=streams, crew=crew)
        env.process(machine_process(env, m))
        machines.append(m)
    for _ in range(REPAIRMEN):
        env.process(side_work(env, crew, JOB))
    env.run(until=horizon)
    return {"parts": sum(m.output for m in machines),
            "availability": sum(m.kpis()["availability"] for m in machines) / N_MACHINES}


def mm1_ours(customers: int, seed: int = 1) -> dict:
    env = simpy.Environment()
    streams = RandomStreams(seed, 0)
    stats = SystemStats(env)
    queue = EntityBuffer(env, name="queue")
    server = Machine(env, MachineParams("server", work_time=1.0), streams=streams)
    env.process(source(env, queue, Sampler(Exponential(1.25), streams("arrivals")), stats=stats,
                       work=Sampler(Exponential(1.0), streams("work")), limit=customers))
    env.process(machine_process(env, server, inlet=queue, outlet=Sink(env, stats)))
    env.run()
    return {"customers": stats.departures, "mean_wait": queue.wait.value()}


def line_year(days: float, pump: bool = False) -> dict:
    from scenarios.reference.line import build_reference_line, reference_line_spec
    twin = build_reference_line(RandomStreams(1, 0), reference_line_spec(pump=pump))
    twin.run(days * 86400.0)
    k = twin.kpis()
    return {"throughput_per_h": k["throughput"] * 3600.0, "oee": k["oee"], "trips": k["trips"],
            "advances": twin.cosim.n_advances}


def cpu(fn, *args, repeat: int = 1):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn(*args)
        times.append(time.process_time() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--horizon", type=float, default=500_000.0, help="machine-shop horizon [time units]")
    parser.add_argument("--customers", type=int, default=200_000, help="M/M/1 customers")
    parser.add_argument("--line-days", type=float, default=365.0, help="reference line: simulated days")
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure (median)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on the last line")
    args = parser.parse_args()

    line_year(0.1)  # warm numba's cache and imports outside the timings
    t_simpy, raw = cpu(shop_simpy, args.horizon, repeat=args.repeat)
    t_ours, ours = cpu(shop_ours, args.horizon, repeat=args.repeat)
    c_simpy, raw_mm1 = cpu(mm1_simpy, args.customers, repeat=args.repeat)
    c_ours, ours_mm1 = cpu(mm1_ours, args.customers, repeat=args.repeat)
    t_line, line = cpu(line_year, args.line_days)
    t_pump, _ = cpu(line_year, args.line_days, True)
    res = {
        "shop_horizon": args.horizon,
        "shop_simpy_cpu_s": round(t_simpy, 3), "shop_ours_cpu_s": round(t_ours, 3),
        "ratio_vs_simpy": round(t_ours / t_simpy, 3),
        "shop_parts_simpy": raw["parts"], "shop_parts_ours": ours["parts"],
        "shop_availability_simpy": round(raw["availability"], 5),
        "shop_availability_ours": round(ours["availability"], 5),
        "customers": args.customers,
        "customers_per_s": round(args.customers / c_ours), "customers_per_s_simpy": round(args.customers / c_simpy),
        "customers_ratio_vs_simpy": round(c_simpy / c_ours, 3),
        "mm1_wait_ours": round(ours_mm1["mean_wait"], 3), "mm1_wait_simpy": round(raw_mm1["mean_wait"], 3),
        "line_days": args.line_days, "line_year_s": round(t_line * 365.0 / args.line_days, 2),
        "line_throughput_per_h": round(line["throughput_per_h"], 1), "line_oee": round(line["oee"], 4),
        "line_year_with_pump_s": round(t_pump * 365.0 / args.line_days, 2),
    }
    width = max(len(k) for k in res)
    for key, value in res.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        print(json.dumps(res))


if __name__ == "__main__":
    main()
