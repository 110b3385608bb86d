import math

import numpy as np
import pytest
import simpy
from scipy import stats

from sim.clock import CoSimulation
from sim.exceptions import ConfigurationError
from sim.physics import MOTOR_THERMAL, Fleet
from sim.processes import Station, StationParams, motor_events, station_process
from sim.streams import RandomStreams

NEVER = 1e15


def run_station(params: StationParams, horizon: float, *, seed=1, replication=0, crew_size=1, lookahead=3600.0,
                x0=(300.0, 299.0), ambient=298.15):
    cosim = CoSimulation()
    env = cosim.env
    fleet = Fleet(MOTOR_THERMAL, states=np.array(x0), inputs={"ambient_temperature": ambient},
                  events=motor_events(params))
    motor = cosim.add_physics(fleet, lookahead=lookahead)
    station = Station.create(env, params)
    crew = simpy.Resource(env, capacity=crew_size)
    env.process(station_process(env, station, motor=motor, asset=0, crew=crew,
                                streams=RandomStreams(seed, replication)))
    cosim.run(horizon)
    return station, motor


def test_undisturbed_station_produces_exactly_rate_times_time():
    params = StationParams(rate=4.0, speed=0.9, max_speed=1.0, mean_time_between_jams=NEVER,
                           mean_time_to_failure=NEVER)
    station, motor = run_station(params, 8 * 3600.0)
    k = station.kpis()
    assert k["output"] == pytest.approx(4.0 * 0.9 * 8 * 3600.0, rel=1e-12)
    assert k["availability"] == 1.0 and k["oee"] == pytest.approx(0.9)
    assert k["performance"] == pytest.approx(0.9)
    assert k["energy_per_unit"] == pytest.approx(params.electrical_power / (4.0 * 0.9))
    # the motor saw the running current the whole time
    assert motor.fleet.inputs[0, 0] == pytest.approx(params.running_current)


def test_availability_of_a_failing_station_matches_renewal_theory():
    # alternating renewal process: A = MTTF / (MTTF + MTTR) with an always-free crew
    params = StationParams(mean_time_between_jams=NEVER, mean_time_to_failure=1000.0, mean_repair_time=100.0,
                           repair_time_cv=1.0)
    avail = [run_station(params, 4e5, replication=r)[0].kpis()["availability"] for r in range(8)]
    mean, half = np.mean(avail), stats.t.ppf(0.975, 7) * np.std(avail, ddof=1) / math.sqrt(8)
    assert abs(mean - 1000.0 / 1100.0) < max(half, 1e-3), (mean, half)


def test_overtemperature_trip_stops_the_station_until_the_winding_cools():
    params = StationParams(mean_time_between_jams=NEVER, mean_time_to_failure=NEVER, current_full_load=40.0,
                           trip_temperature=360.0, reset_temperature=340.0)
    station, motor = run_station(params, 12 * 3600.0)
    assert station.trips >= 2
    names = [h.event.name for h in motor.history]
    assert names[0] == "overtemperature_trip"
    # trips and resets alternate, and the station was tripped exactly between them
    assert all(a != b for a, b in zip(names, names[1:]))
    trips = [h.time for h in motor.history if h.event.name == "overtemperature_trip"]
    resets = [h.time for h in motor.history if h.event.name == "trip_reset"]
    tripped = sum(r - t for t, r in zip(trips, resets))
    if len(trips) > len(resets):
        tripped += 12 * 3600.0 - trips[-1]
    assert station.recorder.durations()["tripped"] == pytest.approx(tripped, rel=1e-12)
    assert trips == station.trip_times


def test_results_do_not_depend_on_the_sync_horizon():
    params = StationParams(current_full_load=40.0, trip_temperature=360.0, reset_temperature=340.0,
                           mean_time_between_jams=900.0, mean_time_to_failure=20000.0)
    a, ma = run_station(params, 24 * 3600.0, lookahead=300.0)
    b, mb = run_station(params, 24 * 3600.0, lookahead=7200.0)
    assert a.trips == b.trips and a.jams == b.jams and a.failures == b.failures
    np.testing.assert_allclose([h.time for h in ma.history], [h.time for h in mb.history], atol=1e-6)
    ka, kb = a.kpis(), b.kpis()
    for key in ka:
        assert ka[key] == pytest.approx(kb[key], rel=1e-9, nan_ok=True), key


def test_same_seed_same_numbers_different_replication_different_numbers():
    params = StationParams(mean_time_between_jams=600.0, mean_time_to_failure=5000.0)
    a = run_station(params, 86400.0, seed=7, replication=0)[0].kpis()
    b = run_station(params, 86400.0, seed=7, replication=0)[0].kpis()
    c = run_station(params, 86400.0, seed=7, replication=1)[0].kpis()
    assert a == b
    assert a["output"] != c["output"]


@pytest.mark.parametrize("field,value", [("rate", 0.0), ("speed", -1.0), ("mean_repair_time", float("nan")),
                                         ("power_factor", 1.5)])
def test_bad_station_parameters_are_named(field, value):
    with pytest.raises(ConfigurationError, match=field):
        StationParams(**{field: value})
    with pytest.raises(ConfigurationError, match="reset_temperature"):
        StationParams(trip_temperature=350.0, reset_temperature=360.0)
