"""Queueing models built from the library's own parts (used by the acceptance tests)."""

import simpy

from sim.processes import (Crew, EntityBuffer, Exponential, FailureMode, Machine, MachineParams, Normal, Sampler, Sink,
                           SystemStats, machine_process, side_work, source)


class MMc:
    """M/M/c: Poisson arrivals, c servers; service = work (Exp(1), drawn at arrival) / mu."""

    def __init__(self, streams, lam=2.4, mu=1.0, c=3, *, capacity=float("inf"), overflow="block"):
        env = self.env = simpy.Environment()
        self.stats = SystemStats(env)
        self.queue = EntityBuffer(env, capacity, overflow=overflow, stats=self.stats, name="queue")
        sink = Sink(env, self.stats)
        self.servers = [Machine(env, MachineParams(f"server{k}", work_time=1.0 / mu), streams=streams)
                        for k in range(c)]
        env.process(source(env, self.queue, Sampler(Exponential(1.0 / lam), streams("arrivals")),
                           stats=self.stats, work=Sampler(Exponential(1.0), streams("service_work"))))
        for m in self.servers:
            env.process(machine_process(env, m, inlet=self.queue, outlet=sink))

    @property
    def now(self):
        return self.env.now

    def run(self, until):
        self.env.run(until=until)

    def reset_statistics(self):
        self.stats.reset_statistics()
        self.queue.reset_statistics()
        for m in self.servers:
            m.reset_statistics()

    def kpis(self):
        k = self.stats.kpis()
        k["wait"] = self.queue.wait.value()
        k["queue"] = self.queue.content.value()
        busy = sum(m.recorder.durations()["running"] for m in self.servers)
        k["utilisation"] = busy / (len(self.servers) * self.servers[0].recorder.observed)
        return k


class Shop:
    """The machine shop: n machines, Exp(mttf) operating time to failure, Exp(mttr) repair by one of
    *repairmen*, who preempt their side jobs for it; the machines then see an M/M/c//n repair queue."""

    def __init__(self, streams, n=50, mttf=1000.0, mttr=30.0, repairmen=3):
        env = self.env = simpy.Environment()
        self.crew = Crew(env, repairmen)
        mode = FailureMode("breakdown", scale=mttf, repair_time=Exponential(mttr))
        params = [MachineParams(f"machine{k}", cycle_time=Normal(10.0, 2.0), failure_modes=(mode,)) for k in range(n)]
        self.machines = [Machine(env, p, streams=streams, crew=self.crew) for p in params]
        for m in self.machines:
            env.process(machine_process(env, m))
        for _ in range(repairmen):
            env.process(side_work(env, self.crew, 30.0))

    @property
    def now(self):
        return self.env.now

    def run(self, until):
        self.env.run(until=until)

    def reset_statistics(self):
        self.crew.reset_statistics()
        for m in self.machines:
            m.reset_statistics()

    def kpis(self):
        ks = [m.kpis() for m in self.machines]
        failures = sum(k["failures"] for k in ks)
        return {"availability": sum(k["availability"] for k in ks) / len(ks),
                "failure_rate": failures / self.machines[0].recorder.observed,
                "downtime_per_failure": sum(k["mttr"] * k["failures"] for k in ks) / failures,
                "preemptions": float(self.crew.preemptions)}


def machine_repair_availability(n=50, mttf=1000.0, mttr=30.0, c=3):
    """Availability of the finite-source M/M/c//n repair queue (birth-death chain)."""
    lam, mu = 1.0 / mttf, 1.0 / mttr
    p = [1.0]
    for k in range(1, n + 1):
        p.append(p[-1] * (n - k + 1) * lam / (mu * min(k, c)))
    total = sum(p)
    down = sum(k * pk for k, pk in enumerate(p)) / total
    return 1.0 - down / n
