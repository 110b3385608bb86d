"""Crews: priorities, preemption of exactly one job, preempt-resume, shifts, spare parts."""

import pytest
import simpy

from sim.exceptions import ConfigurationError
from sim.processes import Crew, ShiftCalendar, SpareParts, crew_calendar


def test_a_preempting_request_bumps_exactly_one_claimer():
    env = simpy.Environment()
    crew = Crew(env, 3)
    bumped, done = [], []

    def low(env, k):
        yield env.timeout(float(k))
        t = yield from crew.work(100.0, kind="other", on_stop=lambda: bumped.append((k, env.now)))
        done.append((k, env.now, t))

    def urgent(env):
        yield env.timeout(10.0)
        yield from crew.work(20.0, kind="repair")
        done.append(("repair", env.now, None))

    for k in range(3):
        env.process(low(env, k))
    env.process(urgent(env))
    env.run()
    # only the most recent low-priority claimer (k = 2, since t = 2) was bumped, once, at t = 10; it resumed
    assert crew.preemptions == 1
    assert [b for b in bumped if b[1] == 10.0] == [(2, 10.0)]
    assert ("repair", 30.0, None) in done
    finish = {k: t for k, t, _ in done if k != "repair"}
    assert (finish[0], finish[1]) == (100.0, 101.0)
    assert finish[2] == pytest.approx(122.0)  # 8 done before, 92 left after the repair: preempt-resume
    assert crew.work_time == {"repair": 20.0, "maintenance": 0.0, "other": 300.0}


def test_equal_priorities_wait_first_come_first_served_without_preemption():
    env = simpy.Environment()
    crew = Crew(env, 1)
    order = []

    def job(env, name, delay):
        yield env.timeout(delay)
        yield from crew.work(10.0, kind="repair")
        order.append((name, env.now))

    for name, delay in (("a", 0.0), ("b", 1.0), ("c", 2.0)):
        env.process(job(env, name, delay))
    env.run()
    assert order == [("a", 10.0), ("b", 20.0), ("c", 30.0)]
    assert crew.preemptions == 0
    assert crew.busy.value() == pytest.approx(1.0)


@pytest.mark.parametrize("rule,finish", [("wait", 50.0), ("preempt", 110.0)])
def test_crew_shift_rules(rule, finish):
    # working 0-40 and 100-140 of every 200 s; one job of 50 s starts at 0
    env = simpy.Environment()
    crew = Crew(env, 1)
    cal = ShiftCalendar(((0.0, 40.0), (100.0, 140.0)), period=200.0)
    env.process(crew_calendar(env, crew, cal, rule=rule))
    ends = []

    def job(env):
        yield from crew.work(50.0, kind="repair", priority=1)
        ends.append(env.now)

    env.process(job(env))
    env.run(until=400.0)
    # wait: the member finishes (0-50) then leaves; preempt: bumped at 40, resumes at 100 for the last 10 s
    assert ends == [pytest.approx(finish)]


def test_spare_parts_reorder_point_and_lead_time():
    env = simpy.Environment()
    stock = SpareParts(env, "bearing", initial=1, reorder_point=0, order_quantity=2, lead_time=100.0)
    got = []

    def demand(env, at):
        yield env.timeout(at)
        yield from stock.take()
        got.append(env.now)

    for at in (10.0, 20.0, 30.0, 200.0):
        env.process(demand(env, at))
    env.run()
    # t=10 takes the only part: position 0 <= 0 -> order of 2 (arrives 110); t=20 waits (position 1);
    # t=30 waits, position 0 -> second order (arrives 130); both waiters served at 110; t=200 takes from stock
    assert got == [10.0, 110.0, 110.0, 200.0]
    assert stock.orders == 2 and stock.stockouts == 2 and stock.stock == 1
    assert stock.wait.value() == pytest.approx((0 + 90 + 80 + 0) / 4)


@pytest.mark.parametrize("kwargs,match", [
    (dict(initial=-1, reorder_point=0, order_quantity=1, lead_time=10.0), "initial"),
    (dict(initial=1, reorder_point=0, order_quantity=0, lead_time=10.0), "order_quantity"),
    (dict(initial=1, reorder_point=0, order_quantity=1, lead_time=0.0), "lead_time"),
    (dict(initial=1, reorder_point=0, order_quantity=1, lead_time=-5.0), "lead_time"),
])
def test_bad_spare_part_settings_are_named(kwargs, match):
    with pytest.raises(ConfigurationError, match=match):
        SpareParts(simpy.Environment(), "x", **kwargs)


@pytest.mark.parametrize("size", [0, -2, 1.5])
def test_bad_crew_size_is_named(size):
    with pytest.raises(ConfigurationError, match="size"):
        Crew(simpy.Environment(), size)


def test_shift_calendar_changes_and_bad_shifts():
    cal = ShiftCalendar.daily(6 * 3600.0, 22 * 3600.0, days=range(5))
    assert cal.is_on(7 * 3600.0) and not cal.is_on(23 * 3600.0) and not cal.is_on(5 * 86400.0 + 8 * 3600.0)
    assert cal.next_change(0.0) == 6 * 3600.0
    assert cal.next_change(4 * 86400.0 + 23 * 3600.0) == 7 * 86400.0 + 6 * 3600.0  # over the weekend
    assert cal.working_time(0.0, 7 * 86400.0) == pytest.approx(5 * 16 * 3600.0)
    assert ShiftCalendar(((0.0, 50.0), (50.0, 100.0)), period=100.0).always_on
    with pytest.raises(ConfigurationError, match="overlaps"):
        ShiftCalendar(((0.0, 50.0), (40.0, 60.0)), period=100.0)
    with pytest.raises(ConfigurationError, match="start < end"):
        ShiftCalendar(((10.0, 10.0),), period=100.0)
    with pytest.raises(ConfigurationError, match="rule"):
        next(crew_calendar(simpy.Environment(), Crew(simpy.Environment(), 1), cal, rule="ignore"))
