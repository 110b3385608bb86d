"""Flow lines: rates and levels continuous between events, buffer empty/full scheduled analytically."""

import numpy as np
import pytest
import simpy

from sim.exceptions import ConfigurationError
from sim.processes import (Crew, Exponential, FailureMode, FlowBufferParams, FlowLine, FlowStation, FlowStationParams,
                           LogNormal, ShiftCalendar, line_calendar, start_station)
from sim.streams import RandomStreams

RATES = (6.0, 5.0, 5.5, 6.0)


def disturbed_line(env, *, seed=1, capacity=300.0, crew_size=2):
    streams = RandomStreams(seed)
    crew = Crew(env, crew_size)
    params = [FlowStationParams(f"s{k}", rate=r, max_speed=1.2, motor=None, jam_interval=Exponential(900.0),
                                jam_duration=Exponential(60.0), scrap_fraction=0.01,
                                failure_modes=(FailureMode("f", scale=20000.0, shape=1.4,
                                                           repair_time=LogNormal(1200.0, 0.5)),))
              for k, r in enumerate(RATES)]
    stations = [FlowStation(env, p, streams=streams, crew=crew) for p in params]
    line = FlowLine(env, stations, [FlowBufferParams(f"b{k}", capacity, initial=capacity / 2) for k in range(3)])
    line.changed()
    for st in stations:
        start_station(env, st)
    return line, stations


def test_mass_balance_bounds_and_state_accounting_under_disturbances():
    env = simpy.Environment()
    line, stations = disturbed_line(env)
    seen = []

    def monitor(env):
        while True:
            seen.append([line.level_now(j) for j in range(3)])
            yield env.timeout(37.0)

    env.process(monitor(env))
    env.run(until=30 * 86400.0)
    levels = np.array(seen)
    assert levels.min() >= 0.0 and levels.max() <= 300.0
    assert (levels == 0.0).any() and (levels == 300.0).any()  # buffers did run empty and full
    out = [line.output_now(i) for i in range(4)]
    for j in range(3):
        assert out[j] - out[j + 1] == pytest.approx(line.level_now(j) - 150.0, abs=1e-6 * out[0])
    for st in stations:
        d = st.recorder.durations()
        assert sum(d.values()) == pytest.approx(env.now, rel=1e-12)
        k = st.kpis()
        assert k["oee"] == pytest.approx(k["availability"] * k["performance"] * k["quality"], rel=1e-12)
        assert st.jams > 1000 and st.failures > 10
        # usage (equivalent full-rate running time) is output / nominal rate
        assert st.usage == pytest.approx(line.output_now(st.index) / st.nominal_rate, rel=1e-9)
        assert d["running"] == pytest.approx(st.usage, rel=1e-9)
    assert stations[0].recorder.durations()["blocked"] > 0 and stations[3].recorder.durations()["starved"] > 0
    assert line.n_events > 0


def test_same_seed_same_line_and_speed_changes_throughput():
    def run(speed):
        env = simpy.Environment()
        line, stations = disturbed_line(env, seed=4)
        if speed is not None:
            env.process(_later(env, lambda: stations[1].set_speed(speed), 3600.0))
        env.run(until=5 * 86400.0)
        return stations[-1].kpis()

    a, b = run(None), run(None)
    assert a == b
    faster = run(1.2)
    assert faster["output"] > a["output"]


def _later(env, action, at):
    yield env.timeout(at)
    action()


def test_off_shift_stops_the_line():
    env = simpy.Environment()
    stations = [FlowStation(env, FlowStationParams(f"s{k}", rate=r, max_speed=1.0, motor=None),
                            streams=RandomStreams(0)) for k, r in enumerate(RATES)]
    line = FlowLine(env, stations, [FlowBufferParams(f"b{k}", 100.0) for k in range(3)])
    cal = ShiftCalendar(((0.0, 3600.0),), period=7200.0)
    env.process(line_calendar(env, stations, cal))
    line.changed()
    env.run(until=4 * 7200.0)
    k = stations[-1].kpis()
    assert stations[-1].recorder.durations()["off_shift"] == pytest.approx(4 * 3600.0)
    assert k["output"] == pytest.approx(5.0 * 4 * 3600.0)
    assert k["availability"] == 1.0  # off-shift time is not planned time


@pytest.mark.parametrize("capacity", [0.0, -10.0, float("inf")])
def test_bad_buffer_capacity_is_named(capacity):
    with pytest.raises(ConfigurationError, match="capacity"):
        FlowBufferParams("b", capacity)


def test_bad_line_inputs_are_named():
    with pytest.raises(ConfigurationError, match="initial"):
        FlowBufferParams("b", 10.0, initial=20.0)
    for field, value in (("rate", 0.0), ("rate", -1.0), ("speed", 0.0), ("jam_duration", -3.0)):
        with pytest.raises(ConfigurationError, match=field):
            FlowStationParams("s", **{"rate": 5.0, field: value})
    with pytest.raises(ConfigurationError, match="max_speed"):
        FlowStationParams("s", rate=5.0, speed=1.5, max_speed=1.2)
    env = simpy.Environment()
    st = [FlowStation(env, FlowStationParams(f"s{k}", rate=1.0, motor=None), streams=RandomStreams(0))
          for k in range(3)]
    with pytest.raises(ConfigurationError, match="needs 2 buffers"):
        FlowLine(env, st, [FlowBufferParams("b", 1.0)])
    with pytest.raises(ConfigurationError, match="trip protection"):
        FlowStation(env, FlowStationParams("m", rate=1.0), streams=RandomStreams(0))


def test_the_recorded_state_follows_the_most_significant_stop_reason():
    env = simpy.Environment()
    stations = [FlowStation(env, FlowStationParams(f"s{k}", rate=5.0, motor=None), streams=RandomStreams(0))
                for k in range(2)]
    line = FlowLine(env, stations, [FlowBufferParams("b", 10.0)])
    line.changed()
    st = stations[0]

    def script(env):
        st.stop("jammed")
        yield env.timeout(10.0)
        st.stop("off_shift")  # rate already 0: the state must still change
        yield env.timeout(20.0)
        st.resume("jammed")
        st.resume("off_shift")
        yield env.timeout(5.0)

    env.process(script(env))
    env.run()
    d = st.recorder.durations()
    assert (d["jammed"], d["off_shift"], d["running"]) == (10.0, 20.0, 5.0)
