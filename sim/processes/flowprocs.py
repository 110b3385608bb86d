"""Processes of a flow station: jams, failures and repairs, motor trips, maintenance, shifts.

Each process is a generator function over a
:class:`~sim.processes.flowstation.FlowStation` that keeps the activity it is
in (a jam until t, a repair with work left ...) on the station object.  A
process started on a station restored from a snapshot therefore resumes that
activity first - which is how a twin is rebuilt from plain data.
"""

from __future__ import annotations

import simpy

from sim.processes.crew import Job
from sim.processes.shifts import ShiftCalendar, calendar_process

__all__ = ["jam_process", "failure_process", "trip_process", "start_maintenance", "start_station",
           "line_calendar"]


def jam_process(env: simpy.Environment, station):
    """Micro-stops on running time: jam, cleared after ``jam_duration``."""
    line, i = station.line, station.index
    interval = station.samplers["jam_interval"]
    duration = station.samplers["jam_duration"]
    while True:
        if station.jam_end is None:
            yield line.usage_at(i, station.jam_due)
            station.jams += 1
            station.jam_end = env.now + duration()
        station.stop("jammed")
        yield env.timeout(max(0.0, station.jam_end - env.now))
        station.jam_end = None
        station.resume("jammed")
        station.jam_due = station.usage + interval()


def failure_process(env: simpy.Environment, station):
    """Failure candidates on running time (thinned when physics-driven); repair with crew and spares."""
    line, i = station.line, station.index
    while True:
        if station.repair is None:
            k = min(range(len(station.clocks)), key=lambda j: station.clocks[j].due)
            clock = station.clocks[k]
            due, renewed = line.usage_at(i, clock.due), station.renewal()
            yield due | renewed
            if not due.triggered:
                line.cancel(i, due)
                continue
            if not clock.check():
                continue
            station.failures += 1
            repair_time = station.samplers[f"{clock.mode.name}.repair"]()
            station.repair = {"mode": k, "phase": "part", "job": Job(repair_time)}
        yield from _repair(env, station)


def _repair(env, station):
    rep = station.repair
    clock = station.clocks[rep["mode"]]
    mode = clock.mode
    job = rep["job"]
    station.stop("down")
    if rep["phase"] == "part" and mode.spare_part is not None:
        yield from station.spares[mode.spare_part].take()
        station.cost += mode.part_cost
    rep["phase"] = "crew"
    crew = station.crew
    if crew is None:
        station.stop("in_repair")
        job.started = env.now
        yield env.timeout(job.remaining)
        station.resume("in_repair")
    else:
        work = job.remaining
        yield from crew.work(work, kind="repair", priority=station.params.repair_priority, job=job,
                             on_start=lambda: station.stop("in_repair"), on_stop=lambda: station.resume("in_repair"))
        station.cost += work * crew.labour_rate
    clock.after_repair(station.usage)
    if mode.as_good_as_new and len(station.clocks) == 1:
        station.renew()
    station.repair = None
    station.resume("down")


def trip_process(env: simpy.Environment, station):
    """Motor over-temperature protection: the physics' trip event stops the station until reset."""
    motor, physics, a = station.params.motor, station.physics, station.asset
    while True:
        if not station.tripped:
            yield physics.wait_for(a, motor.trip_event)
            station.trips += 1
            station.tripped = True
        station.stop("tripped")
        yield physics.wait_for(a, motor.reset_event)
        station.tripped = False
        station.resume("tripped")


def start_maintenance(station, order) -> simpy.Event:
    """Start maintenance *order* on *station* (if none is running); the event succeeds when it is done."""
    if station.maintenance is None:
        station.maintenance = {"job": Job(order.duration), "cost": order.cost, "reason": order.reason,
                               "done": station.env.event()}
        station.env.process(_maintain(station.env, station))
    return station.maintenance["done"]


def _maintain(env, station):
    m = station.maintenance
    job = m["job"]
    station.stop("in_maintenance")
    crew = station.crew
    work = job.remaining
    if crew is None:
        job.started = env.now
        yield env.timeout(work)
    else:
        yield from crew.work(work, kind="maintenance", job=job)
        station.cost += work * crew.labour_rate
    station.cost += m["cost"]
    station.maintenances += 1
    station.renew()
    station.maintenance = None
    station.resume("in_maintenance")
    m["done"].succeed()


def start_station(env: simpy.Environment, station) -> None:
    """Start every process *station* needs (resuming restored activities)."""
    if "jam_interval" in station.samplers:
        env.process(jam_process(env, station))
    if station.clocks:
        env.process(failure_process(env, station))
    motor = station.params.motor
    if motor is not None and motor.trip_event is not None:
        env.process(trip_process(env, station))
    if station.maintenance is not None:
        env.process(_maintain(env, station))


def line_calendar(env: simpy.Environment, stations, calendar: ShiftCalendar):
    """Process: every station in *stations* is ``off_shift`` outside *calendar*."""
    def start():
        for st in stations:
            st.resume("off_shift")

    def end():
        for st in stations:
            st.stop("off_shift")

    return calendar_process(env, calendar, start, end)
