"""FMU assets as a fleet on the co-simulation clock (the state-array design of docs/fmu.md, issue 16 step 3):
a heated thermal-mass FMU trips a SimPy process at the analytic time, as the numba model of the same equations
does; set_state, snapshots and restore are exact; an FMU without get/setFMUstate works the same."""

import math

import numpy as np
import pytest

from sim.clock import CoSimulation
from sim.exceptions import ConfigurationError
from sim.fmu import model_from_config
from sim.fmu.fleet import FmuFleet
from sim.physics import Fleet, StateEvent
from tests.sim.fmu.thermal_numba import THERMAL_MASS

C, R, P, TA, T0, TRIP = 1000.0, 0.1, 500.0, 293.15, 293.15, 320.0  # [J/K], [K/W], [W], [K], [K], [K]
TAU, STEADY = R * C, TA + P * R
T_TRIP = -TAU * math.log((TRIP - STEADY) / (T0 - STEADY))  # T(t) = T_inf + (T0 - T_inf) exp(-t / tau)


def model(path):
    return model_from_config({"fmu": path, "inputs": ["heating_power", "ambient_temperature"],
                              "outputs": ["temperature"], "parameters": ["heat_capacity", "thermal_resistance"],
                              "states": ["temperature"]})


def fleet(path, n=2, **kw):
    return FmuFleet(model(path), n=n, states={"temperature": T0},
                    params={"heat_capacity": C, "thermal_resistance": R},
                    inputs={"heating_power": 0.0, "ambient_temperature": TA},
                    events=(StateEvent("trip", "temperature", TRIP, +1),), max_step=10.0, **kw)


@pytest.mark.parametrize("kind", ["thermal_mass", "thermal_mass_nostate"])
def test_an_fmu_fleet_trips_a_simpy_process_at_the_analytic_time(fmus, kind):
    cosim = CoSimulation()
    heaters = cosim.add_physics(fleet(fmus[kind]), lookahead=600.0, name="heaters")
    hits = []

    def heat(env, asset, start):
        yield env.timeout(start)
        heaters.set_input(asset, "heating_power", P)
        hit = yield heaters.wait_for(asset, "trip")
        hits.append((asset, hit.time, env.now))
        heaters.set_input(asset, "heating_power", 0.0)

    cosim.env.process(heat(cosim.env, 0, 0.0))
    cosim.env.process(heat(cosim.env, 1, 25.0))
    cosim.run(until=1000.0)
    assert [h[0] for h in hits] == [0, 1]
    for (asset, t_hit, now), start in zip(hits, (0.0, 25.0)):
        assert t_hit == now and abs(t_hit - (start + T_TRIP)) < 1e-5, (asset, t_hit, start + T_TRIP)
    # cooled since: the exact solution from the trip temperature at the trip time
    expected = TA + (TRIP - TA) * math.exp(-(1000.0 - hits[0][1]) / TAU)
    assert heaters.output(0, "temperature") == pytest.approx(expected, abs=1e-3)


def test_the_fmu_fleet_and_the_numba_fleet_of_the_same_equations_trip_together(fmus):
    hits = {}
    for name, make in (("fmu", lambda: fleet(fmus["thermal_mass"], n=1)),
                       ("numba", lambda: Fleet(THERMAL_MASS, states={"temperature": T0},
                                               params={"heat_capacity": C, "thermal_resistance": R},
                                               inputs={"heating_power": P, "ambient_temperature": TA},
                                               events=(StateEvent("trip", "temperature", TRIP, +1),)))):
        f = make()
        f.set_input(0, "heating_power", P)
        hits[name] = f.advance(500.0).time
    assert hits["fmu"] == pytest.approx(hits["numba"], abs=1e-3) and hits["fmu"] == pytest.approx(T_TRIP, abs=1e-5)


def test_set_state_snapshot_and_restore_are_exact(fmus):
    f = fleet(fmus["thermal_mass_nostate"])
    f.set_input(0, "heating_power", P)
    f.active[...] = False
    assert f.advance(30.0) is None and f.time == 30.0
    snap = f.snapshot()
    f.advance(90.0)
    after = f.states.copy()
    f.restore(snap)
    assert f.time == 30.0 and f.states.tolist() == snap.states.tolist()
    f.advance(90.0)
    assert f.states.tolist() == after.tolist()  # the same run again, to the bit
    f.states[1, 0] = 350.0  # what PhysicsComponent.set_state writes: the next advance starts from it
    assert f.output(1, "temperature") == 350.0
    f.advance(100.0)
    assert f.states[1, 0] == pytest.approx(TA + (350.0 - TA) * math.exp(-10.0 / TAU), rel=1e-12)
    with pytest.raises(ConfigurationError, match="backwards|not before now"):
        f.advance(50.0)
    with pytest.raises(ConfigurationError, match="no event 'trap'"):
        f.event_index("trap")
